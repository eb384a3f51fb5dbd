import { describe, expect, it, vi } from 'vitest';
import { JoiningRouter } from '../channels/realm/joining-router.ts';
import { aloneRouter, type PushMessage, type Router } from '../kernel/index.ts';
import { rejection } from './fixtures.ts';
import { settlesAfter } from './helpers.ts';

// The router of a host that serves its own clouds while it rejoins its realm (channels/realm/rejoin.ts).

const event = { eci: 'E0000AAAAAAAAAAAAAAAAAAAAAA', event: { eid: 'e1', domain: 'a', type: 'b', attrs: {}, time: 0 } };
const push: PushMessage = { cloudId: 'C0000AAAAAAAAAAAAAAAA', eci: event.eci, name: 'n', data: {} };

/** A realm router that answers events and records what it was asked. */
function realmRouter() {
  const heard: string[] = [];
  const listeners: Array<(m: PushMessage) => void> = [];
  const router: Router = {
    ...aloneRouter,
    event: async (r) => ({ eid: r.event.eid, directives: [] }),
    query: async (q) => `answered ${q.name}`,
    listen: (_eci, fn) => {
      listeners.push(fn);
      return () => listeners.splice(listeners.indexOf(fn), 1);
    },
    publishPush: (m) => heard.push(m.name),
  };
  return { router, heard, listeners };
}

describe('a joining router', () => {
  it('holds work for other hosts until the join, then hands it over; afterwards it goes straight through', async () => {
    const j = new JoiningRouter(60_000);
    const { router } = realmRouter();
    const waiting = j.event(event);
    const query = j.query({ eci: event.eci, rid: 'r', name: 'f', args: {} });
    j.joined(router);
    expect(await waiting).toEqual({ eid: 'e1', directives: [] });
    expect(await query).toBe('answered f');
    expect(await j.query({ eci: event.eci, rid: 'r', name: 'g', args: {} })).toBe('answered g');
  });

  it('hands every kind of work to the realm’s router, with its arguments', async () => {
    const j = new JoiningRouter(60_000);
    const asked: unknown[][] = [];
    // Every property a method that records its call; not `then`, or the router would look like a promise.
    const recording = new Proxy({} as Router, { get: (_t, name) => (name === 'then' ? undefined : (...args: unknown[]) => (asked.push([name, ...args]), Promise.resolve(name))) });
    const q = { eci: event.eci, rid: 'r', name: 'f', args: {} };
    const fn = (): void => undefined;
    const calls = [j.event(event), j.accept(event), j.claim('CODE', 7), j.query(q), j.deliver(event, 'C1' as never), j.eciInfo('E1'), j.episodeLog('E1', 5), j.deadLetters('E1'), j.follow('E1', fn), j.adopt(['E1', 'E2']), j.move('E1', 'h2')];
    j.joined(recording);
    expect(await Promise.all(calls)).toEqual(['event', 'accept', 'claim', 'query', 'deliver', 'eciInfo', 'episodeLog', 'deadLetters', 'follow', 'adopt', 'move']);
    expect(asked).toEqual([
      ['event', event],
      ['accept', event],
      ['claim', 'CODE', 7],
      ['query', q],
      ['deliver', event, 'C1'],
      ['eciInfo', 'E1'],
      ['episodeLog', 'E1', 5],
      ['deadLetters', 'E1'],
      ['follow', 'E1', fn],
      ['adopt', ['E1', 'E2']],
      ['move', 'E1', 'h2'],
    ]);
  });

  it('gives up on work that waited its time limit: REALM_UNAVAILABLE (503)', async () => {
    vi.useFakeTimers();
    try {
      const j = new JoiningRouter(1_000);
      expect(await settlesAfter(rejection(j.event(event)), 1_000)).toMatchObject({ code: 'REALM_UNAVAILABLE', status: 503, message: expect.stringContaining('still joining') });
      // Joined later, it serves what comes next.
      j.joined(realmRouter().router);
      expect(await j.event(event)).toMatchObject({ eid: 'e1' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('when the host stops first, what waits fails at once', async () => {
    const j = new JoiningRouter(60_000);
    const waiting = rejection(j.deliver(event, 'C0000AAAAAAAAAAAAAAAA' as never));
    j.giveUp();
    expect(await waiting).toMatchObject({ code: 'REALM_UNAVAILABLE', message: expect.stringContaining('stopped') });
    expect(await rejection(j.event(event))).toMatchObject({ code: 'REALM_UNAVAILABLE', message: expect.stringContaining('stopped') });
  });

  it('listeners wait for the join however long it takes; one stopped before it is never attached', async () => {
    vi.useFakeTimers();
    try {
      const j = new JoiningRouter(1_000);
      const got: string[] = [];
      const stopKept = j.listen(event.eci, (m) => got.push(`kept ${m.name}`));
      const stopEarly = j.listen(event.eci, (m) => got.push(`early ${m.name}`));
      stopEarly();
      j.publishPush(push); // before the join: nobody elsewhere hears it
      await vi.advanceTimersByTimeAsync(5_000);
      const realm = realmRouter();
      j.joined(realm.router);
      expect(realm.heard).toEqual([]);
      expect(realm.listeners).toHaveLength(1);
      realm.listeners[0]!(push);
      expect(got).toEqual(['kept n']);
      stopKept();
      expect(realm.listeners).toHaveLength(0);
      j.publishPush(push);
      expect(realm.heard).toEqual(['n']);
    } finally {
      vi.useRealTimers();
    }
  });
});
