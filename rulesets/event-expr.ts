/**
 * Event expressions (docs/rulesets.md, "Event expressions"): the select-when algebra as data, compiled into the kernel's
 * Selector. The kernel indexes a rule by the primitive events its expression names and persists
 * the state `match` returns with the episode, so a partly matched expression survives restarts
 * and eviction. The operators follow KRL's `select when` (see event-expr/machine.ts for each).
 *
 * As in the pico engine, an event that names a part the expression is waiting for but fails that
 * part's attribute regex or `where` starts the whole expression over: progress, captures,
 * `count`/`repeat` windows and aggregates are dropped (each operator's node says which of its
 * parts it waits for). Attribute regexes test KRL's string form of the value (a missing one is
 * `""`), and aggregators read values as KRL numbers, as pico does.
 *
 * Where kumo deliberately differs from the pico engine:
 * - No NFA over interleavings: each operator keeps its own small, plain-data state, so `and` and
 *   `any n` keep one entry per part instead of growing with the permutations of their parts.
 * - `or`: every part sees every event (pico, once partway through one branch, follows only it), so
 *   a failed test starts it over in any part with progress, even one pico would not be following.
 * - `and`/`any`: one event completes at most one part, the first pending one in declaration order
 *   (pico's NFA tries every choice). Other pending parts still advance on it. An event that fails
 *   one pending part while advancing another starts the whole over unless it completes the whole
 *   (pico keeps the other part's progress, and may drop captures when it completes).
 * - `not between`: the start is watched even while a run is open, and a later start replaces the
 *   run (pico watches only the end and the excluded expression then).
 * - Sequences (`before`, `after`, `then`, `between`) keep at most one partial run per stage, so
 *   an event can advance several runs; when the whole fires, every run starts over (no overlap).
 *   A failed test counts only at the stage of the oldest run, the one pico would be following.
 * - `then` (spelled `andThen` in TypeScript: a module exporting `then` is a thenable): a salient
 *   event that breaks a run may start a new one; "salient" means its domain and type name a
 *   primitive inside that `then`.
 * - `within`: pico restarts the whole machine once the window since its start has passed; kumo
 *   pushes the window into the operators, so it fires whenever some set of contributing events
 *   fits in it: `count`/`repeat` slide, expired `and`/`any` parts become pending again and a part
 *   that happens again is refreshed, a sequence keeps the latest-starting run per stage. Judged by
 *   event time, limit inclusive.
 * - `count`/`repeat` take any expression, not only a primitive; their aggregates then read the
 *   groups of all the primitives that matched, in order. Several aggregators on one window and
 *   `of` are kumo's additions.
 * - Captures of all parts are merged in stage/part order (a later part wins a name clash).
 * - Persisted state carries a fingerprint of the expression; a rule whose `select` changed starts
 *   from nothing. `where` guards are on primitives, or stand alone as `where(test)` (KRL's bare
 *   `select where`); a guard over the whole is the rule's `if`.
 */
export * from './event-expr/authoring.ts';
export { expr, type Captures, type PrimitiveExpr, type OrExpr, type AndExpr, type AnyExpr, type SequenceExpr, type BetweenExpr, type CountExpr, type WithinExpr, type Aggregate, type AttrTests, type Names } from './event-expr/expr.ts';
export { matchPrimitive } from './event-expr/primitive.ts';
export { compile, fingerprint, type PersistedExprState } from './event-expr/compile.ts';
