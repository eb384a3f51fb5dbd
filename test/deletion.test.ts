import { describe, expect, it, vi } from 'vitest';
import { ranges, type Store } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { install, newChild, rejection } from './fixtures.ts';
import { memoryStore, testHost, wrapStore } from './helpers.ts';

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

const leftUnder = async (store: Store, cloudId: string) => store.keys(ranges.cloud(cloudId));

describe('deleting a cloud that is busy', () => {
  it('waits for a load in flight: a late event cannot resurrect the deleted child', async () => {
    const inner = await memoryStore();
    let gateFor: string | null = null;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store = wrapStore(inner, {
      async entries(r) {
        const rows = await inner.entries(r);
        if (gateFor !== null && r.gte === gateFor) {
          gateFor = null;
          await gate;
        }
        return rows;
      },
    });
    const { host, root, clock } = await testHost({ store, rulesets: [recorder] });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.rec');
    clock.advance(60 * 60_000);
    expect(host.evictIdle()).toBeGreaterThan(0);
    gateFor = ranges.active(kid.id).gte; // the child's next activation stalls after reading its records
    const late = host.event({ eci: kid.eci, domain: 'x', type: 'y' }).then(
      () => 'ok',
      (e: { code: string }) => e.code,
    );
    await vi.waitFor(() => expect(gateFor).toBeNull());
    const deletion = host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'kid' } });
    // Let the deletion run as far as it will while the load is stalled (a correct host waits for it).
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
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
    const queued = [1, 2, 3].map(() =>
      host.event({ eci: kid.eci, domain: 'x', type: 'y' }).then(
        () => 'ok',
        (e: { code: string }) => e.code,
      ),
    );
    const deletion = host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'kid' } });
    release();
    await deletion;
    expect(await Promise.all(queued)).toEqual(['ok', 'ok', 'ok']);
    expect(await leftUnder(host.store, kid.id)).toEqual([]);
  });
});

describe('a deletion that cannot be written', () => {
  it('leaves the cloud as it was: it takes events again, and a later deletion goes through', async () => {
    const inner = await memoryStore();
    let failFor: string | null = null;
    const store = wrapStore(inner, {
      write: (ops) => (failFor !== null && ops.some((op) => op.type === 'del' && op.key.startsWith(failFor!)) ? Promise.reject(new Error('disk full')) : inner.write(ops)),
    });
    const { host, root } = await testHost({ store, rulesets: [recorder] });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.rec');
    await host.event({ eci: kid.eci, domain: 'x', type: 'y' }); // the child is active
    failFor = ranges.cloud(kid.id).gte;
    expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'kid' } }))).toMatchObject({ code: 'STORE_FAILED' });
    expect(host.isActive(kid.id)).toBe(true);
    await host.event({ eci: kid.eci, domain: 'x', type: 'y' });
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'children' })).toMatchObject([{ name: 'kid' }]);
    failFor = null;
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'kid' } });
    expect(await leftUnder(inner, kid.id)).toEqual([]);
    expect(host.isActive(kid.id)).toBe(false);
  });
});
