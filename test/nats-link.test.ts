import { jetstreamManager } from '@nats-io/jetstream';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it, vi } from 'vitest';
import { Budget } from '../channels/realm/budget.ts';
import type { KV } from '@nats-io/kv';
import { bucketOf, NatsLink, type Delivery } from '../channels/realm/nats-link.ts';
import { RequestFailed, Requester, sameTurn } from '../channels/realm/nats-requests.ts';
import { rejection } from './fixtures.ts';
import { onCleanup, settlesAfter } from './helpers.ts';
import { startNats } from './nats-harness.ts';

async function client(url: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url.replace('nats://', ''), maxReconnectAttempts: 0 });
  onCleanup(() => nc.close());
  return nc;
}

const failure = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'answered',
    (err: unknown) => (err instanceof RequestFailed ? err.reason : String(err)),
  );

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('requests over NATS', () => {
  it('gives each request its own answer, many in one turn of the event loop', async () => {
    const nats = await startNats();
    const [asker, answerer] = await Promise.all([client(nats.url), client(nats.url)]);
    answerer.subscribe('echo', { callback: (_err, msg) => void msg.respond(bytes(`re:${text(msg.data)}`)) });
    await answerer.flush();
    const requests = new Requester(asker, createInbox());
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => requests.request('echo', bytes(String(i)), 5_000)));
    expect(answers.map(text)).toEqual(Array.from({ length: 300 }, (_, i) => `re:${i}`));
  });

  it('fails with no-responders when nobody listens, timeout when nobody answers in time, lost when the connection goes after it was sent, disconnected (and never sent) before', async () => {
    const nats = await startNats();
    const [asker, answerer] = await Promise.all([client(nats.url), client(nats.url)]);
    const heard: string[] = [];
    answerer.subscribe('silent', { callback: (_err, msg) => void heard.push(text(msg.data)) });
    await answerer.flush();
    const requests = new Requester(asker, createInbox());
    expect(await failure(requests.request('nobody', bytes('x'), 5_000))).toBe('no-responders');
    expect(await failure(requests.request('silent', bytes('x'), 100))).toBe('timeout');
    const waiting = failure(requests.request('silent', bytes('sent'), 60_000));
    await new Promise((r) => setTimeout(r, 50)); // it is on its way
    const unsent = failure(requests.request('silent', bytes('unsent'), 60_000));
    requests.failAll();
    expect(await waiting).toBe('lost');
    expect(await unsent).toBe('disconnected');
    await new Promise((r) => setTimeout(r, 50));
    expect(heard).toEqual(['x', 'sent']);
    await asker.close();
    expect(await failure(requests.request('silent', bytes('x'), 60_000))).toBe('disconnected');
  });

  it('a request whose responder is gone, or restarted without it, fails as lost within about two seconds; one it works on waits', async () => {
    const nats = await startNats();
    const [asker, answerer] = await Promise.all([client(nats.url), client(nats.url)]);
    const working = new Set<string>();
    // One subscription answers checks (`?` and the reply subjects asked about) and keeps requests saying `keep`.
    const sub = answerer.subscribe('slow', {
      callback: (_err, msg) => {
        const body = text(msg.data);
        if (body.startsWith('?')) msg.respond(bytes(JSON.stringify((JSON.parse(body.slice(1)) as string[]).filter((r) => working.has(r)))));
        else if (body === 'keep') working.add(msg.reply!);
      },
    });
    await answerer.flush();
    const requests = new Requester(asker, createInbox());
    requests.watch(async (subject, replies) => {
      try {
        return new Set(JSON.parse(text(await requests.request(subject, bytes(`?${JSON.stringify(replies)}`), 1_000, true))) as string[]);
      } catch (err) {
        if (err instanceof RequestFailed && err.reason === 'no-responders') return null;
        throw err;
      }
    });
    const started = Date.now();
    const kept = failure(requests.request('slow', bytes('keep'), 4_000));
    const forgotten = failure(requests.request('slow', bytes('forget'), 60_000));
    expect(await forgotten).toBe('lost');
    expect(Date.now() - started).toBeLessThan(3_000);
    sub.unsubscribe();
    expect(await kept).toBe('lost'); // its responder went away: told by the server, not by the time limit
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('runs what is queued in one turn together, in order, once that turn is done', async () => {
    const soon = sameTurn();
    const ran: number[] = [];
    for (const n of [1, 2, 3]) soon(() => ran.push(n));
    expect(ran).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(ran).toEqual([1, 2, 3]);
    soon(() => ran.push(4));
    await new Promise((r) => setImmediate(r));
    expect(ran).toEqual([1, 2, 3, 4]);
  });
});

describe('consuming a durable stream', () => {
  it('takes the next message only once the handler says it may go on', async () => {
    const nats = await startNats();
    const link = await NatsLink.connect({ servers: [nats.url], name: 'test' });
    onCleanup(() => link.close());
    await link.ensureStream('T', ['t.>'], { replicas: 1 });
    for (const n of [1, 2, 3]) await link.publishDurable('t.x', bytes(String(n)), `m${n}`);
    const seen: string[] = [];
    let goOn!: () => void;
    const stop = await link.consume('T', 'worker', 't.x', (d: Delivery) => {
      seen.push(text(d.data));
      d.ack();
      if (seen.length === 1) return new Promise<void>((r) => (goOn = r));
      return undefined;
    });
    onCleanup(stop);
    await vi.waitFor(() => expect(seen).toEqual(['1']));
    // The others reached this process (delivered, not acknowledged), and wait there.
    const jsm = await jetstreamManager(await client(nats.url));
    await vi.waitFor(async () => expect((await jsm.consumers.info('T', 'worker')).num_ack_pending).toBe(2));
    expect(seen).toEqual(['1']);
    goOn();
    await vi.waitFor(() => expect(seen).toEqual(['1', '2', '3']));
  });
});

describe('making sure of a stream', () => {
  it('creates it, leaves it alone on the same settings, and updates it when one differs', async () => {
    const nats = await startNats();
    const link = await NatsLink.connect({ servers: [nats.url], name: 'test' });
    onCleanup(() => link.close());
    const watcher = await client(nats.url);
    const updates: string[] = [];
    watcher.subscribe('$JS.API.STREAM.UPDATE.S', { callback: (_err, m) => void updates.push(m.string()) });
    await watcher.flush();
    await link.ensureStream('S', ['s.>'], { replicas: 1, duplicateWindowMs: 60_000 });
    await link.ensureStream('S', ['s.>'], { replicas: 1, duplicateWindowMs: 60_000 });
    await link.ensureStream('S', ['s.>'], { replicas: 1, duplicateWindowMs: 30_000, maxBytes: 1_000_000 });
    // The spy hears the link's requests in the order it sent them: once it has heard the last
    // call's update, it has heard any the two calls on the same settings made (none).
    await vi.waitFor(() => expect(updates.some((u) => u.includes(`"duplicate_window":${30_000 * 1_000_000}`))).toBe(true));
    expect(updates).toHaveLength(1);
    const { config } = await (await jetstreamManager(watcher)).streams.info('S');
    expect([config.duplicate_window, config.max_bytes]).toEqual([30_000 * 1_000_000, 1_000_000]);
  });
});

describe('a budget of work under way', () => {
  it('says to wait once the bound is reached, and to go on once under it again', async () => {
    const budget = new Budget(10);
    expect(budget.take(6)).toBeUndefined();
    let resumed = false;
    void budget.take(6)!.then(() => (resumed = true));
    expect(budget.inUse).toBe(12);
    for (let i = 0; i < 2; i++) budget.release();
    await Promise.resolve();
    expect(resumed).toBe(false); // 10 under way: still at the bound
    budget.release();
    await Promise.resolve();
    expect(resumed).toBe(true);
    expect(budget.inUse).toBe(9);
    expect(budget.take(1)).toBeInstanceOf(Promise);
  });
});

describe('a bucket watch', () => {
  /** A KV whose status says it holds `values`, and whose watch yields `entries` then ends, or waits for ever. */
  function fakeKv(values: number, entries: Array<{ key: string; delta: number }>, end: boolean): KV {
    let stopped = false;
    const iter = {
      stop: () => (stopped = true),
      async *[Symbol.asyncIterator]() {
        for (const e of entries) yield { ...e, value: new TextEncoder().encode('v'), revision: 1, operation: 'PUT' };
        if (!end) await new Promise(() => undefined);
      },
      get stopped() {
        return stopped;
      },
    };
    return { status: () => Promise.resolve({ values, bucket: 'B' }), watch: () => Promise.resolve(iter) } as unknown as KV;
  }

  it('resolves once the current values are in, and at once for an empty bucket', async () => {
    const seen: string[] = [];
    await bucketOf(
      fakeKv(
        2,
        [
          { key: 'a', delta: 1 },
          { key: 'b', delta: 0 },
        ],
        false,
      ),
    ).watch((e) => seen.push(e.key));
    expect(seen).toEqual(['a', 'b']);
    await bucketOf(fakeKv(0, [], false)).watch(() => undefined);
  });

  it('never hangs: current values that do not come in 10 s, or a watch that ends first, fail it', async () => {
    vi.useFakeTimers();
    try {
      const late = await settlesAfter(rejection(bucketOf(fakeKv(3, [{ key: 'a', delta: 2 }], false)).watch(() => undefined)), 10_000);
      expect(late.message).toMatch(/current values of bucket B did not arrive within 10 s/);
    } finally {
      vi.useRealTimers();
    }
    expect((await rejection(bucketOf(fakeKv(3, [{ key: 'a', delta: 2 }], true)).watch(() => undefined))).message).toMatch(/ended before its current values were in/);
  });
});
