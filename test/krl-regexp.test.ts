import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LinearRegExp } from '../rulesets/krl/linear-regexp.ts';

/** KRL's linear-time regular expressions answer as JavaScript's do, for every pattern both can run. */
const PATTERNS: Array<[string, string]> = [
  ['a', ''],
  ['a', 'g'],
  ['a*', 'g'],
  ['(a)(b)?', ''],
  ['(a)(b)?', 'g'],
  ['b|', 'g'],
  ['^a', 'im'],
  ['(?<x>a+)b', ''],
  ['[ab]+', 'gi'],
  ['', 'g'],
  ['a.c', 's'],
];

describe('LinearRegExp', () => {
  it('exec, match, replace, split and test agree with RegExp on random text', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PATTERNS), fc.stringMatching(/^[abcAB\n]{0,12}$/), fc.option(fc.nat(4), { nil: undefined }), ([source, flags], text, limit) => {
        const mine = (): RegExp => new LinearRegExp(source, flags);
        const js = (): RegExp => new RegExp(source, flags);
        expect(text.match(mine())).toEqual(text.match(js()));
        expect(text.replace(mine(), '<$&>')).toBe(text.replace(js(), '<$&>'));
        expect(text.split(mine(), limit)).toEqual(text.split(js(), limit));
        expect(mine().test(text)).toBe(js().test(text));
        expect([...text.matchAll(new LinearRegExp(source, flags.includes('g') ? flags : `${flags}g`))].map((m) => [...m])).toEqual([...text.matchAll(new RegExp(source, flags.includes('g') ? flags : `${flags}g`))].map((m) => [...m]));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps lastIndex as a global or sticky RegExp does', () => {
    const g = new LinearRegExp('a', 'g');
    expect([g.exec('aba')?.index, g.lastIndex, g.exec('aba')?.index, g.lastIndex, g.exec('aba'), g.lastIndex]).toEqual([0, 1, 2, 3, null, 0]);
    const y = new LinearRegExp('a', 'y');
    y.lastIndex = 1;
    expect([y.exec('aba'), y.lastIndex]).toEqual([null, 0]);
    expect(new LinearRegExp('(?<w>b)').exec('ab')?.groups).toEqual({ w: 'b' });
  });

  it('refuses backreferences and lookarounds when made', () => {
    expect(() => new LinearRegExp('(a)\\1')).toThrow(/invalid escape sequence/);
    expect(() => new LinearRegExp('a(?=b)')).toThrow(/unsupported Perl syntax/);
  });
});
