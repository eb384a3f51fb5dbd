import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { post, rootEci } from './server-harness.ts';
import { startNats } from './nats-harness.ts';
import { counts, load, realmHost, tallyCloud } from './realm-harness.ts';
import { wsText } from '../channels/http/websocket.ts';

// A realm of real `kumo serve --nats` processes on a real nats-server.

const exactlyOnce = (seen: Record<string, number>, total: number): void => {
  const wrong = Array.from({ length: total }, (_, n) => [n, seen[String(n)] ?? 0]).filter(([, c]) => c !== 1);
  expect(wrong).toEqual([]);
};

describe('a realm of hosts', { timeout: 120_000 }, () => {
  it('any host is a front door: events, queries, 202s, logs and a WebSocket by ECI through a host that does not hold the cloud', async () => {
    const nats = await startNats();
    const [a, b] = await Promise.all([realmHost(nats.url, 'a'), realmHost(nats.url, 'b')]);
    const onB = await tallyCloud(b.url, await rootEci(b), 'kid');
    const sky = await post(`${a.url}/sky/event/${onB}/e1/tally/mark`, { n: 1 });
    expect(sky).toMatchObject({ status: 200, body: { eid: 'e1', directives: [] } });
    expect(await counts(a.url, onB)).toEqual({ '1': 1 });
    expect((await post(`${a.url}/c/${onB}/event/tally/mark`, { n: 2 })).status).toBe(202);
    await vi.waitFor(async () => expect(await counts(b.url, onB)).toEqual({ '1': 1, '2': 1 }));
    expect((await post(`${a.url}/sky/event/E0000AAAAAAAAAAAAAAAAAAAAAA/e2/x/y`)).status).toBe(404);
    const logs = await (await fetch(`${a.url}/c/${await rootEci(b)}/logs?limit=1`)).json();
    expect(logs).toMatchObject({ entries: [{ domain: 'wrangler', type: 'new_child_request' }] });
    // A WebSocket on host a, attached to the ECI of the cloud on host b: events, queries and pushes.
    const ws = new WebSocket(`${a.url.replace('http', 'ws')}/ws/${onB}`);
    const frames: any[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(wsText(d))));
    await vi.waitFor(() => expect(frames[0]).toEqual({ op: 'ready', eci: onB }));
    ws.send(JSON.stringify({ id: 1, op: 'event', domain: 'tally', type: 'shout', attrs: { n: 9 } }));
    ws.send(JSON.stringify({ id: 2, op: 'query', rid: 'test.tally', name: 'counts' }));
    await vi.waitFor(() => {
      expect(frames).toContainEqual(expect.objectContaining({ op: 'push', name: 'shout', data: { n: 9 } }));
      expect(frames).toContainEqual({ id: 2, ok: true, result: { '1': 1, '2': 1 } });
    });
    ws.close();
    // A rule on host a sends to the cloud on host b.
    const onA = await tallyCloud(a.url, await rootEci(a), 'sender');
    await post(`${a.url}/sky/event/${onA}/s1/tally/send`, { to: onB, n: 3 });
    await vi.waitFor(async () => expect(await counts(a.url, onB)).toEqual({ '1': 1, '2': 1, '3': 1 }));
  });

  it('three hosts started at once never own the same partition, and make clouds only in their own', async () => {
    const nats = await startNats();
    const hosts = await Promise.all(['h1', 'h2', 'h3'].map((n) => realmHost(nats.url, n, { partitions: 40 })));
    const owned = await Promise.all(hosts.map(async (h) => (await (await fetch(`${h.url}/realm`)).json()) as { host: string; partitions: number[] }));
    const all = owned.flatMap((o) => o.partitions);
    expect(all).toHaveLength(120);
    expect(new Set(all).size).toBe(120);
    for (const [i, h] of hosts.entries()) {
      const eci = await tallyCloud(h.url, await rootEci(h), 'c');
      expect(owned[i]!.partitions).toContain(parseInt(eci.slice(2, 5), 16));
    }
  });

  it('host b killed with SIGKILL while 2,000 events for its cloud are sent: each applied exactly once after it restarts', async () => {
    const nats = await startNats();
    const a = await realmHost(nats.url, 'a');
    let b = await realmHost(nats.url, 'b');
    const target = await tallyCloud(b.url, await rootEci(b), 'target');
    const sender = await tallyCloud(a.url, await rootEci(a), 'sender');
    const TOTAL = 2000;
    await load(
      TOTAL,
      20,
      async (n) => {
        const r = await post(`${a.url}/sky/event/${sender}/s${n}/tally/send`, { to: target, n });
        expect(r.status).toBe(200); // acknowledged: in a's outbox, durable
      },
      (done) => done === TOTAL / 4 && b.proc.kill('SIGKILL'),
    );
    await b.stop();
    b = await realmHost(nats.url, 'b', { dataDir: b.dataDir });
    await vi.waitFor(async () => expect(Object.keys(await counts(b.url, target))).toHaveLength(TOTAL), { timeout: 60_000, interval: 500 });
    exactlyOnce(await counts(b.url, target), TOTAL);
  });

  it('nats-server restarted mid-load: nothing acknowledged is lost or applied twice', async () => {
    const nats = await startNats();
    const [a, b] = await Promise.all([realmHost(nats.url, 'a'), realmHost(nats.url, 'b')]);
    const target = await tallyCloud(b.url, await rootEci(b), 'target');
    const sender = await tallyCloud(a.url, await rootEci(a), 'sender');
    const TOTAL = 1000;
    const fault: { restarted?: Promise<void> } = {};
    await load(
      TOTAL,
      20,
      async (n) => expect((await post(`${a.url}/sky/event/${sender}/s${n}/tally/send`, { to: target, n })).status).toBe(200),
      (done) => {
        if (done === Math.floor(TOTAL / 3)) fault.restarted = nats.nodes[0]!.kill().then(() => nats.nodes[0]!.start());
      },
    );
    expect(fault.restarted).toBeDefined(); // the node was restarted mid-load
    await fault.restarted;
    await vi.waitFor(async () => expect(Object.keys(await counts(b.url, target))).toHaveLength(TOTAL), { timeout: 60_000, interval: 500 });
    exactlyOnce(await counts(b.url, target), TOTAL);
  });

  it('on a three-node NATS cluster with one node killed mid-load, nothing acknowledged is lost', async () => {
    const nats = await startNats({ nodes: 3 });
    const [a, b] = await Promise.all([realmHost(nats.url, 'a', { args: ['--replicas', '3'] }), realmHost(nats.url, 'b', { args: ['--replicas', '3'] })]);
    const target = await tallyCloud(b.url, await rootEci(b), 'target');
    const sender = await tallyCloud(a.url, await rootEci(a), 'sender');
    const TOTAL = 1000;
    const fault: { killed?: Promise<void> } = {};
    await load(
      TOTAL,
      20,
      async (n) => expect((await post(`${a.url}/sky/event/${sender}/s${n}/tally/send`, { to: target, n })).status).toBe(200),
      (done) => {
        if (done === Math.floor(TOTAL / 3)) fault.killed = nats.nodes[0]!.kill();
      },
    );
    expect(fault.killed).toBeDefined(); // the node was killed mid-load
    await fault.killed;
    await vi.waitFor(async () => expect(Object.keys(await counts(b.url, target))).toHaveLength(TOTAL), { timeout: 60_000, interval: 500 });
    exactlyOnce(await counts(b.url, target), TOTAL);
  });
});
