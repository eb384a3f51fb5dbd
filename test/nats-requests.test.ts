import { connect, type NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { RequestFailed, Requester, sameTurn } from '../channels/realm/nats-requests.ts';
import { onCleanup } from './helpers.ts';
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
    const requests = new Requester(asker);
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => requests.request('echo', bytes(String(i)), 5_000)));
    expect(answers.map(text)).toEqual(Array.from({ length: 300 }, (_, i) => `re:${i}`));
  });

  it('fails with no-responders when nobody listens, timeout when nobody answers in time, disconnected when the connection goes', async () => {
    const nats = await startNats();
    const [asker, answerer] = await Promise.all([client(nats.url), client(nats.url)]);
    answerer.subscribe('silent', { callback: () => undefined });
    await answerer.flush();
    const requests = new Requester(asker);
    expect(await failure(requests.request('nobody', bytes('x'), 5_000))).toBe('no-responders');
    expect(await failure(requests.request('silent', bytes('x'), 100))).toBe('timeout');
    const waiting = failure(requests.request('silent', bytes('x'), 60_000));
    await new Promise((r) => setTimeout(r, 50)); // it is on its way
    requests.failAll('disconnected');
    expect(await waiting).toBe('disconnected');
    await asker.close();
    expect(await failure(requests.request('silent', bytes('x'), 60_000))).toBe('disconnected');
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
