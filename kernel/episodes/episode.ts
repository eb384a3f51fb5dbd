import type { CloudState, InstallRecord } from '../clouds/cloud-state.ts';
import { InvalidArgsError, InvalidAttrsError, KumoError, LimitExceededError, NotSharedError, UnknownFunctionError, UnknownRulesetError, inRule, messageOf } from '../errors.ts';
import type { KumoEvent, ReadContext, Rule, Ruleset } from '../ruleset.ts';
import { rulesFor } from './rule-index.ts';
import type { EpisodeLogEntry } from '../store/keys.ts';
import { Tx } from './tx.ts';
import type { Apps } from '../apps/apps.ts';
import { checkCall, checkStorage } from '../apps/grants.ts';
import type { Directive } from '../ruleset.ts';
import { checkValue, isPlainObject } from '../validate.ts';
import { redactEcis, type Authority } from '../capabilities/authority.ts';
import { stagedView } from './tx.ts';
import { buildReadContext, RuleScope, type CloudOps, type EpisodeScope, type ModuleSource, type QueuedEvent } from './rule-scope.ts';

export type { Directive };

export type { EpisodeLogEntry };

export interface EpisodeOutcome {
  tx: Tx;
  directives: Directive[];
  log: Omit<EpisodeLogEntry, 'seq' | 'ms' | 'error'>;
}

export interface EpisodeEnv {
  rulesets: ReadonlyMap<string, Ruleset>;
  apps: Apps;
  raiseDepth: number;
  eventsPerEpisode: number;
  ops: CloudOps;
}

/**
 * Run one event, and every event its rules raise, against a cloud. Returns the staged changes
 * without writing anything; throws (with the rule named) if any rule fails, in which case the
 * caller drops the Tx and nothing of the episode is written.
 */
export async function runEpisode(env: EpisodeEnv, cloud: CloudState, event: KumoEvent, tx: Tx, via?: string): Promise<EpisodeOutcome> {
  const episode = new Episode(env, cloud, event, tx, via);
  const { log, queue } = episode;
  let processed = 0;
  for (let current = queue.shift(); current; current = queue.shift()) {
    if (++processed > env.eventsPerEpisode) {
      throw new LimitExceededError('eventsPerEpisode', env.eventsPerEpisode, `an episode may process at most ${env.eventsPerEpisode} events (raised events included)`);
    }
    const { domain, type } = current.event;
    for (const install of tx.installs) {
      if (current.rid !== undefined && install.rid !== current.rid) continue;
      const ruleset = env.apps.rulesetOf(install, env.rulesets);
      if (!ruleset) {
        if (!log.missing?.includes(install.rid)) (log.missing ??= []).push(install.rid);
        continue;
      }
      const rules = rulesFor(ruleset, domain, type);
      if (rules.length === 0) continue;
      if (install.app) env.apps.checkSuspended(cloud.id, install.rid, env.ops.now());
      const read = (): ReadContext => episode.read(install);
      for (const rule of rules) {
        if (tx.isUninstalled(ruleset.rid)) break;
        const selected = select(tx, ruleset.rid, rule, current.event, read);
        if (!selected) continue;
        const name = `${ruleset.rid}/${rule.name}`;
        log.selected.push(name);
        const ctx = new RuleScope(episode, install, rule.name, current, validated(ruleset.rid, rule, current.event.attrs), selected);
        let fired: void | boolean;
        try {
          fired = await rule.run(ctx);
        } catch (err) {
          if (install.app) env.apps.failed(cloud.id, install.rid, err, env.ops.now());
          throw inRule(err, ruleset.rid, rule.name);
        }
        checkStorage(tx, install);
        if (fired !== false) log.fired.push(name);
        if (ctx.stopped) break;
      }
    }
  }
  const { directives, caller } = episode;
  if (directives.length > 0 && caller) {
    const view = stagedView(tx);
    for (const d of directives) d.options = redactEcis(d.options, view, caller);
  }
  return { tx, directives, log };
}

/** One episode's state, which the contexts of its rules act on. */
class Episode implements EpisodeScope {
  readonly directives: Directive[] = [];
  readonly log: EpisodeOutcome['log'];
  readonly queue: QueuedEvent[];
  readonly ops: CloudOps;
  /** The authority of the ECI the event came through: everything the episode makes or returns stays within it. */
  readonly caller: Authority | undefined;
  private readonly reads = new Map<InstallRecord, ReadContext>();

  constructor(
    private readonly env: EpisodeEnv,
    readonly cloud: CloudState,
    private readonly event: KumoEvent,
    readonly tx: Tx,
    readonly eci: string | undefined,
  ) {
    this.ops = env.ops;
    this.log = { eid: event.eid, domain: event.domain, type: event.type, time: event.time, selected: [], fired: [], directives: [], raised: 0 };
    this.queue = [{ event, depth: 0 }];
    this.caller = eci === undefined ? undefined : cloud.ecis.get(eci);
  }

  private readonly modules: ModuleSource = { rulesetOf: (i) => this.env.apps.rulesetOf(i, this.env.rulesets), read: (i) => this.read(i), running: (a) => this.env.apps.running(a) };

  read(install: InstallRecord): ReadContext {
    let read = this.reads.get(install);
    if (!read) {
      const ops = this.ops;
      read = buildReadContext(this.cloud, install, this.env.rulesets, () => ops.now(), this.modules, this.tx, this.caller);
      this.reads.set(install, read);
    }
    return read;
  }

  directive(rid: string, rule: string, name: string, options: Record<string, unknown>): void {
    checkValue(options, () => `directive ${JSON.stringify(name)}`);
    this.directives.push({ name, options, meta: { rid, rule, eid: this.event.eid } });
    this.log.directives.push({ name, rid, rule });
  }

  async call(from: InstallRecord, rid: string, name: string, args: unknown): Promise<unknown> {
    if (rid === from.rid) throw new InvalidArgsError(`${rid} calls its own functions directly, not through ctx.call`);
    checkCall(from, rid);
    if (!isPlainObject(args)) throw new InvalidArgsError('the args of a call are an object');
    const install = this.tx.installs.find((r) => r.rid === rid);
    const ruleset = install && this.env.apps.rulesetOf(install, this.env.rulesets);
    if (!install || !ruleset) throw new UnknownRulesetError(rid);
    if (!Object.hasOwn(ruleset.functions, name)) throw new UnknownFunctionError(rid, name);
    if (!ruleset.shares.includes(name)) throw new NotSharedError(rid, name);
    const value: unknown = await ruleset.functions[name]!(this.read(install), args);
    checkValue(value, () => `the answer of ${rid}/${name}`);
    return value;
  }

  raise(from: QueuedEvent, raised: Pick<KumoEvent, 'domain' | 'type' | 'attrs'>, forRid?: string): void {
    const { raiseDepth } = this.env;
    if (from.depth + 1 > raiseDepth) throw new LimitExceededError('raiseDepth', raiseDepth, `raised events may nest at most ${raiseDepth} deep`);
    this.log.raised++;
    if (forRid !== undefined && typeof forRid !== 'string') throw new InvalidArgsError('the rid a raised event is for is a string');
    this.queue.push({ event: { ...raised, eid: this.event.eid, time: from.event.time }, depth: from.depth + 1, ...(forRid === undefined ? {} : { rid: forRid }) });
  }
}

/** Evaluate a rule's selector against its (staged) state; returns the captures when it fires. */
function select(tx: Tx, rid: string, rule: Rule, event: KumoEvent, read: () => ReadContext): Record<string, unknown> | undefined {
  const before = tx.getExprState(rid, rule.name);
  if (rule.select.always === true) {
    if (before !== undefined) tx.setExprState(rid, rule.name, undefined); // left by an earlier version of the rule
    return {};
  }
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
