import type { KumoEvent } from '../../kernel/index.ts';
import type { Aggregated, AllOf, Binds, CapturesOf, NoCaptures, Setting, SomeOf } from './captures.ts';
import type { WhereContext } from './where-context.ts';

/**
 * Event expressions as data (docs/rulesets.md, "Event expressions"). A rule's `select` is one of these trees; `compile` turns
 * it into the kernel's Selector. Everything here is plain data except the regexes and `where`
 * guards of primitives, which live in the compiled ruleset, never in persisted state. Each type's
 * parameter `C` is the captures it binds, for the compiler only (captures.ts).
 */

/** Captured values, by name. */
export type Captures = Record<string, unknown>;

/**
 * Attribute tests: `{ name: regex }`, or `[name, regex]` pairs. Their groups feed `setting` in the
 * order the tests are written; an object lists names that look like array indices (`'0'`, `'12'`)
 * first whatever the order written, so give those as pairs.
 */
export type AttrTests = Readonly<Record<string, RegExp>> | ReadonlyArray<readonly [string, RegExp]>;

/** A primitive event: `domain type` with optional attribute matches, captures and a guard. */
export interface PrimitiveExpr<C = Captures> extends Binds<C> {
  op: 'event';
  domain: string;
  type: string;
  /**
   * Attribute name → regex that the attribute's KRL string form must match (a missing attribute is
   * `""`), in the order written. Their capture groups, in this order, feed `setting` and aggregators.
   */
  attrs?: ReadonlyArray<readonly [string, RegExp]>;
  /** Names for the capture groups of the attribute regexes, in order. */
  setting?: readonly string[];
  /**
   * Guard over the captures, the event and a read-only view of the cloud: the primitive matches
   * only when it returns a truthy value (KRL's truthiness: not `false`, `null`, `undefined`, `0`,
   * `NaN` or `""`). It must not have effects: `ctx` can read, not write.
   */
  where?: (captures: Captures, event: KumoEvent, ctx: WhereContext) => unknown;
}

/** Fires when any part fires. */
export interface OrExpr<C = Captures> extends Binds<C> {
  op: 'or';
  args: EventExpr[];
}

/** Fires when every part has fired, in any order. */
export interface AndExpr<C = Captures> extends Binds<C> {
  op: 'and';
  args: EventExpr[];
}

/** Fires when `n` distinct parts have fired, in any order. */
export interface AnyExpr<C = Captures> extends Binds<C> {
  op: 'any';
  n: number;
  args: EventExpr[];
}

/**
 * Sequences. `before(a, b, c)`: a, later b, later c. `after(a, b, c)`: a after b after c, i.e. c,
 * then b, then a. `then(a, b)`: like `before`, but b must be the very next salient event after a.
 */
export interface SequenceExpr<C = Captures> extends Binds<C> {
  op: 'before' | 'after' | 'then';
  args: EventExpr[];
}

/** `between`: `expr` happens after `start` and then `end` happens. `notBetween`: `start` then `end` with no `expr` in between. */
export interface BetweenExpr<C = Captures> extends Binds<C> {
  op: 'between' | 'notBetween';
  expr: EventExpr;
  start: EventExpr;
  end: EventExpr;
}

/** One capture name, or several. */
export type Names = string | readonly string[];

/** The aggregators KRL knows. */
export const AGGREGATORS = ['max', 'min', 'sum', 'avg', 'push'] as const;

/**
 * KRL's aggregators over the matches of a `count`/`repeat` window, several at once if wanted. Each
 * key binds captures by position: `{ sum: ['a', 'b'] }` is KRL's `sum(a, b)`, `a` the sum of the
 * first regex group of the matches and `b` of the second. `of` names the captures to read instead
 * of the groups, position by position. max/min/sum/avg read each value as a KRL number (anything
 * that is not a number or numeric string counts as 0); push binds the values, oldest first.
 */
export interface Aggregate {
  max?: Names;
  min?: Names;
  sum?: Names;
  avg?: Names;
  push?: Names;
  of?: Names;
}

/** `count`: fires on every `n`th match, then starts over. `repeat`: fires on the `n`th and every later match (sliding window of `n`). */
export interface CountExpr<C = Captures> extends Binds<C> {
  op: 'count' | 'repeat';
  n: number;
  expr: EventExpr;
  aggregate?: Aggregate;
}

/** The whole inner expression must happen within `ms` milliseconds of event time. */
export interface WithinExpr<C = Captures> extends Binds<C> {
  op: 'within';
  ms: number;
  expr: EventExpr;
}

export type EventExpr = PrimitiveExpr | OrExpr | AndExpr | AnyExpr | SequenceExpr | BetweenExpr | CountExpr | WithinExpr;

/** An expression, or `"domain:type"` shorthand for a primitive. */
export type ExprLike = EventExpr | string;

/** Options of a primitive event; `N` are the names `setting` binds. */
export interface PrimitiveOptions<N extends string = string> {
  attrs?: AttrTests;
  /** Names for the regexes' groups, in order; checked against their number when built. */
  setting?: readonly N[];
  where?: (captures: Setting<N> & Captures, event: KumoEvent, ctx: WhereContext) => unknown;
}

/** Units accepted by {@link within}: KRL's (a month is 30 days, a year 365), plus milliseconds. */
export type TimeUnit = 'ms' | 'second' | 'seconds' | 'minute' | 'minutes' | 'hour' | 'hours' | 'day' | 'days' | 'week' | 'weeks' | 'month' | 'months' | 'year' | 'years';

const UNIT_MS: Record<TimeUnit, number> = {
  ms: 1,
  second: 1000,
  seconds: 1000,
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
  week: 604_800_000,
  weeks: 604_800_000,
  month: 2_592_000_000,
  months: 2_592_000_000,
  year: 31_536_000_000,
  years: 31_536_000_000,
};

/**
 * A primitive event expression. `domain` may be `"domain:type"` shorthand; either part may be `*`.
 *
 * @example on('door', 'opened', { attrs: { room: /^(\w+)$/ }, setting: ['room'] })
 */
export function on<N extends string = never>(name: string, options?: PrimitiveOptions<N>): PrimitiveExpr<Setting<N>>;
export function on<N extends string = never>(domain: string, type: string, options?: PrimitiveOptions<N>): PrimitiveExpr<Setting<N>>;
export function on(domain: string, type?: string | PrimitiveOptions, options: PrimitiveOptions = {}): PrimitiveExpr {
  if (typeof type !== 'string') {
    const [d, t] = splitName(domain);
    return primitive(d, t, type ?? {});
  }
  return primitive(domain, type, options);
}

function primitive(domain: string, type: string, { attrs, setting, where }: PrimitiveOptions): PrimitiveExpr {
  const p: PrimitiveExpr = { op: 'event', domain, type };
  const name = `on(${domain}:${type})`;
  if (attrs !== undefined) p.attrs = attrPairs(name, attrs);
  if (setting !== undefined) {
    const groups = groupsOf(p);
    if (setting.length > groups) throw new TypeError(`${name}: setting names ${setting.length} captures (${setting.join(', ')}) but the attribute regexes have ${groups} group(s)`);
    p.setting = [...setting];
  }
  if (where !== undefined) p.where = where as PrimitiveExpr['where'];
  return p;
}

const INDEX_LIKE = /^(?:0|[1-9]\d*)$/;

// Not the kernel's isList: the builder runs inside the apps' sandbox too, where no kernel is bundled.
const isPairs = (attrs: AttrTests): attrs is ReadonlyArray<readonly [string, RegExp]> => Array.isArray(attrs);

function attrPairs(name: string, attrs: AttrTests): Array<readonly [string, RegExp]> {
  let pairs: Array<readonly [string, RegExp]>;
  if (isPairs(attrs)) {
    pairs = attrs.map(([k, re]) => [k, re] as const);
  } else {
    pairs = Object.entries(attrs as Record<string, RegExp>);
    const indexLike = pairs.filter(([k]) => INDEX_LIKE.test(k));
    if (indexLike.length > 0 && pairs.length > 1) {
      throw new TypeError(`${name}: an object lists attribute names like ${JSON.stringify(indexLike[0]![0])} first, not in the order written; give attrs as [name, regex] pairs`);
    }
  }
  for (const [k, re] of pairs) if (!(re instanceof RegExp)) throw new TypeError(`${name}: attribute ${JSON.stringify(k)} needs a RegExp`);
  return pairs;
}

/** How many capture groups a primitive's attribute regexes have in all. */
function groupsOf(p: PrimitiveExpr): number {
  // An empty alternative matches "" with every group unset, so the match lists them all.
  return (p.attrs ?? []).reduce((n, [, re]) => n + new RegExp(`${re.source}|`, re.flags.replace(/[gy]/g, '')).exec('')!.length - 1, 0);
}

/**
 * KRL's bare `select where <expr>`: selects every event for which `test` returns exactly `true`,
 * as KRL does (a `where` attached to a primitive takes any truthy value).
 *
 * @example where((event, ctx) => event.domain === ctx.ent.get('watched'))
 */
export function where(test: (event: KumoEvent, ctx: WhereContext) => unknown): PrimitiveExpr<NoCaptures> {
  return { op: 'event', domain: '*', type: '*', where: (_c, e, ctx) => test(e, ctx) === true };
}

/** Normalize `"domain:type"` shorthand to a primitive. */
export function expr(e: ExprLike): EventExpr {
  return typeof e === 'string' ? on(e) : e;
}

/** Fires when any of its parts fires. */
export function or<const A extends ExprLike[]>(...args: A): OrExpr<SomeOf<A>> {
  return { op: 'or', args: atLeast('or', 2, args) };
}

/** Fires when all of its parts have fired, in any order (one event completes at most one part). */
export function and<const A extends ExprLike[]>(...args: A): AndExpr<AllOf<A>> {
  return { op: 'and', args: atLeast('and', 2, args) };
}

/** Fires when `n` of its parts have fired, in any order (one event completes at most one part). */
export function any<const A extends ExprLike[]>(n: number, ...args: A): AnyExpr<SomeOf<A>> {
  positive('any', n);
  if (n > args.length) throw new TypeError(`any(${n}, …) needs at least ${n} expressions, got ${args.length}`);
  return { op: 'any', n, args: args.map(expr) };
}

/** `before(a, b, …)`: a, then later b, then later … (other events may come in between). */
export function before<const A extends ExprLike[]>(...args: A): SequenceExpr<AllOf<A>> {
  return { op: 'before', args: atLeast('before', 2, args) };
}

/** `after(a, b, …)`: a after b after …, so the last argument happens first; fires on `a`. */
export function after<const A extends ExprLike[]>(...args: A): SequenceExpr<AllOf<A>> {
  return { op: 'after', args: atLeast('after', 2, args) };
}

/**
 * KRL's `then(a, b, …)`: a, and the very next salient event is b, and so on. Named `andThen` because
 * a module that exports `then` is a thenable: `await import()` of it would never resolve.
 */
export function andThen<const A extends ExprLike[]>(...args: A): SequenceExpr<AllOf<A>> {
  return { op: 'then', args: atLeast('then', 2, args) };
}

/** `e` happens after `start` and before `end`; fires on `end`. */
export function between<const E extends ExprLike, const S extends ExprLike, const T extends ExprLike>(e: E, start: S, end: T): BetweenExpr<AllOf<[E, S, T]>> {
  return { op: 'between', expr: expr(e), start: expr(start), end: expr(end) };
}

/** `start` then `end` with no `e` in between; fires on `end`. */
export function notBetween<const S extends ExprLike, const T extends ExprLike>(e: ExprLike, start: S, end: T): BetweenExpr<AllOf<[S, T]>> {
  return { op: 'notBetween', expr: expr(e), start: expr(start), end: expr(end) };
}

/** Fires on every `n`th match of `e`, then starts counting again; `aggregate` binds max/min/sum/avg/push over the `n` matches. */
export function count<const E extends ExprLike, const A extends Aggregate = NoCaptures>(n: number, e: E, aggregate?: A): CountExpr<CapturesOf<E> & Aggregated<A>> {
  return counter('count', n, expr(e), aggregate);
}

/** Fires on the `n`th match of `e` and on every later one; `aggregate` is over the last `n` matches. */
export function repeat<const E extends ExprLike, const A extends Aggregate = NoCaptures>(n: number, e: E, aggregate?: A): CountExpr<CapturesOf<E> & Aggregated<A>> {
  return counter('repeat', n, expr(e), aggregate);
}

function counter<C>(op: 'count' | 'repeat', n: number, e: EventExpr, aggregate: Aggregate | undefined): CountExpr<C> {
  positive(op, n);
  return { op, n, expr: e, ...(aggregate ? { aggregate: checkAggregate(op, aggregate, e) } : {}) };
}

/**
 * The whole of `e` must happen within `amount` `unit`s, judged by event time: every event that
 * contributes to a firing is at most that long before the event that completes it.
 *
 * @example within(and('door:opened', 'motion:detected'), 5, 'minutes')
 */
export function within<const E extends ExprLike>(e: E, amount: number, unit: TimeUnit = 'seconds'): WithinExpr<CapturesOf<E>> {
  if (!Object.hasOwn(UNIT_MS, unit)) throw new TypeError(`within: unknown time unit ${JSON.stringify(unit)}`);
  const per = UNIT_MS[unit];
  if (!Number.isFinite(amount) || amount < 0) throw new TypeError(`within: expected a non-negative amount, got ${amount}`);
  return { op: 'within', ms: amount * per, expr: expr(e) };
}

function splitName(name: string): [string, string] {
  const i = name.indexOf(':');
  if (i <= 0 || i === name.length - 1) throw new TypeError(`expected "domain:type", got ${JSON.stringify(name)}`);
  return [name.slice(0, i), name.slice(i + 1)];
}

function atLeast(op: string, min: number, args: ExprLike[]): EventExpr[] {
  if (args.length < min) throw new TypeError(`${op}() needs at least ${min} expressions`);
  return args.map(expr);
}

function positive(op: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`${op}: expected a positive integer, got ${n}`);
}

/** A {@link Names} as a list (empty when undefined). */
export function nameList(names: Names | undefined): readonly string[] {
  return names === undefined ? [] : typeof names === 'string' ? [names] : names;
}

function checkAggregate(op: string, a: Aggregate, e: EventExpr): Aggregate {
  const names = (k: keyof Aggregate): readonly string[] => {
    const list = nameList(a[k]);
    if (a[k] !== undefined && (list.length === 0 || list.some((n) => typeof n !== 'string' || n === ''))) throw new TypeError(`${op}: aggregate ${k} expects capture names`);
    return list;
  };
  const bound = AGGREGATORS.flatMap(names);
  if (bound.length === 0) throw new TypeError(`${op}: an aggregate needs at least one of ${AGGREGATORS.join(', ')}`);
  const twice = bound.find((n, i) => bound.indexOf(n) !== i);
  if (twice !== undefined) throw new TypeError(`${op}: the aggregate binds ${twice} twice`);
  // Positions past what each match has would aggregate nothing but undefined; say so now.
  const widest = Math.max(...AGGREGATORS.map((k) => nameList(a[k]).length));
  const width = a.of !== undefined ? names('of').length : e.op === 'event' ? groupsOf(e) : Infinity;
  if (widest > width) throw new TypeError(`${op}: the aggregate reads ${widest} values per match but ${a.of !== undefined ? '`of` names' : 'the regexes have'} ${width}`);
  return a;
}
