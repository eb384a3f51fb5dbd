import { AppLimitExceededError, type KumoEvent, type QueryContext, type ReadContext, type RuleContext } from '../../kernel/index.ts';
import diagnostics_channel from 'node:diagnostics_channel';
import { KrlCallable, isPromise } from './values.ts';

const LOG = diagnostics_channel.channel('kumo:krl');

/**
 * What a KRL rule run or query runs with (docs/krl.md, "Limits"): the kernel's context, the
 * ruleset's globals as this run sees them, and a budget of steps and call depth, so a loop written
 * as recursion, a huge range or a runaway string ends with APP_LIMIT_EXCEEDED while the host
 * keeps serving.
 */

export interface KrlLimits {
  /** Steps (function calls, elements made or visited, kilobytes of text made) per rule run or query. */
  steps: number;
  /** How deep KRL calls may nest. */
  depth: number;
  /** The longest string or collection one operation may make. */
  size: number;
}

export const DEFAULT_KRL_LIMITS: KrlLimits = { steps: 200_000, depth: 200, size: 1_000_000 };

/** A global declaration, evaluated the first time a run reads it. */
export type Global = (env: Env) => unknown;

/** The ruleset-level facts a run reads. */
export interface RulesetInfo {
  rid: string;
  name: string | undefined;
  globals: ReadonlyMap<string, Global>;
  limits: KrlLimits;
}

/** One rule run or query. */
export class Run {
  steps = 0;
  depth = 0;
  private readonly globalValues = new Map<string, unknown>();
  private readonly evaluating = new Set<string>();
  constructor(
    readonly ruleset: RulesetInfo,
    readonly read: ReadContext | QueryContext,
    readonly rule: RuleContext | undefined,
    readonly ruleName: string | undefined,
    /** The event of a rule run or a `where`; none in a query. */
    readonly event: KumoEvent | undefined,
  ) {}

  /** A `log` statement's or `klog`'s line, published on `kumo:krl` (docs/krl.md, "Logs"). */
  log(level: string, message: string): void {
    if (LOG.hasSubscribers) LOG.publish({ cloudId: this.read.cloud.id, rid: this.ruleset.rid, ...(this.ruleName ? { rule: this.ruleName } : {}), level, message });
  }

  /** Count `n` steps; past the budget the run ends. */
  charge(n = 1): void {
    this.steps += n;
    if (this.steps > this.ruleset.limits.steps) {
      throw new AppLimitExceededError(this.ruleset.rid, 'steps', `${this.ruleset.rid} took more than its ${this.ruleset.limits.steps} steps${this.ruleName ? ` in rule ${this.ruleName}` : ''}`, this.ruleset.limits.steps);
    }
  }

  /** Check that a string or collection of `length` may be made. */
  sized(length: number): void {
    const max = this.ruleset.limits.size;
    if (length > max) throw new AppLimitExceededError(this.ruleset.rid, 'size', `${this.ruleset.rid} made a value of ${length} characters or elements; at most ${max} may be made`, max);
  }

  /** A global's value in this run (its declaration evaluated once, when first read). */
  global(name: string, root: Env): unknown {
    if (this.globalValues.has(name)) return this.globalValues.get(name);
    const decl = this.ruleset.globals.get(name);
    if (!decl) throw new KrlError(`\`${name}\` is not defined`);
    if (this.evaluating.has(name)) throw new KrlError(`the global \`${name}\` is defined in terms of itself`);
    this.evaluating.add(name);
    const value = decl(root);
    if (isPromise(value)) throw new KrlError(`the global \`${name}\` waits on the host; globals are computed without waiting (move it into a rule's pre)`);
    this.evaluating.delete(name);
    this.globalValues.set(name, value);
    return value;
  }
}

/** A KRL program's own failure (a type error, an undefined name): the rule or query fails with it. */
export class KrlError extends Error {
  override name = 'KrlError';
}

/** A scope of names. The root scope of a run falls back on the ruleset's globals. */
export class Env {
  private readonly vars = new Map<string, unknown>();

  constructor(
    readonly run: Run,
    private readonly parent: Env | undefined,
  ) {}

  child(): Env {
    return new Env(this.run, this);
  }

  set(name: string, value: unknown): void {
    this.vars.set(name, value);
  }

  get(name: string): unknown {
    for (let e: Env | undefined = this; e; e = e.parent) {
      if (e.vars.has(name)) return e.vars.get(name);
      if (!e.parent) return this.run.global(name, e);
    }
    return undefined;
  }
}

/**
 * Call a KRL callable with positional and named arguments, within the run's budget and depth.
 * Answers its value, or a promise of it when it waited on the host.
 */
export function invoke(run: Run, f: unknown, args: readonly unknown[], named?: ReadonlyMap<string, unknown>): unknown {
  if (!(f instanceof KrlCallable)) throw new KrlError(`${describe(f)} is not a function`);
  run.charge();
  if (run.depth >= run.ruleset.limits.depth) {
    throw new AppLimitExceededError(run.ruleset.rid, 'stack', `${run.ruleset.rid} nested calls deeper than ${run.ruleset.limits.depth}`, run.ruleset.limits.depth);
  }
  run.depth++;
  try {
    return f.invoke(args, named);
  } finally {
    run.depth--;
  }
}

const describe = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : v === null || v === undefined ? 'null' : typeof v === 'object' ? (Array.isArray(v) ? 'an array' : 'a map') : String(v));
