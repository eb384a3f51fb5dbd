import type { CloudState } from './cloud.ts';
import { InvalidAttrsError, KumoError, LimitExceededError, inRule, messageOf } from './errors.ts';
import type { KumoEvent, ReadContext, Rule, Ruleset } from './ruleset.ts';
import { rulesFor } from './rule-index.ts';
import type { EpisodeLogEntry } from './keys.ts';
import { Tx } from './tx.ts';
import { redactEcis, stagedView } from './authority.ts';
import type { Eci } from './ids.ts';
import { buildReadContext, buildRuleContext, type CloudOps } from './context.ts';

/** One directive returned to the sender, naming the rule that made it. */
export interface Directive {
  name: string;
  options: Record<string, unknown>;
  meta: { rid: string; rule: string; eid: string };
}

export type { EpisodeLogEntry };

export interface EpisodeOutcome {
  tx: Tx;
  directives: Directive[];
  log: Omit<EpisodeLogEntry, 'seq' | 'ms' | 'error'>;
}

export interface EpisodeEnv {
  rulesets: ReadonlyMap<string, Ruleset>;
  raiseDepth: number;
  eventsPerEpisode: number;
  ops: CloudOps;
}

interface Queued {
  event: KumoEvent;
  depth: number;
}

/**
 * Run one event, and every event its rules raise, against a cloud. Returns the staged changes
 * without writing anything; throws (with the rule named) if any rule fails, in which case the
 * caller drops the Tx and nothing of the episode is written.
 */
export async function runEpisode(env: EpisodeEnv, cloud: CloudState, event: KumoEvent, tx: Tx, via?: string): Promise<EpisodeOutcome> {
  const directives: Directive[] = [];
  const log: EpisodeOutcome['log'] = { eid: event.eid, domain: event.domain, type: event.type, time: event.time, selected: [], fired: [], directives: [], raised: 0 };
  const queue: Queued[] = [{ event, depth: 0 }];
  let processed = 0;
  // The ECI the event came through: everything the episode makes or returns stays within its authority.
  const caller = via === undefined ? undefined : cloud.ecis.get(via as Eci);

  for (let q = queue.shift(); q; q = queue.shift()) {
    if (++processed > env.eventsPerEpisode) {
      throw new LimitExceededError('eventsPerEpisode', env.eventsPerEpisode, `an episode may process at most ${env.eventsPerEpisode} events (raised events included)`);
    }
    const current = q;
    for (const install of tx.installs) {
      const ruleset = env.rulesets.get(install.rid);
      if (!ruleset) {
        if (!log.missing?.includes(install.rid)) (log.missing ??= []).push(install.rid);
        continue;
      }
      let stop = false;
      const read = (): ReadContext => buildReadContext(cloud, install, env.rulesets, () => env.ops.now(), tx, caller);
      for (const rule of rulesFor(ruleset, current.event.domain, current.event.type)) {
        if (tx.isUninstalled(ruleset.rid)) break;
        const selected = select(tx, ruleset.rid, rule, current.event, read);
        if (!selected) continue;
        const name = `${ruleset.rid}/${rule.name}`;
        log.selected.push(name);
        const attrs = validated(ruleset.rid, rule, current.event.attrs);
        const ctx = buildRuleContext({
          tx,
          cloud,
          ops: env.ops,
          install,
          rulesets: env.rulesets,
          rule: rule.name,
          event: current.event,
          eci: via,
          caller,
          attrs,
          captures: selected,
          directive: (d) => {
            directives.push({ name: d.name, options: d.options, meta: { rid: ruleset.rid, rule: rule.name, eid: event.eid } });
            log.directives.push({ name: d.name, rid: ruleset.rid, rule: rule.name });
          },
          raise: (raised) => {
            if (current.depth + 1 > env.raiseDepth) {
              throw new LimitExceededError('raiseDepth', env.raiseDepth, `raised events may nest at most ${env.raiseDepth} deep`);
            }
            log.raised++;
            queue.push({ event: { ...raised, eid: event.eid, time: current.event.time }, depth: current.depth + 1 });
          },
          last: () => {
            stop = true;
          },
        });
        let fired: void | boolean;
        try {
          fired = await rule.run(ctx);
        } catch (err) {
          throw inRule(err, ruleset.rid, rule.name);
        }
        if (fired !== false) log.fired.push(name);
        if (stop) break;
      }
    }
  }
  const view = stagedView(tx);
  for (const d of directives) d.options = redactEcis(d.options, view, caller);
  return { tx, directives, log };
}

/** Evaluate a rule's selector against its (staged) state; returns the captures when it fires. */
function select(tx: Tx, rid: string, rule: Rule, event: KumoEvent, read: () => ReadContext): Record<string, unknown> | undefined {
  const before = tx.getExprState(rid, rule.name);
  let result;
  try {
    result = rule.select.match(before, event, read);
  } catch (err) {
    throw inRule(err, rid, rule.name);
  }
  if (result.state !== before) tx.setExprState(rid, rule.name, result.state);
  return result.fired ? result.captures : undefined;
}

function validated(rid: string, rule: Rule, attrs: Record<string, unknown>): Record<string, unknown> {
  if (!rule.validate) return attrs;
  const v = rule.validate(attrs);
  if (!v.ok) throw new InvalidAttrsError(rid, rule.name, v.issues);
  return v.value;
}

/** The error entry of a failed episode's log. */
export function logError(err: unknown): NonNullable<EpisodeLogEntry['error']> {
  if (err instanceof KumoError) {
    const { rid, rule } = err.details as { rid?: string; rule?: string };
    return { code: err.code, message: err.message, ...(rid ? { rid } : {}), ...(rule ? { rule } : {}) };
  }
  return { code: 'RULE_FAILED', message: messageOf(err) };
}
