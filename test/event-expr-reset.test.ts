import { describe, expect, it } from 'vitest';
import { after, and, andThen, any, before, between, compile, count, notBetween, on, or, repeat, within, type ExprLike } from '../rulesets/index.ts';
import { eventOf, runTable, type Row } from './event-expr-helpers.ts';

/**
 * The pico engine's rule for a failed attribute test: when an event has the domain and type an
 * expression is waiting for but fails that part's attribute regex or `where`, the whole expression
 * starts over (progress, captures, count/repeat windows, aggregates).
 */

const F = false as const;
/** `p:<type>` whose attr `v` must be `ok` or `ok<digits>`; the digits are captured as `name` when given. */
const ok = (type: string, name?: string) => on(`p:${type}`, { attrs: { v: /^ok(\d*)$/ }, ...(name ? { setting: [name] } : {}) });
/** A row: `a` is p:a with no attrs, `a+` is p:a with v=ok, `a-` with v=bad, `a7` with v=ok7. */
const r = (spec: string, fires: Row['fires'] = F, t?: number): Row => {
  const [, type, mark] = /^([a-z])(.*)$/.exec(spec)!;
  const attrs = mark === '+' ? { v: 'ok' } : mark === '-' ? { v: 'bad' } : mark ? { v: `ok${mark}` } : undefined;
  return { ev: `p:${type}`, ...(attrs ? { attrs } : {}), ...(t === undefined ? {} : { t }), fires };
};

describe('a failed attribute test starts the whole expression over (pico)', () => {
  it('the issue’s examples', () => {
    const table: Array<[ExprLike, string[], number | null]> = [
      [count(2, ok('c')), ['c+', 'c-', 'c+', 'c+'], 3],
      [repeat(2, ok('r')), ['r+', 'r-', 'r+'], null],
      [and(ok('x'), 'p:y'), ['y', 'x-', 'x+', 'y'], 3],
      [before('p:a', ok('b')), ['a', 'b-', 'b+'], null],
    ];
    for (const [e, events, at] of table)
      runTable(
        e,
        events.map((s, i) => r(s, i === at ? {} : F)),
      );
  });

  it('or: a part with progress, or any part while none has progress', () => {
    runTable(or(before('p:a', ok('b')), 'p:c'), [r('a'), r('b-'), r('b+'), r('a'), r('b+', {})]);
    runTable(or(before('p:a', 'p:b'), ok('c')), [
      r('a'),
      r('c-'), // only tried: pico, partway through the first part, waits for p:b alone
      r('b', {}),
      r('c-'),
      r('c+', {}),
    ]);
  });

  it('and: every pending part, and the captures go too', () => {
    runTable(and(ok('x', 'x'), ok('y', 'y')), [r('x1'), r('y-'), r('y2'), r('x3', { x: '3', y: '2' })]);
    runTable(and(ok('x', 'x'), 'p:y'), [
      r('x1'),
      r('x-'), // the x part is done: not waited for
      r('y', { x: '1' }),
    ]);
  });

  it('any: every pending part', () => {
    runTable(any(2, ok('a'), 'p:b', 'p:c'), [r('b'), r('a-'), r('c'), r('a+', {})]);
  });

  it('before/after: the stage being waited for, not a first stage tried out of turn', () => {
    runTable(before(ok('a', 'a'), 'p:b'), [
      r('a1'),
      r('a-'), // pico waits only for p:b now
      r('b', { a: '1' }),
    ]);
    runTable(before(ok('a', 'a'), ok('b', 'b'), 'p:c'), [
      r('a1'),
      r('b-'),
      r('b2'),
      r('c'),
      r('a3'),
      r('b4'),
      r('b-'), // b already happened: p:c is waited for
      r('c', { a: '3', b: '4' }),
    ]);
    runTable(after(ok('b'), 'p:a'), [r('a'), r('b-'), r('b+'), r('a'), r('b+', {})]);
  });

  it('then: a failed test ends more than the run', () => {
    runTable(andThen(ok('a', 'a'), ok('b', 'b')), [r('a1'), r('b-'), r('b2'), r('a3'), r('b4', { a: '3', b: '4' })]);
    // Ending the run alone would leave the count at 1 here.
    runTable(count(2, andThen('p:a', ok('b'))), [r('a'), r('b+'), r('a'), r('b-'), r('a'), r('b+'), r('a'), r('b+', {})]);
  });

  it('between / not between', () => {
    runTable(between(ok('x', 'x'), 'p:s', 'p:e'), [
      r('s'),
      r('x-'), // waited for: starts over
      r('x1'),
      r('e'),
      r('s'),
      r('x2'),
      r('x-'), // x happened already; only p:e is waited for
      r('e', { x: '2' }),
      r('s'),
      r('x3'),
      r('s'), // kumo starts a second run; pico stays with the first, which waits for p:e
      r('x-'), // fails the second run's stage: not what pico waits for
      r('e', { x: '3' }),
    ]);
    runTable(notBetween(ok('x'), 'p:s', 'p:e'), [
      r('s'),
      r('x-'), // pico waits for x or e after s: a failed x drops the open run
      r('e'),
      r('s'),
      r('e', {}),
    ]);
    runTable(notBetween('p:x', 'p:s', ok('e')), [r('s'), r('e-'), r('e+'), r('s'), r('e+', {})]);
  });

  it('count/repeat: drop their window and aggregates', () => {
    runTable(count(2, ok('c'), { sum: 's' }), [r('c1'), r('c-'), r('c2'), r('c3', { s: 5 })]);
    runTable(repeat(2, ok('r'), { push: 'all' }), [r('r1'), r('r2', { all: ['1', '2'] }), r('r-'), r('r3'), r('r4', { all: ['3', '4'] })]);
  });

  it('within: the window starts over too', () => {
    runTable(within(count(2, ok('c')), 10, 'seconds'), [r('c+', F, 0), r('c-', F, 1), r('c+', F, 2), r('c+', {}, 3)]);
  });

  it('a failing where counts like a failing regex', () => {
    const positive = on('p:n', { where: (_c, e) => Number(e.attrs['v']) > 0 });
    const row = (v: number, fires: Row['fires'] = F): Row => ({ ev: 'p:n', attrs: { v }, fires });
    runTable(count(2, positive), [row(1), row(0), row(1), row(1, {})]);
    runTable(before('p:a', positive), [r('a'), row(-1), row(1)]);
  });

  it('leaves no state behind after a reset', () => {
    const sel = compile(before('p:a', ok('b')));
    const s1 = sel.match(undefined, eventOf(r('a'), 0)).state;
    expect(s1).toBeDefined();
    expect(sel.match(s1, eventOf(r('b-'), 1))).toEqual({ fired: false, captures: {}, state: undefined });
  });
});
