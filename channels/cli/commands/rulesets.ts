import { jsonOption, type Command } from '../command.ts';
import { table } from '../format.ts';

type RulesetRow = { rid: string; version: string; name?: string };

/** Rulesets: what the host has registered, what a cloud has installed, installing and uninstalling. */
export const rulesetCommands: Command[] = [
  {
    name: 'install',
    synopsis: 'RID [--config JSON]',
    args: 1,
    help: 'Install a ruleset registered on the host (see kumo rulesets) into the --eci cloud, with its config.',
    async run(ctx, [rid]) {
      const r = await ctx.wrangler('install_ruleset_request', { rid, ...(ctx.v.config !== undefined ? { config: jsonOption('--config', ctx.v.config) } : {}) });
      ctx.print(r, `installed ${rid}`);
    },
  },
  {
    name: 'uninstall',
    synopsis: 'RID',
    args: 1,
    help: 'Uninstall a ruleset from the --eci cloud; its state is deleted.',
    async run(ctx, [rid]) {
      const r = await ctx.wrangler('uninstall_ruleset_request', { rid });
      ctx.print(r, `uninstalled ${rid}`);
    },
  },
  {
    name: 'rulesets',
    summary: 'the rulesets registered on the host',
    args: 0,
    help: 'List the rulesets registered on the host (those kumo install can install): rid, version, name.',
    async run(ctx) {
      const registered = (await ctx.wranglerQuery('registeredRulesets')) as RulesetRow[];
      ctx.print(
        registered,
        table(
          ['RID', 'VERSION', 'NAME'],
          registered.map((r) => [r.rid, r.version, r.name ?? '']),
        ),
      );
    },
  },
  {
    name: 'installed',
    summary: 'the rulesets installed in the cloud',
    args: 0,
    help: 'List the rulesets installed in the --eci cloud, in the order they run.',
    async run(ctx) {
      const [rids, registered] = (await Promise.all([ctx.wranglerQuery('installedRids'), ctx.wranglerQuery('registeredRulesets')])) as [string[], RulesetRow[]];
      const rows: RulesetRow[] = rids.map((rid) => registered.find((r) => r.rid === rid) ?? { rid, version: '(not registered on this host)' });
      ctx.print(
        rows,
        table(
          ['RID', 'VERSION', 'NAME'],
          rows.map((r) => [r.rid, r.version, r.name ?? '']),
        ),
      );
    },
  },
];
