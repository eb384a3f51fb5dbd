import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { RealmOptions } from '../realm/realm.ts';
import { realmUp } from './realm-up.ts';
import { rootEciFile, serve, stopOnSignals } from '../serve.ts';
import { Client, HostError, UnreachableError } from './client.ts';
import { formatDirectives, formatLogEntry, formatPolicy, table } from './format.ts';
import { helpFor } from './help.ts';

type EciRow = { id: string; tags: string[]; eventPolicy: Policy; queryPolicy: Policy };
type Policy = { allow: Array<Record<string, string>>; deny: Array<Record<string, string>> };
type RulesetRow = { rid: string; version: string; name?: string };

/**
 * The `kumo` command line. Every command except `serve` talks to a running host over HTTP with an
 * ECI (`--eci`, `$KUMO_ECI`, or the root owner ECI in `<data>/root.eci`). Output is for people;
 * `--json` prints the host's JSON answer for scripts. Errors go to stderr with exit 1 (2 for usage).
 */

export const USAGE = `kumo: a personal-cloud host

usage:
  kumo serve [--port 3000] [--host ADDR] [--data ./kumo-data] [--rulesets DIR] [--sync] [--max-connections N]
             [--public-url URL] [--allow-hosts LIST] [--deny-hosts LIST]
             [--nats nats://HOST:PORT[,…] [--realm NAME] [--host-id ID] [--nats-creds FILE]
              [--partitions N] [--replicas N] [--mqtt [--mqtt-key FILE] [--mqtt-account PUBKEY] [--mqtt-url URL]]]
  kumo cloud new NAME            create a child cloud of the --eci cloud
  kumo cloud ls                  list its child clouds
  kumo cloud export NAME [--passphrase-file F] [--remove --moved-to URL] > FILE
                                 the child cloud NAME and its subtree as a cloud file (with --remove, it
                                 then leaves this host, forwarding senders to URL)
  kumo cloud move NAME --to HOST_ID
                                 move the child cloud NAME and its subtree to another host of the realm
  kumo cloud import FILE [--under PARENT_ECI] [--passphrase-file F]
                                 bring clouds in from a cloud file, under the --eci cloud (or PARENT_ECI)
  kumo cloud rm NAME | --id ID   delete a child cloud (and its children)
  kumo eci new [--tags a,b] [--event-policy JSON] [--query-policy JSON]
  kumo eci ls                    list the cloud's ECIs
  kumo eci rm ECI                delete an ECI
  kumo install RID [--config JSON]
  kumo uninstall RID
  kumo rulesets                  the rulesets registered on the host
  kumo installed                 the rulesets installed in the cloud
  kumo event ECI DOMAIN:TYPE [key=value | key:=json ...] [--eid EID]
  kumo query ECI RID NAME [key=value | key:=json ...]
  kumo logs [--follow] [--limit N]
  kumo realm                     the realm of the --url host: its hosts and partitions
  kumo realm up [--hosts 3] [--dir ./kumo-realm] [--port 3001] [--nats-port 4333] [--rulesets DIR] [--mqtt [--mqtt-port 1883]]
                                 nats-server and N hosts on this machine, to try a realm
  kumo dead-letters              outgoing events that could never be delivered
  kumo device add NAME [--rids a,b] [--events DOMAIN,...] [--expires 24h]
                                 a child cloud for a device, its device ECI and a one-time claim code
  kumo device ls                 the cloud's devices and their last contact
  kumo device code NAME [--expires 24h]
                                 a new claim code for a device (its earlier codes stop working)
  kumo device claim CODE         trade a claim code for the device's ECI (what a device does)
  kumo help [COMMAND]            what a command does (kumo help eci new)

options:
  --url URL     the host (default $KUMO_URL or http://localhost:3000)
  --eci ECI     the cloud to act on (default $KUMO_ECI or the ECI in <data>/root.eci)
  --data DIR    the host's data directory (default $KUMO_DATA or ./kumo-data)
  --json        print JSON for scripts

environment: KUMO_URL, KUMO_ECI, KUMO_DATA (as above), PORT (kumo serve's port)
`;

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  out(text: string): void;
  /** Binary output (a cloud file to stdout); text output when not given. */
  bytes?(data: Buffer): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

class UsageError extends Error {}

const OPTIONS = {
  url: { type: 'string' },
  eci: { type: 'string' },
  data: { type: 'string' },
  json: { type: 'boolean' },
  port: { type: 'string' },
  host: { type: 'string' },
  rulesets: { type: 'string' },
  sync: { type: 'boolean' },
  nats: { type: 'string' },
  hosts: { type: 'string' },
  dir: { type: 'string' },
  'nats-port': { type: 'string' },
  realm: { type: 'string' },
  'host-id': { type: 'string' },
  'nats-creds': { type: 'string' },
  mqtt: { type: 'boolean' },
  'mqtt-key': { type: 'string' },
  'mqtt-account': { type: 'string' },
  'mqtt-url': { type: 'string' },
  'mqtt-port': { type: 'string' },
  partitions: { type: 'string' },
  replicas: { type: 'string' },
  'public-url': { type: 'string' },
  'allow-hosts': { type: 'string' },
  'deny-hosts': { type: 'string' },
  'max-connections': { type: 'string' },
  follow: { type: 'boolean', short: 'f' },
  limit: { type: 'string' },
  tags: { type: 'string' },
  config: { type: 'string' },
  'event-policy': { type: 'string' },
  'query-policy': { type: 'string' },
  eid: { type: 'string' },
  rids: { type: 'string' },
  events: { type: 'string' },
  expires: { type: 'string' },
  id: { type: 'string' },
  'passphrase-file': { type: 'string' },
  remove: { type: 'boolean' },
  'moved-to': { type: 'string' },
  under: { type: 'string' },
  to: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];
const parse = (argv: string[]) => parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });

/** Run the CLI; resolves to the exit code (`serve` resolves once the server is up). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    io.err(`kumo: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (positionals[0] === 'help') {
    const text = positionals.length === 1 ? USAGE : helpFor(positionals.slice(1));
    if (text === undefined) {
      io.err(`kumo: no command ${JSON.stringify(positionals.slice(1).join(' '))}\n\n${USAGE}`);
      return 2;
    }
    io.out(text.endsWith('\n') ? text : `${text}\n`);
    return 0;
  }
  if (values.help || positionals.length === 0) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    await dispatch(positionals, values, io);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`kumo: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof HostError) {
      if (values.json) io.err(JSON.stringify(err.body) + '\n');
      else io.err(`kumo: ${err.code} (${err.status}): ${err.message}\n`);
      return 1;
    }
    if (err instanceof UnreachableError) {
      io.err(`kumo: ${err.message}\n`);
      return 1;
    }
    io.err(`kumo: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}

async function dispatch(pos: string[], v: Values, io: CliIo): Promise<void> {
  const [cmd, sub, ...rest] = pos;
  const dataDir = v.data ?? (io.env['KUMO_DATA'] || './kumo-data');
  if (cmd === 'serve') return runServe(v, dataDir, io, pos.length);
  if (cmd === 'realm' && sub === 'up') return runRealmUp(v, io, pos.length);
  const client = new Client(v.url ?? (io.env['KUMO_URL'] || 'http://localhost:3000'));
  const print = (json: unknown, human: string): void => io.out(v.json ? JSON.stringify(json, null, 2) + '\n' : human.endsWith('\n') ? human : human + '\n');
  const myEci = async (): Promise<string> => {
    const eci = v.eci ?? (io.env['KUMO_ECI'] || (await readFile(rootEciFile(dataDir), 'utf8').catch(() => '')).trim());
    if (!eci) throw new UsageError(`no ECI: pass --eci, set KUMO_ECI, or run where ${rootEciFile(dataDir)} exists`);
    return eci;
  };
  const wrangler = async (type: string, attrs: Record<string, unknown>) => client.event(await myEci(), newEid(), 'wrangler', type, attrs);
  const wranglerQuery = async (name: string) => client.query(await myEci(), 'io.picolabs.wrangler', name);
  /** The parent's ECI on the child NAME of the --eci cloud (full authority over it). */
  const childEci = async (name: string): Promise<string> => {
    const kids = (await wranglerQuery('children')) as Array<{ name: string; eci: string | null }>;
    const kid = kids.find((k) => k.name === name);
    if (!kid) throw new UsageError(`the cloud has no child named ${JSON.stringify(name)} (kumo cloud ls)`);
    if (!kid.eci) throw new UsageError(`the --eci ECI may not see the ECI of ${name}: use the owner's ECI`);
    return kid.eci;
  };
  const need = (n: number, what: string): void => {
    if (pos.length !== n) throw new UsageError(`usage: kumo ${what}`);
  };

  switch (`${cmd} ${sub ?? ''}`.trim()) {
    case 'cloud new': {
      need(3, 'cloud new NAME');
      const r = await wrangler('new_child_request', { name: rest[0] });
      const made = r.directives.find((d) => d.name === 'wrangler:new_child_created')?.options ?? {};
      return print(made, `created cloud ${made['name']} (id ${made['id']})\neci ${made['eci']}`);
    }
    case 'cloud ls': {
      need(2, 'cloud ls');
      const kids = (await wranglerQuery('children')) as Array<{ name: string; id: string; eci: string }>;
      return print(kids, kids.length === 0 ? '(no child clouds)' : table(['NAME', 'ID', 'ECI'], kids.map((k) => [k.name, k.id, k.eci])));
    }
    case 'cloud rm': {
      // A name is matched only against names: `cloud rm X` never deletes a sibling whose id is X.
      if (v.id !== undefined ? pos.length !== 2 : pos.length !== 3) throw new UsageError('usage: kumo cloud rm NAME, or kumo cloud rm --id ID');
      const r = await wrangler('child_deletion_request', v.id !== undefined ? { id: v.id } : { name: rest[0] });
      const gone = r.directives.find((d) => d.name === 'wrangler:child_deleted')?.options ?? {};
      return print(gone, `deleted cloud ${gone['name']} (id ${gone['id']})`);
    }
    case 'cloud export': {
      need(3, 'cloud export NAME [--passphrase-file F] [--remove --moved-to URL] > FILE');
      if (v.remove && !v['moved-to']) throw new UsageError('--remove needs --moved-to URL: the base URL of the cloud\'s new host, for senders to follow');
      const kid = await childEci(rest[0]!);
      const passphrase = await passphraseOption(v);
      const file = await client.exportCloud(kid, { ...(passphrase !== undefined ? { passphrase } : {}), ...(v.remove ? { leave: { movedTo: v['moved-to']! } } : {}) });
      (io.bytes ?? ((b: Buffer) => io.out(b.toString('latin1'))))(file);
      return;
    }
    case 'cloud move': {
      need(3, 'cloud move NAME --to HOST_ID');
      if (!v.to) throw new UsageError('usage: kumo cloud move NAME --to HOST_ID (kumo realm lists the hosts)');
      const kid = await childEci(rest[0]!);
      const moved = (await client.moveCloud(kid, v.to)) as { to: string; clouds: number; records: number };
      return print(moved, `moved cloud ${rest[0]} and ${moved.clouds - 1} descendants (${moved.records} records) to host ${moved.to}`);
    }
    case 'cloud import': {
      need(3, 'cloud import FILE [--under PARENT_ECI] [--passphrase-file F]');
      const file = await readFile(rest[0]!).catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read ${rest[0]}: ${err.code ?? err.message}`);
      });
      const passphrase = await passphraseOption(v);
      const made = (await client.importCloud(v.under ?? (await myEci()), file, passphrase)) as { name: string; id: string; eci: string; clouds: number; records: number };
      return print(made, `imported cloud ${made.name} (id ${made.id}) with ${made.clouds - 1} descendants, ${made.records} records\neci ${made.eci}`);
    }
    case 'eci new': {
      need(2, 'eci new [--tags a,b] [--event-policy JSON] [--query-policy JSON]');
      const attrs: Record<string, unknown> = {};
      if (v.tags !== undefined) attrs['tags'] = list(v.tags);
      if (v['event-policy'] !== undefined) attrs['eventPolicy'] = jsonOption('--event-policy', v['event-policy']);
      if (v['query-policy'] !== undefined) attrs['queryPolicy'] = jsonOption('--query-policy', v['query-policy']);
      // One policy given and not the other: the other allows nothing, never everything.
      if ((attrs['eventPolicy'] === undefined) !== (attrs['queryPolicy'] === undefined)) {
        if (attrs['eventPolicy'] === undefined) attrs['eventPolicy'] = { allow: [] };
        else attrs['queryPolicy'] = { allow: [] };
      }
      const r = await wrangler('new_channel_request', attrs);
      const eci = (r.directives.find((d) => d.name === 'wrangler:channel_created')?.options ?? {}) as Partial<EciRow>;
      const tags = eci.tags?.length ? ` (tags ${eci.tags.join(', ')})` : '';
      return print(eci, `created ECI ${eci.id}${tags}\n  events:  ${formatPolicy(eci.eventPolicy)}\n  queries: ${formatPolicy(eci.queryPolicy)}`);
    }
    case 'eci ls': {
      need(2, 'eci ls');
      const ecis = (await wranglerQuery('channels')) as EciRow[];
      return print(ecis, table(['ECI', 'TAGS', 'EVENTS', 'QUERIES'], ecis.map((e) => [e.id, e.tags.join(','), formatPolicy(e.eventPolicy), formatPolicy(e.queryPolicy)])));
    }
    case 'eci rm': {
      need(3, 'eci rm ECI');
      const r = await wrangler('channel_deletion_request', { eci: rest[0] });
      return print(r, `deleted ECI ${rest[0]}`);
    }
    case 'device add': {
      need(3, 'device add NAME [--rids a,b] [--events DOMAIN,...] [--expires 24h]');
      const attrs: Record<string, unknown> = { name: rest[0] };
      if (v.rids !== undefined) attrs['rids'] = list(v.rids);
      if (v.events !== undefined) attrs['events'] = list(v.events);
      if (v.expires !== undefined) attrs['expiresIn'] = duration(v.expires);
      const r = await wrangler('new_device_request', attrs);
      const made = (r.directives.find((d) => d.name === 'wrangler:new_device_created')?.options ?? {}) as unknown as DeviceMade;
      return print(made, [
        `created device ${made.name} (cloud ${made.id})`,
        `it may send events of ${made.device.events.join(', ')} and query ${made.device.rids.join(', ') || 'nothing'}`,
        `claim code ${made.claim.code} (one use, expires ${new Date(made.claim.expires).toISOString()})`,
        `the device trades it for its ECI: POST ${client.baseUrl.replace(/\/$/, '')}/claim {"code":"${made.claim.code}"}`,
      ].join('\n'));
    }
    case 'device ls': {
      need(2, 'device ls');
      const devices = (await wranglerQuery('devices')) as Device[];
      const seen = await mapLimit(devices, 8, (d) => lastContact(client, d));
      const rows = devices.map((d, i) => ({ ...d, lastContact: seen[i]! }));
      const when = (t: number | null): string => (t === null ? 'never' : new Date(t).toISOString());
      return print(rows, rows.length === 0 ? '(no devices)' : table(['NAME', 'EVENTS', 'LAST CONTACT', 'CLOUD'], rows.map((d) => [d.name, d.events.join(','), when(d.lastContact), d.id])));
    }
    case 'device code': {
      need(3, 'device code NAME [--expires 24h]');
      const device = ((await wranglerQuery('devices')) as Device[]).find((d) => d.name === rest[0]);
      if (!device) throw new UsageError(`no device named ${JSON.stringify(rest[0])} (kumo device ls)`);
      // Through the parent's ECI on the device cloud, which may do everything its device ECI may.
      const channels = (await client.query(device.eci, 'io.picolabs.wrangler', 'channels')) as Array<{ id: string; tags: string[] }>;
      const deviceEci = channels.find((c) => c.tags.includes('device'))?.id;
      if (!deviceEci) throw new UsageError(`device ${rest[0]} has no ECI tagged "device"`);
      const attrs = { eci: deviceEci, ...(v.expires !== undefined ? { expiresIn: duration(v.expires) } : {}) };
      const r = await client.event(device.eci, newEid(), 'wrangler', 'claim_code_request', attrs);
      const made = (r.directives.find((d) => d.name === 'wrangler:claim_code_created')?.options ?? {}) as { code: string; expires: number };
      return print(made, `claim code ${made.code} (one use, expires ${new Date(made.expires).toISOString()})`);
    }
    case 'device claim': {
      need(3, 'device claim CODE');
      const r = await client.claim(rest[0]!);
      return print(r, `eci ${r.eci}`);
    }
    default:
      break;
  }
  switch (cmd) {
    case 'install': {
      need(2, 'install RID [--config JSON]');
      const r = await wrangler('install_ruleset_request', { rid: sub, ...(v.config !== undefined ? { config: jsonOption('--config', v.config) } : {}) });
      return print(r, `installed ${sub}`);
    }
    case 'uninstall': {
      need(2, 'uninstall RID');
      const r = await wrangler('uninstall_ruleset_request', { rid: sub });
      return print(r, `uninstalled ${sub}`);
    }
    case 'event': {
      const [domain, type, ...bad] = (rest[0] ?? '').split(':');
      if (!sub || !domain || !type || bad.length > 0) throw new UsageError('usage: kumo event ECI DOMAIN:TYPE [key=value ...]');
      const r = await client.event(sub, v.eid ?? newEid(), domain, type, keyValues(rest.slice(1)));
      return print(r, formatDirectives(r));
    }
    case 'query': {
      if (!sub || rest.length < 2) throw new UsageError('usage: kumo query ECI RID NAME [key=value ...]');
      const result = await client.query(sub, rest[0]!, rest[1]!, keyValues(rest.slice(2)));
      return print(result, typeof result === 'string' ? result : JSON.stringify(result, null, 2));
    }
    case 'realm': {
      need(1, 'realm');
      const r = (await client.realm()) as { host: string; realm: string | null; partitions?: number[]; hosts?: Array<{ id: string; url?: string }> };
      if (!r.realm) return print(r, `host ${r.host} runs alone (no realm)`);
      const rows = (r.hosts ?? []).map((h) => [h.id, h.url ?? '', h.id === r.host ? `${r.partitions?.length ?? 0} (this host)` : '']);
      return print(r, `realm ${r.realm}\n${table(['HOST', 'URL', 'PARTITIONS'], rows)}`);
    }
    case 'rulesets': {
      need(1, 'rulesets');
      const registered = (await wranglerQuery('registeredRulesets')) as RulesetRow[];
      return print(registered, table(['RID', 'VERSION', 'NAME'], registered.map((r) => [r.rid, r.version, r.name ?? ''])));
    }
    case 'installed': {
      need(1, 'installed');
      const [rids, registered] = (await Promise.all([wranglerQuery('installedRids'), wranglerQuery('registeredRulesets')])) as [string[], RulesetRow[]];
      const rows: RulesetRow[] = rids.map((rid) => registered.find((r) => r.rid === rid) ?? { rid, version: '(not registered on this host)' });
      return print(rows, table(['RID', 'VERSION', 'NAME'], rows.map((r) => [r.rid, r.version, r.name ?? ''])));
    }
    case 'logs':
      need(1, 'logs [--follow] [--limit N]');
      return runLogs(client, await myEci(), v, io);
    case 'dead-letters': {
      need(1, 'dead-letters');
      const { deadLetters } = await client.deadLetters(await myEci());
      const rows = deadLetters.map((d) => [new Date(d.time).toISOString(), `${d.event.domain}:${d.event.type}`, d.eci, `${d.reason.code}: ${d.reason.message}`]);
      return print(deadLetters, rows.length === 0 ? '(no dead letters)' : table(['TIME', 'EVENT', 'TO ECI', 'REASON'], rows));
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(pos.slice(0, 2).join(' '))}`);
  }
}

async function runServe(v: Values, dataDir: string, io: CliIo, count: number): Promise<void> {
  if (count !== 1) throw new UsageError('usage: kumo serve [--port 3000] [--data DIR] [--rulesets DIR]');
  const port = Number(v.port ?? io.env['PORT'] ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0 to 65535, got ${v.port}`);
  const maxConnections = v['max-connections'] === undefined ? undefined : Number(v['max-connections']);
  if (maxConnections !== undefined && !(Number.isInteger(maxConnections) && maxConnections > 0)) throw new UsageError(`--max-connections must be a positive integer, got ${v['max-connections']}`);
  const log = (line: string): void => io.out(line + '\n');
  const realm = await realmOptions(v, io);
  const hosts = (list: string | undefined) => list?.split(',').map((h) => h.trim()).filter(Boolean);
  const allow = hosts(v['allow-hosts']);
  const deny = hosts(v['deny-hosts']);
  const server = await serve({
    port,
    dataDir,
    log,
    ...(v.host ? { hostname: v.host } : {}),
    ...(v.rulesets ? { rulesetsDir: v.rulesets } : {}),
    ...(v.sync ? { sync: true } : {}),
    ...(v['host-id'] ? { hostId: v['host-id'] } : {}),
    ...(realm ? { realm } : {}),
    ...(v['public-url'] ? { publicUrl: v['public-url'] } : {}),
    ...(allow || deny ? { destinations: { ...(allow ? { allow } : {}), ...(deny ? { deny } : {}) } } : {}),
    ...(maxConnections ? { maxConnections } : {}),
  });
  stopOnSignals(server, log);
}

async function runRealmUp(v: Values, io: CliIo, count: number): Promise<void> {
  if (count !== 2) throw new UsageError('usage: kumo realm up [--hosts 3] [--dir ./kumo-realm] [--port 3001] [--nats-port 4333] [--rulesets DIR] [--mqtt [--mqtt-port 1883]]');
  const hosts = Number(v.hosts ?? 3);
  const port = Number(v.port ?? 3001);
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 20) throw new UsageError('--hosts must be 1 to 20');
  if (!Number.isInteger(port) || port < 1 || port + hosts > 65535) throw new UsageError('--port must be a port number');
  const log = (line: string): void => io.out(line + '\n');
  const natsPort = Number(v['nats-port'] ?? 4333);
  if (!Number.isInteger(natsPort) || natsPort < 1 || natsPort > 65535) throw new UsageError('--nats-port must be a port number');
  const mqttPort = v.mqtt || v['mqtt-port'] !== undefined ? Number(v['mqtt-port'] ?? 1883) : undefined;
  if (mqttPort !== undefined && (!Number.isInteger(mqttPort) || mqttPort < 1 || mqttPort > 65535)) throw new UsageError('--mqtt-port must be a port number');
  const realm = await realmUp({ hosts, port, natsPort, dir: v.dir ?? './kumo-realm', log, ...(v.rulesets ? { rulesetsDir: v.rulesets } : {}), ...(mqttPort !== undefined ? { mqttPort } : {}) });
  log(`kumo realm up: ${realm.urls.join(' ')} (Ctrl-C stops it)`);
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) process.exit(130);
    stopping = true;
    log('kumo realm: stopping the hosts, then nats-server');
    void realm.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** The passphrase in `--passphrase-file` (its first line), if given. */
async function passphraseOption(v: Values): Promise<string | undefined> {
  if (v['passphrase-file'] === undefined) return undefined;
  const text = await readFile(v['passphrase-file'], 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read --passphrase-file ${v['passphrase-file']}: ${err.code ?? err.message}`);
  });
  const line = text.split(/\r?\n/)[0]!;
  if (line === '') throw new UsageError('the passphrase file is empty');
  return line;
}

/** The realm to join, from `--nats` (or `$KUMO_NATS`) and its companions; none without them. */
async function realmOptions(v: Values, io: CliIo): Promise<RealmOptions | undefined> {
  const nats = v.nats ?? io.env['KUMO_NATS'];
  if (!nats) {
    for (const flag of ['realm', 'nats-creds', 'partitions', 'replicas', 'mqtt', 'mqtt-key', 'mqtt-account', 'mqtt-url'] as const) if (v[flag] !== undefined) throw new UsageError(`--${flag} needs --nats`);
    return undefined;
  }
  const count = (flag: 'partitions' | 'replicas', max: number): number | undefined => {
    if (v[flag] === undefined) return undefined;
    const n = Number(v[flag]);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${flag} must be an integer from 1 to ${max}`);
    return n;
  };
  const partitions = count('partitions', 4096);
  const replicas = count('replicas', 5);
  const mqtt = v.mqtt || v['mqtt-key'] !== undefined || v['mqtt-url'] !== undefined || v['mqtt-account'] !== undefined;
  return {
    servers: nats.split(',').map((s) => s.trim()).filter(Boolean),
    ...(v.realm ? { realm: v.realm } : {}),
    ...(v['nats-creds'] ? { creds: await readFile(v['nats-creds']) } : {}),
    ...(partitions ? { partitions } : {}),
    ...(replicas ? { replicas } : {}),
    ...(mqtt
      ? {
          mqtt: {
            ...(v['mqtt-key'] ? { key: await readFile(v['mqtt-key'], 'utf8') } : {}),
            ...(v['mqtt-account'] ? { account: v['mqtt-account'] } : {}),
            ...(v['mqtt-url'] ? { url: v['mqtt-url'] } : {}),
          },
        }
      : {}),
  };
}

async function runLogs(client: Client, eci: string, v: Values, io: CliIo): Promise<void> {
  const limit = v.limit === undefined ? undefined : Number(v.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new UsageError('--limit must be a positive integer');
  const show = (e: Record<string, unknown>): void => io.out(v.json ? JSON.stringify(e) + '\n' : formatLogEntry(e) + '\n');
  if (!v.follow) {
    // Oldest first, in text and JSON alike (the host answers newest first), as --follow prints.
    const entries = (await client.logs(eci, limit)).entries.reverse();
    if (v.json) io.out(JSON.stringify(entries, null, 2) + '\n');
    else if (entries.length === 0) io.out('(no episodes yet)\n');
    else for (const e of entries) show(e);
    return;
  }
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  await client.follow(eci, show, limit ?? 10, stop.signal);
}

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

const list = (text: string): string[] =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

/** `90s`, `30m`, `24h`, `7d` (or plain milliseconds) in milliseconds. */
function duration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--expires must be a duration such as 30m, 24h or 7d, got ${JSON.stringify(text)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']!;
  return Number(m[1]) * unit;
}

/** `key=value` gives a string (as a query string would); `key:=json` gives a JSON value. */
export function keyValues(args: string[]): Record<string, unknown> {
  const out: Array<[string, unknown]> = [];
  for (const arg of args) {
    const json = arg.indexOf(':=');
    const eq = arg.indexOf('=');
    if (json > 0 && json < eq) {
      out.push([arg.slice(0, json), jsonOption(arg.slice(0, json), arg.slice(json + 2))]);
    } else if (eq > 0) {
      out.push([arg.slice(0, eq), arg.slice(eq + 1)]);
    } else {
      throw new UsageError(`expected key=value or key:=json, got ${JSON.stringify(arg)}`);
    }
  }
  // Defined, not assigned: a "__proto__" key stays a key (and the host refuses it) instead of
  // silently becoming the object's prototype.
  return Object.fromEntries(out);
}

function jsonOption(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`${name} must be JSON, got ${JSON.stringify(text)}`);
  }
}

function newEid(): string {
  return randomBytes(16).toString('base64url');
}
