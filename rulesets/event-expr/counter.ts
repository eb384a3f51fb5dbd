import type { Aggregate, Captures } from './expr.ts';
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
      if (r.fail) return FAIL;
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
