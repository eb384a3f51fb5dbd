import { describe, expect, it, vi } from 'vitest';
import { openNode } from '../channels/open-node.ts';
import { newClaimCode } from '../kernel/capabilities/claim-codes.ts';
import { cryptoIds, type Limits } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { counter, install, newChild, rejection } from './fixtures.ts';
import { onCleanup, tempDir } from './helpers.ts';
import { startNats } from './nats-harness.ts';
import { NatsLink } from '../channels/realm/nats-link.ts';
import { resources } from '../channels/realm/wire.ts';

/** `out:send {to, n}` sends `msg:hear {n}`; `msg:hear` records it. */
const relay = ruleset('test.relay')
  .rule('send', { select: 'out:send', action: (ctx) => ctx.send(String(ctx.attrs['to']), 'msg', 'hear', { n: ctx.attrs['n'] }) })
  .rule('hear', { select: 'msg:hear', action: (ctx) => ctx.ent.set('heard', [...((ctx.ent.get('heard') as unknown[] | undefined) ?? []), ctx.attrs['n']]) })
  .rule('shout', { select: 'out:shout', action: (ctx) => ctx.push(ctx.eci!, 'shout', { n: ctx.attrs['n'] }) })
  .share('heard', (ctx) => ctx.ent.get('heard') ?? [])
  .build();

async function realmHost(nats: string, name: string, limits?: Partial<Limits>) {
  const node = await openNode({ dataDir: await tempDir(), rulesets: [counter, relay], hostId: name, realm: { servers: [nats], partitions: 8 }, ...(limits ? { limits } : {}) });
  onCleanup(async () => {
    await node.realm!.stop();
    await node.host.close();
    await node.realm!.close();
  });
  node.host.start(50);
  const root = await node.host.root();
  return { ...node, root };
}

describe('a realm of hosts in one process', () => {
  it('serves any ECI of the realm through any host, and carries sends through the durable inbox', async () => {
    const nats = await startNats();
    const a = await realmHost(nats.url, 'a');
    const b = await realmHost(nats.url, 'b');
    expect(a.realm!.partitions).toHaveLength(8);
    expect(a.realm!.partitions.filter((p) => b.realm!.partitions.includes(p))).toEqual([]);
    const onB = await newChild(b.host, b.root.eci, 'kid');
    await install(b.host, onB.eci, 'test.counter');
    await install(b.host, onB.eci, 'test.relay');
    const plain = ((await b.host.event({ eci: onB.eci, domain: 'wrangler', type: 'new_channel_request' })).directives[0]!.options as { id: string }).id;
    // Through host a, which does not hold the cloud:
    expect((await a.host.event({ eci: onB.eci, domain: 'counter', type: 'inc', attrs: { by: 3 } })).directives[0]!.options).toEqual({ count: 3 });
    expect(await a.host.query({ eci: onB.eci, rid: 'test.counter', name: 'count' })).toBe(3);
    await a.host.accept({ eci: onB.eci, domain: 'counter', type: 'inc' });
    await vi.waitFor(async () => expect(await b.host.query({ eci: onB.eci, rid: 'test.counter', name: 'count' })).toBe(4));
    expect(await rejection(a.host.event({ eci: 'E0000AAAAAAAAAAAAAAAAAAAAAA', domain: 'x', type: 'y' }))).toMatchObject({ code: 'UNKNOWN_ECI' });
    // A rule on a sends to the cloud on b.
    await install(a.host, a.root.eci, 'test.relay');
    await a.host.event({ eci: a.root.eci, domain: 'out', type: 'send', attrs: { to: onB.eci, n: 1 } });
    await vi.waitFor(async () => expect(await b.host.query({ eci: onB.eci, rid: 'test.relay', name: 'heard' })).toEqual([1]));
    // Pushes reach a listener on another host.
    const heard: unknown[] = [];
    const stop = a.host.listen(onB.eci, (m) => heard.push(m.data));
    await vi.waitFor(async () => {
      await b.host.event({ eci: onB.eci, domain: 'out', type: 'shout', attrs: { n: 7 } });
      expect(heard.length).toBeGreaterThan(0);
    });
    stop();
    // The log, through the other host: read, and followed as episodes commit.
    expect((await a.host.episodeLog(onB.eci, 1))[0]).toMatchObject({ domain: 'out', type: 'shout' });
    const followed: string[] = [];
    const unfollow = await a.host.follow(onB.eci, (e) => followed.push(`${e.domain}:${e.type}`));
    await b.host.event({ eci: onB.eci, domain: 'counter', type: 'inc' });
    await vi.waitFor(() => expect(followed).toEqual(['counter:inc']));
    unfollow();
    expect(await rejection(a.host.follow(plain, () => undefined))).toMatchObject({ code: 'POLICY_DENIED' });
  });

  it('idempotency keys travel with events, accepts and the durable inbox to the host of the ECI', async () => {
    const nats = await startNats();
    const a = await realmHost(nats.url, 'a');
    const b = await realmHost(nats.url, 'b');
    const onB = await newChild(b.host, b.root.eci, 'kid');
    await install(b.host, onB.eci, 'test.counter');
    const count = () => b.host.query({ eci: onB.eci, rid: 'test.counter', name: 'count' });
    const inc = { eci: onB.eci, domain: 'counter', type: 'inc' };
    const first = await a.host.event({ ...inc, idempotencyKey: 'k1' });
    expect(await a.host.event({ ...inc, idempotencyKey: 'k1' })).toEqual({ ...first, replay: true });
    expect(await count()).toBe(1);
    expect(await rejection(a.host.event({ ...inc, attrs: { by: 5 }, idempotencyKey: 'k1' }))).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422 });
    // accepted (202) through host a: a retry with the key answers the first eid, marked replay
    const accepted = await a.host.accept({ ...inc, idempotencyKey: 'k2' });
    await vi.waitFor(async () => expect(await count()).toBe(2));
    expect(await a.host.accept({ ...inc, idempotencyKey: 'k2' })).toEqual({ eid: accepted.eid, replay: true });
    // through b's durable inbox: two eids with one key are applied once (b applies its inbox in
    // order for an ECI, so once the last one, adding 10, is in, the second had its turn)
    const deliver = (eid: string, key: string, by = 1) =>
      a.realm!.router.forward({ op: 'deliver', eci: onB.eci, event: { eid, domain: 'counter', type: 'inc', attrs: { by }, time: Date.now() }, idempotencyKey: key, from: a.root.cloudId, seq: 0 });
    await deliver('d1', 'k3');
    await deliver('d2', 'k3');
    await deliver('d3', 'k4', 10);
    await vi.waitFor(async () => expect(await count()).toBeGreaterThanOrEqual(13));
    expect(await count()).toBe(13);
  });

  it('a claim code is claimed on the host that holds its device cloud, which keeps the budget for failed claims', async () => {
    const nats = await startNats();
    const a = await realmHost(nats.url, 'a');
    const b = await realmHost(nats.url, 'b', { claimFailuresPerMinute: 2 });
    const made = await b.host.event({ eci: b.root.eci, domain: 'wrangler', type: 'new_device_request', attrs: { name: 'thermo', rids: ['test.counter'] } });
    const device = made.directives.find((d) => d.name === 'wrangler:new_device_created')!.options as { device: { eci: string }; claim: { code: string } };
    expect(await a.host.claim(device.claim.code)).toEqual({ eci: device.device.eci });
    expect(await rejection(a.host.claim(device.claim.code))).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE', status: 404 });
    // guesses at b's partitions through a spend b's budget (one token went on the used code)
    const guess = () => newClaimCode(cryptoIds, b.realm!.partitions[0]!);
    expect(await rejection(a.host.claim(guess()))).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE' });
    expect(await rejection(a.host.claim(guess()))).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    expect(await rejection(b.host.claim(guess()))).toMatchObject({ code: 'RATE_LIMITED' });
    // a's own budget is untouched: its devices are claimed as ever
    const mine = await a.host.event({ eci: a.root.eci, domain: 'wrangler', type: 'new_device_request', attrs: { name: 'door', rids: ['test.counter'] } });
    const code = (mine.directives.find((d) => d.name === 'wrangler:new_device_created')!.options as { claim: { code: string } }).claim.code;
    expect(await b.host.claim(code)).toMatchObject({ eci: expect.any(String) });
  });

  it('a send to an ECI no host has comes back as a dead letter of its sender', async () => {
    const nats = await startNats();
    const a = await realmHost(nats.url, 'a', { unknownEciGraceMs: 300 });
    const b = await realmHost(nats.url, 'b');
    await install(a.host, a.root.eci, 'test.relay');
    // An ECI in a partition b owns, that b does not have.
    const p = b.realm!.partitions[0]!;
    const ghost = `E0${p.toString(16).padStart(3, '0')}AAAAAAAAAAAAAAAAAAAAAA`;
    await a.host.event({ eci: a.root.eci, domain: 'out', type: 'send', attrs: { to: ghost, n: 1 } });
    await vi.waitFor(async () => expect(await a.host.deadLetters(a.root.eci)).toMatchObject([{ eci: ghost, reason: { code: 'UNKNOWN_ECI' } }]), { timeout: 10_000 });
    // Within the grace (a minute by default) it is tried again: a map behind a move catches up.
    await install(b.host, b.root.eci, 'test.relay');
    await b.host.event({ eci: b.root.eci, domain: 'out', type: 'send', attrs: { to: ghost, n: 1 } });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await b.host.deadLetters(b.root.eci)).toEqual([]);
    expect(b.host.stats().outbox).toBe(1);
  });
});

describe('realm trouble', () => {
  const slow = ruleset('test.slow')
    .rule('wait', { select: 'slow:wait', action: () => new Promise<void>((r) => setTimeout(r, 1_000)) })
    .build();

  async function pair(nats: string, o: { requestMs?: number; outbox?: number } = {}) {
    const open = async (name: string) => {
      const node = await openNode({
        dataDir: await tempDir(),
        rulesets: [counter, relay, slow],
        hostId: name,
        realm: { servers: [nats], partitions: 8, ...(o.requestMs ? { requestMs: o.requestMs } : {}) },
        ...(o.outbox ? { limits: { outbox: o.outbox } } : {}),
      });
      onCleanup(async () => {
        await node.realm!.stop();
        await node.host.close();
        await node.realm!.close();
      });
      node.host.start(50);
      return { ...node, root: await node.host.root() };
    };
    return [await open('a'), await open('b')] as const;
  }

  it('a host that does not answer in time is OUTCOME_UNKNOWN (504) for an event, REMOTE_TIMEOUT (504) for a query; one that is gone, NO_RESPONDERS (503); one that is stopping, SHUTTING_DOWN (503)', async () => {
    const nats = await startNats();
    const [a, b] = await pair(nats.url, { requestMs: 200 });
    const kid = await newChild(b.host, b.root.eci, 'kid');
    await install(b.host, kid.eci, 'test.slow');
    expect(await rejection(a.host.event({ eci: kid.eci, domain: 'slow', type: 'wait' }))).toMatchObject({ code: 'OUTCOME_UNKNOWN', status: 504 });
    // The cloud's mailbox is held by that episode: a query waits behind it, and is out of time as a read.
    expect(await rejection(a.host.query({ eci: kid.eci, rid: 'io.picolabs.wrangler', name: 'name' }))).toMatchObject({ code: 'REMOTE_TIMEOUT', status: 504 });
    const closing = b.host.close();
    expect(await rejection(a.host.query({ eci: kid.eci, rid: 'io.picolabs.wrangler', name: 'name' }))).toMatchObject({ code: 'SHUTTING_DOWN', status: 503 });
    await closing;
    await b.realm!.stop();
    expect(await rejection(a.host.query({ eci: kid.eci, rid: 'io.picolabs.wrangler', name: 'name' }))).toMatchObject({ code: 'NO_RESPONDERS', status: 503 });
  });

  it('without NATS a host serves its own clouds, answers 503 for others, keeps sends in its bounded outbox, and resumes on reconnect', async () => {
    const nats = await startNats();
    const [a, b] = await pair(nats.url, { outbox: 3 });
    const kid = await newChild(b.host, b.root.eci, 'kid');
    await install(b.host, kid.eci, 'test.relay');
    await install(a.host, a.root.eci, 'test.relay');
    await install(a.host, a.root.eci, 'test.counter');
    await nats.nodes[0]!.kill();
    await vi.waitFor(() => expect(a.realm!.connected).toBe(false));
    expect((await a.host.event({ eci: a.root.eci, domain: 'counter', type: 'inc' })).directives[0]!.options).toEqual({ count: 1 });
    expect(await rejection(a.host.query({ eci: kid.eci, rid: 'test.relay', name: 'heard' }))).toMatchObject({ code: 'REALM_UNAVAILABLE', status: 503 });
    for (const n of [1, 2, 3]) await a.host.event({ eci: a.root.eci, domain: 'out', type: 'send', attrs: { to: kid.eci, n } });
    await vi.waitFor(() => expect(a.host.stats().outbox).toBe(3));
    expect(await rejection(a.host.event({ eci: a.root.eci, domain: 'out', type: 'send', attrs: { to: kid.eci, n: 4 } }))).toMatchObject({ code: 'OUTBOX_FULL', status: 503 });
    await nats.nodes[0]!.start();
    await vi.waitFor(async () => expect(await b.host.query({ eci: kid.eci, rid: 'test.relay', name: 'heard' })).toEqual([1, 2, 3]), { timeout: 20_000 });
    expect(await a.host.query({ eci: kid.eci, rid: 'test.relay', name: 'heard' })).toEqual([1, 2, 3]);
  });
});

describe('a host restarting in its realm', () => {
  /** Open host `name` on `dataDir` in the realm at `nats`; its trouble joining goes to `trouble`. */
  async function openIn(nats: string, name: string, dataDir: string, trouble: unknown[] = [], requestMs?: number) {
    const node = await openNode({ dataDir, rulesets: [counter], hostId: name, realm: { servers: [nats], partitions: 4, ...(requestMs ? { requestMs } : {}) }, onRealmTrouble: (err) => trouble.push(err) });
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await node.realm!.stop();
      await node.host.close();
      await node.realm!.close();
    };
    onCleanup(stop);
    return { ...node, stop, root: await node.host.root() };
  }

  it('serves its own clouds before it has joined, even with NATS down; work for other hosts waits for the join', async () => {
    const nats = await startNats();
    const b = await openIn(nats.url, 'b', await tempDir());
    const kid = await newChild(b.host, b.root.eci, 'kid');
    await install(b.host, kid.eci, 'test.counter');
    const dirA = await tempDir();
    const first = await openIn(nats.url, 'a', dirA);
    const partitions = first.realm!.partitions;
    await install(first.host, first.root.eci, 'test.counter');
    await first.stop();

    // NATS is down: the host opens all the same, on the partitions it owned, and serves its own clouds.
    await nats.nodes[0]!.kill();
    const trouble: unknown[] = [];
    const a = await openIn(nats.url, 'a', dirA, trouble, 300);
    expect(a.realm!.partitions).toEqual(partitions);
    expect(a.realm!.connected).toBe(false);
    expect((await a.host.event({ eci: a.root.eci, domain: 'counter', type: 'inc' })).directives[0]!.options).toEqual({ count: 1 });
    expect(await rejection(a.host.query({ eci: kid.eci, rid: 'test.counter', name: 'count' }))).toMatchObject({ code: 'REALM_UNAVAILABLE', status: 503 });
    await vi.waitFor(() => expect(trouble.length).toBeGreaterThan(0));
    expect(trouble[0]).toMatchObject({ code: 'REALM_UNAVAILABLE' });

    // NATS is back: it joins, and other hosts' clouds are reached through it.
    await nats.nodes[0]!.start();
    await a.realm!.joined;
    expect(a.realm!.connected).toBe(true);
    // b reconnects to the restarted nats-server on its own schedule.
    await vi.waitFor(() => expect(b.realm!.connected).toBe(true), { timeout: 10_000 });
    await vi.waitFor(async () => expect(await a.host.query({ eci: kid.eci, rid: 'test.counter', name: 'count' })).toBe(0), { timeout: 10_000 });
    expect(await b.host.query({ eci: a.root.eci, rid: 'test.counter', name: 'count' })).toBe(1);
    await a.stop();

    // Work for another host asked of a host still joining waits for the join, then goes through.
    const again = await openIn(nats.url, 'a', dirA);
    const asked = again.host.event({ eci: kid.eci, domain: 'counter', type: 'inc' });
    expect((await asked).directives[0]!.options).toEqual({ count: 1 });
    expect(again.realm!.partitions).toEqual(partitions);
  });

  it('does not join when the realm gave a partition it made clouds in to another host, and says why', async () => {
    const nats = await startNats();
    const dir = await tempDir();
    const first = await openIn(nats.url, 'a', dir);
    const [lost] = first.realm!.partitions;
    await first.stop();
    const link = await NatsLink.connect({ servers: [nats.url], name: 'test' });
    onCleanup(() => link.close());
    await (await link.bucket(resources.placementBucket('kumo'), 1)).put(`p.${lost}`, 'z');
    const trouble: unknown[] = [];
    const a = await openIn(nats.url, 'a', dir, trouble);
    await vi.waitFor(() => expect(trouble.length).toBeGreaterThan(0));
    expect(trouble[0]).toMatchObject({ code: 'REALM_UNAVAILABLE', message: expect.stringContaining(`partitions ${lost}, where host a made clouds, to other hosts`) });
    expect(a.realm!.connected).toBe(false);
    // Its own clouds are served all the same.
    expect(await a.host.query({ eci: a.root.eci, rid: 'io.picolabs.wrangler', name: 'name' })).toBe('root');
  });

  it('a host stopped before it could join tells what waited, at once', async () => {
    const nats = await startNats();
    const dir = await tempDir();
    await (await openIn(nats.url, 'a', dir)).stop();
    await nats.nodes[0]!.kill();
    const a = await openIn(nats.url, 'a', dir, [], 60_000);
    const waiting = rejection(a.host.query({ eci: 'E0000AAAAAAAAAAAAAAAAAAAAAA', rid: 'test.counter', name: 'count' }));
    await a.stop();
    expect(await waiting).toMatchObject({ code: 'REALM_UNAVAILABLE', message: expect.stringContaining('stopped') });
    expect(await rejection(a.realm!.joined)).toMatchObject({ code: 'REALM_UNAVAILABLE' });
  });
});

describe('realm security', () => {
  it('hosts authenticate to NATS: with the password a host joins; without it, it is refused with a clear error that does not show the password', async () => {
    const nats = await startNats({ user: 'kumo', password: 's3cret' });
    const node = await openNode({ dataDir: await tempDir(), hostId: 'ok', realm: { servers: nats.urls, partitions: 2 } });
    expect(node.realm!.partitions).toHaveLength(2);
    await node.realm!.stop();
    await node.host.close();
    await node.realm!.close();
    const wrong = nats.urls[0]!.replace('s3cret', 'guess');
    const err = await rejection(openNode({ dataDir: await tempDir(), hostId: 'bad', realm: { servers: [wrong], partitions: 2 } }));
    expect(err).toMatchObject({ code: 'REALM_UNAVAILABLE' });
    expect(err.message).toMatch(/authorization/i);
    expect(err.message).not.toContain('guess');
    const none = await rejection(openNode({ dataDir: await tempDir(), hostId: 'none', realm: { servers: [nats.nodes[0]!.url], partitions: 2 } }));
    expect(none).toMatchObject({ code: 'REALM_UNAVAILABLE' });
  });
});
