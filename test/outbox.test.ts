import { describe, expect, it, vi } from 'vitest';
import { ManualClock, openLevelStore, ranges, RemoteRefusedError, subscribe, type Host, type Remote, type RoutedEvent } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { install, newChild, rejection } from './fixtures.ts';
import { allKeys, onCleanup, storeWith, tempDir, testHost } from './helpers.ts';

// The outbox (kernel/outbox.ts): what `ctx.send` hands over after the commit, one lane per sender
// and receiving ECI, retried with backoff by the host clock, resumed after a restart, and kept as a
// dead letter when it can never be delivered.

/** `out:send {to, n, host?}` sends `msg:hear {n}` to the ECI `to` (at another provider's `host`). */
const sender = ruleset('test.out')
  .rule('send', {
    select: 'out:send',
    action: (ctx) => ctx.send(ctx.attrs['to'] as string, 'msg', 'hear', { n: ctx.attrs['n'] }, ctx.attrs['host'] as string | undefined),
  })
  .build();

/** Records the `n` of every `msg:hear`. */
const listener = ruleset('test.in')
  .rule('hear', { select: 'msg:hear', action: (ctx) => ctx.ent.set('heard', [...((ctx.ent.get('heard') as unknown[] | undefined) ?? []), ctx.attrs['n']]) })
  .share('heard', (ctx) => ctx.ent.get('heard') ?? [])
  .build();

const FAR = 'E0000AAAAAAAAAAAAAAAAAAAAAA';
const FAR_HOST = 'https://far.example';
const NOWHERE = 'E0000BBBBBBBBBBBBBBBBBBBBBB';

/**
 * Another provider's host, as the host's Remote sees it: down (every delivery fails) until the test
 * says how it answers. Records each delivery attempt with the host clock's time.
 */
function farHost(clock: ManualClock) {
  const attempts: Array<{ at: number; n: unknown }> = [];
  const taken: unknown[] = [];
  let answer = async (): Promise<void> => {
    throw new Error('connection reset');
  };
  const remote: Remote = {
    destination: (url) => url,
    async deliver(_url: string, routed: RoutedEvent) {
      attempts.push({ at: clock.now(), n: routed.event.attrs['n'] });
      await answer();
      taken.push(routed.event.attrs['n']);
    },
  };
  return {
    remote,
    attempts,
    /** What the far host took, in order. */
    taken,
    answer(fn: () => Promise<void>) {
      answer = fn;
    },
  };
}

/** Retry events of one host (diagnostics_channel is process-wide). */
function retriesOf(host: Host): Array<{ code: string; attempts: number }> {
  const seen: Array<{ code: string; attempts: number }> = [];
  const stop = subscribe('retry', (m) => {
    if (m.host === host.id) seen.push({ code: m.code, attempts: m.attempts });
  });
  onCleanup(() => stop());
  return seen;
}

const send = (host: Host, eci: string, attrs: Record<string, unknown>) => host.event({ eci, domain: 'out', type: 'send', attrs });

describe('the outbox', () => {
  it('tries again after 100 ms, then after twice as long each time, each wait randomly lengthened by up to a quarter', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const far = farHost(clock);
    const { host, root } = await testHost({ clock, rulesets: [sender], remote: far.remote });
    await install(host, root.eci, 'test.out');
    const retries = retriesOf(host);
    await send(host, root.eci, { to: FAR, host: FAR_HOST, n: 1 });
    host.start(5);
    while (far.attempts.length < 6) {
      await vi.waitFor(() => expect(retries).toHaveLength(far.attempts.length)); // the attempt has failed
      clock.advance(5);
    }
    const waits = far.attempts.slice(1).map((a, i) => a.at - far.attempts[i]!.at);
    waits.forEach((wait, i) => {
      const base = 100 * 2 ** i;
      expect(wait).toBeGreaterThanOrEqual(base);
      expect(wait).toBeLessThanOrEqual(base * 1.25 + 5); // the timer ticks every 5 ms
    });
    // Jitter: entries failing together do not all come back together.
    expect(waits.some((wait, i) => wait > 100 * 2 ** i + 5)).toBe(true);
    // A failure that is not kumo's own (the connection was reset) is worth a retry, counted as INTERNAL.
    expect(retries.slice(0, 5)).toEqual([1, 2, 3, 4, 5].map((attempts) => ({ code: 'INTERNAL', attempts })));
  });

  it('holds back only the events to a receiver that cannot take them yet, which then get there in the order sent', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const far = farHost(clock);
    const { host, root } = await testHost({ clock, rulesets: [sender, listener], remote: far.remote });
    await install(host, root.eci, 'test.out');
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.in');
    await send(host, root.eci, { to: FAR, host: FAR_HOST, n: 1 });
    await send(host, root.eci, { to: FAR, host: FAR_HOST, n: 2 });
    await send(host, root.eci, { to: kid.eci, n: 3 });
    await vi.waitFor(async () => expect(await host.query({ eci: kid.eci, rid: 'test.in', name: 'heard' })).toEqual([3]));
    expect(far.attempts.map((a) => a.n)).toEqual([1]); // 2 waits behind 1
    far.answer(() => Promise.resolve());
    host.start(250);
    clock.advance(250);
    await vi.waitFor(() => expect(far.taken).toEqual([1, 2]));
    await vi.waitFor(async () => expect(await host.store.keys(ranges.outbox())).toEqual([]));
  });

  it('resumes after each restart in the order sent, numbering new events after the ones it resumed, and delivers each once', async () => {
    const dir = await tempDir();
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const far = farHost(clock);
    const first = await testHost({ dir, clock, rulesets: [sender], remote: far.remote });
    await install(first.host, first.root.eci, 'test.out');
    await send(first.host, first.root.eci, { to: FAR, host: FAR_HOST, n: 1 });
    await send(first.host, first.root.eci, { to: FAR, host: FAR_HOST, n: 2 });
    await first.host.close();
    const second = await testHost({ dir, clock, rulesets: [sender], remote: far.remote });
    await send(second.host, second.root.eci, { to: FAR, host: FAR_HOST, n: 3 });
    await second.host.close();
    far.answer(() => Promise.resolve());
    const third = await testHost({ dir, clock, rulesets: [sender], remote: far.remote });
    third.host.start(250);
    clock.advance(250);
    await vi.waitFor(async () => expect(await third.host.store.keys(ranges.outbox())).toEqual([]));
    expect(far.taken).toEqual([1, 2, 3]);
  });

  it('on close, lets the delivery under way finish and starts no other; the rest goes after a restart, each event once', async () => {
    const dir = await tempDir();
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const far = farHost(clock);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    far.answer(() => gate);
    const first = await testHost({ dir, clock, rulesets: [sender], remote: far.remote });
    await install(first.host, first.root.eci, 'test.out');
    await send(first.host, first.root.eci, { to: FAR, host: FAR_HOST, n: 1 });
    await send(first.host, first.root.eci, { to: FAR, host: FAR_HOST, n: 2 });
    expect(far.attempts.map((a) => a.n)).toEqual([1]);
    const closing = first.host.close();
    setImmediate(release); // the far host answers only after close() has begun
    await closing;
    expect(far.taken).toEqual([1]);
    far.answer(() => Promise.resolve());
    const again = await testHost({ dir, clock, rulesets: [sender], remote: far.remote });
    await vi.waitFor(async () => expect(await again.host.store.keys(ranges.outbox())).toEqual([]));
    expect(far.taken).toEqual([1, 2]);
  });

  it('refuses a send without an ECI (INVALID_ARGS), staging nothing', async () => {
    const { host, root } = await testHost({ rulesets: [sender] });
    await install(host, root.eci, 'test.out');
    for (const to of ['', 42, null]) {
      expect(await rejection(send(host, root.eci, { to, n: 1 }))).toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('send needs an ECI') });
    }
    expect(host.stats().outbox).toBe(0);
    expect(await host.store.keys(ranges.outbox())).toEqual([]);
  });
});

describe('dead letters', () => {
  it('are entered in the sender’s log as an episode in which no rule ran', async () => {
    const { host, root } = await testHost({ rulesets: [sender] });
    await install(host, root.eci, 'test.out');
    await send(host, root.eci, { to: NOWHERE, n: 1 });
    await vi.waitFor(async () => expect(await host.deadLetters(root.eci)).toHaveLength(1));
    const [letter] = await host.deadLetters(root.eci);
    const [entry] = await host.episodeLog(root.eci, 1);
    expect(entry).toEqual({
      seq: entry!.seq,
      eid: letter!.event.eid,
      domain: 'msg',
      type: 'hear',
      time: letter!.event.time,
      selected: [],
      fired: [],
      directives: [],
      raised: 0,
      error: { code: 'UNKNOWN_ECI', message: expect.stringContaining(NOWHERE) },
      deadLetter: { eci: NOWHERE, seq: letter!.seq },
      ms: 0,
    });
  });

  it('keep only the newest limits.deadLetters of a cloud, listed newest first, those bounced by another host included', async () => {
    const { host, root } = await testHost({ rulesets: [sender], limits: { deadLetters: 2 } });
    await install(host, root.eci, 'test.out');
    for (const n of [1, 2, 3]) {
      await send(host, root.eci, { to: NOWHERE, n });
      await vi.waitFor(async () => expect((await host.deadLetters(root.eci))[0]?.event.attrs).toEqual({ n }));
    }
    const listed = async () => (await host.deadLetters(root.eci)).map((l) => l.event.attrs['n']);
    expect(await listed()).toEqual([3, 2]);
    // An event the host of its ECI refused for good (in a realm) comes back as the newest dead letter.
    const event = { eid: 'bounced', domain: 'msg', type: 'hear', attrs: { n: 4 }, time: 1 };
    await host.bounce(root.cloudId, { eci: NOWHERE, event }, { code: 'POLICY_DENIED', message: 'not through this ECI' });
    expect(await listed()).toEqual([4, 3]);
    expect((await host.store.keys({ ...ranges.cloud(root.cloudId) })).filter((k) => k.includes('~dead!'))).toHaveLength(2);
  });

  it('are kept at the next try when the store fails to keep one: the event is never dropped', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const store = await openLevelStore(await tempDir());
    let failNext = true;
    const flaky = storeWith(store, {
      write: async (ops) => {
        if (failNext && ops.some((op) => op.type === 'put' && op.key.includes('~dead!'))) {
          failNext = false;
          throw new Error('disk full');
        }
        return store.write(ops);
      },
    });
    const { host, root } = await testHost({ clock, rulesets: [sender], store: flaky });
    await install(host, root.eci, 'test.out');
    const retries = retriesOf(host);
    await send(host, root.eci, { to: NOWHERE, n: 1 });
    await vi.waitFor(() => expect(retries).toHaveLength(1)); // keeping it failed: tried again later
    expect(failNext).toBe(false);
    expect(await host.store.keys(ranges.outbox())).toHaveLength(1);
    host.start(50);
    clock.advance(200);
    await vi.waitFor(async () => expect((await host.deadLetters(root.eci)).map((l) => l.event.attrs)).toEqual([{ n: 1 }]));
    expect(await host.store.keys(ranges.outbox())).toEqual([]);
  });

  it('keep a bounce heard twice once (its parcel delivered again): one letter, one log entry, counted once', async () => {
    const { host, root } = await testHost({});
    const counted: unknown[] = [];
    const stop = subscribe('deadLetter', (e) => e.host === host.id && counted.push(e));
    onCleanup(() => stop());
    const event = { eid: 'twice', domain: 'msg', type: 'hear', attrs: {}, time: 1 };
    const refusal = { code: 'POLICY_DENIED', message: 'not through this ECI' };
    for (let i = 0; i < 2; i++) await host.bounce(root.cloudId, { eci: NOWHERE, event }, refusal);
    expect((await host.deadLetters(root.eci)).map((l) => l.event.eid)).toEqual(['twice']);
    expect((await host.episodeLog(root.eci)).filter((e) => e.eid === 'twice')).toHaveLength(1);
    expect(counted).toHaveLength(1);
    // The same event bounced from another of the cloud's ECIs is another letter.
    await host.bounce(root.cloudId, { eci: root.eci, event }, refusal);
    expect(await host.deadLetters(root.eci)).toHaveLength(2);
  });

  it('are not kept for a sender that is gone: its undeliverable event is dropped, and nothing of it is left behind', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const far = farHost(clock);
    const { host, root } = await testHost({ clock, rulesets: [sender], remote: far.remote });
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.out');
    await send(host, kid.eci, { to: FAR, host: FAR_HOST, n: 1 }); // the far host is down: the event waits
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'kid' } });
    far.answer(async () => {
      throw new RemoteRefusedError('no such ECI here');
    });
    host.start(250);
    clock.advance(250);
    await vi.waitFor(async () => expect(await host.store.keys(ranges.outbox())).toEqual([]));
    expect((await allKeys(host.store)).filter((k) => k.includes(kid.id))).toEqual([]);
    expect(far.attempts).toHaveLength(2);
  });
});
