import { describe, expect, it, vi } from 'vitest';
import { subscribe } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { counter, install, newChild } from './fixtures.ts';
import { onCleanup, testHost } from './helpers.ts';

describe('virtual-actor activation', () => {
  it('evicts beyond the active-cloud limit and reactivates with state intact', async () => {
    const { host, root } = await testHost({ rulesets: [counter], limits: { activeClouds: 3 } });
    const evicted: string[] = [];
    const stop = subscribe('evict', (m) => evicted.push(m.reason));
    const kids = [];
    for (let i = 0; i < 6; i++) {
      const kid = await newChild(host, root.eci, `k${i}`);
      await install(host, kid.eci, 'test.counter');
      await host.event({ eci: kid.eci, domain: 'counter', type: 'inc', attrs: { by: i + 1 } });
      kids.push(kid);
    }
    expect(host.stats().activeClouds).toBeLessThanOrEqual(3);
    expect(evicted.filter((r) => r === 'pressure').length).toBeGreaterThan(0);
    for (let i = 0; i < 6; i++) {
      expect(await host.query({ eci: kids[i]!.eci, rid: 'test.counter', name: 'count' })).toBe(i + 1);
      expect(host.stats().activeClouds).toBeLessThanOrEqual(3);
    }
    stop();
  });

  it('evicts the least recently used idle cloud first', async () => {
    const { host, root, clock } = await testHost({ rulesets: [counter], limits: { activeClouds: 2, idleMs: 60_000 } });
    const [a, b, c] = [await newChild(host, root.eci, 'a'), await newChild(host, root.eci, 'b'), await newChild(host, root.eci, 'c')];
    for (const kid of [a, b, c]) await install(host, kid.eci, 'test.counter');
    clock.advance(60_001);
    host.evictIdle();
    const touch = (kid: { eci: string }) => host.query({ eci: kid.eci, rid: 'test.counter', name: 'count' });
    await touch(a);
    await touch(b);
    await touch(a); // a is now the most recently used: b goes when c comes
    await touch(c);
    expect([a, b, c].map((kid) => host.isActive(kid.id))).toEqual([true, false, true]);
  });

  it('evicts idle clouds by the injected clock, and they come back on the next event', async () => {
    const { host, root, clock } = await testHost({ rulesets: [counter], limits: { idleMs: 60_000 } });
    await install(host, root.eci, 'test.counter');
    await host.event({ eci: root.eci, domain: 'counter', type: 'inc' });
    expect(host.stats().activeClouds).toBe(1);
    clock.advance(30_000);
    expect(host.evictIdle()).toBe(0);
    clock.advance(30_001);
    expect(host.evictIdle()).toBe(1);
    expect(host.stats().activeClouds).toBe(0);
    const r = await host.event({ eci: root.eci, domain: 'counter', type: 'inc' });
    expect(r.directives[0]!.options).toEqual({ count: 2 });
  });

  it('keeps the ECI cache bounded when ECIs come and go on an active cloud: at most as many as the cloud has', async () => {
    const { host, root } = await testHost();
    const sizes = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const made = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: {} });
      const eci = (made.directives[0]!.options as { id: string }).id;
      await host.query({ eci, rid: 'io.picolabs.wrangler', name: 'name' });
      sizes.add(host.stats().cachedEcis);
      await host.event({ eci: root.eci, domain: 'wrangler', type: 'channel_deletion_request', attrs: { eci } });
    }
    // The root has two ECIs of its own and the new one: ECIs deleted are pruned once the cache
    // holds as many as that, not before (a cache pruned at every turn would cost a scan per ECI).
    const ecis = (await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'channels' })) as unknown[];
    expect([ecis.length + 1, Math.max(...sizes)]).toEqual([3, 3]);
  });
});

describe('a busy cloud', () => {
  const gated = (gate: Promise<void>) =>
    ruleset('test.wait')
      .rule('wait', {
        select: 'w:wait',
        async action() {
          await gate;
        },
      })
      .build();

  it('is never evicted, neither for idleness nor under pressure, while a message runs', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { host, root, clock } = await testHost({ rulesets: [gated(gate), counter], limits: { activeClouds: 1, idleMs: 60_000 } });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.counter');
    await install(host, root.eci, 'test.wait');
    onCleanup(() => release());
    const waiting = host.event({ eci: root.eci, domain: 'w', type: 'wait' });
    await vi.waitFor(() => expect(host.stats().mailboxDepth).toBe(1));
    clock.advance(60_001);
    expect(host.evictIdle()).toBe(0);
    expect(host.isActive(root.cloudId)).toBe(true);
    await host.event({ eci: kid.eci, domain: 'counter', type: 'inc' }); // one cloud too many, but the other is busy
    expect([host.isActive(root.cloudId), host.isActive(kid.id)]).toEqual([true, true]);
    release();
    await waiting;
    clock.advance(60_001);
    expect(host.evictIdle()).toBe(2);
  });
});
