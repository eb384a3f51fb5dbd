import { describe, expect, it, vi } from 'vitest';
import { keys, put, ranges, subscribe, type CloudId } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { counter, gated, install, newChild, rejection } from './fixtures.ts';
import { tempDir, testHost } from './helpers.ts';

const count = (host: { query: (q: { eci: string; rid: string; name: string }) => Promise<unknown> }, eci: string) => host.query({ eci, rid: 'test.counter', name: 'count' });

describe('accepting an event (HTTP 202)', () => {
  it('answers once the event is in the durable inbox; the episode runs after and removes it', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    await install(host, root.eci, 'test.counter');
    const { eid } = await host.accept({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { by: 2 } });
    expect(eid).toMatch(/^[A-Za-z0-9_-]{16}$/);
    await vi.waitFor(async () => expect(await count(host, root.eci)).toBe(2));
    expect(await host.store.keys(ranges.inbox())).toEqual([]);
    expect((await host.episodeLog(root.eci, 1))[0]).toMatchObject({ eid, domain: 'counter', type: 'inc' });
  });

  it('runs accepted events of one sender in the order they were accepted', async () => {
    const order = ruleset('test.order')
      .rule('add', { select: 'o:add', action: (ctx) => ctx.ent.set('seq', [...((ctx.ent.get('seq') as number[] | undefined) ?? []), Number(ctx.attrs['n'])]) })
      .share('seq', (ctx) => ctx.ent.get('seq') ?? [])
      .build();
    const { host, root } = await testHost({ rulesets: [order] });
    await install(host, root.eci, 'test.order');
    for (let n = 0; n < 20; n++) await host.accept({ eci: root.eci, domain: 'o', type: 'add', attrs: { n } });
    await vi.waitFor(async () => expect(await host.query({ eci: root.eci, rid: 'test.order', name: 'seq' })).toEqual([...Array(20).keys()]));
  });

  it('refuses at once, with its code, what it cannot take, and writes nothing', async () => {
    const { slow, release } = gated();
    const { host, root } = await testHost({ rulesets: [slow], limits: { mailbox: 1 } });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.slow');
    const made = await host.event({ eci: kid.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { eventPolicy: { allow: [{ domain: 'slow', name: '*' }] } } });
    const narrow = (made.directives[0]!.options as { id: string }).id;
    const before = await host.store.keys({ gte: '', lt: '\uffff' });
    expect(await rejection(host.accept({ eci: 'E0000AAAAAAAAAAAAAAAAAAAAAA', domain: 'slow', type: 'wait' }))).toMatchObject({ code: 'UNKNOWN_ECI', status: 404 });
    const refusals: unknown[] = [];
    const unsubscribe = subscribe('refusal', (m) => m.host === host.id && refusals.push(m));
    expect(await rejection(host.accept({ eci: narrow, domain: 'x', type: 'y' }))).toMatchObject({ code: 'POLICY_DENIED', status: 403, message: expect.stringContaining('event x:y') });
    unsubscribe();
    expect(refusals).toEqual([{ kind: 'event', code: 'POLICY_DENIED', host: host.id }]);
    expect(await rejection(host.accept({ eci: narrow, domain: 'slow', type: 'bad type' }))).toMatchObject({ code: 'INVALID_EVENT', status: 400 });
    expect(await rejection(host.accept({ eci: narrow, domain: 'slow', type: 'w', attrs: { x: 'y'.repeat(300 * 1024) } }))).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });
    const running = host.event({ eci: kid.eci, domain: 'slow', type: 'wait' });
    await host.accept({ eci: narrow, domain: 'slow', type: 'wait' }); // takes the one free place
    expect(await rejection(host.accept({ eci: narrow, domain: 'slow', type: 'wait' }))).toMatchObject({ code: 'MAILBOX_FULL', status: 503 });
    expect(await host.store.keys(ranges.inbox())).toHaveLength(1);
    release();
    await running;
    await vi.waitFor(async () => expect(await host.store.keys(ranges.inbox())).toEqual([]));
    const after = (await host.store.keys({ gte: '', lt: '\uffff' })).filter((k) => !k.includes('!~log!'));
    expect(after).toEqual(before.filter((k) => !k.includes('!~log!')));
  });

  it('logs the failure of an accepted event whose episode fails, and consumes it', async () => {
    const broken = ruleset('test.broken')
      .rule('boom', {
        select: 'b:boom',
        action: () => {
          throw new Error('no');
        },
      })
      .build();
    const { host, root } = await testHost({ rulesets: [broken] });
    await install(host, root.eci, 'test.broken');
    const { eid } = await host.accept({ eci: root.eci, domain: 'b', type: 'boom' });
    await vi.waitFor(async () => expect((await host.episodeLog(root.eci, 1))[0]).toMatchObject({ eid, error: { code: 'RULE_FAILED', rid: 'test.broken', rule: 'boom' } }));
    expect(await host.store.keys(ranges.inbox())).toEqual([]);
  });

  it('consumes an accepted event whose ECI is gone by the time its turn comes, and logs why', async () => {
    const { slow, release } = gated();
    const { host, root } = await testHost({ rulesets: [slow, counter] });
    await install(host, root.eci, 'test.slow');
    await install(host, root.eci, 'test.counter');
    const made = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: {} });
    const doomed = (made.directives[0]!.options as { id: string }).id;
    const running = host.event({ eci: root.eci, domain: 'slow', type: 'wait' });
    await host.accept({ eci: root.eci, domain: 'wrangler', type: 'channel_deletion_request', attrs: { eci: doomed } });
    const { eid } = await host.accept({ eci: doomed, domain: 'counter', type: 'inc' });
    release();
    await running;
    await vi.waitFor(async () => expect(await host.store.keys(ranges.inbox())).toEqual([]));
    expect((await host.episodeLog(root.eci, 1))[0]).toMatchObject({ eid, error: { code: 'UNKNOWN_ECI' } });
    expect(await count(host, root.eci)).toBe(0);
  });

  it('applies after a restart what was accepted and not yet applied, exactly once', async () => {
    const dir = await tempDir();
    const first = await testHost({ dir, rulesets: [counter] });
    await install(first.host, first.root.eci, 'test.counter');
    const kid = await newChild(first.host, first.root.eci, 'kid');
    await first.host.event({ eci: first.root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'kid' } });
    const event = (eid: string) => ({ eid, domain: 'counter', type: 'inc', attrs: { by: 5 }, time: 1 });
    // What a host killed between its 202 and the episode leaves: inbox entries, one for a cloud since deleted.
    await first.host.store.write([put(keys.inbox(3), { cloudId: first.root.cloudId as CloudId, eci: first.root.eci, event: event('a') }), put(keys.inbox(4), { cloudId: kid.id as CloudId, eci: kid.eci, event: event('b') })]);
    await first.host.close();
    const { host } = await testHost({ dir, rulesets: [counter] });
    await vi.waitFor(async () => expect(await host.store.keys(ranges.inbox())).toEqual([]));
    expect(await count(host, first.root.eci)).toBe(5);
    await host.close();
    const third = await testHost({ dir, rulesets: [counter] });
    expect(await count(third.host, first.root.eci)).toBe(5);
  });
});
