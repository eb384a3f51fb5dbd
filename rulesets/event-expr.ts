/**
 * Event expressions (DESIGN §5): the select-when algebra as data, compiled into the kernel's
 * Selector. The kernel indexes a rule by the primitive events its expression names and persists
 * the state `match` returns with the episode, so a partly matched expression survives restarts
 * and eviction. See event-expr/machine.ts for the semantics and where kumo differs from pico.
 */
export {
  on,
  or,
  and,
  any,
  before,
  after,
  andThen,
  between,
  notBetween,
  count,
  repeat,
  within,
  expr,
  type Captures,
  type EventExpr,
  type ExprLike,
  type PrimitiveExpr,
  type PrimitiveOptions,
  type OrExpr,
  type AndExpr,
  type AnyExpr,
  type SequenceExpr,
  type BetweenExpr,
  type CountExpr,
  type WithinExpr,
  type Aggregate,
  type TimeUnit,
} from './event-expr/expr.ts';
export { matchPrimitive } from './event-expr/primitive.ts';
export { compile, fingerprint, type PersistedExprState } from './event-expr/compile.ts';
