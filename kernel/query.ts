import type { CloudState } from './cloud.ts';
import type { Clock } from './clock.ts';
import { buildReadContext } from './context.ts';
import { KumoError, NotSharedError, PolicyDeniedError, QueryFailedError, UnknownEciError, UnknownFunctionError, UnknownRulesetError } from './errors.ts';
import type { Eci } from './ids.ts';
import { publish } from './observe.ts';
import { queryAllowed } from './policy.ts';
import type { Ruleset } from './ruleset.ts';

export interface QueryEnv {
  rulesets: ReadonlyMap<string, Ruleset>;
  clock: Clock;
  /** Longest a function may take (ms) before QUERY_TIMEOUT. */
  queryMs: number;
}

/**
 * Run a query inside the cloud's mailbox: the ECI's query policy, then an installed ruleset's
 * shared function, read-only, within the time limit. `cloud` is null for a cloud being deleted.
 */
export async function runQuery(env: QueryEnv, cloud: CloudState | null, eci: string, rid: string, name: string, args: Record<string, unknown>): Promise<unknown> {
  const start = performance.now();
  const info = cloud?.ecis.get(eci as Eci);
  if (!cloud || !info) throw new UnknownEciError(eci);
  if (!queryAllowed(info.queryPolicy, rid, name)) throw new PolicyDeniedError(`query ${rid}/${name}`, eci);
  const install = cloud.installs.find((r) => r.rid === rid);
  const ruleset = install && env.rulesets.get(rid);
  if (!install || !ruleset) throw new UnknownRulesetError(rid);
  if (!Object.hasOwn(ruleset.functions, name)) throw new UnknownFunctionError(rid, name);
  if (!ruleset.shares.includes(name)) throw new NotSharedError(rid, name);
  const fn = ruleset.functions[name]!;
  const ctx = buildReadContext(cloud, install, () => env.clock.now());
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KumoError('QUERY_TIMEOUT', `function ${rid}/${name} ran longer than ${env.queryMs} ms`, { rid, name })), env.queryMs);
    });
    const result = await Promise.race([Promise.resolve().then(() => fn(ctx, args)), timeout]);
    publish('query', { cloudId: cloud.id, rid, name, ms: performance.now() - start });
    return result;
  } catch (err) {
    const e = err instanceof KumoError ? err : new QueryFailedError(rid, name, err);
    publish('query', { cloudId: cloud.id, rid, name, ms: performance.now() - start, error: e.code });
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
