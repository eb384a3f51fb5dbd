import type { KumoEvent } from '../../kernel/index.ts';
import type { Captures } from './expr.ts';

/**
 * The evaluator's building block. Each operator is a small node with a pure
 * `step(state, event, horizon)`; a node's state is plain data (objects, arrays, numbers, strings,
 * null) so the kernel can persist it with msgpack, and `step` never mutates the state it is given
 * (the kernel deep-freezes it).
 *
 * `horizon` is how `within` reaches inside: partial progress whose earliest event is older than
 * the horizon is dropped before the event is judged, so expiry is decided by event time only.
 */

/** What a node reports when it fires: merged captures, positional regex groups, earliest event time. */
export interface Match {
  t: number;
  c: Captures;
  v: unknown[];
}

export type NodeState = unknown;

export interface StepResult {
  /** The new state (`null` = none). The same reference as the input when nothing changed. */
  s: NodeState;
  fire: Match | null;
  /** Whether the event counted for this node (fired it or advanced its state); `then` uses it. */
  moved: boolean;
}

export interface Node {
  step(s: NodeState, e: KumoEvent, horizon: number): StepResult;
}

export const NO_WINDOW = -Infinity;

/** Two matches as one: the earlier time, captures merged (b wins a clash), groups in order. */
export function join(a: Match, b: Match): Match {
  return { t: Math.min(a.t, b.t), c: { ...a.c, ...b.c }, v: [...a.v, ...b.v] };
}

/** {@link join} over a list, in order. */
export function joinAll(ms: Match[]): Match {
  if (ms.length === 1) return ms[0]!;
  let t = Infinity;
  const c: Captures = {};
  const v: unknown[] = [];
  for (const m of ms) {
    if (m.t < t) t = m.t;
    Object.assign(c, m.c);
    for (const x of m.v) v.push(x);
  }
  return { t, c, v };
}

/** Whether every entry is `null` (a node whose parts all have no state has no state). */
export function allNull(xs: readonly unknown[]): boolean {
  return xs.every((x) => x === null);
}
