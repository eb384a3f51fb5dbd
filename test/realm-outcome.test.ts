import { describe, expect, it } from 'vitest';
import { post, rootEci } from './server-harness.ts';
import { startNats } from './nats-harness.ts';
import { counts, realmHost, tallyCloud } from './realm-harness.ts';

// An answer never lies (issue 21, items 3 and 5): work that may have been applied is never answered
// "not taken" (503), and a request in flight to a host that died fails at once, not after 10 s.

const sendSlow = (url: string, eci: string, n: number, key?: string) =>
  fetch(`${url}/sky/event/${eci}/slow${n}/tally/slow`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) }, body: JSON.stringify({ ms: 1500, n }) });

describe('answers that never lie', { timeout: 120_000 }, () => {
  it('a request in flight to a host that is killed: OUTCOME_UNKNOWN within about two seconds, not a 504 after ten; a retry with its key applies it once', async () => {
    const nats = await startNats();
    const a = await realmHost(nats.url, 'a');
    let b = await realmHost(nats.url, 'b');
    const onB = await tallyCloud(b.url, await rootEci(b), 'kid');
    const started = Date.now();
    const inFlight = sendSlow(a.url, onB, 1, 'key-1');
    await new Promise((r) => setTimeout(r, 300));
    await b.stop('SIGKILL');
    const r = await inFlight;
    expect([r.status, ((await r.json()) as any).error.code]).toEqual([504, 'OUTCOME_UNKNOWN']);
    expect(Date.now() - started).toBeLessThan(4_000);
    // Back, and asked again with the same key: applied once, whatever happened before.
    b = await realmHost(nats.url, 'b', { dataDir: b.dataDir });
    for (;;) {
      const again = await sendSlow(a.url, onB, 1, 'key-1');
      if (again.status === 200) break;
      expect([503, 504]).toContain(again.status);
      await new Promise((res) => setTimeout(res, 200));
    }
    expect(await counts(a.url, onB)).toEqual({ '1': 1 });
  });

  it('a host killed and back at once: what was in flight to the old one fails fast too (the new one never heard of it)', async () => {
    const nats = await startNats();
    const a = await realmHost(nats.url, 'a');
    let b = await realmHost(nats.url, 'b');
    const onB = await tallyCloud(b.url, await rootEci(b), 'kid');
    const started = Date.now();
    const inFlight = sendSlow(a.url, onB, 2);
    await new Promise((r) => setTimeout(r, 300));
    await b.stop('SIGKILL');
    b = await realmHost(nats.url, 'b', { dataDir: b.dataDir });
    const r = await inFlight;
    expect([r.status, ((await r.json()) as any).error.code]).toEqual([504, 'OUTCOME_UNKNOWN']);
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('nats-server killed while an event waits for its host: OUTCOME_UNKNOWN, never 503; one sent after: 503 REALM_UNAVAILABLE (not sent)', async () => {
    const nats = await startNats();
    const a = await realmHost(nats.url, 'a');
    const b = await realmHost(nats.url, 'b');
    const onB = await tallyCloud(b.url, await rootEci(b), 'kid');
    const inFlight = sendSlow(a.url, onB, 3);
    await new Promise((r) => setTimeout(r, 300));
    await nats.nodes[0]!.kill();
    const r = await inFlight;
    expect([r.status, ((await r.json()) as any).error.code]).toEqual([504, 'OUTCOME_UNKNOWN']);
    const after = await post(`${a.url}/sky/event/${onB}/later/tally/mark`, { n: 4 });
    expect([after.status, after.body.error.code]).toEqual([503, 'REALM_UNAVAILABLE']);
  });
});

describe('no stalls', { timeout: 180_000 }, () => {
  // Resuming took 30 s and more before (the consumer's pull lost with a node); it takes 0 to 5 s now
  // (the chaos run reports it). The bound here is loose on purpose: these machines are shared.
  it('each node of a three-node cluster killed and brought back in turn: deliveries to a host resume within seconds of its return, not half a minute', async () => {
    const nats = await startNats({ nodes: 3 });
    const [a, b] = await Promise.all([realmHost(nats.url, 'a', { args: ['--replicas', '3'] }), realmHost(nats.url, 'b', { args: ['--replicas', '3'] })]);
    const target = await tallyCloud(b.url, await rootEci(b), 'target');
    const sender = await tallyCloud(a.url, await rootEci(a), 'sender');
    let n = 0;
    const sendAndTime = async (): Promise<number> => {
      const mine = ++n;
      const started = Date.now();
      expect((await post(`${a.url}/sky/event/${sender}/s${mine}/tally/send`, { to: target, n: mine })).status).toBe(200);
      for (;;) {
        if ((await counts(b.url, target))[String(mine)] === 1) return Date.now() - started;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    expect(await sendAndTime()).toBeLessThan(5_000);
    const resumed: number[] = [];
    for (const node of nats.nodes) {
      await node.kill();
      await new Promise((r) => setTimeout(r, 3_000));
      await node.start();
      resumed.push(await sendAndTime());
    }
    expect(resumed.map((ms) => (ms < 10_000 ? 'within 10 s' : ms))).toEqual(['within 10 s', 'within 10 s', 'within 10 s']);
  });
});
