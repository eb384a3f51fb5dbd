import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
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
  kumo cloud new NAME            create a child cloud of the --eci cloud
  kumo cloud ls                  list its child clouds
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
  kumo dead-letters              outgoing events that could never be delivered
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
  'max-connections': { type: 'string' },
  follow: { type: 'boolean', short: 'f' },
  limit: { type: 'string' },
  tags: { type: 'string' },
  config: { type: 'string' },
  'event-policy': { type: 'string' },
  'query-policy': { type: 'string' },
  eid: { type: 'string' },
  id: { type: 'string' },
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
  const client = new Client(v.url ?? (io.env['KUMO_URL'] || 'http://localhost:3000'));
  const print = (json: unknown, human: string): void => io.out(v.json ? JSON.stringify(json, null, 2) + '\n' : human.endsWith('\n') ? human : human + '\n');
  const myEci = async (): Promise<string> => {
    const eci = v.eci ?? (io.env['KUMO_ECI'] || (await readFile(rootEciFile(dataDir), 'utf8').catch(() => '')).trim());
    if (!eci) throw new UsageError(`no ECI: pass --eci, set KUMO_ECI, or run where ${rootEciFile(dataDir)} exists`);
    return eci;
  };
  const wrangler = async (type: string, attrs: Record<string, unknown>) => client.event(await myEci(), newEid(), 'wrangler', type, attrs);
  const wranglerQuery = async (name: string) => client.query(await myEci(), 'io.picolabs.wrangler', name);
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
    case 'eci new': {
      need(2, 'eci new [--tags a,b] [--event-policy JSON] [--query-policy JSON]');
      const attrs: Record<string, unknown> = {};
      if (v.tags !== undefined) attrs['tags'] = v.tags.split(',').map((t) => t.trim()).filter(Boolean);
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
  const server = await serve({ port, dataDir, log, ...(v.host ? { hostname: v.host } : {}), ...(v.rulesets ? { rulesetsDir: v.rulesets } : {}), ...(v.sync ? { sync: true } : {}), ...(maxConnections ? { maxConnections } : {}) });
  stopOnSignals(server, log);
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
