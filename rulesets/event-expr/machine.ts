import type { KumoEvent } from '../../kernel/index.ts';
import type { Aggregate, Captures, EventExpr, PrimitiveExpr } from './expr.ts';
import { matchPrimitiveGroups, namesEvent } from './primitive.ts';

/**
 * The evaluator. Each operator is a small node with a pure `step(state, event, horizon)`; a node's
 * state is plain data (objects, arrays, numbers, strings, null) so the kernel can persist it with
 * msgpack, and `step` never mutates the state it is given (the kernel deep-freezes it).
 *
 * Rather than compiling to one NFA over all interleavings (pico's select-when does that, which
 * makes `and`/`any` grow with the permutations of their parts), every node keeps only what it
 * needs: `and`/`any` keep, per part, either its match or its partial progress; a sequence keeps at
 * most one partial run per stage; `count`/`repeat` keep their last `n` matches.
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

const NO_WINDOW = -Infinity;

function join(a: Match, b: Match): Match {
  return { t: Math.min(a.t, b.t), c: { ...a.c, ...b.c }, v: [...a.v, ...b.v] };
}

function joinAll(ms: Match[]): Match {
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

function allNull(xs: readonly unknown[]): boolean {
  return xs.every((x) => x === null);
}

/** Build the node tree for an expression. */
export function build(e: EventExpr): Node {
  switch (e.op) {
    case 'event':
      return primitive(e);
    case 'or':
      return orNode(e.args.map(build));
    case 'and':
      return anyNode(e.args.length, e.args.map(build));
    case 'any':
      return anyNode(e.n, e.args.map(build));
    case 'before':
      return sequence(e.args.map(build), null);
    case 'after':
      return sequence([...e.args].reverse().map(build), null);
    case 'then':
      return sequence(e.args.map(build), primitivesOf(e));
    case 'between':
      return sequence([build(e.start), build(e.expr), build(e.end)], null);
    case 'notBetween':
      return notBetween(build(e.expr), build(e.start), build(e.end));
    case 'count':
    case 'repeat':
      return counter(e.op, e.n, build(e.expr), e.aggregate);
    case 'within':
      return withinNode(e.ms, build(e.expr));
  }
}

/** Every primitive of an expression, in order. */
export function primitivesOf(e: EventExpr): PrimitiveExpr[] {
  switch (e.op) {
    case 'event':
      return [e];
    case 'or':
    case 'and':
    case 'any':
    case 'before':
    case 'after':
    case 'then':
      return e.args.flatMap(primitivesOf);
    case 'between':
    case 'notBetween':
      return [...primitivesOf(e.start), ...primitivesOf(e.expr), ...primitivesOf(e.end)];
    case 'count':
    case 'repeat':
    case 'within':
      return primitivesOf(e.expr);
  }
}

function primitive(p: PrimitiveExpr): Node {
  return {
    step(_s, e) {
      const m = matchPrimitiveGroups(p, e);
      return m ? { s: null, fire: { t: e.time, c: m.captures, v: m.groups }, moved: true } : { s: null, fire: null, moved: false };
    },
  };
}

/** `or`: every part sees every event; when any fires, the whole fires and all parts start over. */
function orNode(parts: Node[]): Node {
  return {
    step(s, e, h) {
      const old = (s as NodeState[] | null) ?? [];
      const next: NodeState[] = [];
      let changed = false;
      let moved = false;
      let fire: Match | null = null;
      parts.forEach((part, i) => {
        const ps = old[i] ?? null;
        const r = part.step(ps, e, h);
        next.push(r.s);
        if (r.s !== ps) changed = true;
        moved ||= r.moved;
        if (r.fire) fire = fire ? join(fire, r.fire) : r.fire;
      });
      if (fire) return { s: null, fire, moved: true };
      return { s: changed ? (allNull(next) ? null : next) : s, fire: null, moved };
    },
  };
}

/** A part of `and`/`any`: nothing yet, partial progress `p`, or done with match `m` (and, under a window, the part's continuing progress `p`). */
type Part = null | { p: NodeState; m?: Match };

/**
 * `and` (n = all parts) and `any n`. State: one entry per part, so `any 3` of 8 stays 8 entries.
 * An event completes at most one part (the first pending one, in declaration order, that it fires);
 * other pending parts still advance on it. Under a window a done part whose match has expired
 * becomes pending again, and a done part that fires again is refreshed to its newer match, since a
 * later match can only help a window.
 */
function anyNode(n: number, parts: Node[]): Node {
  return {
    step(s, e, h) {
      const old = (s as Part[] | null) ?? [];
      const next: Part[] = parts.map((_, i) => old[i] ?? null);
      let changed = false;
      let moved = false;
      let consumed = false;
      let completed = -1;
      if (h !== NO_WINDOW) {
        next.forEach((part, i) => {
          if (part?.m && part.m.t < h) {
            next[i] = part.p === null ? null : { p: part.p };
            changed = true;
          }
        });
      }
      // Pending parts first: completing a part matters more than refreshing one.
      parts.forEach((node, i) => {
        const part = next[i] ?? null;
        if (part?.m) return;
        const ps = part ? part.p : null;
        const r = node.step(ps, e, h);
        if (r.fire && !consumed) {
          consumed = moved = changed = true;
          completed = i;
          next[i] = { p: null, m: r.fire };
          return;
        }
        if (r.fire) return; // this event already completed another part
        moved ||= r.moved;
        if (r.s !== ps) {
          changed = true;
          next[i] = r.s === null ? null : { p: r.s };
        }
      });
      if (next.filter((p) => p?.m).length >= n) return { s: null, fire: joinAll(next.flatMap((p) => (p?.m ? [p.m] : []))), moved: true };
      if (h !== NO_WINDOW) {
        parts.forEach((node, i) => {
          const part = next[i];
          if (!part?.m || i === completed) return;
          const r = node.step(part.p, e, h);
          if (r.fire && !consumed) {
            consumed = moved = changed = true;
            next[i] = { p: null, m: r.fire.t >= part.m.t ? r.fire : part.m };
          } else if (!r.fire && r.s !== part.p) {
            changed = true;
            moved ||= r.moved;
            next[i] = { p: r.s, m: part.m };
          }
        });
      }
      return { s: changed ? (allNull(next) ? null : next) : s, fire: null, moved };
    },
  };
}

/** A partial run of a sequence: waiting at its stage with the match so far and the stage's progress. */
type Run = null | { m?: Match; p: NodeState };

/**
 * `before`/`after`/`between` (and `then` when `salient` is given). State: at most one run per
 * stage. Stages are stepped from the last to the first so one event advances a run by one stage
 * only; an event may advance several different runs. When the last stage fires, the whole fires and
 * every run starts over, so matches do not overlap. Two runs reaching the same stage: without a
 * window the older one is kept (it may have progress); under a window the one that started later
 * wins, since it expires later.
 *
 * `then`: a run waiting at stage k > 0 dies on any salient event (one whose domain and type name a
 * primitive of this `then`) that does not advance it.
 */
function sequence(stages: Node[], salient: PrimitiveExpr[] | null): Node {
  const n = stages.length;
  return {
    step(s, e, h) {
      const old = (s as Run[] | null) ?? [];
      const next: Run[] = stages.map((_, i) => old[i] ?? null);
      let changed = false;
      let moved = false;
      if (h !== NO_WINDOW) {
        for (let k = 1; k < n; k++) {
          const m = next[k]?.m;
          if (m && m.t < h) {
            next[k] = null;
            changed = true;
          }
        }
      }
      const isSalient = salient !== null && salient.some((p) => namesEvent(p, e));
      for (let k = n - 1; k >= 0; k--) {
        const run = next[k] ?? null;
        if (k > 0 && run === null) continue;
        const ps = run ? run.p : null;
        const r = stages[k]!.step(ps, e, h);
        if (r.fire) {
          moved = true;
          const m = run?.m ? join(run.m, r.fire) : r.fire;
          if (k === n - 1) return { s: null, fire: m, moved: true };
          const there = next[k + 1]?.m;
          if (!there || (h !== NO_WINDOW && m.t > there.t)) {
            next[k + 1] = { m, p: null };
            changed = true;
          }
          if (k > 0) {
            next[k] = null;
            changed = true;
          } else if (r.s !== ps) {
            next[0] = r.s === null ? null : { p: r.s };
            changed = true;
          }
        } else if (isSalient && k > 0 && !r.moved) {
          next[k] = null;
          changed = true;
        } else {
          moved ||= r.moved;
          if (r.s !== ps) {
            changed = true;
            next[k] = run?.m ? { m: run.m, p: r.s } : r.s === null ? null : { p: r.s };
          }
        }
      }
      return { s: changed ? (allNull(next) ? null : next) : s, fire: null, moved };
    },
  };
}

interface NotBetweenState {
  /** Progress of the start expression. */
  st: NodeState;
  /** The open run since the latest start: its match, and the progress of the excluded and end expressions. */
  run: null | { m: Match; x: NodeState; en: NodeState };
}

/**
 * `not between`: the latest `start` opens a run (a later start dominates an earlier one: any event
 * between the later start and the end is also after the earlier); the excluded expression firing
 * closes it; `end` firing on an open run fires the whole. On one event, `end` is judged first.
 */
function notBetween(excluded: Node, start: Node, end: Node): Node {
  return {
    step(s, e, h) {
      const old = (s as NotBetweenState | null) ?? { st: null, run: null };
      let run = old.run;
      let changed = false;
      let moved = false;
      if (run && run.m.t < h) {
        run = null;
        changed = true;
      }
      if (run) {
        const re = end.step(run.en, e, h);
        if (re.fire) return { s: null, fire: join(run.m, re.fire), moved: true };
        const rx = excluded.step(run.x, e, h);
        moved = re.moved || rx.moved;
        if (rx.fire) {
          run = null;
          changed = true;
        } else if (rx.s !== run.x || re.s !== run.en) {
          run = { m: run.m, x: rx.s, en: re.s };
          changed = true;
        }
      }
      const rs = start.step(old.st, e, h);
      let st = rs.s;
      if (st !== old.st) changed = true;
      moved ||= rs.moved;
      if (rs.fire) {
        run = { m: rs.fire, x: null, en: null };
        st = null;
        changed = true;
      }
      if (!changed) return { s, fire: null, moved };
      return { s: st === null && run === null ? null : { st, run }, fire: null, moved };
    },
  };
}

interface CounterState {
  p: NodeState;
  m: Match[];
}

/**
 * `count n`: fires on every nth match, then starts over. `repeat n`: keeps the last n matches and
 * fires on the nth and every later one. Under a window, matches older than the horizon drop out,
 * which makes `within` a sliding window here ("3 failures within an hour" fires on any 3 that fit).
 */
function counter(op: 'count' | 'repeat', n: number, inner: Node, aggregate: Aggregate | undefined): Node {
  return {
    step(s, e, h) {
      const old = s as CounterState | null;
      let ms = old?.m ?? [];
      let changed = false;
      if (h !== NO_WINDOW && ms.some((m) => m.t < h)) {
        ms = ms.filter((m) => m.t >= h);
        changed = true;
      }
      const ps = old?.p ?? null;
      const r = inner.step(ps, e, h);
      if (r.s !== ps) changed = true;
      let fire: Match | null = null;
      if (r.fire) {
        changed = true;
        ms = [...ms, r.fire];
        if (ms.length > n) ms = ms.slice(ms.length - n);
        if (ms.length === n) {
          fire = aggregated(ms, aggregate);
          if (op === 'count') ms = [];
        }
      }
      if (!changed) return { s, fire: null, moved: r.moved };
      return { s: r.s === null && ms.length === 0 ? null : { p: r.s, m: ms }, fire, moved: r.moved };
    },
  };
}

/**
 * KRL aggregators. Values are the first regex group of each match (or the capture named by `of`);
 * max/min/sum/avg use the values that are numbers or numeric strings and are left unset when there
 * are none (KRL would fail on a non-number); push binds them all, oldest first.
 */
function aggregated(ms: Match[], a: Aggregate | undefined): Match {
  const m = joinAll(ms);
  if (!a) return m;
  const values = ms.map((x) => (a.of !== undefined ? x.c[a.of] : x.v[0]));
  const c: Captures = ms.length === 1 ? { ...m.c } : m.c; // joinAll made a fresh object unless there was one match
  let count = 0;
  let sum = 0;
  let max = -Infinity;
  let min = Infinity;
  for (const v of values) {
    if (typeof v !== 'number' && (typeof v !== 'string' || v.trim() === '')) continue;
    const x = Number(v);
    if (!Number.isFinite(x)) continue;
    count++;
    sum += x;
    if (x > max) max = x;
    if (x < min) min = x;
  }
  if (count > 0) {
    if (a.max) c[a.max] = max;
    if (a.min) c[a.min] = min;
    if (a.sum) c[a.sum] = sum;
    if (a.avg) c[a.avg] = sum / count;
  }
  if (a.push) c[a.push] = values.map((v) => v ?? null);
  return { t: m.t, c, v: m.v };
}

/** `within`: tighten the horizon for everything inside; never let an older match fire. */
function withinNode(ms: number, inner: Node): Node {
  return {
    step(s, e, h) {
      const horizon = Math.max(h, e.time - ms);
      const r = inner.step(s, e, horizon);
      if (r.fire && r.fire.t < horizon) return { s: r.s, fire: null, moved: r.moved };
      return r;
    },
  };
}
