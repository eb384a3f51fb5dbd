import { eciIn, type Active } from '../clouds/activation.ts';
import type { Clock } from '../clock.ts';
import { buildReadContext, type ModuleSource } from './rule-scope.ts';
import { KumoError, NotSharedError, PolicyDeniedError, QueryFailedError, QueryTimeoutError, UnknownEciError, UnknownFunctionError, UnknownRulesetError } from '../errors.ts';

import type { Publish } from '../observe.ts';
import { queryAllowed } from '../capabilities/policy.ts';
import { redactEcis, redactError } from '../capabilities/authority.ts';
import { committedView } from '../clouds/cloud-state.ts';
import type { RoutedQuery } from '../requests/request.ts';
import type { ReadContext, Ruleset } from '../ruleset.ts';
import type { InstallRecord } from '../store/keys.ts';
import type { Apps } from '../apps/apps.ts';
import { checkValue } from '../validate.ts';

export interface QueryEnv {
  rulesets: ReadonlyMap<string, Ruleset>;
  apps: Apps;
  clock: Clock;
  /** Longest a function may take (ms) before QUERY_TIMEOUT. */
  queryMs: number;
  publish: Publish;
}

/** A query's outcome: its value, or its error and whether the function ran (else it was refused before). */
export type QueryOutcome = { ok: true; value: unknown } | { ok: false; error: KumoError; ran: boolean };

/**
 * Run a query inside the cloud's mailbox: the ECI's query policy, then an installed ruleset's
 * shared function, read-only, within the time limit.
 *
 * The limit stops waiting for a function that is slow asynchronously (it awaits something that does
 * not come); a function that loops synchronously blocks the host, which is why TypeScript rulesets
 * are host code, trusted by the operator (untrusted rulesets will need an interpreter with a step limit).
 */
export async function runQuery(env: QueryEnv, a: Active, q: RoutedQuery): Promise<QueryOutcome> {
  const { eci, rid, name, args } = q;
  const info = eciIn(a, eci);
  const refuse = (error: KumoError): QueryOutcome => ({ ok: false, error, ran: false });
  if (!info) return refuse(new UnknownEciError(eci));
  const cloud = a.state;
  if (!queryAllowed(info.queryPolicy, rid, name)) return refuse(new PolicyDeniedError(`query ${rid}/${name}`, eci));
  const install = cloud.installs.find((r) => r.rid === rid);
  const ruleset = install && env.apps.rulesetOf(install, env.rulesets);
  if (!install || !ruleset) return refuse(new UnknownRulesetError(rid));
  if (!Object.hasOwn(ruleset.functions, name)) return refuse(new UnknownFunctionError(rid, name));
  if (!ruleset.shares.includes(name)) return refuse(new NotSharedError(rid, name));
  const fn = ruleset.functions[name]!;
  const now = (): number => env.clock.now();
  const views = new Map<InstallRecord, ReadContext>();
  const modules: ModuleSource = {
    rulesetOf: (i) => env.apps.rulesetOf(i, env.rulesets),
    read: (i) => views.get(i) ?? views.set(i, buildReadContext(cloud, i, env.rulesets, now, modules, undefined, info)).get(i)!,
    running: (a) => env.apps.running(a),
  };
  const ctx = modules.read(install);
  const start = performance.now();
  let timer: { cancel(): void } | undefined;
  try {
    const answer: unknown = fn(ctx, args);
    // Only an answer still to come can be waited for too long: a plain value needs no timer.
    const raw = isThenable(answer)
      ? await Promise.race([
          answer,
          new Promise<never>((_, reject) => {
            timer = env.clock.timeout(() => reject(new QueryTimeoutError(rid, name, env.queryMs)), env.queryMs);
          }),
        ])
      : answer;
    checkValue(raw, () => `the answer of ${rid}/${name}`);
    // What comes back through the ECI holds only ECIs within its authority.
    const value = redactEcis(raw, committedView(cloud), info);
    env.publish('query', { cloudId: cloud.id, rid, name, ms: performance.now() - start });
    return { ok: true, value };
  } catch (err) {
    const error = err instanceof KumoError ? err : new QueryFailedError(rid, name, err);
    env.publish('query', { cloudId: cloud.id, rid, name, ms: performance.now() - start, error: error.code });
    // What a function throws is an answer too.
    return { ok: false, error: redactError(error, committedView(cloud), info) as KumoError, ran: true };
  } finally {
    timer?.cancel();
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
