import type { EventExpr, PrimitiveExpr } from './expr.ts';
import { allNull, FAIL, join, type Match, type Node, type NodeState, type StepResult } from './node.ts';
import { counter } from './counter.ts';
import { anyNode } from './parts.ts';
import { namesEvent, testPrimitive } from './primitive.ts';
import { notBetween, sequence } from './sequence.ts';
import type { Functions } from './where-context.ts';

/**
 * The evaluator: builds a tree of nodes (node.ts) from an expression.
 *
 * Rather than compiling to one NFA over all interleavings (pico's select-when does that, which
 * makes `and`/`any` grow with the permutations of their parts), every node keeps only what it
 * needs: `and`/`any` keep, per part, either its match or its partial progress; a sequence keeps at
 * most one partial run per stage; `count`/`repeat` keep their last `n` matches.
 */

/** Build the node tree for an expression; `where` guards may call `functions`. */
export function build(e: EventExpr, functions: Functions = {}): Node {
  const b = (x: EventExpr) => build(x, functions);
  switch (e.op) {
    case 'event':
      return primitive(e, functions);
    case 'or':
      return orNode(e.args.map(b));
    case 'and':
      return anyNode(e.args.length, e.args.map(b));
    case 'any':
      return anyNode(e.n, e.args.map(b));
    case 'before':
      return sequence(e.args.map(b), null);
    case 'after':
      return sequence([...e.args].reverse().map(b), null);
    case 'then':
      return sequence(e.args.map(b), primitivesOf(e));
    case 'between':
      return sequence([b(e.start), b(e.expr), b(e.end)], null);
    case 'notBetween':
      return notBetween(b(e.expr), b(e.start), b(e.end));
    case 'count':
    case 'repeat':
      return counter(e.op, e.n, b(e.expr), e.aggregate);
    case 'within':
      return withinNode(e.ms, b(e.expr));
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

const UNNAMED: StepResult = Object.freeze({ s: null, fire: null, moved: false });

function primitive(p: PrimitiveExpr, functions: Functions): Node {
  return {
    step(_s, e, _h, read) {
      if (!namesEvent(p, e)) return UNNAMED;
      const m = testPrimitive(p, e, read, functions);
      return m ? { s: null, fire: { t: e.time, c: m.captures, v: m.groups }, moved: true } : FAIL;
    },
  };
}

/**
 * `or`: every part sees every event; when any fires, the whole fires and all parts start over. A
 * failed test resets it when it comes from a part with progress, or from any part while none has
 * any (pico, once partway through one part, waits only for that part).
 */
function orNode(parts: Node[]): Node {
  return {
    step(s, e, h, read) {
      const old = (s as NodeState[] | null) ?? [];
      const next: NodeState[] = [];
      let changed = false;
      let moved = false;
      let fire: Match | null = null;
      let failed = false;
      for (const [i, part] of parts.entries()) {
        const ps = old[i] ?? null;
        const r = part.step(ps, e, h, read);
        if (r.fail && (s === null || ps !== null)) failed = true;
        next.push(r.s);
        if (r.s !== ps) changed = true;
        moved ||= r.moved;
        if (r.fire) fire = fire ? join(fire, r.fire) : r.fire;
      }
      if (fire) return { s: null, fire, moved: true };
      if (failed) return FAIL;
      return { s: changed ? (allNull(next) ? null : next) : s, fire: null, moved };
    },
  };
}

/** `within`: tighten the horizon for everything inside; never let an older match fire. */
function withinNode(ms: number, inner: Node): Node {
  return {
    step(s, e, h, read) {
      const horizon = Math.max(h, e.time - ms);
      const r = inner.step(s, e, horizon, read);
      if (r.fire && r.fire.t < horizon) return { s: r.s, fire: null, moved: r.moved };
      return r;
    },
  };
}
