import { namesEvent } from './primitive.ts';
import type { PrimitiveExpr } from './expr.ts';
import { allNull, FAIL, join, NO_WINDOW, type Match, type Node, type NodeState } from './node.ts';

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
 *
 * A failed test resets the whole when it comes from the stage pico would be waiting at: that of
 * the run furthest along (the oldest), or the first stage when there is no run. The other runs are
 * kumo's extras (pico starts no new run while one is under way), so their failures are ignored.
 */
export function sequence(stages: Node[], salient: PrimitiveExpr[] | null): Node {
  const n = stages.length;
  return {
    step(s, e, h, read) {
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
      let lead = n - 1;
      while (lead > 0 && next[lead] === null) lead--;
      for (let k = n - 1; k >= 0; k--) {
        const run = next[k] ?? null;
        if (k > 0 && run === null) continue;
        const ps = run ? run.p : null;
        const r = stages[k]!.step(ps, e, h, read);
        if (r.fail && k === lead) return FAIL;
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
 * Waited for, as in pico: `end` and the excluded expression while a run is open, `start` while
 * none is; a failed test in one of those resets the whole.
 */
export function notBetween(excluded: Node, start: Node, end: Node): Node {
  return {
    step(s, e, h, read) {
      const old = (s as NotBetweenState | null) ?? { st: null, run: null };
      let run = old.run;
      let changed = false;
      let moved = false;
      if (run && run.m.t < h) {
        run = null;
        changed = true;
      }
      const open = run !== null;
      if (run) {
        const re = end.step(run.en, e, h, read);
        if (re.fire) return { s: null, fire: join(run.m, re.fire), moved: true };
        const rx = excluded.step(run.x, e, h, read);
        if (re.fail || rx.fail) return FAIL;
        moved = re.moved || rx.moved;
        if (rx.fire) {
          run = null;
          changed = true;
        } else if (rx.s !== run.x || re.s !== run.en) {
          run = { m: run.m, x: rx.s, en: re.s };
          changed = true;
        }
      }
      const rs = start.step(old.st, e, h, read);
      if (rs.fail && !open) return FAIL;
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
