import { AGGREGATORS, nameList, type Aggregate, type Captures } from './expr.ts';
import { FAIL, joinAll, NO_WINDOW, type Match, type Node, type NodeState } from './node.ts';

interface CounterState {
  p: NodeState;
  m: Match[];
}

/**
 * `count n`: fires on every nth match, then starts over. `repeat n`: keeps the last n matches and
 * fires on the nth and every later one. Under a window, matches older than the horizon drop out,
 * which makes `within` a sliding window here ("3 failures within an hour" fires on any 3 that fit).
 * The inner expression is always being waited for: a failed test in it drops the window.
 */
export function counter(op: 'count' | 'repeat', n: number, inner: Node, aggregate: Aggregate | undefined): Node {
  const plan = aggregate ? bindings(aggregate) : undefined;
  return {
    step(s, e, h, read) {
      const old = s as CounterState | null;
      let ms = old?.m ?? [];
      let changed = false;
      if (h !== NO_WINDOW && ms.some((m) => m.t < h)) {
        ms = ms.filter((m) => m.t >= h);
        changed = true;
      }
      const ps = old?.p ?? null;
      const r = inner.step(ps, e, h, read);
      if (r.fail) return FAIL;
      if (r.s !== ps) changed = true;
      let fire: Match | null = null;
      if (r.fire) {
        changed = true;
        ms = [...ms, r.fire];
        if (ms.length > n) ms = ms.slice(ms.length - n);
        if (ms.length === n) {
          fire = aggregated(ms, plan);
          if (op === 'count') ms = [];
        }
      }
      if (!changed) return { s, fire: null, moved: r.moved };
      return { s: r.s === null && ms.length === 0 ? null : { p: r.s, m: ms }, fire, moved: r.moved };
    },
  };
}

/** One capture an aggregate binds: the aggregator, and which value of each match it reads (a group position or a capture name). */
interface Binding {
  op: (typeof AGGREGATORS)[number];
  name: string;
  at: number | string;
}

function bindings(a: Aggregate): Binding[] {
  const of = a.of === undefined ? undefined : nameList(a.of);
  return AGGREGATORS.flatMap((op) => nameList(a[op]).map((name, i) => ({ op, name, at: of ? of[i]! : i })));
}

/** A value as KRL's aggregators read it: a number or numeric string as that number, anything else 0. */
function krlNumber(v: unknown): number {
  const x = typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? Number(v) : 0;
  return Number.isFinite(x) ? x || 0 : 0;
}

const REDUCE: Record<Exclude<Binding['op'], 'push'>, (xs: number[]) => number> = {
  max: (xs) => Math.max(...xs),
  min: (xs) => Math.min(...xs),
  sum: (xs) => xs.reduce((a, b) => a + b, 0),
  avg: (xs) => xs.reduce((a, b) => a + b, 0) / xs.length,
};

/** The window's matches as one, with the aggregates bound. */
function aggregated(ms: Match[], plan: Binding[] | undefined): Match {
  const m = joinAll(ms);
  if (!plan) return m;
  const c: Captures = ms.length === 1 ? { ...m.c } : m.c; // joinAll made a fresh object unless there was one match
  for (const { op, name, at } of plan) {
    const values = ms.map((x) => (typeof at === 'number' ? x.v[at] : x.c[at]));
    c[name] = op === 'push' ? values : REDUCE[op](values.map(krlNumber));
  }
  return { t: m.t, c, v: m.v };
}
