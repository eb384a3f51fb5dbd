import { jsonOption, list, type Command } from '../command.ts';
import { formatPolicy, table } from '../format.ts';

type Policy = { allow: Array<Record<string, string>>; deny: Array<Record<string, string>> };
type EciRow = { id: string; tags: string[]; eventPolicy: Policy; queryPolicy: Policy };

/** A cloud's ECIs: make one (never with more authority than the caller's), list, delete. */
export const eciCommands: Command[] = [
  {
    name: 'eci new',
    synopsis: '[--tags a,b] [--event-policy JSON] [--query-policy JSON]',
    args: 0,
    help: `Create an ECI on the --eci cloud. A policy is {"allow": [...], "deny": [...]}: event rules are
{"domain", "name"}, query rules {"rid", "name"}, "*" matches anything, deny wins. Given one policy
and not the other, the other allows nothing (an ECI for a sensor's events answers no queries);
given neither, the new ECI gets the policies of the ECI it is made through. It never gets more
authority than that ECI (the policies are intersected). Prints the ECI and its policies.`,
    async run(ctx) {
      const { v } = ctx;
      const attrs: Record<string, unknown> = {};
      if (v.tags !== undefined) attrs['tags'] = list(v.tags);
      if (v['event-policy'] !== undefined) attrs['eventPolicy'] = jsonOption('--event-policy', v['event-policy']);
      if (v['query-policy'] !== undefined) attrs['queryPolicy'] = jsonOption('--query-policy', v['query-policy']);
      // One policy given and not the other: the other allows nothing, never everything.
      if ((attrs['eventPolicy'] === undefined) !== (attrs['queryPolicy'] === undefined)) {
        if (attrs['eventPolicy'] === undefined) attrs['eventPolicy'] = { allow: [] };
        else attrs['queryPolicy'] = { allow: [] };
      }
      const r = await ctx.wrangler('new_channel_request', attrs);
      const eci = (r.directives.find((d) => d.name === 'wrangler:channel_created')?.options ?? {}) as Partial<EciRow>;
      const tags = eci.tags?.length ? ` (tags ${eci.tags.join(', ')})` : '';
      ctx.print(eci, `created ECI ${eci.id}${tags}\n  events:  ${formatPolicy(eci.eventPolicy)}\n  queries: ${formatPolicy(eci.queryPolicy)}`);
    },
  },
  {
    name: 'eci ls',
    summary: "list the cloud's ECIs",
    args: 0,
    help: 'List the ECIs of the --eci cloud that are within its authority, with tags and policies.',
    async run(ctx) {
      const ecis = (await ctx.wranglerQuery('channels')) as EciRow[];
      ctx.print(
        ecis,
        table(
          ['ECI', 'TAGS', 'EVENTS', 'QUERIES'],
          ecis.map((e) => [e.id, e.tags.join(','), formatPolicy(e.eventPolicy), formatPolicy(e.queryPolicy)]),
        ),
      );
    },
  },
  {
    name: 'eci rm',
    synopsis: 'ECI',
    summary: 'delete an ECI',
    args: 1,
    help: 'Delete an ECI of the --eci cloud, one within its authority (system ECIs cannot be deleted).',
    async run(ctx, [eci]) {
      const r = await ctx.wrangler('channel_deletion_request', { eci });
      ctx.print(r, `deleted ECI ${eci}`);
    },
  },
];
