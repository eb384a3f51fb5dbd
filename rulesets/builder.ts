import { z } from 'zod';

/** zod, re-exported so rulesets need no import of their own for attr and config schemas. */
export { z };
import type { AppPermissions, DeclaredEci, QueryContext, Rule, RuleContext, Ruleset, Validation } from '../kernel/index.ts';
import { compile, expr, type EventExpr, type ExprLike } from './event-expr.ts';
import type { CapturesOf, NoCaptures, RuleCaptures } from './event-expr/captures.ts';

/**
 * The TypeScript ruleset builder: host-trusted rulesets with zod schemas for attrs and typed
 * entity state.
 *
 * @example
 * export default ruleset<{ count: number }>('example.counter', { name: 'Counter' })
 *   .rule('inc', {
 *     select: 'counter:inc',
 *     attrs: z.object({ by: z.coerce.number().int().default(1) }),
 *     action(ctx) {
 *       const count = (ctx.ent.get('count') ?? 0) + ctx.attrs.by;
 *       ctx.ent.set('count', count);
 *       ctx.directive('count', { count });
 *     },
 *   })
 *   .share('count', (ctx) => ctx.ent.get('count') ?? 0)
 *   .build();
 */

type State = Record<string, unknown>;

/** Entity state, typed by the ruleset's state shape. */
export interface TypedEntities<S extends State> {
  get<K extends keyof S & string>(name: K): S[K] | undefined;
  has(name: keyof S & string): boolean;
  names(): Array<keyof S & string>;
}

export interface TypedRuleEntities<S extends State> extends TypedEntities<S> {
  set<K extends keyof S & string>(name: K, value: S[K]): void;
  delete(name: keyof S & string): void;
}

/**
 * What a rule's functions receive. `item` is the current element of `foreach`; `captures` are
 * typed from the rule's `select` (`C`).
 */
export type RuleCtx<S extends State, A, C = NoCaptures> = Omit<RuleContext, 'ent' | 'attrs' | 'captures'> & {
  ent: TypedRuleEntities<S>;
  attrs: A;
  captures: RuleCaptures<C>;
  item: unknown;
};

export type QueryCtx<S extends State> = Omit<QueryContext, 'ent'> & { ent: TypedEntities<S> };

type Step<S extends State, A, C> = (ctx: RuleCtx<S, A, C>) => unknown;

export interface RuleSpec<S extends State, Schema extends z.ZodType | undefined, E extends ExprLike = ExprLike> {
  /** The event expression, or `"domain:type"` shorthand. */
  select: E;
  /** Schema for the event's attrs; an event that fails it fails the episode with INVALID_ATTRS. */
  attrs?: Schema;
  /** Run the action once per element (postlude included). */
  foreach?: (ctx: RuleCtx<S, Attrs<Schema>, CapturesOf<E>>) => Iterable<unknown>;
  /** Guard: when false, the action does not fire and `notfired` runs instead of `fired`. */
  if?: (ctx: RuleCtx<S, Attrs<Schema>, CapturesOf<E>>) => boolean | Promise<boolean>;
  action?: Step<S, Attrs<Schema>, CapturesOf<E>>;
  fired?: Step<S, Attrs<Schema>, CapturesOf<E>>;
  notfired?: Step<S, Attrs<Schema>, CapturesOf<E>>;
  always?: Step<S, Attrs<Schema>, CapturesOf<E>>;
}

type Attrs<Schema> = Schema extends z.ZodType ? z.output<Schema> : Record<string, unknown>;

export interface RulesetOptions {
  version?: string;
  name?: string;
  description?: string;
  /** Schema for the config given at install time. */
  config?: z.ZodType<Record<string, unknown>>;
  /** ECIs every cloud with this ruleset has, made with its install and deleted with its uninstall. */
  ecis?: DeclaredEci[];
  /** What an app asks for beyond its own state (docs/apps.md); an operator's ruleset needs none. */
  permissions?: AppPermissions;
}

/** Turn a zod result into the kernel's Validation. */
export function validation(schema: z.ZodType, value: unknown): Validation {
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, value: r.data as Record<string, unknown> };
  return { ok: false, issues: r.error.issues.map((i) => `${i.path.join('.') || '(attrs)'}: ${i.message}`).join('; ') };
}

export class RulesetBuilder<S extends State> {
  /** Rules with their expressions not yet compiled: a `where` may call functions added later. */
  private readonly rules: Array<Omit<Rule, 'select'> & { select: EventExpr }> = [];
  private readonly functions: Ruleset['functions'] = {};
  private readonly shares: string[] = [];

  constructor(
    private readonly rid: string,
    private readonly options: RulesetOptions,
  ) {}

  /** Add a rule; rules run in the order they are added. */
  rule<Schema extends z.ZodType | undefined = undefined, const E extends ExprLike = ExprLike>(name: string, spec: RuleSpec<S, Schema, E>): this {
    if (this.rules.some((r) => r.name === name)) throw new TypeError(`${this.rid} already has a rule named ${name}`);
    const schema = spec.attrs;
    this.rules.push({
      name,
      select: expr(spec.select),
      ...(schema ? { validate: (attrs: Record<string, unknown>) => validation(schema, attrs) } : {}),
      run: runner(spec as RuleSpec<S, undefined>),
    });
    return this;
  }

  /** Add a function queries may call. */
  share(name: string, fn: (ctx: QueryCtx<S>, args: Record<string, unknown>) => unknown): this {
    this.fn(name, fn);
    this.shares.push(name);
    return this;
  }

  /** Add a function that is not shared (queries get NOT_SHARED). */
  fn(name: string, fn: (ctx: QueryCtx<S>, args: Record<string, unknown>) => unknown): this {
    this.functions[name] = fn as Ruleset['functions'][string];
    return this;
  }

  build(): Ruleset {
    const config = this.options.config;
    const functions = { ...this.functions };
    return {
      rid: this.rid,
      version: this.options.version ?? '0.0.0',
      meta: { ...(this.options.name ? { name: this.options.name } : {}), ...(this.options.description ? { description: this.options.description } : {}) },
      rules: this.rules.map((r) => ({ ...r, select: compile(r.select, functions) })),
      functions,
      shares: [...this.shares],
      ...(config ? { validateConfig: (c: Record<string, unknown>) => validation(config, c) } : {}),
      ...(this.options.ecis ? { ecis: plainCopy(this.options.ecis) } : {}),
      ...(this.options.permissions ? { permissions: plainCopy(this.options.permissions) } : {}),
    };
  }
}

/** A copy of plain data (not structuredClone: the builder runs in apps' sandboxes too, which lack it). */
const plainCopy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/**
 * Run a rule's steps for each `foreach` item: guard, then action and fired (or notfired), then
 * always. Synchronously while every step is: a rule that awaits nothing costs no promise (an app's
 * rules run in an interpreter, where each costs). From the first step that answers a promise on,
 * the rest run after it, in order.
 */
function runner<S extends State>(spec: RuleSpec<S, undefined>): Rule['run'] {
  // The steps of a guard's two answers, listed once rather than per run (an app's sandbox pays for every allocation).
  const steps: Steps<S> = { fired: [spec.action, spec.fired, spec.always].filter((s) => s !== undefined), notfired: [spec.notfired, spec.always].filter((s) => s !== undefined) };
  return (base) => runRule(spec, steps, base);
}

type Steps<S extends State> = Record<'fired' | 'notfired', Array<Step<S, Record<string, unknown>, Record<string, unknown>>>>;

function runRule<S extends State>(spec: RuleSpec<S, undefined>, steps: Steps<S>, base: RuleContext): boolean | Promise<boolean> {
  // The kernel builds a fresh context per rule run, so `item` is set on it rather than copied into
  // a spread (a 25-property spread makes V8 fall back to a slow dictionary object).
  const ctx = base as unknown as RuleCtx<S, Record<string, unknown>>;
  ctx.item = undefined;
  const items = spec.foreach ? [...spec.foreach(ctx)] : NO_ITEMS;
  const run = { fired: false };
  for (let i = 0; i < items.length; i++) {
    ctx.item = items[i];
    const guard = spec.if ? spec.if(ctx) : true;
    if (isThenable(guard)) return guard.then((g) => finish(spec, steps, ctx, items, i, { value: g }, run));
    const pending = stepsAfterGuard(steps, ctx, guard, run);
    if (pending) return pending.then(() => finish(spec, steps, ctx, items, i + 1, undefined, run));
  }
  return run.fired;
}

/** A rule without `foreach` runs its steps once. */
const NO_ITEMS: readonly unknown[] = [undefined];

/** The steps of one item after its guard; a promise from the first step that answers one. */
function stepsAfterGuard<S extends State>(steps: Steps<S>, ctx: RuleCtx<S, Record<string, unknown>>, guard: unknown, run: { fired: boolean }): Promise<unknown> | undefined {
  if (guard) run.fired = true;
  const list = guard ? steps.fired : steps.notfired;
  for (let k = 0; k < list.length; k++) {
    const out = list[k]!(ctx);
    if (isThenable(out)) return list.slice(k + 1).reduce<Promise<unknown>>((p, step) => p.then(() => step(ctx)), Promise.resolve(out));
  }
  return undefined;
}

/** The rest of a rule run once a step answered a promise: item `from` (its guard's value if given) and those after it. */
async function finish<S extends State>(
  spec: RuleSpec<S, undefined>,
  steps: Steps<S>,
  ctx: RuleCtx<S, Record<string, unknown>>,
  items: readonly unknown[],
  from: number,
  guard: { value: unknown } | undefined,
  run: { fired: boolean },
): Promise<boolean> {
  for (let i = from; i < items.length; i++) {
    ctx.item = items[i];
    const g = i === from && guard ? guard.value : spec.if ? await spec.if(ctx) : true;
    await stepsAfterGuard(steps, ctx, g, run);
  }
  return run.fired;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as { then?: unknown } | null)?.then === 'function';

/** Start a TypeScript ruleset. `S` is the shape of its entity state. */
export function ruleset<S extends State = State>(rid: string, options: RulesetOptions = {}): RulesetBuilder<S> {
  return new RulesetBuilder<S>(rid, options);
}
