import { Host, type Clock, type IdGenerator, type Limits, type Ruleset, type Store } from '../kernel/index.ts';
import { builtinRulesets } from '../rulesets/index.ts';
import { openDataDir } from './data-dir.ts';

export interface OpenHostOptions {
  /** LevelDB directory (created 0700 if missing; refused when others may read it). Ignored when `store` is given. */
  dataDir?: string;
  store?: Store;
  /** fsync every commit (power-loss durable) instead of relying on the OS after each write. */
  sync?: boolean;
  clock?: Clock;
  ids?: IdGenerator;
  rulesets?: Ruleset[];
  limits?: Partial<Limits>;
  partitions?: number[];
}

/**
 * The composition root: a host on a store, with the built-in rulesets registered and installed in
 * every new cloud, plus the caller's rulesets.
 */
export async function openHost(opts: OpenHostOptions): Promise<Host> {
  let store = opts.store;
  if (!store) {
    if (!opts.dataDir) throw new TypeError('openHost needs a dataDir or a store');
    store = await openDataDir(opts.dataDir, { sync: opts.sync ?? false });
  }
  return Host.open({
    store,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.ids ? { ids: opts.ids } : {}),
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.partitions ? { partitions: opts.partitions } : {}),
    rulesets: [...builtinRulesets, ...(opts.rulesets ?? [])],
    builtins: builtinRulesets.map((r) => r.rid),
  });
}
