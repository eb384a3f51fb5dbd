import { describe, expect, it } from 'vitest';
import { ruleset } from '../rulesets/index.ts';
import { install, rejection } from './fixtures.ts';
import { allKeys, tempDir, testHost } from './helpers.ts';

const fragile = ruleset<{ a: number; b: number }>('test.fragile')
  .rule('first', {
    select: 'test:go',
    async action(ctx) {
      ctx.ent.set('a', (ctx.ent.get('a') ?? 0) + 1);
      ctx.directive('first-ran');
      await ctx.newChild(`child-${ctx.event.eid}`);
      ctx.newEci({ tags: ['made-by-failed-episode'] });
      ctx.scheduleAt(ctx.now() + 1000, 'test', 'later');
    },
  })
  .rule('second', {
    select: 'test:go',
    action(ctx) {
      ctx.ent.set('b', 1);
      if (ctx.attrs['fail']) throw new Error('second rule broke');
    },
  })
  .share('state', (ctx) => ({ a: ctx.ent.get('a') ?? null, b: ctx.ent.get('b') ?? null }))
  .build();

describe('atomic episodes', () => {
  it('writes nothing of an episode whose second rule throws, names the rule, and serves the next event', async () => {
    const { host, root } = await testHost({ rulesets: [fragile] });
    await install(host, root.eci, 'test.fragile');
    const q = (name: string, rid = 'io.picolabs.wrangler') => host.query({ eci: root.eci, rid, name });
    const channelsBefore = await q('channels');
    const storedBefore = (await allKeys(host.store)).filter((k) => !k.includes('!~log!'));

    const err = await rejection(host.event({ eci: root.eci, eid: 'e1', domain: 'test', type: 'go', attrs: { fail: true } }));
    expect(err.code).toBe('RULE_FAILED');
    expect(err.status).toBe(500);
    expect(err.details).toMatchObject({ rid: 'test.fragile', rule: 'second' });
    expect(err.message).toContain('second rule broke');

    // Nothing reached the store (only the episode log records the failure), nor memory.
    expect((await allKeys(host.store)).filter((k) => !k.includes('!~log!'))).toEqual(storedBefore);
    expect(await q('state', 'test.fragile')).toEqual({ a: null, b: null });
    expect(await q('children')).toEqual([]);
    expect(await q('channels')).toEqual(channelsBefore);
    expect(await q('schedules')).toEqual([]);

    const ok = await host.event({ eci: root.eci, eid: 'e2', domain: 'test', type: 'go' });
    expect(ok.directives.map((d) => d.name)).toEqual(['first-ran']);
    expect(await q('state', 'test.fragile')).toEqual({ a: 1, b: 1 });
    expect(await q('children')).toHaveLength(1);

    const log = await host.episodeLog(root.eci, 2);
    expect(log[0]).toMatchObject({ eid: 'e2', fired: ['test.fragile/first', 'test.fragile/second'] });
    expect(log[1]).toMatchObject({ eid: 'e1', error: { code: 'RULE_FAILED', rid: 'test.fragile', rule: 'second' } });
  });

  it('refuses to let a rule mutate state it read without staging a write', async () => {
    const sneaky = ruleset<{ list: number[] }>('test.sneaky')
      .rule('init', { select: 'test:init', action: (ctx) => ctx.ent.set('list', [1]) })
      .rule('mutate', { select: 'test:mutate', action: (ctx) => void ctx.ent.get('list')!.push(2) })
      .share('list', (ctx) => ctx.ent.get('list'))
      .build();
    const { host, root } = await testHost({ rulesets: [sneaky] });
    await install(host, root.eci, 'test.sneaky');
    await host.event({ eci: root.eci, domain: 'test', type: 'init' });
    expect((await rejection(host.event({ eci: root.eci, domain: 'test', type: 'mutate' }))).code).toBe('RULE_FAILED');
    expect(await host.query({ eci: root.eci, rid: 'test.sneaky', name: 'list' })).toEqual([1]);
  });
});

describe('state stays the same in memory and in the store', () => {
  it('uninstall and reinstall in one episode: the reinstalled ruleset starts fresh and keeps what it writes', async () => {
    const foo = ruleset('test.foo')
      .rule('set', { select: 'foo:set', action: (ctx) => ctx.ent.set('x', ctx.attrs['v']) })
      .rule('read', { select: 'foo:read', action: (ctx) => ctx.directive('read', { x: ctx.ent.get('x') ?? null, names: ctx.ent.names() }) })
      .share('x', (ctx) => ctx.ent.get('x') ?? null)
      .build();
    const mgr = ruleset('test.mgr')
      .rule('reset', {
        select: 'mgr:reset',
        action(ctx) {
          ctx.uninstall('test.foo');
          ctx.install('test.foo');
          ctx.raise('foo', 'read');
          ctx.raise('foo', 'set', { v: 2 });
        },
      })
      .build();
    const dir = await tempDir();
    const { host, root } = await testHost({ dir, rulesets: [foo, mgr] });
    await install(host, root.eci, 'test.foo');
    await install(host, root.eci, 'test.mgr');
    await host.event({ eci: root.eci, domain: 'foo', type: 'set', attrs: { v: 1 } });
    const r = await host.event({ eci: root.eci, domain: 'mgr', type: 'reset' });
    expect(r.directives.find((d) => d.name === 'read')!.options).toEqual({ x: null, names: [] });
    expect(await host.query({ eci: root.eci, rid: 'test.foo', name: 'x' })).toBe(2);
    await host.close();
    const again = await testHost({ dir, rulesets: [foo, mgr] });
    expect(await again.host.query({ eci: root.eci, rid: 'test.foo', name: 'x' })).toBe(2);
  });

  it('a binary entity value is stored, answered and reloaded', async () => {
    const blob = ruleset('test.blob')
      .rule('set', { select: 'blob:set', action: (ctx) => ctx.ent.set('b', Buffer.from([1, 2, 3])) })
      .share('size', (ctx) => (ctx.ent.get('b') as Uint8Array | undefined)?.length ?? null)
      .build();
    const dir = await tempDir();
    const { host, root } = await testHost({ dir, rulesets: [blob] });
    await install(host, root.eci, 'test.blob');
    await host.event({ eci: root.eci, domain: 'blob', type: 'set' });
    await host.close();
    const again = await testHost({ dir, rulesets: [blob] });
    expect(await again.host.query({ eci: root.eci, rid: 'test.blob', name: 'size' })).toBe(3);
  });

  it('a value that cannot be stored fails its own episode only, not others in the same group commit', async () => {
    const rs = ruleset('test.store')
      .rule('bad', { select: 't:bad', action: (ctx) => ctx.ent.set('b', 2n ** 70n) })
      .rule('good', { select: 't:good', action: (ctx) => ctx.ent.set('g', 1) })
      .share('g', (ctx) => ctx.ent.get('g') ?? null)
      .build();
    const { host, root } = await testHost({ rulesets: [rs] });
    const a = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'a', rids: ['test.store'] } });
    const b = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'b', rids: ['test.store'] } });
    const [ea, eb] = [a, b].map((r) => (r.directives[0]!.options as { eci: string }).eci) as [string, string];
    const [bad, good] = await Promise.allSettled([host.event({ eci: ea, domain: 't', type: 'bad' }), host.event({ eci: eb, domain: 't', type: 'good' })]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'UNSTORABLE_VALUE' } });
    expect(good.status).toBe('fulfilled');
    expect(await host.query({ eci: eb, rid: 'test.store', name: 'g' })).toBe(1);
  });
});
