import { describe, expect, it } from 'vitest';
import type { ReadContext } from '../kernel/index.ts';
import { before, compile, count, on, ruleset, where } from '../rulesets/index.ts';
import { eventOf, runTable, type Row } from './event-expr-helpers.ts';
import { install, rejection } from './fixtures.ts';
import { memoryStore, testHost } from './helpers.ts';

const F = false as const;

describe('where: truthiness as in KRL', () => {
  const values: Array<[unknown, boolean]> = [
    [true, true],
    [false, false],
    [null, false],
    [undefined, false],
    [0, false],
    [Number.NaN, false],
    ['', false],
    [1, true],
    ['false', true],
    ['0', true],
    [[], true],
    [{}, true],
  ];

  it('an attached where selects on any truthy value', () => {
    runTable(
      on('w:v', { where: (_c, e) => e.attrs['r'] }),
      values.map(([r, yes]): Row => ({ ev: 'w:v', attrs: { r }, fires: yes ? {} : F })),
    );
  });

  it('a bare where (KRL `select where`) selects on exactly true, on every event', () => {
    const sel = compile(where((e) => e.attrs['r']));
    expect(sel.events).toEqual([{ domain: '*', type: '*' }]);
    values.forEach(([r], i) => {
      const fired = sel.match(undefined, eventOf({ ev: i % 2 ? 'any:thing' : 'other:one', attrs: { r } }, i)).fired;
      expect({ r, fired }).toEqual({ r, fired: r === true });
    });
  });
});

describe('where: reading the cloud', () => {
  /** A stand-in for the kernel's view, counting how often it is built. */
  function fakeRead(ent: Record<string, unknown>): { read: () => ReadContext; built: () => number } {
    let built = 0;
    const ctx = { rid: 'r', config: { limit: 2 }, ent: { get: (n: string) => ent[n], has: (n: string) => n in ent, names: () => Object.keys(ent) } } as unknown as ReadContext;
    return {
      read: () => {
        built++;
        return ctx;
      },
      built: () => built,
    };
  }

  it('builds the view only for a where that reads it', () => {
    const { read, built } = fakeRead({ owner: 'amy' });
    const plain = compile(count(2, on('d:o', { attrs: { who: /(\w+)/ }, setting: ['who'], where: (c) => c['who'] !== 'bob' })));
    const reads = compile(on('d:o', { attrs: { who: /(\w+)/ }, setting: ['who'], where: (c, _e, ctx) => c['who'] === ctx.ent.get('owner') }));
    const ev = (who: string, i: number) => eventOf({ ev: 'd:o', attrs: { who } }, i);
    plain.match(undefined, ev('amy', 0), read);
    expect(built()).toBe(0);
    expect(reads.match(undefined, ev('amy', 1), read).fired).toBe(true);
    expect(reads.match(undefined, ev('bob', 2), read).fired).toBe(false);
    expect(built()).toBe(2);
  });

  it('reads config and calls the functions it was compiled with', () => {
    const { read } = fakeRead({ seen: ['a', 'b'] });
    const sel = compile(before('x:start', on('x:item', { where: (_c, e, ctx) => ctx.fn('isNew', { id: e.attrs['id'] }) === true && Number(e.attrs['n']) <= (ctx.config['limit'] as number) })), {
      isNew: (ctx, args) => !(ctx.ent.get('seen') as string[]).includes(args['id'] as string),
    });
    const evs = [
      { ev: 'x:start' },
      { ev: 'x:item', attrs: { id: 'c', n: 3 } }, // over the limit in config: fails, starts over
      { ev: 'x:item', attrs: { id: 'c', n: 1 } },
      { ev: 'x:start' },
      { ev: 'x:item', attrs: { id: 'a', n: 1 } }, // seen already
      { ev: 'x:start' },
      { ev: 'x:item', attrs: { id: 'c', n: 2 } },
    ];
    let state: unknown;
    const fired = evs.map((row, i) => {
      const r = sel.match(state, eventOf(row, i), read);
      state = r.state;
      return r.fired;
    });
    expect(fired).toEqual([false, false, false, false, false, false, true]);
    expect(() => sel.match(undefined, eventOf({ ev: 'x:start' }, 0), read)).not.toThrow();
    expect(() => compile(on('x:item', { where: (_c, _e, ctx) => ctx.fn('nope') })).match(undefined, eventOf({ ev: 'x:item' }, 0), read)).toThrow(/no function named "nope"/);
  });

  it('says so when no host gave it a view', () => {
    const sel = compile(on('x:y', { where: (_c, _e, ctx) => ctx.ent.get('a') }));
    expect(() => sel.match(undefined, eventOf({ ev: 'x:y' }, 0))).toThrow(/only a host provides/);
  });
});

describe('where in a host', () => {
  const watcher = ruleset<{ watcher: string }>('test.where')
    .rule('watch', {
      select: 'w:watch',
      action: (ctx) => ctx.ent.set('watcher', String(ctx.event.attrs['domain'])),
    })
    .rule('watched', {
      // KRL: select where event:domain == ent:watcher
      select: where((e, ctx) => e.domain === ctx.ent.get('watcher')),
      action: (ctx) => ctx.directive('watched', { domain: ctx.event.domain }),
    })
    .rule('allowed', {
      select: on('door:open', { attrs: { who: /^(\w+)$/ }, setting: ['who'], where: (c, _e, ctx) => ctx.fn('allowed', { who: c['who'] }) }),
      action: (ctx) => ctx.directive('allowed', { who: ctx.captures['who'] }),
    })
    .rule('no_writes', {
      select: on('w:probe', { where: (_c, _e, ctx) => typeof (ctx.ent as { set?: unknown }).set === 'undefined' && typeof (ctx as { raise?: unknown }).raise === 'undefined' }),
      action: (ctx) => ctx.directive('read-only'),
    })
    .fn('allowed', (ctx, args) => (ctx.config['people'] as string[] | undefined)?.includes(args['who'] as string) ?? false)
    .build();

  it('reads entity state with the episode’s staged writes, config and functions, and cannot write', async () => {
    const { host, root } = await testHost({ store: await memoryStore(), rulesets: [watcher] });
    await install(host, root.eci, 'test.where', { people: ['amy'] });
    const send = async (domain: string, type: string, attrs: Record<string, unknown> = {}) => (await host.event({ eci: root.eci, domain, type, attrs })).directives.map((d) => [d.name, d.options]);

    expect(await send('door', 'open', { who: 'amy' })).toEqual([['allowed', { who: 'amy' }]]);
    expect(await send('door', 'open', { who: 'bob' })).toEqual([]);
    // `watch` runs before `watched` in the same episode: the where sees its staged write.
    expect(await send('w', 'watch', { domain: 'w' })).toEqual([['watched', { domain: 'w' }]]);
    expect(await send('door', 'open', { who: 'amy' })).toEqual([['allowed', { who: 'amy' }]]);
    expect(await send('w', 'watch', { domain: 'door' })).toEqual([]);
    expect(await send('door', 'open', { who: 'amy' })).toEqual([
      ['watched', { domain: 'door' }],
      ['allowed', { who: 'amy' }],
    ]);
    expect(await send('w', 'probe')).toEqual([['read-only', {}]]);
  });

  it('fails the episode, naming the rule, when a where throws', async () => {
    const bad = ruleset('test.where-bad')
      .rule('oops', { select: on('x:y', { where: (_c, _e, ctx) => ctx.fn('missing') }), action: () => undefined })
      .build();
    const { host, root } = await testHost({ store: await memoryStore(), rulesets: [bad] });
    await install(host, root.eci, 'test.where-bad');
    expect(await rejection(host.event({ eci: root.eci, domain: 'x', type: 'y', attrs: {} }))).toMatchObject({ details: { rid: 'test.where-bad', rule: 'oops' } });
  });
});
