import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { keys, put, ranges, subscribe, type Host } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { Metrics } from '../channels/http/metrics.ts';
import { install, newChild, rejection } from './fixtures.ts';
import { tempDir, testHost } from './helpers.ts';

const messenger = ruleset<{ got: string[] }>('test.messenger')
  .rule('tell', {
    select: 'msg:tell',
    attrs: z.object({ to: z.string(), fail: z.boolean().default(false) }),
    action(ctx) {
      ctx.send(ctx.attrs.to, 'msg', 'hear', { from: ctx.cloud.name });
      ctx.push(ctx.eci!, 'told', { to: ctx.attrs.to });
      if (ctx.attrs.fail) throw new Error('changed my mind');
    },
  })
  .rule('hear', {
    select: 'msg:hear',
    action: (ctx) => ctx.ent.set('got', [...(ctx.ent.get('got') ?? []), String(ctx.attrs['from'])]),
  })
  .share('got', (ctx) => ctx.ent.get('got') ?? [])
  .build();

describe('effects that leave a cloud', () => {
  it('sends events to other clouds and pushes to ECI listeners only after the commit', async () => {
    const { host, root } = await testHost({ rulesets: [messenger] });
    await install(host, root.eci, 'test.messenger');
    const kid = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'kid' } });
    const kidEci = (kid.directives[0]!.options as { eci: string }).eci;
    await install(host, kidEci, 'test.messenger');
    const pushed: unknown[] = [];
    const stop = host.listen(root.eci, (m) => pushed.push(m.data));
    const logged: string[] = [];
    const unwatch = host.watch(root.cloudId, (e) => logged.push(e.eid));

    await rejection(host.event({ eci: root.eci, eid: 'no', domain: 'msg', type: 'tell', attrs: { to: kidEci, fail: true } }));
    expect(await host.store.keys({ gte: 'o!', lt: 'o"' })).toEqual([]);
    expect(pushed).toEqual([]);
    await host.event({ eci: root.eci, eid: 'yes', domain: 'msg', type: 'tell', attrs: { to: kidEci } });
    expect(pushed).toEqual([{ to: kidEci }]);
    await vi.waitFor(async () => expect(await host.query({ eci: kidEci, rid: 'test.messenger', name: 'got' })).toEqual(['root']));
    await vi.waitFor(async () => expect(await host.store.keys({ gte: 'o!', lt: 'o"' })).toEqual([]));
    stop();
    unwatch();
    expect(logged).toEqual(['no', 'yes']);
    // stopped: neither hears the next episode
    await host.event({ eci: root.eci, eid: 'after', domain: 'msg', type: 'tell', attrs: { to: kidEci } });
    expect(pushed).toEqual([{ to: kidEci }]);
    expect(logged).toEqual(['no', 'yes']);
  });

  it('delivers to the receiving cloud, which applies each eid at most once', async () => {
    const dir = await tempDir();
    const { host, root } = await testHost({ dir, rulesets: [messenger] });
    await install(host, root.eci, 'test.messenger');
    const kid = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'kid' } });
    const kidEci = (kid.directives[0]!.options as { eci: string }).eci;
    await install(host, kidEci, 'test.messenger');
    await host.event({ eci: root.eci, domain: 'msg', type: 'tell', attrs: { to: kidEci } });
    await vi.waitFor(async () => expect(await host.query({ eci: kidEci, rid: 'test.messenger', name: 'got' })).toEqual(['root']));
    // A second delivery of the same eid (as from another host after a lost acknowledgement) is ignored.
    const [entry] = await host.episodeLog(kidEci, 1);
    const again1 = await host.receive({ eci: kidEci, event: { eid: entry!.eid, domain: 'msg', type: 'hear', attrs: { from: 'again' }, time: 0 } });
    expect(again1.duplicate).toBe(true);
    await host.close(); // waits for deliveries in flight
    const again = await testHost({ dir, rulesets: [messenger] });
    expect(await again.host.query({ eci: kidEci, rid: 'test.messenger', name: 'got' })).toEqual(['root']);
  });
});

/** Records the `n` of every `msg:hear` it hears; with `block` it waits for `gate` first. */
const listener = (gate: Promise<void> = Promise.resolve()) =>
  ruleset('test.listener')
    .rule('hear', {
      select: 'msg:hear',
      async action(ctx) {
        if (ctx.attrs['block']) await gate;
        ctx.ent.set('heard', [...((ctx.ent.get('heard') as string[] | undefined) ?? []), String(ctx.attrs['n'])]);
        ctx.ent.set('times', [...((ctx.ent.get('times') as number[] | undefined) ?? []), ctx.event.time]);
      },
    })
    .share('heard', (ctx) => ctx.ent.get('heard') ?? [])
    .share('times', (ctx) => ctx.ent.get('times') ?? [])
    .build();

/** `out:send {to, n}` sends `msg:hear {n}` to the ECI `to`. */
const sender = ruleset('test.sender')
  .rule('send', { select: 'out:send', action: (ctx) => ctx.send(String(ctx.attrs['to']), 'msg', 'hear', { n: ctx.attrs['n'] }) })
  .build();

const heard = (host: Host, eci: string) => host.query({ eci, rid: 'test.listener', name: 'heard' });
const NOWHERE = 'E0000AAAAAAAAAAAAAAAAAAAAAA';

describe('the outbox', () => {
  it('resumes the events a previous run left undelivered when a host opens', async () => {
    const dir = await tempDir();
    const first = await testHost({ dir, rulesets: [listener()] });
    await install(first.host, first.root.eci, 'test.listener');
    // What a run killed right after an episode committed leaves behind: an entry, never handed over.
    const event = { eid: 'left-over', domain: 'msg', type: 'hear', attrs: { n: 'r' }, time: 5 };
    await first.host.store.write([put(keys.outbox(7), { cloudId: first.root.cloudId as never, eci: first.root.eci, event, since: 5 })]);
    await first.host.close();
    const again = await testHost({ dir, rulesets: [listener()] });
    await vi.waitFor(async () => expect(await heard(again.host, again.root.eci)).toEqual(['r']));
    await vi.waitFor(async () => expect(await again.host.store.keys(ranges.outbox())).toEqual([]));
  });

  it('tries again after a transient failure, by the host clock, until the receiver takes it, in the order sent', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { host, root, clock } = await testHost({ rulesets: [listener(gate), sender], limits: { mailbox: 1 } });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.listener');
    await install(host, root.eci, 'test.sender');
    const retries: string[] = [];
    const stop = subscribe('retry', (m) => retries.push(m.code));
    const blocked = host.event({ eci: kid.eci, domain: 'msg', type: 'hear', attrs: { n: '1', block: true } });
    const queued = host.event({ eci: kid.eci, domain: 'msg', type: 'hear', attrs: { n: '2' } }); // the mailbox is now full
    for (const n of ['3', '4', '5']) await host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: kid.eci, n } });
    await vi.waitFor(() => expect(retries).toEqual(['MAILBOX_FULL']));
    release();
    await Promise.all([blocked, queued]);
    expect(await heard(host, kid.eci)).toEqual(['1', '2']);
    host.start(250);
    clock.advance(1000);
    await vi.waitFor(async () => expect(await heard(host, kid.eci)).toEqual(['1', '2', '3', '4', '5']));
    stop();
  });

  it('turns an event to an ECI that does not exist into a dead letter: kept, logged, counted', async () => {
    const { host, root } = await testHost({ rulesets: [sender] });
    const metrics = new Metrics(host);
    await install(host, root.eci, 'test.sender');
    await host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: NOWHERE, n: 'x' } });
    await vi.waitFor(async () => expect(await host.deadLetters(root.eci)).toHaveLength(1));
    const [letter] = await host.deadLetters(root.eci);
    expect(letter).toMatchObject({ eci: NOWHERE, attempts: 1, reason: { code: 'UNKNOWN_ECI' }, event: { domain: 'msg', type: 'hear', attrs: { n: 'x' } } });
    const [entry] = await host.episodeLog(root.eci, 1);
    expect(entry).toMatchObject({ eid: letter!.event.eid, error: { code: 'UNKNOWN_ECI' }, deadLetter: { eci: NOWHERE, seq: letter!.seq } });
    expect(await metrics.render()).toContain('kumo_dead_letters_total{code="UNKNOWN_ECI"} 1');
    expect(await host.store.keys(ranges.outbox())).toEqual([]);
    metrics.close();
  });

  it('turns an event its receiving ECI refuses into a dead letter, applying nothing', async () => {
    const { host, root } = await testHost({ rulesets: [listener(), sender] });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.listener');
    await install(host, root.eci, 'test.sender');
    const made = await host.event({ eci: kid.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { eventPolicy: { allow: [{ domain: 'other', name: '*' }] } } });
    const narrow = (made.directives[0]!.options as { id: string }).id;
    await host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: narrow, n: 'x' } });
    await vi.waitFor(async () => expect(await host.deadLetters(root.eci)).toMatchObject([{ eci: narrow, reason: { code: 'POLICY_DENIED' } }]));
    expect(await heard(host, kid.eci)).toEqual([]);
  });

  it('gives up on an event not delivered within outboxTtlMs', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { host, root, clock } = await testHost({ rulesets: [listener(gate), sender], limits: { mailbox: 1, outboxTtlMs: 5_000 } });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.listener');
    await install(host, root.eci, 'test.sender');
    const stuck = [host.event({ eci: kid.eci, domain: 'msg', type: 'hear', attrs: { n: '1', block: true } }), host.event({ eci: kid.eci, domain: 'msg', type: 'hear', attrs: { n: '2' } })];
    await host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: kid.eci, n: '3' } });
    host.start(250);
    await vi.waitFor(
      async () => {
        clock.advance(500);
        expect(await host.deadLetters(root.eci)).toHaveLength(1);
      },
      { timeout: 10_000 },
    );
    const [letter] = await host.deadLetters(root.eci);
    expect(letter!.reason.code).toBe('MAILBOX_FULL');
    expect(letter!.attempts).toBeGreaterThan(1);
    expect(letter!.reason.message).toMatch(/not delivered after \d+ attempts/);
    release();
    await Promise.all(stuck);
    expect(await heard(host, kid.eci)).toEqual(['1', '2']);
  });

  it('refuses a send past the outbox bound with OUTBOX_FULL, writing nothing of the episode', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { host, root } = await testHost({ rulesets: [listener(gate), sender], limits: { outbox: 1, mailbox: 1 } });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.listener');
    await install(host, root.eci, 'test.sender');
    const stuck = [host.event({ eci: kid.eci, domain: 'msg', type: 'hear', attrs: { n: '1', block: true } }), host.event({ eci: kid.eci, domain: 'msg', type: 'hear', attrs: { n: '2' } })];
    await host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: kid.eci, n: '3' } });
    expect(host.stats().outbox).toBe(1);
    expect(await rejection(host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: kid.eci, n: '4' } }))).toMatchObject({ code: 'OUTBOX_FULL', status: 503 });
    expect(await host.store.keys(ranges.outbox())).toHaveLength(1);
    release();
    await Promise.all(stuck);
  });
});

describe('Host.receive: events from elsewhere', () => {
  it('keeps at most appliedMax eids, however young', async () => {
    const { host, root } = await testHost({ rulesets: [listener()], limits: { appliedWindow: 1, appliedMax: 2 } });
    await install(host, root.eci, 'test.listener');
    const ev = (eid: string) => ({ eci: root.eci, event: { eid, domain: 'msg', type: 'hear', attrs: { n: eid }, time: 1 } });
    for (const eid of ['e1', 'e2', 'e3']) await host.receive(ev(eid));
    expect((await host.receive(ev('e1'))).duplicate).toBe(false);
    expect((await host.receive(ev('e3'))).duplicate).toBe(true);
  });

  it('keeps their eid and event time, and applies each eid once', async () => {
    const { host, root } = await testHost({ rulesets: [listener()] });
    await install(host, root.eci, 'test.listener');
    const event = { eid: 'from-afar', domain: 'msg', type: 'hear', attrs: { n: 'a' }, time: 12_345 };
    expect(await host.receive({ eci: root.eci, event })).toMatchObject({ eid: 'from-afar', duplicate: false });
    expect(await host.receive({ eci: root.eci, event })).toMatchObject({ eid: 'from-afar', duplicate: true });
    expect(await heard(host, root.eci)).toEqual(['a']);
    expect(await host.query({ eci: root.eci, rid: 'test.listener', name: 'times' })).toEqual([12_345]);
    expect((await host.episodeLog(root.eci, 1))[0]).toMatchObject({ eid: 'from-afar', time: 12_345 });
  });

  it('forgets the oldest eids beyond the applied window once they are old enough, also after a restart', async () => {
    const dir = await tempDir();
    const limits = { appliedWindow: 2, appliedMs: 60_000 };
    const first = await testHost({ dir, rulesets: [listener()], limits });
    await install(first.host, first.root.eci, 'test.listener');
    const ev = (eid: string) => ({ eci: first.root.eci, event: { eid, domain: 'msg', type: 'hear', attrs: { n: eid }, time: 1 } });
    for (const eid of ['e1', 'e2', 'e3']) await first.host.receive(ev(eid));
    expect((await first.host.receive(ev('e1'))).duplicate).toBe(true); // three, but all younger than appliedMs
    first.clock.advance(60_000);
    await first.host.receive(ev('e4')); // now the two oldest go
    await first.host.close();
    const { host } = await testHost({ dir, rulesets: [listener()], limits, clock: first.clock });
    expect((await host.receive(ev('e4'))).duplicate).toBe(true);
    expect((await host.receive(ev('e3'))).duplicate).toBe(true);
    expect((await host.receive(ev('e1'))).duplicate).toBe(false); // forgotten
    expect(await heard(host, first.root.eci)).toEqual(['e1', 'e2', 'e3', 'e4', 'e1']);
  });

  it('serves only its own clouds, and refuses a malformed event', async () => {
    const { host, root } = await testHost();
    expect(await rejection(host.receive({ eci: NOWHERE, event: { eid: 'x', domain: 'a', type: 'b', attrs: {}, time: 1 } }))).toMatchObject({ code: 'UNKNOWN_ECI' });
    expect(await rejection(host.receive({ eci: root.eci, event: { eid: 'x', domain: 'a', type: 'b', attrs: {}, time: Number.NaN } }))).toMatchObject({ code: 'INVALID_EVENT' });
  });
});
