import { describe, expect, it, vi } from 'vitest';
import { keys, put, ranges, type CloudId, type Store } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { counter, install, newChild, rejection } from './fixtures.ts';
import { tempDir, testHost, wrapStore } from './helpers.ts';

const count = (host: { query: (q: { eci: string; rid: string; name: string }) => Promise<unknown> }, eci: string) => host.query({ eci, rid: 'test.counter', name: 'count' });
const inc = (eci: string, idempotencyKey?: string, by = 1) => ({ eci, domain: 'counter', type: 'inc', attrs: { by }, ...(idempotencyKey ? { idempotencyKey } : {}) });
/** The idempotency keys a cloud holds, and the places of its window. */
const held = async (store: Store, cloudId: string) => (await store.keys(ranges.cloud(cloudId))).filter((k) => k.includes('!~idem'));

describe('idempotent retries', () => {
  it('applies a keyed event once: a retry gets the first answer back, marked as a replay', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    await install(host, root.eci, 'test.counter');
    const first = await host.event({ ...inc(root.eci, 'reading-1'), eid: 'e1' });
    expect(first).toEqual({ eid: 'e1', directives: [{ name: 'count', options: { count: 1 }, meta: { rid: 'test.counter', rule: 'inc', eid: 'e1' } }] });
    // the retry may carry another eid (a client that makes one per attempt): the key decides
    const retry = await host.event({ ...inc(root.eci, 'reading-1'), eid: 'e2' });
    expect(retry).toEqual({ ...first, replay: true });
    expect(await count(host, root.eci)).toBe(1);
    expect((await host.episodeLog(root.eci)).filter((e) => e.domain === 'counter')).toHaveLength(1);
    // two sends of one key at once: the second waits in the mailbox and finds the first's record
    const [a, b] = await Promise.all([host.event(inc(root.eci, 'reading-2')), host.event(inc(root.eci, 'reading-2'))]);
    expect([a.replay, b.replay]).toEqual([undefined, true]);
    expect(b.eid).toBe(a.eid);
    expect(await count(host, root.eci)).toBe(2);
  });

  it('refuses a key reused for another event, through another ECI or with other attrs, and applies nothing', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    await install(host, root.eci, 'test.counter');
    const other = (await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: {} })).directives[0]!.options['id'] as string;
    const { eid } = await host.event(inc(root.eci, 'k', 2));
    for (const reuse of [inc(root.eci, 'k', 3), inc(other, 'k', 2), { ...inc(root.eci, 'k', 2), type: 'dec' }]) {
      expect(await rejection(host.event(reuse))).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422, details: { key: 'k', eid } });
    }
    expect(await count(host, root.eci)).toBe(2);
    // attrs are compared as values: their key order does not matter
    const two = await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { by: 1, note: { a: 1, b: 2 } }, idempotencyKey: 'order' });
    const again = await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { note: { b: 2, a: 1 }, by: 1 }, idempotencyKey: 'order' });
    expect(again).toEqual({ ...two, replay: true });
    expect(await rejection(host.event(inc(root.eci, 'has space')))).toMatchObject({ code: 'INVALID_EVENT' });
  });

  it('leaves events without a key as they were: a reused eid is applied again', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    await install(host, root.eci, 'test.counter');
    await host.event({ ...inc(root.eci), eid: 'none' });
    await host.event({ ...inc(root.eci), eid: 'none' });
    expect(await count(host, root.eci)).toBe(2);
    expect(await held(host.store, root.cloudId)).toEqual([]);
  });

  it('records nothing for a failed episode: its retry runs again', async () => {
    let fail = true;
    const flaky = ruleset('test.flaky')
      .rule('go', {
        select: 'f:go',
        action(ctx) {
          if (fail) throw new Error('not yet');
          ctx.ent.set('done', ((ctx.ent.get('done') as number | undefined) ?? 0) + 1);
          ctx.directive('done');
        },
      })
      .share('done', (ctx) => ctx.ent.get('done') ?? 0)
      .build();
    const { host, root } = await testHost({ rulesets: [flaky] });
    await install(host, root.eci, 'test.flaky');
    expect(await rejection(host.event({ eci: root.eci, domain: 'f', type: 'go', idempotencyKey: 'once' }))).toMatchObject({ code: 'RULE_FAILED' });
    fail = false;
    const ok = await host.event({ eci: root.eci, domain: 'f', type: 'go', idempotencyKey: 'once' });
    expect(ok.replay).toBeUndefined();
    expect((await host.event({ eci: root.eci, domain: 'f', type: 'go', idempotencyKey: 'once' })).replay).toBe(true);
    expect(await host.query({ eci: root.eci, rid: 'test.flaky', name: 'done' })).toBe(1);
  });

  it('keeps a window of the newest keys, dropping the oldest in the same batch, across restarts', async () => {
    const dir = await tempDir();
    const first = await testHost({ dir, rulesets: [counter], limits: { idempotencyKeys: 3 } });
    await install(first.host, first.root.eci, 'test.counter');
    for (const k of ['k1', 'k2', 'k3', 'k4']) await first.host.event(inc(first.root.eci, k));
    const window = (hostKeys: string[]) => hostKeys.map((k) => k.slice(k.indexOf('~')));
    expect(window(await held(first.host.store, first.root.cloudId))).toEqual(['~idem!k2', '~idem!k3', '~idem!k4', '~idemseq!000000000002', '~idemseq!000000000003', '~idemseq!000000000004']);
    await first.host.close();
    // a restarted host finds its window where it was
    const { host, root } = await testHost({ dir, rulesets: [counter], limits: { idempotencyKeys: 3 } });
    expect((await host.event(inc(root.eci, 'k4'))).replay).toBe(true);
    await host.event(inc(root.eci, 'k5'));
    expect(window(await held(host.store, root.cloudId))).toEqual(['~idem!k3', '~idem!k4', '~idem!k5', '~idemseq!000000000003', '~idemseq!000000000004', '~idemseq!000000000005']);
    // a key that left the window is a new event again
    expect((await host.event(inc(root.eci, 'k1'))).replay).toBeUndefined();
    expect(await count(host, root.eci)).toBe(6);
  });

  it('honours a key for limits.idempotencyMs only; an expired key is recorded anew in its place', async () => {
    const { host, root, clock } = await testHost({ rulesets: [counter], limits: { idempotencyMs: 60_000 } });
    await install(host, root.eci, 'test.counter');
    await host.event(inc(root.eci, 'k'));
    clock.advance(60_000);
    expect((await host.event(inc(root.eci, 'k'))).replay).toBe(true);
    clock.advance(1);
    expect((await host.event(inc(root.eci, 'k', 5))).replay).toBeUndefined(); // expired: even another event may use it
    expect(await count(host, root.eci)).toBe(6);
    expect((await held(host.store, root.cloudId)).map((k) => k.slice(k.indexOf('~')))).toEqual(['~idem!k', '~idemseq!000000000002']);
  });

  it('costs a cloud that never sees a key nothing: activation reads no idempotency record', async () => {
    const dir = await tempDir();
    const first = await testHost({ dir, rulesets: [counter] });
    await install(first.host, first.root.eci, 'test.counter');
    for (let i = 0; i < 5; i++) await first.host.event(inc(first.root.eci, `k${i}`));
    await first.host.close();
    const { openDataDir } = await import('../channels/data-dir.ts');
    const store = await openDataDir(dir);
    const read: string[] = [];
    const watched = wrapStore(store, {
      get: (k) => (read.push(k), store.get(k)),
      entries: async (r) => {
        const rows = await store.entries(r);
        read.push(...rows.map(([k]) => k));
        return rows;
      },
    });
    const { host, root } = await testHost({ store: watched, rulesets: [counter] });
    await host.event(inc(root.eci));
    expect(read.filter((k) => k.includes('!~idem'))).toEqual([]);
    expect(await count(host, root.eci)).toBe(6);
  });

  it('honours keys on the durable inbox (HTTP 202), also across a restart', async () => {
    const dir = await tempDir();
    const first = await testHost({ dir, rulesets: [counter] });
    await install(first.host, first.root.eci, 'test.counter');
    const accepted = await first.host.accept(inc(first.root.eci, 'a'));
    expect(accepted).toEqual({ eid: expect.any(String) });
    await vi.waitFor(async () => expect(await count(first.host, first.root.eci)).toBe(1));
    expect(await first.host.accept(inc(first.root.eci, 'a'))).toEqual({ eid: accepted.eid, replay: true });
    expect(await rejection(first.host.accept(inc(first.root.eci, 'a', 9)))).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    // a retry racing its first: both accepted, applied once
    await Promise.all([first.host.accept(inc(first.root.eci, 'b')), first.host.accept(inc(first.root.eci, 'b'))]);
    await vi.waitFor(async () => expect(await first.host.store.keys(ranges.inbox())).toEqual([]));
    expect(await count(first.host, first.root.eci)).toBe(2);
    // what a host killed after writing its inbox leaves: a retry of 'a' accepted before the kill
    const event = { eid: 'late', domain: 'counter', type: 'inc', attrs: { by: 1 }, time: first.clock.now() };
    await first.host.store.write([put(keys.inbox(99), { cloudId: first.root.cloudId as CloudId, eci: first.root.eci, event, idempotencyKey: 'a' })]);
    await first.host.close();
    const { host, root } = await testHost({ dir, rulesets: [counter] });
    await vi.waitFor(async () => expect(await host.store.keys(ranges.inbox())).toEqual([]));
    expect(await count(host, root.eci)).toBe(2);
  });

  it('goes with its cloud: deleting a cloud deletes its keys', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.counter');
    await host.event(inc(kid.eci, 'k'));
    expect(await held(host.store, kid.id)).toHaveLength(2);
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'kid' } });
    expect(await host.store.keys(ranges.cloud(kid.id))).toEqual([]);
  });
});
