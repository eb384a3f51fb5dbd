import { openDataDir } from '../channels/data-dir.ts';
import { describe, expect, it, vi } from 'vitest';
import { ranges } from '../kernel/index.ts';
import { post, rootEci } from './server-harness.ts';
import { startNats } from './nats-harness.ts';
import { counts, realmHost, wranglerOn } from './realm-harness.ts';

// Moving a cloud between real `kumo serve --nats` processes, with load, and with hosts killed.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Does the (stopped) host of `dataDir` keep records of cloud `id`? */
async function holds(dataDir: string, id: string): Promise<boolean> {
  const store = await openDataDir(dataDir);
  const n = (await store.keys(ranges.cloud(id))).length;
  await store.close();
  return n > 0;
}

describe('moving a cloud between hosts of a realm', { timeout: 180_000 }, () => {
  it('while a client sends an event every millisecond through a third host: every event applied exactly once, in order; schedules fire on the new host', async () => {
    const nats = await startNats();
    const [a, b, c] = await Promise.all([realmHost(nats.url, 'a'), realmHost(nats.url, 'b'), realmHost(nats.url, 'c')]);
    const home = await wranglerOn(a.url, await rootEci(a), 'new_child_request', { name: 'home', rids: ['test.tally'] });
    const kitchen = await wranglerOn(a.url, home['eci'], 'new_child_request', { name: 'kitchen', rids: ['test.tally'] });
    await post(`${a.url}/sky/event/${kitchen['eci']}/later/tally/later`, { ms: 4000 });
    const TOTAL = 1200;
    let move: Promise<{ status: number; body: any }> | null = null;
    for (let n = 0; n < TOTAL; n++) {
      const r = await post(`${c.url}/sky/event/${home['eci']}/s${n}/tally/seq`, { n });
      expect(r.status).toBe(200);
      if (n === 200) move = post(`${c.url}/c/${home['eci']}/move?to=b`);
      await sleep(1);
    }
    expect(await move).toMatchObject({ status: 200, body: { to: 'b', clouds: 2 } });
    const seq = (await post(`${c.url}/sky/cloud/${home['eci']}/test.tally/seq`)).body as number[];
    expect(seq).toEqual(Array.from({ length: TOTAL }, (_, n) => n));
    await vi.waitFor(async () => expect(await counts(c.url, kitchen['eci'])).toEqual({ rang: 1 }), { timeout: 10_000 });
    for (const url of [a.url, b.url]) expect((await post(`${url}/sky/cloud/${home['eci']}/test.tally/seq`)).body).toHaveLength(TOTAL);
  });

  const steps: Array<[string, 'a' | 'b', 'a' | 'b']> = [
    ['move:seized', 'a', 'a'],
    ['move:sent', 'a', 'a'],
    ['move:pending', 'a', 'a'],
    ['move:decided', 'a', 'b'],
    ['move:left', 'a', 'b'],
    ['move:landed', 'b', 'a'],
  ];

  it.each(steps)('host killed at %s (host %s): the move completes or is undone, never two live copies or none', async (step, killed, endsOn) => {
    const nats = await startNats();
    const env = { KUMO_CRASH_AT: step };
    let a = await realmHost(nats.url, 'a', killed === 'a' ? { env } : {});
    let b = await realmHost(nats.url, 'b', killed === 'b' ? { env } : {});
    const c = await realmHost(nats.url, 'c');
    const home = await wranglerOn(a.url, await rootEci(a), 'new_child_request', { name: 'home', rids: ['test.tally'] });
    for (const n of [1, 2, 3]) expect((await post(`${c.url}/sky/event/${home['eci']}/m${n}/tally/mark`, { n })).status).toBe(200);
    const asked = post(`${a.url}/c/${home['eci']}/move?to=b`).catch(() => ({ status: 0, body: null }));
    const victim = killed === 'a' ? a : b;
    expect(await victim.stop('SIGCONT')).toBeNull(); // it died of SIGKILL at the step, not of this signal
    await asked;
    if (killed === 'a') a = await realmHost(nats.url, 'a', { dataDir: a.dataDir });
    else b = await realmHost(nats.url, 'b', { dataDir: b.dataDir });
    // One live copy, with everything acknowledged, reachable through every host; it keeps working.
    await vi.waitFor(async () => expect(await counts(c.url, home['eci'])).toEqual({ '1': 1, '2': 1, '3': 1 }), { timeout: 30_000, interval: 250 });
    expect((await post(`${a.url}/sky/event/${home['eci']}/m4/tally/mark`, { n: 4 })).status).toBe(200);
    for (const h of [a, b, c]) expect(await counts(h.url, home['eci'])).toEqual({ '1': 1, '2': 1, '3': 1, '4': 1 });
    await Promise.all([a.stop(), b.stop()]);
    const held = await Promise.all([a, b].map((h) => holds(h.dataDir, home['id'])));
    expect(held).toEqual([endsOn === 'a', endsOn === 'b']);
  });

  it('a host told to stop (SIGTERM) while its move waits on a host that does not answer answers the move OUTCOME_UNKNOWN at once and stops; at its next start the move is undone', async () => {
    const nats = await startNats();
    let a = await realmHost(nats.url, 'a');
    const b = await realmHost(nats.url, 'b');
    const home = await wranglerOn(a.url, await rootEci(a), 'new_child_request', { name: 'home', rids: ['test.tally'] });
    for (const n of [1, 2, 3]) expect((await post(`${a.url}/sky/event/${home['eci']}/m${n}/tally/mark`, { n })).status).toBe(200);
    // The target frozen: the move's first request to it waits for its time limit (10 s), as would a
    // JetStream write to a cluster that lost its quorum.
    b.proc.kill('SIGSTOP');
    const asked = post(`${a.url}/c/${home['eci']}/move?to=b`);
    await sleep(1500);
    // An event for the cloud on hold waits for the move; the stop tells it, rather than waiting for it.
    const waiting = post(`${a.url}/sky/event/${home['eci']}/held/tally/mark`, { n: 'held' });
    await sleep(200);
    expect(await a.stop('SIGTERM')).toBe(0);
    expect(await asked).toMatchObject({ status: 504, body: { error: { code: 'OUTCOME_UNKNOWN', message: expect.stringContaining('interrupted') } } });
    expect(await waiting).toMatchObject({ status: 503, body: { error: { code: 'SHUTTING_DOWN' } } });
    b.proc.kill('SIGCONT');
    a = await realmHost(nats.url, 'a', { dataDir: a.dataDir });
    // Undone: one live copy, on a, with everything it had; reachable through b too.
    await vi.waitFor(async () => expect(await counts(b.url, home['eci'])).toEqual({ '1': 1, '2': 1, '3': 1 }), { timeout: 30_000, interval: 250 });
    expect((await post(`${b.url}/sky/event/${home['eci']}/m4/tally/mark`, { n: 4 })).status).toBe(200);
    expect(await counts(a.url, home['eci'])).toEqual({ '1': 1, '2': 1, '3': 1, '4': 1 });
    await Promise.all([a.stop(), b.stop()]);
    const held = await Promise.all([a, b].map((h) => holds(h.dataDir, home['id'])));
    expect(held).toEqual([true, false]);
  });
});
