import { describe, expect, expectTypeOf, it } from 'vitest';
import { after, and, any, before, between, count, notBetween, on, or, repeat, ruleset, where, within, type CapturesOf, type NoCaptures } from '../rulesets/index.ts';
import { install } from './fixtures.ts';
import { memoryStore, testHost } from './helpers.ts';

/** Type-level tests (checked by `tsc --noEmit`, part of `npm test`), and one run to show the types tell the truth. */

const temp = on('t:r', { attrs: { temp: /^(\d+)$/, unit: /^(C|F)?$/ }, setting: ['t', 'u'] });

describe('captures typed from the expression', () => {
  it('types setting names, aggregates and every operator’s merge', () => {
    expectTypeOf<CapturesOf<typeof temp>>().toEqualTypeOf<{ t: string | undefined; u: string | undefined }>();
    expectTypeOf<CapturesOf<'a:b'>>().toEqualTypeOf<NoCaptures>();
    const _agg = count(3, temp, { sum: ['s', 'su'], max: 'hi', push: 'all' });
    expectTypeOf<CapturesOf<typeof _agg>>().toEqualTypeOf<{ t: string | undefined; u: string | undefined } & { s: number; su: number; hi: number; all: Array<string | undefined> }>();
    const _of = repeat(2, temp, { push: ['ts'], of: 't' });
    expectTypeOf<CapturesOf<typeof _of>['ts']>().toEqualTypeOf<unknown[]>();

    const a = on('x:a', { attrs: { v: /(a)/ }, setting: ['a'] });
    const b = on('x:b', { attrs: { v: /(b)/ }, setting: ['b'] });
    const _both = and(a, b);
    expectTypeOf<CapturesOf<typeof _both>>().toEqualTypeOf<{ a: string | undefined; b: string | undefined }>();
    for (const _all of [and(a, b), before(a, b), after(a, b), between(a, b, 'x:c'), within(and(a, b), 1)]) {
      expectTypeOf<keyof CapturesOf<typeof _all>>().toEqualTypeOf<'a' | 'b'>();
    }
    const _some = or(a, count(2, b, { sum: 'n' }));
    expectTypeOf<CapturesOf<typeof _some>>().toEqualTypeOf<{ a?: string | undefined; b?: string | undefined; n?: number }>();
    const _two = any(2, a, b, 'x:c');
    expectTypeOf<CapturesOf<typeof _two>>().toEqualTypeOf<{ a?: string | undefined; b?: string | undefined }>();
    // The excluded expression of `not between` never binds anything.
    const _nb = notBetween(a, b, 'x:c');
    expectTypeOf<keyof CapturesOf<typeof _nb>>().toEqualTypeOf<'b'>();
    const _bare = where(() => true);
    expectTypeOf<CapturesOf<typeof _bare>>().toEqualTypeOf<NoCaptures>();

    on('x:a', {
      attrs: { v: /(a)/ },
      setting: ['a'],
      // @ts-expect-error a group that did not take part is undefined
      where: (c) => c.a.length > 0,
    });
  });

  it('types ctx.captures in a rule, and the values match the types', async () => {
    const seen: unknown[] = [];
    const rs = ruleset('test.typed')
      .rule('avg', {
        select: count(2, temp, { avg: 'mean', push: 'all' }),
        action(ctx) {
          expectTypeOf(ctx.captures.t).toEqualTypeOf<string | undefined>();
          expectTypeOf(ctx.captures.mean).toEqualTypeOf<number>();
          expectTypeOf(ctx.captures.all).toEqualTypeOf<Array<string | undefined>>();
          expectTypeOf(ctx.captures['named']).toEqualTypeOf<unknown>();
          seen.push(ctx.captures);
        },
      })
      .build();
    const { host, root } = await testHost({ store: await memoryStore(), rulesets: [rs] });
    await install(host, root.eci, 'test.typed');
    await host.event({ eci: root.eci, domain: 't', type: 'r', attrs: { temp: '20', unit: 'C' } });
    await host.event({ eci: root.eci, domain: 't', type: 'r', attrs: { temp: '23' } });
    expect(seen).toStrictEqual([{ t: '23', u: undefined, mean: 21.5, all: ['20', '23'] }]);
  });
});
