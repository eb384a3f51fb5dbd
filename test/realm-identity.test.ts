import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { openNode } from '../channels/open-node.ts';
import { NatsLink } from '../channels/realm/nats-link.ts';
import { resources } from '../channels/realm/wire.ts';
import { newChild, rejection } from './fixtures.ts';
import { onCleanup, tempDir } from './helpers.ts';
import { startNats } from './nats-harness.ts';
import { counts, load, realmHost, tallyCloud } from './realm-harness.ts';
import { post, rootEci, runKumo } from './server-harness.ts';

// One cloud, one copy (issue 21, items 2 and 4): a host id is bound to the data directory that
// first joined with it, a data directory to its realm and host id, and a host that sees a newer
// claim on what it serves stops serving at once.

describe("a host id is its data directory's", { timeout: 120_000 }, () => {
  it('a second host started with the id of a running one (another data directory) is refused; the first one loses nothing', async () => {
    const nats = await startNats();
    const [a, b] = await Promise.all([realmHost(nats.url, 'a'), realmHost(nats.url, 'b')]);
    const onA = await tallyCloud(a.url, await rootEci(a), 'kid');
    const sending = load(200, 4, async (n) => {
      const r = await post(`${b.url}/sky/event/${onA}/e${n}/tally/mark`, { n });
      expect(r.status).toBe(200);
    });
    const impostor = await runKumo(['serve', '--port', '0', '--data', join(await tempDir(), 'fresh'), '--nats', nats.url, '--host-id', 'a', '--rulesets', 'examples']);
    await sending;
    expect(impostor.code).toBe(1);
    expect(impostor.stderr).toMatch(/^kumo: host id a of realm kumo belongs to another data directory/);
    const seen = await counts(b.url, onA);
    expect(Object.keys(seen)).toHaveLength(200);
    expect(Object.values(seen).every((c) => c === 1)).toBe(true);
  });

  it("a copy of a running host's data directory, started as that host, is refused: it runs already", async () => {
    const nats = await startNats();
    let a = await realmHost(nats.url, 'a');
    expect(await a.stop()).toBe(0);
    const copy = join(await tempDir(), 'copy');
    await cp(a.dataDir, copy, { recursive: true });
    await cp(`${a.dataDir}.key`, `${copy}.key`); // the operator copies its key too (else the copy opens nothing)
    a = await realmHost(nats.url, 'a', { dataDir: a.dataDir });
    const twice = await runKumo(['serve', '--port', '0', '--data', copy, '--nats', nats.url, '--host-id', 'a', '--rulesets', 'examples']);
    // It restarts on its own clouds at once, as any host of a realm does, and stops once the realm refuses it.
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/^kumo: host a of realm kumo is running already/);
    expect(twice.stdout).toMatch(/kumo host a stops serving its realm kumo: host a of realm kumo is running already/);
    expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
  });

  it("a data directory restarts only as its realm's host: not as another host id, in another realm, or alone", async () => {
    const nats = await startNats();
    const [a, b] = await Promise.all([realmHost(nats.url, 'a'), realmHost(nats.url, 'b')]);
    const onA = await tallyCloud(a.url, await rootEci(a), 'kid');
    expect(await a.stop()).toBe(0);
    const serve = (...args: string[]) => runKumo(['serve', '--port', '0', '--data', a.dataDir, '--rulesets', 'examples', ...args]);
    const cases: Array<[string[], RegExp]> = [
      [['--nats', nats.url, '--host-id', 'a2'], /this data directory is host a of realm kumo, not host a2/],
      [['--nats', nats.url, '--host-id', 'a', '--realm', 'other'], /this data directory is host a of realm kumo, not of realm other/],
      [[], /this data directory is host a of realm kumo, and cannot run alone/],
    ];
    for (const [args, why] of cases) {
      const r = await serve(...args);
      expect([args.join(' '), r.code]).toEqual([args.join(' '), 1]);
      expect(r.stderr).toMatch(why);
    }
    // Started as itself (the id may be left out: it is the data directory's), it serves at once.
    const again = await realmHost(nats.url, 'a', { dataDir: a.dataDir });
    await vi.waitFor(async () => expect((await post(`${b.url}/sky/event/${onA}/x1/tally/mark`, { n: 1 })).status).toBe(200), { timeout: 10_000 });
    expect(await counts(again.url, onA)).toEqual({ '1': 1 });
  });
});

describe('fencing', { timeout: 60_000 }, () => {
  async function inProcess(nats: string, name: string) {
    const node = await openNode({ dataDir: await tempDir(), hostId: name, realm: { servers: [nats], partitions: 4 } });
    onCleanup(async () => {
      await node.realm!.stop();
      await node.host.close();
      await node.realm!.close();
    });
    return { ...node, root: await node.host.root() };
  }

  async function placementBucket(nats: string) {
    const link = await NatsLink.connect({ servers: [nats], name: 'test' });
    onCleanup(() => link.close());
    return link.bucket(resources.placementBucket('kumo'), 1);
  }

  it("a newer claim on the host's id (a higher epoch) stops it serving at once: every request refused HOST_FENCED, other hosts told no responders", async () => {
    const nats = await startNats();
    const a = await inProcess(nats.url, 'a');
    const b = await inProcess(nats.url, 'b');
    const kid = await newChild(a.host, a.root.eci, 'kid');
    expect(await b.host.eciInfo(kid.eci)).toMatchObject({ id: kid.eci });
    const bucket = await placementBucket(nats.url);
    const e = (await bucket.get('h.a'))!;
    const claim = JSON.parse(e.value!) as { epoch: number };
    expect(claim.epoch).toBe(1);
    await bucket.update('h.a', JSON.stringify({ ...claim, epoch: 2 }), e.revision);
    expect(await a.realm!.fenced).toMatch(/host a joined the realm again elsewhere \(claim 2, this one 1\)/);
    a.host.fence(await a.realm!.fenced);
    expect(await rejection(a.host.event({ eci: kid.eci, domain: 'x', type: 'y' }))).toMatchObject({ code: 'HOST_FENCED', status: 503 });
    // A request may be in flight when a unsubscribes; under load one try can take over a second.
    await vi.waitFor(async () => expect(await rejection(b.host.eciInfo(kid.eci))).toMatchObject({ code: 'NO_RESPONDERS' }), { timeout: 10_000, interval: 100 });
  });

  it('a partition the host serves owned by another host stops it serving', async () => {
    const nats = await startNats();
    const a = await inProcess(nats.url, 'a');
    const bucket = await placementBucket(nats.url);
    const p = a.realm!.partitions[0]!;
    await bucket.put(`p.${p}`, 'z');
    expect(await a.realm!.fenced).toBe(`partition ${p}, which this host serves, is owned by host z now`);
  });

  it('a restarted host claims its id again with a higher epoch', async () => {
    const nats = await startNats();
    const dataDir = await tempDir();
    const first = await openNode({ dataDir, hostId: 'a', realm: { servers: [nats.url], partitions: 4 } });
    await first.realm!.stop();
    await first.host.close();
    await first.realm!.close();
    const again = await openNode({ dataDir, realm: { servers: [nats.url] } });
    onCleanup(async () => {
      await again.realm!.stop();
      await again.host.close();
      await again.realm!.close();
    });
    await again.realm!.joined;
    expect(again.host.id).toBe('a');
    const bucket = await placementBucket(nats.url);
    expect(JSON.parse((await bucket.get('h.a'))!.value!)).toMatchObject({ id: 'a', epoch: 2 });
  });
});
