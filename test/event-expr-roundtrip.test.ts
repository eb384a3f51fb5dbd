import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KumoEvent } from '../kernel/index.ts';
import { decode, encode } from '../kernel/store/codec.ts';
import { deepFreeze } from '../kernel/clouds/freeze.ts';
import { after, and, andThen, any, before, between, compile, count, notBetween, on, or, repeat, within, type EventExpr } from '../rulesets/index.ts';
import { T0 } from './event-expr-helpers.ts';

const TYPES = ['a', 'b', 'c', 'd'] as const;

/** Random expression trees over four primitives (each capturing its `v` attr under its own name). */
const exprArb: fc.Arbitrary<EventExpr> = fc.letrec<{ e: EventExpr }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...TYPES).map((t) => on(`p:${t}`, { attrs: { v: /(\d)/ }, setting: [t] })),
    fc.array(tie('e'), { minLength: 2, maxLength: 3 }).map((xs) => or(...xs)),
    fc.array(tie('e'), { minLength: 2, maxLength: 3 }).map((xs) => and(...xs)),
    fc.array(tie('e'), { minLength: 2, maxLength: 3 }).map((xs) => before(...xs)),
    fc.array(tie('e'), { minLength: 2, maxLength: 3 }).map((xs) => after(...xs)),
    fc.array(tie('e'), { minLength: 2, maxLength: 3 }).map((xs) => andThen(...xs)),
    fc.tuple(tie('e'), tie('e'), tie('e')).map(([x, s, t]) => between(x, s, t)),
    fc.tuple(tie('e'), tie('e'), tie('e')).map(([x, s, t]) => notBetween(x, s, t)),
    fc.array(tie('e'), { minLength: 2, maxLength: 4 }).chain((xs) => fc.integer({ min: 1, max: xs.length }).map((n) => any(n, ...xs))),
    fc.tuple(fc.integer({ min: 1, max: 3 }), tie('e')).map(([n, x]) => count(n, x, { sum: 'sum', push: 'all' })),
    fc.tuple(fc.integer({ min: 1, max: 3 }), tie('e')).map(([n, x]) => repeat(n, x, { max: 'max', avg: 'avg' })),
    fc.tuple(fc.integer({ min: 1, max: 20 }), tie('e')).map(([n, x]) => within(x, n, 'seconds')),
  ),
})).e;

const eventsArb = fc.array(fc.record({ t: fc.constantFrom(...TYPES), v: fc.option(fc.nat(9), { nil: null, freq: 5 }), dt: fc.nat(8) }), { minLength: 1, maxLength: 30 }).map((xs) => {
  let time = T0;
  return xs.map((x, i): KumoEvent => {
    time += x.dt * 1000;
    return { eid: `e${i}`, domain: 'p', type: x.t, attrs: x.v === null ? {} : { v: String(x.v) }, time };
  });
});

describe('event expression state', () => {
  it('is plain data: serializing it at any point changes no firing (property)', () => {
    fc.assert(
      fc.property(exprArb, eventsArb, fc.nat(), (e, evs, at) => {
        const sel = compile(e);
        const split = at % (evs.length + 1);
        let plain: unknown;
        let stored: unknown;
        let restarted: unknown;
        evs.forEach((ev, i) => {
          const a = sel.match(plain, ev);
          plain = a.state;
          // Through the store's codec and frozen after every event, as a cloud keeps it.
          const b = sel.match(stored, ev);
          stored = b.state === undefined ? undefined : deepFreeze(decode(encode(b.state)));
          // Through the codec once, at the split: a restart.
          const c = sel.match(restarted, ev);
          restarted = i + 1 === split && c.state !== undefined ? decode(encode(c.state)) : c.state;
          expect(b).toEqual({ ...a, state: b.state });
          expect(c.fired).toBe(a.fired);
          expect(c.captures).toEqual(a.captures);
          expect(stored).toEqual(a.state);
        });
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
