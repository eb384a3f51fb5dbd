import { ArgumentError, duration, list, newEid, type Command } from '../command.ts';
import type { Client } from '../client.ts';
import { table } from '../format.ts';

/** A device as the parent's wrangler lists it (`eci` is the parent's ECI on the device cloud). */
interface Device {
  name: string;
  id: string;
  eci: string;
  events: string[];
  rids: string[];
  created: number;
}

/** What `wrangler:new_device_created` says (the claim code is shown only there). */
interface DeviceMade {
  name: string;
  id: string;
  eci: string;
  device: { eci: string; events: string[]; rids: string[] };
  claim: { code: string; expires: number };
}

/** Devices: a cloud each, with a narrow device ECI handed over by a one-time claim code. */
export const deviceCommands: Command[] = [
  {
    name: 'device add',
    synopsis: 'NAME [--rids a,b] [--events DOMAIN,...] [--expires 24h]',
    summary: 'a child cloud for a device, its device ECI and a one-time claim code',
    args: 1,
    help: `Make a device: a child cloud of the --eci cloud with the rulesets of --rids, a device ECI that may
send only events of the device's domains (--events; by default those its rulesets' rules select
on, never wrangler) and query its rulesets, and a one-time claim code the device trades for that
ECI (POST /claim). Needs an ECI with the cloud's full authority.

  --rids a,b            rulesets to install in the device's cloud
  --events DOMAIN,...   the event domains the device may send
  --expires 24h         how long the claim code works (30m, 2h, 7d; at most 30 days)`,
    async run(ctx, [name]) {
      const { v, client } = ctx;
      const attrs: Record<string, unknown> = { name };
      if (v.rids !== undefined) attrs['rids'] = list(v.rids);
      if (v.events !== undefined) attrs['events'] = list(v.events);
      if (v.expires !== undefined) attrs['expiresIn'] = duration(v.expires);
      const r = await ctx.wrangler('new_device_request', attrs);
      const made = (r.directives.find((d) => d.name === 'wrangler:new_device_created')?.options ?? {}) as unknown as DeviceMade;
      ctx.print(
        made,
        [
          `created device ${made.name} (cloud ${made.id})`,
          `it may send events of ${made.device.events.join(', ')} and query ${made.device.rids.join(', ') || 'nothing'}`,
          `claim code ${made.claim.code} (one use, expires ${new Date(made.claim.expires).toISOString()})`,
          `the device trades it for its ECI: POST ${client.baseUrl.replace(/\/$/, '')}/claim {"code":"${made.claim.code}"}`,
        ].join('\n'),
      );
    },
  },
  {
    name: 'device ls',
    summary: "the cloud's devices and their last contact",
    args: 0,
    help: `List the devices of the --eci cloud: name, event domains, last contact (the newest event of its
domains in the device cloud's episode log, as far as the log remembers) and cloud id.`,
    async run(ctx) {
      const devices = (await ctx.wranglerQuery('devices')) as Device[];
      const seen = await mapLimit(devices, 8, (d) => lastContact(ctx.client, d));
      const rows = devices.map((d, i) => ({ ...d, lastContact: seen[i]! }));
      const when = (t: number | null): string => (t === null ? 'never' : new Date(t).toISOString());
      ctx.print(
        rows,
        rows.length === 0
          ? '(no devices)'
          : table(
              ['NAME', 'EVENTS', 'LAST CONTACT', 'CLOUD'],
              rows.map((d) => [d.name, d.events.join(','), when(d.lastContact), d.id]),
            ),
      );
    },
  },
  {
    name: 'device code',
    synopsis: 'NAME [--expires 24h]',
    summary: 'a new claim code for a device (its earlier codes stop working)',
    args: 1,
    help: `Make a new one-time claim code for the device NAME of the --eci cloud; its earlier codes stop
working.

  --expires 24h         how long the claim code works (30m, 2h, 7d; at most 30 days)`,
    async run(ctx, [name]) {
      const { v, client } = ctx;
      const device = ((await ctx.wranglerQuery('devices')) as Device[]).find((d) => d.name === name);
      if (!device) throw new ArgumentError(`no device named ${JSON.stringify(name)} (kumo device ls)`);
      // Through the parent's ECI on the device cloud, which may do everything its device ECI may.
      const channels = (await client.query(device.eci, 'io.picolabs.wrangler', 'channels')) as Array<{ id: string; tags: string[] }>;
      const deviceEci = channels.find((c) => c.tags.includes('device'))?.id;
      if (!deviceEci) throw new ArgumentError(`device ${name} has no ECI tagged "device"`);
      const attrs = { eci: deviceEci, ...(v.expires !== undefined ? { expiresIn: duration(v.expires) } : {}) };
      const r = await client.event(device.eci, newEid(), 'wrangler', 'claim_code_request', attrs);
      const made = (r.directives.find((d) => d.name === 'wrangler:claim_code_created')?.options ?? {}) as { code: string; expires: number };
      ctx.print(made, `claim code ${made.code} (one use, expires ${new Date(made.expires).toISOString()})`);
    },
  },
  {
    name: 'device claim',
    synopsis: 'CODE',
    summary: "trade a claim code for the device's ECI (what a device does)",
    args: 1,
    help: `Trade a one-time claim code for the device's ECI, as a device does (POST /claim). Needs no ECI.
Case, dashes and spaces in the code do not matter.`,
    async run(ctx, [code]) {
      const r = await ctx.client.claim(code!);
      ctx.print(r, `eci ${r.eci}`);
    },
  },
];

/**
 * A device's last contact: the event time of the newest entry of its cloud's episode log in one of
 * its event domains (null when there is none). Read through the parent's ECI on the device cloud,
 * which carries the `system` tag.
 */
async function lastContact(client: Client, device: Device): Promise<number | null> {
  const { entries } = await client.logs(device.eci);
  const seen = entries.find((e) => device.events.includes(e['domain'] as string));
  return seen ? (seen['time'] as number) : null;
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
