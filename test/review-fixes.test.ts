import { describe, expect, it, vi } from 'vitest';
import { keys, rangeOf, type Store } from '../kernel/index.ts';
import { and, ruleset } from '../rulesets/index.ts';
import { install, newChild, rejection } from './fixtures.ts';
import { memoryStore, tempDir, testHost } from './helpers.ts';

// Regression tests for races and limits a review found; each failed before its fix.

const recorder = ruleset('test.rec')
  .rule('hit', { select: 'x:y', action: (ctx) => ctx.ent.set('hit', true) })
  .build();

const gatedRecorder = (gate: Promise<void>) =>
  ruleset('test.gated')
    .rule('hit', {
      select: 'x:y',
      async action(ctx) {
        await gate;
        ctx.ent.set('n', 1);
      },
    })
    .build();

const leftUnder = async (store: Store, cloudId: string) => store.keys(rangeOf(keys.cloud(cloudId)));

describe('deleting a cloud that is busy', () => {
  it('waits for a load in flight: a late event cannot resurrect the deleted child', async () => {
    const inner = await memoryStore();
    let gateFor: string | null = null;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store: Store = {
      get: (k) => inner.get(k),
      keys: (r) => inner.keys(r),
      write: (o) => inner.write(o),
      close: () => inner.close(),
      async entries(r) {
        const rows = await inner.entries(r);
        if (gateFor !== null && r.gte === gateFor) {
          gateFor = null;
          await gate;
        }
        return rows;
      },
    };
    const { host, root, clock } = await testHost({ store, rulesets: [recorder] });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.rec');
    clock.advance(60 * 60_000);
    expect(host.evictIdle()).toBeGreaterThan(0);
    gateFor = keys.cloud(kid.id); // the child's next activation stalls after reading its records
    const late = host.event({ eci: kid.eci, domain: 'x', type: 'y' }).then(
      () => 'ok',
      (e: { code: string }) => e.code,
    );
    await vi.waitFor(() => expect(gateFor).toBeNull());
    const deletion = host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'kid' } });
    // Let the deletion run as far as it will while the load is stalled (a correct host waits for it).
    await Promise.race([deletion, new Promise((r) => setTimeout(r, 100))]);
    release();
    await deletion;
    expect(['ok', 'UNKNOWN_ECI', 'UNKNOWN_CLOUD']).toContain(await late);
    expect(await leftUnder(inner, kid.id)).toEqual([]);
    expect(await rejection(host.event({ eci: kid.eci, domain: 'x', type: 'y' }))).toMatchObject({ code: 'UNKNOWN_ECI' });
  });

  it('waits for every message queued in a full mailbox before deleting', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { host, root } = await testHost({ rulesets: [gatedRecorder(gate)], limits: { mailbox: 2 } });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.gated');
    const queued = [1, 2, 3].map(() => host.event({ eci: kid.eci, domain: 'x', type: 'y' }).then(() => 'ok', (e: { code: string }) => e.code));
    const deletion = host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'kid' } });
    release();
    await deletion;
    expect(await Promise.all(queued)).toEqual(['ok', 'ok', 'ok']);
    expect(await leftUnder(host.store, kid.id)).toEqual([]);
  });
});

describe('uninstall', () => {
  it('stops the ruleset at once: its wildcard rules write nothing more, and nothing comes back after an eviction', async () => {
    const everything = ruleset('test.everything')
      .rule('count', { select: '*:*', action: (ctx) => ctx.ent.set('n', ((ctx.ent.get('n') as number | undefined) ?? 0) + 1) })
      .rule('pair', { select: and('x:a', 'x:b'), action: (ctx) => ctx.directive('pair') })
      .share('n', (ctx) => ctx.ent.get('n') ?? null)
      .build();
    const { host, root, clock } = await testHost({ rulesets: [everything] });
    await install(host, root.eci, 'test.everything');
    await host.event({ eci: root.eci, domain: 'x', type: 'a' }); // a partial and()
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: 'test.everything' } });
    expect((await leftUnder(host.store, root.cloudId)).filter((k) => k.includes('test.everything'))).toEqual([]);
    clock.advance(60 * 60_000);
    host.evictIdle();
    await install(host, root.eci, 'test.everything');
    expect(await host.query({ eci: root.eci, rid: 'test.everything', name: 'n' })).toBe(1); // only the install event itself
    expect((await host.event({ eci: root.eci, domain: 'x', type: 'b' })).directives).toEqual([]); // the old half of and() is gone
  });
});

describe('per-cloud limits count what the episode has staged', () => {
  const spam = ruleset('test.spam')
    .rule('ecis', { select: 'spam:ecis', action: (ctx) => void Array.from({ length: 20 }, () => ctx.newEci({})) })
    .rule('schedules', { select: 'spam:schedules', action: (ctx) => void Array.from({ length: 20 }, () => ctx.scheduleAt(ctx.now() + 1e9, 'a', 'b')) })
    .build();

  it('refuses an episode that would pass the ECI or schedule limit, writing nothing', async () => {
    const { host, root } = await testHost({ rulesets: [spam], limits: { ecisPerCloud: 5, schedulesPerCloud: 5 } });
    await install(host, root.eci, 'test.spam');
    const before = await leftUnder(host.store, root.cloudId);
    for (const type of ['ecis', 'schedules']) {
      expect(await rejection(host.event({ eci: root.eci, domain: 'spam', type }))).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { rid: 'test.spam' } });
    }
    const after = (await leftUnder(host.store, root.cloudId)).filter((k) => !k.includes('!~log!'));
    expect(after).toEqual(before.filter((k) => !k.includes('!~log!')));
  });
});

describe('capabilities', () => {
  it('no one can mint a system ECI, whatever the case of the tag', async () => {
    const { host, root } = await testHost();
    for (const tag of ['system', 'SYSTEM', 'System']) {
      expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: [tag] } }))).toMatchObject({ code: 'INVALID_ARGS' });
    }
  });

  it('keeps the ECI cache bounded when ECIs come and go on an active cloud', async () => {
    const { host, root } = await testHost();
    for (let i = 0; i < 40; i++) {
      const made = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: {} });
      const eci = (made.directives[0]!.options as { id: string }).id;
      await host.query({ eci, rid: 'io.picolabs.wrangler', name: 'name' });
      await host.event({ eci: root.eci, domain: 'wrangler', type: 'channel_deletion_request', attrs: { eci } });
    }
    const cache = (host as unknown as { clouds: { eciCache: Map<string, string> } }).clouds.eciCache;
    expect(cache.size).toBeLessThanOrEqual(3);
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

  it('cancelling a cron schedule in the episode it fires leaves no due key behind', async () => {
    const cron = ruleset('test.cron')
      .rule('start', { select: 'c:start', action: (ctx) => void ctx.scheduleRepeat('* * * * *', 'c', 'tick') })
      .rule('tick', { select: 'c:tick', action: (ctx) => ctx.schedules().forEach((s) => ctx.cancelSchedule(s.id)) })
      .build();
    const { host, root, clock } = await testHost({ rulesets: [cron] });
    await install(host, root.eci, 'test.cron');
    await host.event({ eci: root.eci, domain: 'c', type: 'start' });
    clock.advance(60_000);
    expect(await host.runDue()).toBe(1);
    expect(await host.store.keys({ gte: 'd!', lt: 'd"' })).toEqual([]);
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'schedules' })).toEqual([]);
  });
});

