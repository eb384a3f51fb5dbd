import { describe, expect, it, vi } from 'vitest';
import { JoiningRouter } from '../channels/realm/joining-router.ts';
import { aloneRouter, type PushMessage, type Request, type Router } from '../kernel/index.ts';
import { rejection } from './fixtures.ts';
import { settlesAfter } from './helpers.ts';

// The router of a host that serves its own clouds while it rejoins its realm (channels/realm/rejoin.ts).

const event = { op: 'event' as const, eci: 'E0000AAAAAAAAAAAAAAAAAAAAAA', event: { eid: 'e1', domain: 'a', type: 'b', attrs: {}, time: 0 } };
const query = (name: string) => ({ op: 'query' as const, eci: event.eci, rid: 'r', name, args: {} });
const push: PushMessage = { cloudId: 'C0000AAAAAAAAAAAAAAAA', eci: event.eci, name: 'n', data: {} };

/** A realm router that answers events and records what it was asked. */
function realmRouter() {
  const heard: string[] = [];
  const listeners: Array<(m: PushMessage) => void> = [];
  const router: Router = {
    ...aloneRouter,
    forward: ((r: Request) => Promise.resolve(r.op === 'event' ? { eid: r.event.eid, directives: [] } : r.op === 'query' ? `answered ${r.name}` : undefined)) as Router['forward'],
    listen: (_eci, fn) => {
      listeners.push(fn);
      return () => listeners.splice(listeners.indexOf(fn), 1);
    },
    publish: (m) => heard.push(m.name),
  };
  return { router, heard, listeners };
}

describe('a joining router', () => {
  it('holds work for other hosts until the join, then hands it over; afterwards it goes straight through', async () => {
    const j = new JoiningRouter(60_000);
    const { router } = realmRouter();
    const waiting = j.forward(event);
    const asked = j.forward(query('f'));
    j.joined(router);
    expect(await waiting).toEqual({ eid: 'e1', directives: [] });
    expect(await asked).toBe('answered f');
    expect(await j.forward(query('g'))).toBe('answered g');
  });

  it('hands every kind of work to the realm’s router, as it was asked', async () => {
    const j = new JoiningRouter(60_000);
    const asked: unknown[][] = [];
    // Every property a method that records its call; not `then`, or the router would look like a promise.
    const recording = new Proxy({} as Router, { get: (_t, name) => (name === 'then' ? undefined : (...args: unknown[]) => (asked.push([name, ...args]), Promise.resolve(name))) });
    const fn = (): void => undefined;
    const requests: Request[] = [
      event,
      { ...event, op: 'accept' },
      { op: 'claim', code: 'CODE', partition: 7 },
      query('f'),
      { ...event, op: 'deliver', from: 'C1' as never, seq: 3 },
      { op: 'eciInfo', eci: 'E1' },
      { op: 'log', eci: 'E1', limit: 5 },
      { op: 'deadLetters', eci: 'E1' },
      { op: 'adopt', ecis: ['E1', 'E2'] },
      { op: 'move', eci: 'E1', to: 'h2' },
    ];
    const calls = [...requests.map((r) => j.forward(r)), j.follow('E1', fn)];
    j.joined(recording);
    expect(await Promise.all(calls)).toEqual([...requests.map(() => 'forward'), 'follow']);
    expect(asked).toEqual([...requests.map((r) => ['forward', r]), ['follow', 'E1', fn]]);
  });

  it('gives up on work that waited its time limit: REALM_UNAVAILABLE (503)', async () => {
    vi.useFakeTimers();
    try {
      const j = new JoiningRouter(1_000);
      expect(await settlesAfter(rejection(j.forward(event)), 1_000)).toMatchObject({ code: 'REALM_UNAVAILABLE', status: 503, message: expect.stringContaining('still joining') });
      // Joined later, it serves what comes next.
      j.joined(realmRouter().router);
      expect(await j.forward(event)).toMatchObject({ eid: 'e1' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('when the host stops first, what waits fails at once', async () => {
    const j = new JoiningRouter(60_000);
    const waiting = rejection(j.forward({ ...event, op: 'deliver', from: 'C0000AAAAAAAAAAAAAAAA' as never, seq: 1 }));
    j.giveUp();
    expect(await waiting).toMatchObject({ code: 'REALM_UNAVAILABLE', message: expect.stringContaining('stopped') });
    expect(await rejection(j.forward(event))).toMatchObject({ code: 'REALM_UNAVAILABLE', message: expect.stringContaining('stopped') });
  });

  it('listeners wait for the join however long it takes; one stopped before it is never attached', async () => {
    vi.useFakeTimers();
    try {
      const j = new JoiningRouter(1_000);
      const got: string[] = [];
      const stopKept = j.listen(event.eci, (m) => got.push(`kept ${m.name}`));
      const stopEarly = j.listen(event.eci, (m) => got.push(`early ${m.name}`));
      stopEarly();
      j.publish(push); // before the join: nobody elsewhere hears it
      await vi.advanceTimersByTimeAsync(5_000);
      const realm = realmRouter();
      j.joined(realm.router);
      expect(realm.heard).toEqual([]);
      expect(realm.listeners).toHaveLength(1);
      realm.listeners[0]!(push);
      expect(got).toEqual(['kept n']);
      stopKept();
      expect(realm.listeners).toHaveLength(0);
      j.publish(push);
      expect(realm.heard).toEqual(['n']);
    } finally {
      vi.useRealTimers();
    }
  });
});
