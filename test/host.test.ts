import { describe, expect, it, vi } from 'vitest';
import { Host, ManualClock, partitionOf, seededIds, subscribe, type EpisodeLogEntry, type Eci, type Ruleset } from '../kernel/index.ts';
import { wrangler } from '../rulesets/index.ts';
import { counter, install, newChild, rejection } from './fixtures.ts';
import { memoryStore, onCleanup, tempDir, testHost, wrapStore } from './helpers.ts';

// The Host's own API (kernel/host.ts): its identity, what it registers, its root cloud, where it
// makes clouds, and who may read a cloud's log.

/** A host straight on the kernel (no built-ins but wrangler), closed after the test. */
async function kernelHost(opts: Partial<Parameters<typeof Host.open>[0]> = {}) {
  const host = await Host.open({ store: await memoryStore(), clock: new ManualClock(Date.UTC(2026, 0, 1)), ids: seededIds(7), rulesets: [wrangler, counter], builtins: [wrangler.rid], ...opts });
  onCleanup(() => host.close());
  return host;
}

/** A channel of the cloud behind `eci` without the system tag (it may do everything else). */
async function plainChannel(host: Host, eci: string): Promise<string> {
  const made = await host.event({ eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['app'] } });
  return (made.directives[0]!.options as { id: string }).id;
}

describe('a host’s identity', () => {
  it('is made on first start and kept in the store, so a restart keeps it', async () => {
    const dir = await tempDir();
    const first = await testHost({ dir });
    expect(first.host.id).toMatch(/^h[A-Za-z0-9_-]{8}$/);
    await first.host.close();
    const again = await testHost({ dir, seed: 99 });
    expect(again.host.id).toBe(first.host.id);
  });

  it('can be given: 1 to 64 characters of [A-Za-z0-9_-], anything else is refused', async () => {
    const store = await memoryStore();
    expect(await Host.idOf(store, seededIds(1), 'host-b_2')).toBe('host-b_2');
    expect(await Host.idOf(store, seededIds(1), 'x'.repeat(64))).toBe('x'.repeat(64));
    for (const bad of ['', 'x'.repeat(65), 'a b', 'a.b', 'ä']) {
      await expect(Host.idOf(store, seededIds(1), bad)).rejects.toMatchObject({ code: 'INVALID_ARGS', message: 'a host id is 1 to 64 characters of [A-Za-z0-9_-]' });
    }
    // A given id is not written down: the host's own id is made on first use and then kept.
    const made = await Host.idOf(store, seededIds(1));
    expect(await Host.idOf(store, seededIds(2))).toBe(made);
    expect(made).not.toBe(await Host.idOf(await memoryStore(), seededIds(2)));
  });
});

describe('registering rulesets', () => {
  it('takes a rid of letters, digits, "_", "." and "-" (starting with a letter, at most 100), and a later one replaces an earlier', async () => {
    const host = await kernelHost();
    const named = (rid: string): Ruleset => ({ ...counter, rid });
    for (const bad of ['', '1abc', '-abc', 'a b', 'a/b', `a${'b'.repeat(100)}`]) {
      expect(() => host.register(named(bad))).toThrow(expect.objectContaining({ code: 'INVALID_RULESET', message: expect.stringContaining(JSON.stringify(bad)) }));
    }
    host.register(named(`a${'b'.repeat(99)}`));
    host.register(named('A_b.c-9'));
    const newer = { ...counter, version: '2.0.0' };
    host.register(newer);
    expect(host.rulesets.get('test.counter')).toBe(newer);
    expect([...host.rulesets.keys()]).toEqual(['io.picolabs.wrangler', 'test.counter', `a${'b'.repeat(99)}`, 'A_b.c-9']);
  });

  it('refuses built-ins it does not have', async () => {
    await expect(Host.open({ store: await memoryStore(), rulesets: [counter], builtins: ['test.nope'] })).rejects.toMatchObject({ code: 'UNKNOWN_RULESET' });
  });
});

describe('the root cloud', () => {
  it('is made once, with an owner ECI of full authority carrying the system tag', async () => {
    const host = await kernelHost();
    const root = await host.root();
    expect(root.created).toBe(true);
    expect(await host.root()).toEqual({ ...root, created: false });
    const info = await host.eciInfo(root.eci);
    expect(info).toEqual({
      id: root.eci,
      cloudId: root.cloudId,
      tags: ['owner', 'system'],
      eventPolicy: { allow: [{ domain: '*', name: '*' }], deny: [] },
      queryPolicy: { allow: [{ rid: '*', name: '*' }], deny: [] },
    });
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'myself' })).toEqual({ id: root.cloudId, name: 'root', parent: null });
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'installedRids' })).toEqual(['io.picolabs.wrangler']);
  });
});

describe('partitions', () => {
  it('a host makes clouds and their ECIs only in the partitions it owns, spread over all of them', async () => {
    const host = await kernelHost({ partitions: [5, 9, 4095] });
    const root = await host.root();
    const made: string[] = [root.cloudId, root.eci];
    for (let i = 0; i < 12; i++) {
      const kid = await newChild(host, root.eci, `k${i}`);
      made.push(kid.id, kid.eci);
      expect(partitionOf(kid.eci as Eci)).toBe(partitionOf(kid.id as never));
    }
    expect(new Set(made.map((id) => partitionOf(id as Eci)))).toEqual(new Set([5, 9, 4095]));
  });

  it('a host must own at least one', async () => {
    await expect(Host.open({ store: await memoryStore(), partitions: [] })).rejects.toThrow(RangeError);
  });
});

describe('what an ECI may read of its cloud', () => {
  it('eciInfo tells an ECI’s tags, policies and cloud, as a copy; an unknown ECI is UNKNOWN_ECI', async () => {
    const host = await kernelHost();
    const root = await host.root();
    const eci = await plainChannel(host, root.eci);
    const info = await host.eciInfo(eci);
    expect(info).toMatchObject({ id: eci, cloudId: root.cloudId, tags: ['app'] });
    info.tags.push('system');
    expect((await host.eciInfo(eci)).tags).toEqual(['app']);
    expect(await rejection(host.eciInfo('E0000AAAAAAAAAAAAAAAAAAAAAA'))).toMatchObject({ code: 'UNKNOWN_ECI', status: 404 });
  });

  it('the episode log and dead letters only through an ECI with the system tag', async () => {
    const host = await kernelHost();
    const root = await host.root();
    await install(host, root.eci, 'test.counter');
    const app = await plainChannel(host, root.eci);
    for (const read of [host.episodeLog(app), host.deadLetters(app), host.follow(app, () => undefined)]) {
      expect(await rejection(read)).toMatchObject({ code: 'POLICY_DENIED', status: 403, message: expect.stringContaining('"system" tag') });
    }
    expect(await rejection(host.episodeLog('E0000AAAAAAAAAAAAAAAAAAAAAA'))).toMatchObject({ code: 'UNKNOWN_ECI' });
    expect(await host.deadLetters(root.eci)).toEqual([]);
    // The log, newest first, as many entries as asked for.
    for (let i = 0; i < 3; i++) await host.event({ eci: root.eci, eid: `e${i}`, domain: 'counter', type: 'inc' });
    expect((await host.episodeLog(root.eci, 2)).map((e) => e.eid)).toEqual(['e2', 'e1']);
    expect((await host.episodeLog(root.eci)).map((e) => e.eid).slice(0, 4)).toEqual(['e2', 'e1', 'e0', expect.any(String)]);
  });

  it('follow hears each episode of the cloud once it commits, until stopped', async () => {
    const host = await kernelHost();
    const root = await host.root();
    await install(host, root.eci, 'test.counter');
    const heard: EpisodeLogEntry[] = [];
    const stop = await host.follow(root.eci, (e) => heard.push(e));
    expect(host.followers(root.cloudId)).toBe(1);
    await host.event({ eci: root.eci, eid: 'one', domain: 'counter', type: 'inc' });
    expect(heard.map((e) => [e.eid, e.fired])).toEqual([['one', ['test.counter/inc']]]);
    stop();
    expect(host.followers(root.cloudId)).toBe(0);
    await host.event({ eci: root.eci, eid: 'two', domain: 'counter', type: 'inc' });
    expect((await host.episodeLog(root.eci, 1))[0]!.eid).toBe('two');
    expect(heard).toHaveLength(1);
  });
});

describe('refusals', () => {
  it('are published once each, with their code, or INTERNAL for a failure that is not kumo’s own; a failed episode is not one', async () => {
    const broken = { fail: false };
    const store = await memoryStore();
    const host = await kernelHost({
      store: wrapStore(store, {
        get: (k) => {
          if (broken.fail && k.startsWith('i!')) return Promise.reject(new Error('disk on fire'));
          return store.get(k);
        },
      }),
    });
    const root = await host.root();
    const refused: Array<{ kind: string; code: string }> = [];
    const stop = subscribe('refusal', (m) => {
      if (m.host === host.id) refused.push({ kind: m.kind, code: m.code });
    });
    onCleanup(() => stop());
    await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { rid: 'test.nope' } })); // ran, failed
    await rejection(host.query({ eci: root.eci, rid: 'test.counter', name: 'count' }));
    await rejection(host.claim('0000-0000-0000'));
    broken.fail = true;
    await rejection(host.event({ eci: 'E0000AAAAAAAAAAAAAAAAAAAAAA', domain: 'a', type: 'b' }));
    expect(refused).toEqual([
      { kind: 'query', code: 'UNKNOWN_RULESET' },
      { kind: 'claim', code: 'UNKNOWN_CLAIM_CODE' },
      { kind: 'event', code: 'INTERNAL' },
    ]);
  });
});

describe('a closed host', () => {
  it('fires no schedule, takes no work, and closing again does nothing', async () => {
    const host = await kernelHost();
    const root = await host.root();
    await host.close();
    expect(await host.runDue()).toBe(0);
    expect(await rejection(host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'name' }))).toMatchObject({ code: 'SHUTTING_DOWN' });
    expect(await rejection(host.claim('0000-0000-0000'))).toMatchObject({ code: 'SHUTTING_DOWN' });
    await host.close();
  });

  it('start() keeps one timer however often it is called, and close() stops it', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const host = await kernelHost({ clock, limits: { idleMs: 1000 } });
    const root = await host.root();
    await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'name' });
    host.start(100);
    host.start(100);
    expect(clock.pending).toBe(1);
    clock.advance(1100); // the timer evicts the idle root
    await vi.waitFor(() => expect(host.isActive(root.cloudId)).toBe(false));
    await host.close();
    expect(clock.pending).toBe(0);
  });
});
