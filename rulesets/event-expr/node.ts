import type { KumoEvent, ReadContext } from '../../kernel/index.ts';
import type { Captures } from './expr.ts';

/**
 * The evaluator's building block. Each operator is a small node with a pure
 * `step(state, event, horizon)`; a node's state is plain data (objects, arrays, numbers, strings,
 * null) so the kernel can persist it with msgpack, and `step` never mutates the state it is given
 * (the kernel deep-freezes it).
 *
 * `horizon` is how `within` reaches inside: partial progress whose earliest event is older than
 * the horizon is dropped before the event is judged, so expiry is decided by event time only.
 * `read` is the kernel's view of the cloud, passed down to the `where` guards that ask for it.
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
  /**
   * The event named a primitive this node was waiting for but failed its attribute test or `where`.
   * The pico engine then starts the whole expression over (progress, captures, windows), so a
   * parent passes this up for a part it was waiting for. It ignores it for a part it was only
   * trying out of turn (kumo tries more than pico: the runs of a sequence behind the oldest one,
   * the idle parts of a busy `or`), since pico would not have looked at that part.
   */
  fail?: true;
}

/** The answer to a failed attribute test or `where` of a part being waited for. */
export const FAIL: StepResult = Object.freeze({ s: null, fire: null, moved: false, fail: true });

export interface Node {
  step(s: NodeState, e: KumoEvent, horizon: number, read: (() => ReadContext) | undefined): StepResult;
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
