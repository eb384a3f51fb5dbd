import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { parseArgs } from 'node:util';
import { rootEciFile } from '../serve.ts';
import { Client } from './client.ts';

/**
 * One command of the `kumo` CLI, as a row of the command table (commands/): its words, its usage,
 * its help and what it does. The usage, `kumo help` and the README's CLI section are made from (or
 * checked against) these rows, so a command is written in one place.
 */
export interface Command {
  /** The words that name it: `cloud new`. */
  name: string;
  /** What follows the name in its usage: `NAME [--tags a,b]`. */
  synopsis?: string;
  /** One line for the usage list (omitted: the synopsis says enough). */
  summary?: string;
  /** What `kumo help NAME` says beyond the usage line: what it does, its options. */
  help: string;
  /** Positional arguments after the name: exactly this many, or [least, most]. */
  args: number | [number, number];
  /** It talks to a running host (`--url`, `--eci`, `--data`, `--json` apply). Default true. */
  remote?: boolean;
  run(ctx: Context, args: string[]): Promise<void>;
}

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  out: (text: string) => void;
  /** Binary output (a cloud file to stdout); text output when not given. */
  bytes?(data: Buffer): void;
  err: (text: string) => void;
  env: Record<string, string | undefined>;
  /** Ask the person at the terminal a yes/no question; absent where no one can answer (not a terminal). */
  ask?: (question: string) => Promise<boolean>;
}

/** The command line is wrong: the command's usage is shown, exit 2. */
export class UsageError extends Error {}

/** An argument names nothing there (no such child or device, an unreadable file): its reason alone, exit 2. */
export class ArgumentError extends Error {}

/** Every option of every command; each command reads those it knows. */
export const OPTIONS = {
  url: { type: 'string' },
  eci: { type: 'string' },
  data: { type: 'string' },
  json: { type: 'boolean' },
  port: { type: 'string' },
  host: { type: 'string' },
  rulesets: { type: 'string' },
  sync: { type: 'boolean' },
  'key-file': { type: 'string' },
  nats: { type: 'string' },
  hosts: { type: 'string' },
  dir: { type: 'string' },
  'nats-port': { type: 'string' },
  realm: { type: 'string' },
  'host-id': { type: 'string' },
  'nats-creds': { type: 'string' },
  'nats-ca': { type: 'string' },
  'nats-cert': { type: 'string' },
  'nats-key': { type: 'string' },
  mqtt: { type: 'boolean' },
  'mqtt-key': { type: 'string' },
  'mqtt-account': { type: 'string' },
  'mqtt-url': { type: 'string' },
  'mqtt-port': { type: 'string' },
  'mqtt-lifetime': { type: 'string' },
  partitions: { type: 'string' },
  replicas: { type: 'string' },
  'public-url': { type: 'string' },
  'allow-hosts': { type: 'string' },
  'deny-hosts': { type: 'string' },
  'allow-app-hosts': { type: 'string' },
  'deny-app-hosts': { type: 'string' },
  'apps-folder': { type: 'string' },
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
  revoke: { type: 'string' },
  id: { type: 'string' },
  cloud: { type: 'string' },
  'passphrase-file': { type: 'string' },
  remove: { type: 'boolean' },
  'moved-to': { type: 'string' },
  under: { type: 'string' },
  to: { type: 'string' },
  out: { type: 'string', short: 'o' },
  from: { type: 'string' },
  file: { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>['values'];

/** What a command works with: the options, the output, and a client of the host with the caller's ECI. */
export class Context {
  readonly dataDir: string;
  private client_: Client | undefined;

  constructor(
    readonly v: Values,
    readonly io: CliIo,
  ) {
    this.dataDir = v.data ?? (io.env['KUMO_DATA'] || './kumo-data');
  }

  get client(): Client {
    return (this.client_ ??= new Client(this.v.url ?? (this.io.env['KUMO_URL'] || 'http://localhost:3000')));
  }

  /** Print `json` with --json, else the text for people. */
  print(json: unknown, human: string): void {
    this.io.out(this.v.json ? JSON.stringify(json, null, 2) + '\n' : human.endsWith('\n') ? human : human + '\n');
  }

  /** The caller's ECI: --eci, $KUMO_ECI, or the root owner's in the data directory. */
  async eci(): Promise<string> {
    const eci = this.v.eci ?? (this.io.env['KUMO_ECI'] || (await readFile(rootEciFile(this.dataDir), 'utf8').catch(() => '')).trim());
    if (!eci) throw new UsageError(`no ECI: pass --eci, set KUMO_ECI, or run where ${rootEciFile(this.dataDir)} exists`);
    return eci;
  }

  /** Send a `wrangler:<type>` event through the caller's ECI. */
  async wrangler(type: string, attrs: Record<string, unknown>): ReturnType<Client['event']> {
    return this.client.event(await this.eci(), newEid(), 'wrangler', type, attrs);
  }

  /** Call a shared function of wrangler through the caller's ECI. */
  async wranglerQuery(name: string): Promise<unknown> {
    return this.client.query(await this.eci(), 'io.picolabs.wrangler', name);
  }

  /** The parent's ECI on the child NAME of the caller's cloud (full authority over it). */
  async childEci(name: string): Promise<string> {
    const kids = (await this.wranglerQuery('children')) as Array<{ name: string; eci: string | null }>;
    const kid = kids.find((k) => k.name === name);
    if (!kid) throw new ArgumentError(`the cloud has no child named ${JSON.stringify(name)} (kumo cloud ls)`);
    if (!kid.eci) throw new ArgumentError(`the --eci ECI may not see the ECI of ${name}: use the owner's ECI`);
    return kid.eci;
  }
}

export function newEid(): string {
  return randomBytes(16).toString('base64url');
}

/** A comma-separated list, trimmed, without empty items. */
export const list = (text: string): string[] =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

/** A JSON option or argument, or a usage error naming it. */
export function jsonOption(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`${name} must be JSON, got ${JSON.stringify(text)}`);
  }
}

/** `90s`, `30m`, `24h`, `7d` (or plain milliseconds) in milliseconds; `name` is the option's, for the error. */
export function duration(text: string, name = '--expires'): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${name} must be a duration such as 30m, 24h or 7d, got ${JSON.stringify(text)}`);
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

/** A port number option (0 allowed where `zero`). */
export function portOption(name: string, text: string, zero = false): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < (zero ? 0 : 1) || n > 65535) throw new UsageError(`${name} must be a port number, ${zero ? 0 : 1} to 65535, got ${text}`);
  return n;
}

/** A whole number option from `least` to `most`. */
export function countOption(name: string, text: string, least: number, most: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < least || n > most) throw new UsageError(`${name} must be an integer from ${least} to ${most}, got ${text}`);
  return n;
}
