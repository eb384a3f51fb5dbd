/**
 * What a ruleset author writes `select` with: the event-expression builders and their types. The
 * one list of them: kumo's public entry (index.ts) and rulesets/event-expr.ts both re-export it.
 */
export { on, or, and, any, before, after, andThen, between, notBetween, count, repeat, within, where, type EventExpr, type ExprLike, type PrimitiveOptions, type TimeUnit } from './expr.ts';
export type { WhereContext } from './where-context.ts';
export type { CapturesOf, NoCaptures } from './captures.ts';
