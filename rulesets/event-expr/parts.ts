import { allNull, FAIL, joinAll, NO_WINDOW, type Match, type Node, type NodeState } from './node.ts';

/** A part of `and`/`any`: nothing yet, partial progress `p`, or done with match `m` (and, under a window, the part's continuing progress `p`). */
type Part = null | { p: NodeState; m?: Match };

/**
 * `and` (n = all parts) and `any n`. State: one entry per part, so `any 3` of 8 stays 8 entries.
 * An event completes at most one part (the first pending one, in declaration order, that it fires);
 * other pending parts still advance on it. Under a window a done part whose match has expired
 * becomes pending again, and a done part that fires again is refreshed to its newer match, since a
 * later match can only help a window.
 *
 * Every pending part is being waited for, so a failed test in one resets the whole, unless the
 * event completes the whole. A done part is not waited for (its refresh under a window is kumo's).
 */
export function anyNode(n: number, parts: Node[]): Node {
  return {
    step(s, e, h, read) {
      const old = (s as Part[] | null) ?? [];
      const next: Part[] = parts.map((_, i) => old[i] ?? null);
      let changed = false;
      let moved = false;
      let consumed = false;
      let completed = -1;
      let failed = false;
      if (h !== NO_WINDOW) {
        next.forEach((part, i) => {
          if (part?.m && part.m.t < h) {
            next[i] = part.p === null ? null : { p: part.p };
            changed = true;
          }
        });
      }
      // Pending parts first: completing a part matters more than refreshing one.
      for (const [i, node] of parts.entries()) {
        const part = next[i] ?? null;
        if (part?.m) continue;
        const ps = part ? part.p : null;
        const r = node.step(ps, e, h, read);
        if (r.fail) failed = true;
        if (r.fire && !consumed) {
          consumed = moved = changed = true;
          completed = i;
          next[i] = { p: null, m: r.fire };
          continue;
        }
        if (r.fire) continue; // this event already completed another part
        moved ||= r.moved;
        if (r.s !== ps) {
          changed = true;
          next[i] = r.s === null ? null : { p: r.s };
        }
      }
      if (next.filter((p) => p?.m).length >= n) return { s: null, fire: joinAll(next.flatMap((p) => (p?.m ? [p.m] : []))), moved: true };
      if (failed) return FAIL;
      if (h !== NO_WINDOW) {
        for (const [i, node] of parts.entries()) {
          const part = next[i];
          if (!part?.m || i === completed) continue;
          const r = node.step(part.p, e, h, read);
          if (r.fire && !consumed) {
            consumed = moved = changed = true;
            next[i] = { p: null, m: r.fire.t >= part.m.t ? r.fire : part.m };
          } else if (!r.fire && r.s !== part.p) {
            changed = true;
            moved ||= r.moved;
            next[i] = { p: r.s, m: part.m };
          }
        }
      }
      return { s: changed ? (allNull(next) ? null : next) : s, fire: null, moved };
    },
  };
}
