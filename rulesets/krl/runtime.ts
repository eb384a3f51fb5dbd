import { AppLimitExceededError, type KumoEvent, type ReadContext, type RuleContext, type Ruleset } from '../../kernel/index.ts';
import diagnostics_channel from 'node:diagnostics_channel';
import { KrlCallable, isPromise, toStr } from './values.ts';

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
  /** Globals, `configure using` names among them (their defaults). */
  globals: ReadonlyMap<string, Global>;
  /** The names `configure using` declares: a user's `with` may set them. */
  configurable: ReadonlySet<string>;
  /** The names `provides` lists: what rulesets using it as a module may read. */
  provides: ReadonlySet<string>;
  limits: KrlLimits;
}

/** The compiled KRL rulesets, by the kernel's ruleset made of them: how a module is found from its installed ruleset. */
export const KRL_RULESETS = new WeakMap<Ruleset, RulesetInfo>();

/** A `use module … alias … with …` of a ruleset. */
export interface ModuleUse {
  rid: string;
  alias: string;
  /** The `with` declarations, evaluated in the using ruleset. */
  with: ReadonlyArray<readonly [string, Global]>;
}

/** What one episode's rule runs of a ruleset, or one query, may spend, shared by the modules they call. */
export class Budget {
  steps = 0;
  depth = 0;
  constructor(
    readonly limits: KrlLimits,
    readonly rid: string,
  ) {}
}

/**
 * Each episode's budget for a ruleset, by the view of the cloud the kernel gives that ruleset's rules
 * in that episode (one object per episode and install): every rule run of the episode, raised events
 * included, spends from it, and it goes with the episode.
 */
const episodes = new WeakMap<object, Budget>();

/** The budget of the episode whose rules of `info` see the cloud as `cloud`. */
export function episodeBudget(cloud: object, info: RulesetInfo): Budget {
  let b = episodes.get(cloud);
  if (!b) episodes.set(cloud, (b = new Budget(info.limits, info.rid)));
  return b;
}

/** One rule run or query (or a module it uses, in that run), spending from a budget. */
export class Run {
  private readonly globalValues = new Map<string, unknown>();
  private readonly evaluating = new Set<string>();
  private readonly modules = new Map<string, Run | { foreign: Ruleset; read: ReadContext }>();
  readonly budget: Budget;

  constructor(
    readonly ruleset: RulesetInfo,
    readonly read: ReadContext,
    readonly rule: RuleContext | undefined,
    readonly ruleName: string | undefined,
    /** The event of a rule run or a `where`; none in a query. */
    readonly event: KumoEvent | undefined,
    budget?: Budget,
    /** A module's configuration, from the `with` of the ruleset using it. */
    private readonly config?: ReadonlyMap<string, unknown>,
  ) {
    this.budget = budget ?? new Budget(ruleset.limits, ruleset.rid);
  }

  /** A `log` statement's or `klog`'s line, published on `kumo:krl` (docs/krl.md, "Logs"). */
  log(level: string, message: string): void {
    if (LOG.hasSubscribers) LOG.publish({ cloudId: this.read.cloud.id, rid: this.ruleset.rid, ...(this.ruleName ? { rule: this.ruleName } : {}), level, message });
  }

  /** The rule's context: what acts exists only in a rule run (not in a query or a `where`). */
  ruleContext(what: string): RuleContext {
    if (!this.rule) throw new KrlError(`${what} works only in a rule's actions and prelude, not in a query or a where`);
    return this.rule;
  }

  /** Count `n` steps; past the budget the run ends. */

  charge(n = 1): void {
    const b = this.budget;
    b.steps += n;
    if (b.steps > b.limits.steps) throw new AppLimitExceededError(b.rid, 'steps', `${b.rid} took more than its ${b.limits.steps} steps${this.ruleName ? ` (in rule ${this.ruleName})` : ''}`, b.limits.steps);
  }

  /** Check that a string or collection of `length` may be made. */
  sized(length: number): void {
    const { rid, limits } = this.budget;
    if (length > limits.size) throw new AppLimitExceededError(rid, 'size', `${rid} made a value of ${length} characters or elements; at most ${limits.size} may be made`, limits.size);
  }

  /** A global's value in this run (its declaration evaluated once, when first read); a module's configuration first. */
  global(name: string, root: Env): unknown {
    if (this.config?.has(name)) return this.config.get(name);
    if (this.globalValues.has(name)) return this.globalValues.get(name);
    const decl = this.ruleset.globals.get(name);
    if (!decl) throw new KrlError(`\`${name}\` is not defined`);
    if (this.evaluating.has(name)) throw new KrlError(`the global \`${name}\` is defined in terms of itself`);
    this.evaluating.add(name);
    let value: unknown;
    try {
      value = decl(root);
    } finally {
      this.evaluating.delete(name);
    }
    if (isPromise(value)) throw new KrlError(`the global \`${name}\` waits on the host; globals are computed without waiting (move it into a rule's pre)`);
    this.globalValues.set(name, value);
    return value;
  }

  /**
   * What a module used as `use.alias` gives under `name`, in this run: a KRL module's provided
   * global (its functions run against its own state, configured by the `with` of `use`), or a shared
   * function of a ruleset of another language.
   */
  moduleValue(use: ModuleUse, name: string, env: Env): unknown {
    let m = this.modules.get(use.alias);
    if (!m) {
      const { ruleset, read } = this.read.module(use.rid);
      const info = KRL_RULESETS.get(ruleset);
      m = info ? new Run(info, read, this.rule, this.ruleName, this.event, this.budget, configure(info, use, env)) : { foreign: ruleset, read };
      this.modules.set(use.alias, m);
    }
    if (m instanceof Run) {
      if (!m.ruleset.provides.has(name)) throw new KrlError(`${use.rid} does not provide ${name}`);
      return new Env(m, undefined).get(name);
    }
    const { foreign, read } = m;
    if (!foreign.shares.includes(name)) throw new KrlError(`${use.rid} shares no function ${name}`);
    return new KrlCallable('Function', name, [], (args, named) => {
      if (args.length > 0) throw new KrlError(`${use.rid}:${name} takes its arguments by name`);
      return foreign.functions[name]!(read, Object.fromEntries(named ?? []));
    });
  }
}

/** A module's configuration: each `with` of the using ruleset, evaluated in its run, for a name the module lets be configured. */
function configure(info: RulesetInfo, use: ModuleUse, env: Env): Map<string, unknown> {
  const config = new Map<string, unknown>();
  const scope = env.child();
  for (const [name, value] of use.with) {
    if (!info.configurable.has(name)) throw new KrlError(`${use.rid} cannot be configured with ${name} (it configures ${[...info.configurable].join(', ') || 'nothing'})`);
    const v = value(scope);
    if (isPromise(v)) throw new KrlError(`the configuration ${name} of ${use.rid} waits on the host; it is computed without waiting`);
    scope.set(name, v);
    config.set(name, v);
  }
  return config;
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
    if (this.vars.has(name)) return this.vars.get(name);
    return this.parent ? this.parent.get(name) : this.run.global(name, this);
  }
}

/**
 * Call a KRL function (or, in an action block, an action) with positional and named arguments,
 * within the run's budget and depth.
 * Answers its value, or a promise of it when it waited on the host.
 */
export function invoke(run: Run, f: unknown, args: readonly unknown[], named?: ReadonlyMap<string, unknown>, kind: KrlCallable['kind'] = 'Function'): unknown {
  if (!(f instanceof KrlCallable) || f.kind !== kind) {
    const what = f instanceof KrlCallable ? `a ${f.kind === 'Action' ? 'defaction' : 'function'}` : describe(f);
    throw new KrlError(kind === 'Action' ? `${what} is not an action` : f instanceof KrlCallable ? `${what} is an action: use it in an action block` : `${what} is not a function`);
  }
  run.charge();
  const b = run.budget;
  if (b.depth >= b.limits.depth) throw new AppLimitExceededError(b.rid, 'stack', `${b.rid} nested calls deeper than ${b.limits.depth}`, b.limits.depth);
  b.depth++;
  try {
    return f.invoke(args, named);
  } finally {
    b.depth--;
  }
}

const describe = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : toStr(v));
