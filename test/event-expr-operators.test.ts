import { describe, expect, it } from 'vitest';
import { encode } from '../kernel/store/codec.ts';
import { after, and, any, before, between, compile, count, notBetween, on, or, repeat, andThen, within } from '../rulesets/index.ts';
import { eventOf, runTable, type Row } from './event-expr-helpers.ts';

/** A primitive capturing the digits of attr `v` as `name`. */
const num = (ev: string, name: string) => on(ev, { attrs: { v: /(\d+)/ }, setting: [name] });
const F = false as const;

describe('primitive', () => {
  it('matches attrs by regex, names groups with setting, and applies where', () => {
    const e = on('temp:reading', { attrs: { temp: /^(\d+)$/, unit: /^(C|F)$/ }, setting: ['t', 'u'], where: (c) => Number(c.t) > 20 });
    runTable(e, [
      { ev: 'temp:reading', attrs: { temp: '25', unit: 'C' }, fires: { t: '25', u: 'C' } },
      { ev: 'temp:reading', attrs: { temp: '15', unit: 'C' }, fires: F }, // where says no
      { ev: 'temp:reading', attrs: { temp: 'x', unit: 'C' }, fires: F }, // regex says no
      { ev: 'temp:reading', attrs: { temp: '30' }, fires: F }, // a missing attr is tested as ""
      { ev: 'temp:other', attrs: { temp: '30', unit: 'F' }, fires: F },
      { ev: 'temp:reading', attrs: { temp: 42, unit: 'F' }, fires: { t: '42', u: 'F' } }, // a number is tested in decimal
    ]);
  });
  it('tests each kind of attribute value in its KRL string form, a missing one as ""', () => {
    const whole = on('k:v', { attrs: { x: /^(.*)$/ }, setting: ['s'] });
    const row = (x: unknown, s: string): Row => ({ ev: 'k:v', attrs: x === undefined ? {} : { x }, fires: { s } });
    runTable(whole, [row('text', 'text'), row(undefined, ''), row(null, 'null'), row(42, '42'), row(-1.5, '-1.5'), row(1e21, '1e+21'), row(true, 'true'), row(false, 'false'), row({ a: 1 }, '[Map]'), row([1, 2], '[Array]'), row('', '')]);
  });
  it('fires on a missing attribute when the regex matches "" (pico does)', () => {
    runTable(on('k:v', { attrs: { x: /^$/ } }), [
      { ev: 'k:v', fires: {} },
      { ev: 'k:v', attrs: { x: null }, fires: F }, // "null"
      { ev: 'k:v', attrs: { x: '' }, fires: {} },
      { ev: 'k:v', attrs: { x: 'a' }, fires: F },
    ]);
    runTable(on('k:v', { attrs: { name: /^(.*)$/ }, setting: ['name'] }), [{ ev: 'k:v', attrs: { other: 1 }, fires: { name: '' } }]);
  });
  it('binds a group that did not take part as undefined, not ""', () => {
    const sel = compile(on('k:v', { attrs: { x: /^(a)?(b)$/ }, setting: ['a', 'b'] }));
    const r = sel.match(undefined, eventOf({ ev: 'k:v', attrs: { x: 'b' } }, 0));
    expect(r.captures).toStrictEqual({ a: undefined, b: 'b' });
  });
  it('binds setting in the order the attribute tests are written, whatever their names', () => {
    const sel = compile(
      on('k:v', {
        attrs: [
          ['b', /(x)/],
          ['1', /(y)/],
        ],
        setting: ['first', 'second'],
      }),
    );
    expect(sel.match(undefined, eventOf({ ev: 'k:v', attrs: { 1: 'y', b: 'x' } }, 0)).captures).toEqual({ first: 'x', second: 'y' });
    // An object would list '1' first; it is refused rather than bound in the wrong order.
    expect(() => on('k:v', { attrs: { b: /(x)/, 1: /(y)/ }, setting: ['first', 'second'] })).toThrow(/pairs/);
  });
  it('checks setting against the regexes’ groups when the expression is built', () => {
    expect(() => on('k:v', { attrs: { x: /(a)(b)/, y: /c/ }, setting: ['p', 'q', 'r'] })).toThrow(/3 captures.*2 group/);
    expect(() => on('k:v', { setting: ['p'] })).toThrow(/0 group/);
    expect(on('k:v', { attrs: { x: /(a)(b)/, y: /(c)/ }, setting: ['p', 'q', 'r'] }).setting).toEqual(['p', 'q', 'r']);
  });
  it('captures named groups and honours * wildcards', () => {
    runTable(on('*:opened', { attrs: { who: /(?<who>\w+)/ } }), [
      { ev: 'door:opened', attrs: { who: 'bob' }, fires: { who: 'bob' } },
      { ev: 'window:opened', attrs: { who: 'amy' }, fires: { who: 'amy' } },
      { ev: 'door:closed', attrs: { who: 'amy' }, fires: F },
    ]);
  });
});

describe('or', () => {
  it('fires on any part, with that part’s captures', () => {
    runTable(or('a:x', num('b:y', 'n'), 'c:z'), [
      { ev: 'a:x', fires: {} },
      { ev: 'b:y', attrs: { v: '3' }, fires: { n: '3' } },
      { ev: 'b:y', attrs: { v: 'x' }, fires: F },
      { ev: 'd:w', fires: F },
      { ev: 'c:z', fires: {} },
    ]);
  });
  it('resets every part when it fires (kumo: every part sees every event)', () => {
    runTable(or(before('a:1', 'a:2'), 'b:1'), [
      { ev: 'a:1', fires: F },
      { ev: 'b:1', fires: {} }, // pico's NFA would be waiting in the middle of `before` here and ignore b:1
      { ev: 'a:2', fires: F }, // the half-done `before` was reset
      { ev: 'a:1', fires: F },
      { ev: 'a:2', fires: {} },
    ]);
  });
});

describe('and', () => {
  it('fires when both parts happened, in either order, then resets', () => {
    runTable(and('a:x', num('b:y', 'n')), [
      { ev: 'a:x', fires: F },
      { ev: 'a:x', fires: F },
      { ev: 'b:y', attrs: { v: '1' }, fires: { n: '1' } },
      { ev: 'b:y', attrs: { v: '2' }, fires: F },
      { ev: 'a:x', fires: { n: '2' } },
      { ev: 'a:x', fires: F },
    ]);
  });
  it('is n-ary', () => {
    runTable(and('a:1', 'a:2', 'a:3'), [
      { ev: 'a:3', fires: F },
      { ev: 'a:1', fires: F },
      { ev: 'a:3', fires: F },
      { ev: 'a:2', fires: {} },
      { ev: 'a:2', fires: F },
    ]);
  });
  it('lets one event complete only one part', () => {
    runTable(and('a:*', 'a:x'), [
      { ev: 'a:x', fires: F }, // completes a:* (the first pending part it fires)
      { ev: 'a:x', fires: {} },
      { ev: 'a:y', fires: F },
      { ev: 'a:y', fires: F },
      { ev: 'a:x', fires: {} },
    ]);
  });
});

describe('any', () => {
  it('fires when n distinct parts happened', () => {
    runTable(any(2, 'x:a', 'x:b', 'x:c'), [
      { ev: 'x:a', fires: F },
      { ev: 'x:b', fires: {} },
      { ev: 'x:a', fires: F },
      { ev: 'x:a', fires: F }, // the same part twice does not count twice
      { ev: 'x:z', fires: F },
      { ev: 'x:c', fires: {} },
      { ev: 'x:b', fires: F },
      { ev: 'x:a', fires: {} },
    ]);
  });
  it('merges the captures of the parts that matched', () => {
    runTable(any(2, num('m:a', 'a'), num('m:b', 'b'), num('m:c', 'c')), [
      { ev: 'm:c', attrs: { v: '3' }, fires: F },
      { ev: 'm:a', attrs: { v: '1' }, fires: { a: '1', c: '3' } },
    ]);
  });
  it('keeps state small: one entry per part, not per permutation', () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const { states } = runTable(any(3, ...names.map((n) => `k:${n}`)), [
      { ev: 'k:h', fires: F },
      { ev: 'k:c', fires: F },
      { ev: 'k:a', fires: {} },
    ]);
    const s = states[1] as { s: unknown[] };
    expect(s.s).toHaveLength(8);
    expect(s.s.filter((p) => p !== null)).toHaveLength(2);
    expect(encode(s).length).toBeLessThan(150);
  });
});

describe('before', () => {
  it('fires when the first happened and later the second, with anything in between', () => {
    runTable(before('a:foo', 'a:bar'), [
      { ev: 'a:foo', fires: F },
      { ev: 'a:baz', fires: F },
      { ev: 'a:bar', fires: {} },
      { ev: 'a:bar', fires: F },
      { ev: 'a:foo', fires: F },
      { ev: 'a:foo', fires: F },
      { ev: 'a:bar', fires: {} },
    ]);
  });
  it('is n-ary, keeps captures of every stage, and resets after firing', () => {
    runTable(before(num('s:a', 'a'), num('s:b', 'b'), 's:c'), [
      { ev: 's:a', attrs: { v: '1' }, fires: F },
      { ev: 's:b', attrs: { v: '1' }, fires: F },
      { ev: 's:a', attrs: { v: '2' }, fires: F }, // a second, overlapping run starts
      { ev: 's:b', attrs: { v: '2' }, fires: F }, // no window: the older run at stage 3 is kept
      { ev: 's:c', fires: { a: '1', b: '1' } },
      { ev: 's:c', fires: F }, // everything reset: matches do not overlap
      { ev: 's:b', attrs: { v: '3' }, fires: F },
      { ev: 's:a', attrs: { v: '4' }, fires: F },
      { ev: 's:b', attrs: { v: '5' }, fires: F },
      { ev: 's:c', fires: { a: '4', b: '5' } },
    ]);
  });
  it('advances a run one stage per event', () => {
    runTable(before('a:a', 'a:a', 'a:a'), [
      { ev: 'a:a', fires: F },
      { ev: 'a:a', fires: F },
      { ev: 'a:a', fires: {} },
      { ev: 'a:a', fires: F },
    ]);
  });
});

describe('after', () => {
  it('fires on the first argument when the second already happened', () => {
    runTable(after('d:closed', 'd:opened'), [
      { ev: 'd:closed', fires: F },
      { ev: 'd:opened', fires: F },
      { ev: 'd:closed', fires: {} },
      { ev: 'd:closed', fires: F },
    ]);
  });
  it('is n-ary: the last argument happens first', () => {
    runTable(after('x:c', 'x:b', 'x:a'), [
      { ev: 'x:c', fires: F },
      { ev: 'x:a', fires: F },
      { ev: 'x:c', fires: F },
      { ev: 'x:b', fires: F },
      { ev: 'x:c', fires: {} },
    ]);
  });
});

describe('then', () => {
  it('needs the very next salient event to match', () => {
    runTable(andThen('aaa:*', 'aaa:bbb'), [
      { ev: 'aaa:hi', fires: F },
      { ev: 'aaa:bbb', fires: {} },
      { ev: 'aaa:hi', fires: F },
      { ev: 'aaa:ccc', fires: F }, // breaks the run from aaa:hi, but starts a new one (pico would not)
      { ev: 'aaa:bbb', fires: {} },
    ]);
  });
  it('ignores events that are not salient to it; a failed attribute test starts it over', () => {
    runTable(andThen('t:a', on('t:b', { attrs: { ok: /^y$/ } })), [
      { ev: 't:a', fires: F },
      { ev: 'z:z', fires: F }, // names no primitive of this `then`
      { ev: 't:b', attrs: { ok: 'y' }, fires: {} },
      { ev: 't:a', fires: F },
      { ev: 't:b', attrs: { ok: 'n' }, fires: F }, // the part waited for fails its test: the whole starts over
      { ev: 't:b', attrs: { ok: 'y' }, fires: F },
      { ev: 't:a', fires: F },
      { ev: 't:a', fires: F }, // kills the old run, starts a new one
      { ev: 't:b', attrs: { ok: 'y' }, fires: {} },
    ]);
  });
  it('lets a compound stage take several events', () => {
    runTable(andThen('t:a', and('t:b', 't:c')), [
      { ev: 't:a', fires: F },
      { ev: 't:c', fires: F },
      { ev: 't:b', fires: {} },
      { ev: 't:a', fires: F },
      { ev: 't:c', fires: F },
      { ev: 't:c', fires: F }, // did not advance `and` (part done already): the run dies
      { ev: 't:b', fires: F },
    ]);
  });
});

describe('between', () => {
  it('fires on the end when the expression happened after the start', () => {
    runTable(between(num('x:a', 'n'), 'x:b', 'x:c'), [
      { ev: 'x:a', attrs: { v: '1' }, fires: F },
      { ev: 'x:c', fires: F },
      { ev: 'x:b', fires: F },
      { ev: 'x:c', fires: F }, // nothing in between yet
      { ev: 'x:a', attrs: { v: '2' }, fires: F },
      { ev: 'x:a', attrs: { v: '3' }, fires: F },
      { ev: 'x:c', fires: { n: '2' } },
      { ev: 'x:c', fires: F },
    ]);
  });
});

describe('notBetween', () => {
  it('fires on the end when the expression did not happen since the latest start', () => {
    runTable(notBetween('x:a', num('x:b', 'b'), num('x:c', 'c')), [
      { ev: 'x:b', attrs: { v: '1' }, fires: F },
      { ev: 'x:c', attrs: { v: '1' }, fires: { b: '1', c: '1' } },
      { ev: 'x:c', attrs: { v: '2' }, fires: F }, // no open start
      { ev: 'x:b', attrs: { v: '3' }, fires: F },
      { ev: 'x:a', fires: F },
      { ev: 'x:c', attrs: { v: '4' }, fires: F }, // x:a came in between
      { ev: 'x:b', attrs: { v: '5' }, fires: F },
      { ev: 'x:a', fires: F },
      { ev: 'x:b', attrs: { v: '6' }, fires: F }, // a new start reopens
      { ev: 'x:c', attrs: { v: '7' }, fires: { b: '6', c: '7' } },
    ]);
  });
  it('follows compound excluded and end expressions step by step while a run is open', () => {
    runTable(notBetween(and('x:a1', 'x:a2'), 'x:b', and('x:c1', 'x:c2')), [
      { ev: 'x:b', fires: F },
      { ev: 'x:c1', fires: F },
      { ev: 'x:a1', fires: F }, // the excluded expression half done does not close the run
      { ev: 'x:c2', fires: {} },
      { ev: 'x:b', fires: F },
      { ev: 'x:a1', fires: F },
      { ev: 'x:a2', fires: F }, // now it did happen: the run is closed
      { ev: 'x:c1', fires: F },
      { ev: 'x:c2', fires: F },
    ]);
  });
  it('a failed test of the end or the excluded expression while a run is open starts it all over', () => {
    const ok = /^ok$/;
    runTable(notBetween('x:a', 'x:b', on('x:c', { attrs: { v: ok } })), [
      { ev: 'x:b', fires: F },
      { ev: 'x:c', attrs: { v: 'bad' }, fires: F },
      { ev: 'x:c', attrs: { v: 'ok' }, fires: F }, // the run was dropped
      { ev: 'x:b', fires: F },
      { ev: 'x:c', attrs: { v: 'ok' }, fires: {} },
    ]);
    runTable(notBetween(on('x:a', { attrs: { v: ok } }), 'x:b', 'x:c'), [
      { ev: 'x:b', fires: F },
      { ev: 'x:a', attrs: { v: 'bad' }, fires: F },
      { ev: 'x:c', fires: F },
    ]);
  });
  it('a failed test of the start counts only while no run is open (then it is what is waited for)', () => {
    runTable(notBetween('x:a', on('x:b', { attrs: { v: /^ok$/ } }), 'x:c'), [
      { ev: 'x:b', attrs: { v: 'bad' }, fires: F },
      { ev: 'x:b', attrs: { v: 'ok' }, fires: F },
      { ev: 'x:b', attrs: { v: 'bad' }, fires: F }, // a run is open: the start is not waited for
      { ev: 'x:c', fires: {} },
    ]);
  });
  it('leaves its state as it was on an event none of its parts takes', () => {
    const sel = compile(notBetween('x:a', 'x:b', 'x:c'));
    const opened = sel.match(undefined, eventOf({ ev: 'x:b' }, 0));
    const same = sel.match(opened.state, eventOf({ ev: 'y:z' }, 1));
    expect(same.state).toBe(opened.state);
    expect(sel.match(undefined, eventOf({ ev: 'y:z' }, 1)).state ?? null).toBeNull();
  });
});

describe('count', () => {
  it('fires on every nth match, then starts over', () => {
    runTable(count(3, 'l:f'), [
      { ev: 'l:f', fires: F },
      { ev: 'l:f', fires: F },
      { ev: 'l:f', fires: {} },
      { ev: 'l:f', fires: F },
      { ev: 'l:f', fires: F },
      { ev: 'l:z', fires: F },
      { ev: 'l:f', fires: {} },
    ]);
  });
  it('aggregates max, min, sum, avg and push over the window', () => {
    const r = (v: string): Row => ({ ev: 't:r', attrs: { temp: v }, fires: F });
    runTable(count(3, on('t:r', { attrs: { temp: /(\d+)/ } }), { max: 'mx', min: 'mn', sum: 's', avg: 'a', push: 'all' }), [
      r('10'),
      r('30'),
      { ...r('20'), fires: { mx: 30, mn: 10, s: 60, a: 20, all: ['10', '30', '20'] } },
      r('1'),
      r('2'),
      { ...r('3'), fires: { mx: 3, mn: 1, s: 6, a: 2, all: ['1', '2', '3'] } },
    ]);
  });
  it('aggregates several captured values, with several aggregators on one window (KRL sum(a, b))', () => {
    const e = count(2, on('t:r', { attrs: { a: /^(\d+)$/, b: /^(\d+)$/ } }), { sum: ['sa', 'sb'], push: ['pa', 'pb'], max: 'ma' });
    runTable(e, [
      { ev: 't:r', attrs: { a: '1', b: '10' }, fires: F },
      { ev: 't:r', attrs: { a: '2', b: '20' }, fires: { sa: 3, sb: 30, pa: ['1', '2'], pb: ['10', '20'], ma: 2 } },
    ]);
  });
  it('reads values as KRL numbers: anything not numeric counts as 0 (pico)', () => {
    const e = count(4, on('t:r', { attrs: { v: /^(.*)$/ } }), { sum: 's', avg: 'a', max: 'mx', min: 'mn' });
    runTable(e, [
      { ev: 't:r', attrs: { v: '4' }, fires: F },
      { ev: 't:r', attrs: { v: 'n/a' }, fires: F },
      { ev: 't:r', attrs: {}, fires: F }, // "" as well
      { ev: 't:r', attrs: { v: 8 }, fires: { s: 12, a: 3, mx: 8, mn: 0 } },
    ]);
  });
  it('reads captures by name, position by position, with `of`', () => {
    const e = repeat(2, on('t:r', { attrs: { room: /(\w+)/, temp: /(\d+)/, hum: /(\d+)/ }, setting: ['room', 'temp', 'hum'] }), { avg: ['t', 'h'], of: ['temp', 'hum'] });
    runTable(e, [
      { ev: 't:r', attrs: { room: 'den', temp: '20', hum: '40' }, fires: F },
      { ev: 't:r', attrs: { room: 'den', temp: '22', hum: '50' }, fires: { room: 'den', temp: '22', hum: '50', t: 21, h: 45 } },
    ]);
  });
  it('checks an aggregate when the expression is built', () => {
    const two = on('t:r', { attrs: { a: /(\d)(\d)/ } });
    expect(() => count(2, two, { sum: ['x', 'y', 'z'] })).toThrow(/reads 3 values per match but the regexes have 2/);
    expect(() => count(2, two, { sum: 'x', max: 'x' })).toThrow(/binds x twice/);
    expect(() => count(2, two, { sum: ['x', 'y'], of: 'a' })).toThrow(/`of` names 1/);
    expect(() => repeat(2, two, { push: [] })).toThrow(/expects capture names/);
    expect(count(2, two, { sum: ['x', 'y'], push: 'all' }).aggregate).toEqual({ sum: ['x', 'y'], push: 'all' });
  });
  it('aggregates a named capture with `of` and keeps the other captures', () => {
    const e = count(2, on('t:r', { attrs: { room: /(\w+)/, temp: /(\d+)/ }, setting: ['room', 'temp'] }), { sum: 'total', of: 'temp' });
    runTable(e, [
      { ev: 't:r', attrs: { room: 'hall', temp: '5' }, fires: F },
      { ev: 't:r', attrs: { room: 'den', temp: '7' }, fires: { room: 'den', temp: '7', total: 12 } },
    ]);
  });
});

describe('repeat', () => {
  it('fires on the nth and every later match', () => {
    runTable(repeat(3, 'r:a'), [
      { ev: 'r:a', fires: F },
      { ev: 'r:z', fires: F },
      { ev: 'r:a', fires: F },
      { ev: 'r:z', fires: F },
      { ev: 'r:a', fires: {} },
      { ev: 'r:a', fires: {} },
      { ev: 'r:z', fires: F },
      { ev: 'r:a', fires: {} },
    ]);
  });
  it('aggregates over the last n matches (sliding window)', () => {
    const r = (v: string, fires: Row['fires']): Row => ({ ev: 'temp:reading', attrs: { temp: v }, fires });
    runTable(repeat(3, on('temp:reading', { attrs: { temp: /(\d+)/ }, setting: ['t'] }), { avg: 'm' }), [r('1', F), r('2', F), r('3', { t: '3', m: 2 }), r('4', { t: '4', m: 3 }), r('8', { t: '8', m: 5 })]);
  });
});

describe('within', () => {
  it('expires a half-done sequence by event time, inclusive of the limit', () => {
    runTable(within(before('d:open', 'd:close'), 5, 'minutes'), [
      { ev: 'd:open', t: 0, fires: F },
      { ev: 'd:close', t: 301, fires: F }, // 301 s after open: too late
      { ev: 'd:open', t: 400, fires: F },
      { ev: 'd:close', t: 700, fires: {} }, // exactly 300 s
      { ev: 'd:open', t: 1000, fires: F },
      { ev: 'd:open', t: 1240, fires: F }, // a later start replaces the older one under a window
      { ev: 'd:close', t: 1500, fires: {} },
    ]);
  });
  it('makes count a sliding window: the third failure within an hour', () => {
    runTable(within(count(3, 'login:failed'), 1, 'hour'), [
      { ev: 'login:failed', t: 0, fires: F },
      { ev: 'login:failed', t: 2400, fires: F },
      { ev: 'login:failed', t: 4200, fires: F }, // the one at 0 fell out
      { ev: 'login:failed', t: 4800, fires: {} },
      { ev: 'login:failed', t: 4900, fires: F }, // count starts over
    ]);
  });
  it('refreshes a part of `and` that happens again, and expires stale parts', () => {
    runTable(within(and('a:x', 'b:y'), 10, 'seconds'), [
      { ev: 'a:x', t: 0, fires: F },
      { ev: 'a:x', t: 8, fires: F },
      { ev: 'b:y', t: 15, fires: {} }, // pairs with a:x at 8
      { ev: 'a:x', t: 20, fires: F },
      { ev: 'b:y', t: 31, fires: F }, // a:x at 20 expired
      { ev: 'a:x', t: 35, fires: {} },
    ]);
  });
  it('does not count the event that completed a part of `and` again for that part', () => {
    runTable(within(and(count(2, 'c:a'), 'c:b'), 10, 'seconds'), [
      { ev: 'c:a', t: 0, fires: F },
      { ev: 'c:a', t: 1, fires: F }, // completes count(2), match starting at 0
      { ev: 'c:a', t: 2, fires: F }, // one towards a newer count(2), not two
      { ev: 'c:b', t: 11, fires: F }, // the count(2) from 0 expired; the newer one is half done
      { ev: 'c:a', t: 12, fires: {} }, // c:a at 2 and 12, c:b at 11
    ]);
  });
  it('judges repeat over the last n matches inside the window', () => {
    runTable(within(repeat(2, 'r:a'), 10, 'seconds'), [
      { ev: 'r:a', t: 0, fires: F },
      { ev: 'r:a', t: 5, fires: {} },
      { ev: 'r:a', t: 20, fires: F },
      { ev: 'r:a', t: 30, fires: {} },
      { ev: 'r:a', t: 35, fires: {} },
    ]);
  });
  it('knows KRL’s months (30 days) and years (365 days)', () => {
    const day = 86_400;
    expect(within('a:b', 2, 'months')).toMatchObject({ ms: 60 * day * 1000 });
    expect(within('a:b', 1, 'year').ms).toBe(365 * day * 1000);
    runTable(within(before('s:a', 's:b'), 1, 'month'), [
      { ev: 's:a', t: 0, fires: F },
      { ev: 's:b', t: 30 * day + 1, fires: F },
      { ev: 's:a', t: 31 * day, fires: F },
      { ev: 's:b', t: 61 * day, fires: {} },
    ]);
  });
  it('applies the tighter of nested windows', () => {
    runTable(within(before(within(before('n:a', 'n:b'), 2, 'seconds'), 'n:c'), 10, 'seconds'), [
      { ev: 'n:a', t: 0, fires: F },
      { ev: 'n:b', t: 3, fires: F }, // inner window missed
      { ev: 'n:a', t: 4, fires: F },
      { ev: 'n:b', t: 5, fires: F },
      { ev: 'n:c', t: 15, fires: F }, // outer window missed (a at 4)
      { ev: 'n:a', t: 20, fires: F },
      { ev: 'n:b', t: 21, fires: F },
      { ev: 'n:c', t: 30, fires: {} },
    ]);
  });
  it('expires notBetween runs', () => {
    runTable(within(notBetween('m:motion', 'd:open', 'd:check'), 5, 'minutes'), [
      { ev: 'd:open', t: 0, fires: F },
      { ev: 'd:check', t: 301, fires: F },
      { ev: 'd:open', t: 400, fires: F },
      { ev: 'd:check', t: 500, fires: {} },
    ]);
  });
});

describe('nesting', () => {
  it('collects captures from every part that matched', () => {
    runTable(before(num('a:a', 'p'), and(num('b:b', 'q'), num('c:c', 'r'))), [
      { ev: 'c:c', attrs: { v: '0' }, fires: F },
      { ev: 'a:a', attrs: { v: '1' }, fires: F },
      { ev: 'c:c', attrs: { v: '2' }, fires: F },
      { ev: 'b:b', attrs: { v: '3' }, fires: { p: '1', q: '3', r: '2' } },
    ]);
  });
  it('combines any and then inside before, and and inside or', () => {
    runTable(before(any(2, 'k:a', 'k:b', 'k:c'), andThen('k:x', 'k:y')), [
      { ev: 'k:a', fires: F },
      { ev: 'k:x', fires: F },
      { ev: 'k:y', fires: F }, // the `any` had not happened yet
      { ev: 'k:c', fires: F },
      { ev: 'k:x', fires: F },
      { ev: 'k:y', fires: {} },
    ]);
    runTable(or(and('a:1', 'a:2'), 'b:1'), [
      { ev: 'a:1', fires: F },
      { ev: 'b:1', fires: {} },
      { ev: 'a:2', fires: F },
      { ev: 'a:1', fires: {} },
    ]);
  });
});

describe('expression data', () => {
  it('rejects malformed expressions', () => {
    expect(() => or('a:b')).toThrow(TypeError);
    expect(() => any(3, 'a:b', 'c:d')).toThrow(/at least 3/);
    expect(() => count(0, 'a:b')).toThrow(TypeError);
    expect(() => repeat(1.5, 'a:b')).toThrow(TypeError);
    expect(() => within('a:b', 1, 'fortnights' as never)).toThrow(/unit/);
    expect(() => count(2, 'a:b', {})).toThrow(/aggregate/);
    expect(() => on('nocolon')).toThrow(/domain:type/);
  });
  it('lists each primitive (domain, type) once for the kernel index', () => {
    expect(compile(before('a:x', or('a:x', 'b:*'), 'a:x')).events).toEqual([
      { domain: 'a', type: 'x' },
      { domain: 'b', type: '*' },
    ]);
  });
  it('ignores state written for a different expression', () => {
    const ev = (s: string, i: number) => eventOf({ ev: s }, i);
    const ab = compile(before('a:a', 'b:b'));
    const ac = compile(before('a:a', 'c:c'));
    const state = ab.match(undefined, ev('a:a', 0)).state;
    expect(state).toBeDefined();
    expect(ac.match(state, ev('c:c', 1)).fired).toBe(false);
    expect(ab.match(state, ev('b:b', 1)).fired).toBe(true);
    expect(ab.match({ h: 'nope', s: [1, 2] }, ev('b:b', 1)).fired).toBe(false);
  });
  it('returns the same state object when an event changes nothing (no needless writes)', () => {
    const sel = compile(before('a:a', 'b:b'));
    const ev = (s: string, i: number) => eventOf({ ev: s }, i);
    const s1 = sel.match(undefined, ev('a:a', 0)).state;
    expect(sel.match(s1, ev('a:a', 1)).state).toBe(s1);
    expect(sel.match(s1, ev('z:z', 2)).state).toBe(s1);
    expect(sel.match(s1, ev('b:b', 3)).state).toBeUndefined();
  });
});
