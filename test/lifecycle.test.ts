import { describe, expect, it } from 'vitest';
import { ruleset } from '../rulesets/index.ts';
import { counter, install, newChild, rejection } from './fixtures.ts';
import { allKeys, testHost } from './helpers.ts';
import type { Store } from '../kernel/index.ts';

const slow = ruleset('test.slow')
  .rule('wait', {
    select: 'slow:wait',
    async action() {
      await new Promise((r) => setTimeout(r, 20));
    },
  })
  .build();

describe('cloud lifecycle', () => {
  it('refuses with MAILBOX_FULL when a cloud has too many messages waiting, and keeps serving', async () => {
    const { host, root } = await testHost({ rulesets: [slow], limits: { mailbox: 3 } });
    await install(host, root.eci, 'test.slow');
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => host.event({ eci: root.eci, domain: 'slow', type: 'wait' })));
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(refused.length).toBeGreaterThan(0);
    for (const err of refused) expect(err).toMatchObject({ code: 'MAILBOX_FULL', status: 503 });
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(3);
    await expect(host.event({ eci: root.eci, domain: 'slow', type: 'wait' })).resolves.toBeDefined();
  });

  it('deletes a child and every descendant, leaving no key of the subtree', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    const store: Store = host.store;
    const keep = await newChild(host, root.eci, 'keep');
    const doomed = await newChild(host, root.eci, 'doomed');
    const grand = await newChild(host, doomed.eci, 'grand');
    const great = await newChild(host, grand.eci, 'great');
    await install(host, great.eci, 'test.counter');
    await host.event({ eci: great.eci, domain: 'counter', type: 'inc' });
    const extra = await host.event({ eci: grand.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['x'] } });
    const extraEci = (extra.directives[0]!.options as { id: string }).id;
    const subtree = [doomed.id, grand.id, great.id];
    const subtreeEcis = [doomed.eci, grand.eci, great.eci, extraEci];
    const before = await allKeys(store);
    for (const id of subtree) expect(before.some((k) => k.includes(id))).toBe(true);

    const r = await host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'doomed' } });
    expect(r.directives[0]).toMatchObject({ name: 'wrangler:child_deleted', options: { name: 'doomed', eci: doomed.eci } });

    const after = await allKeys(store);
    for (const id of [...subtree, ...subtreeEcis]) expect(after.filter((k) => k.includes(id))).toEqual([]);
    expect(after.some((k) => k.includes(keep.id))).toBe(true);
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'children' })).toEqual([{ name: 'keep', eci: keep.eci, id: keep.id }]);
    for (const eci of subtreeEcis) expect((await rejection(host.event({ eci, domain: 'counter', type: 'inc' }))).code).toBe('UNKNOWN_ECI');
  });

  it('uninstalling a ruleset removes its state; reinstalling starts fresh', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    await install(host, root.eci, 'test.counter');
    await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { by: 5 } });
    expect((await allKeys(host.store)).filter((k) => k.includes('!ent!test.counter!'))).toHaveLength(1);
    const r = await host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: 'test.counter' } });
    expect(r.directives[0]).toMatchObject({ name: 'wrangler:ruleset_uninstalled', options: { rid: 'test.counter' } });
    expect((await allKeys(host.store)).filter((k) => k.includes('test.counter'))).toEqual([]);
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'installedRids' })).toEqual(['io.picolabs.wrangler']);
    expect((await rejection(host.query({ eci: root.eci, rid: 'test.counter', name: 'count' }))).code).toBe('UNKNOWN_RULESET');
    await install(host, root.eci, 'test.counter');
    expect(await host.query({ eci: root.eci, rid: 'test.counter', name: 'count' })).toBe(0);
  });
});
