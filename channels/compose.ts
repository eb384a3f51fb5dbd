import { mkdir } from 'node:fs/promises';
import { Host, openLevelStore, type Clock, type IdGenerator, type Limits, type Remote, type Ruleset, type Store } from '../kernel/index.ts';
import { builtinRulesets } from '../rulesets/index.ts';
import type { DestinationRules } from './destinations.ts';
import { HttpRemote } from './http-remote.ts';

export interface OpenHostOptions {
  /** LevelDB directory (created if missing). Ignored when `store` is given. */
  dataDir?: string;
  store?: Store;
  /** fsync every commit (power-loss durable) instead of relying on the OS after each write. */
  sync?: boolean;
  clock?: Clock;
  ids?: IdGenerator;
  rulesets?: Ruleset[];
  limits?: Partial<Limits>;
  partitions?: number[];
  /** The hosts of other providers this host may send events to (default: any). Ignored when `remote` is given. */
  destinations?: DestinationRules;
  /** How to reach other providers' hosts; default over HTTP(S), within `destinations`. */
  remote?: Remote;
  /** The base URL at which other providers reach this host (a server sets it once it listens, when not given). */
  url?: string;
}

/**
 * The composition root: a host on a store, with the built-in rulesets registered and installed in
 * every new cloud, plus the caller's rulesets, reaching other providers over HTTP(S).
 */
export async function openHost(opts: OpenHostOptions): Promise<Host> {
  // Made first: a bad list of destinations stops the start before the store is opened.
  const remote = opts.remote ?? new HttpRemote(opts.destinations);
  let store = opts.store;
  if (!store) {
    if (!opts.dataDir) throw new TypeError('openHost needs a dataDir or a store');
    await mkdir(opts.dataDir, { recursive: true });
    store = await openLevelStore(opts.dataDir, { sync: opts.sync ?? false });
  }
  return Host.open({
    store,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.ids ? { ids: opts.ids } : {}),
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.partitions ? { partitions: opts.partitions } : {}),
    ...(opts.url ? { url: opts.url } : {}),
    remote,
    rulesets: [...builtinRulesets, ...(opts.rulesets ?? [])],
    builtins: builtinRulesets.map((r) => r.rid),
  });
}
