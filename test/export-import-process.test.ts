import { describe, expect, it, vi } from 'vitest';
import { post, rootEci, startServerProcess, type ServerProcess } from './server-harness.ts';
import { startNats } from './nats-harness.ts';
import { counts, realmHost, tallyDir, wranglerOn } from './realm-harness.ts';

/**
 * Cloud files between real `kumo serve` processes: out of one realm, into a second realm and into
 * a host alone, over HTTP (`POST /c/:eci/export`, `POST /c/:eci/import`); and every kind of bad
 * file refused with nothing written.
 */

const patient = { timeout: 20_000, interval: 100 };

async function exportFile(s: ServerProcess, eci: string, passphrase?: string): Promise<Buffer> {
  const res = await fetch(`${s.url}/c/${eci}/export`, { method: 'POST', headers: passphrase ? { 'kumo-passphrase': passphrase } : {} });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-disposition')).toMatch(/filename="home\.kumo"/);
  return Buffer.from(await res.arrayBuffer());
}

async function importFile(s: ServerProcess, file: Buffer, passphrase?: string, under?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.url}/c/${under ?? (await rootEci(s))}/import`, { method: 'POST', body: new Blob([file]), headers: passphrase ? { 'kumo-passphrase': passphrase } : {} });
  return { status: res.status, body: await res.json() };
}

const children = async (s: ServerProcess) => (await post(`${s.url}/sky/cloud/${await rootEci(s)}/io.picolabs.wrangler/children`)).body as Array<{ name: string }>;

describe('cloud files between realms and hosts', { timeout: 120_000 }, () => {
  it('out of one realm into a second realm and into a host alone: ECIs, state and schedules intact', async () => {
    const [n1, n2] = await Promise.all([startNats(), startNats()]);
    const [a1, a2, b1, b2] = await Promise.all([realmHost(n1.url, 'a1'), realmHost(n1.url, 'a2'), realmHost(n2.url, 'b1'), realmHost(n2.url, 'b2')]);
    const alone = await startServerProcess({ rulesetsDir: await tallyDir() });
    const home = (await wranglerOn(a1.url, await rootEci(a1), 'new_child_request', { name: 'home', rids: ['test.tally'] }))['eci'] as string;
    const kitchen = (await wranglerOn(a1.url, home, 'new_child_request', { name: 'kitchen', rids: ['test.tally'] }))['eci'] as string;
    for (const [eci, n] of [
      [home, 1],
      [home, 2],
      [kitchen, 3],
    ] as const)
      expect((await post(`${a2.url}/sky/event/${eci}/m${n}/tally/mark`, { n })).status).toBe(200);
    expect((await post(`${a1.url}/sky/event/${kitchen}/l1/tally/later`, { ms: 4_000 })).status).toBe(200);

    // Through a host that does not have the cloud: sent on (307) to the one that has.
    const plain = await exportFile(a2, home);
    const sealed = await exportFile(a1, home, 'correct horse');
    expect(sealed.includes(Buffer.from('test.tally'))).toBe(true); // the header is readable
    expect(sealed.length).toBeGreaterThan(plain.length - 100);

    expect(await importFile(b2, plain, undefined, await rootEci(b1))).toMatchObject({ status: 200, body: { name: 'home', clouds: 2, from: { realm: 'kumo', host: 'a1' } } });
    expect(await importFile(alone, sealed, 'correct horse')).toMatchObject({ status: 200, body: { name: 'home', clouds: 2 } });

    // The same ECIs, through any host of the second realm and on the host alone; the schedule rings there too.
    for (const url of [b2.url, b1.url, alone.url]) {
      expect(await counts(url, home)).toEqual({ '1': 1, '2': 1 });
      await vi.waitFor(async () => expect(await counts(url, kitchen)).toEqual({ '3': 1, rang: 1 }), patient);
    }
    // They go on working there.
    for (const url of [b1.url, alone.url]) expect((await post(`${url}/sky/event/${home}/m9/tally/mark`, { n: 9 })).status).toBe(200);
    for (const url of [b2.url, alone.url]) expect(await counts(url, home)).toEqual({ '1': 1, '2': 1, '9': 1 });
    // A copy, not a move: the first realm still has its own.
    expect(await counts(a2.url, home)).toEqual({ '1': 1, '2': 1 });
  });

  it('refuses every kind of bad file with a stable code, and writes nothing', async () => {
    const dir = await tallyDir();
    const [source, target] = await Promise.all([startServerProcess({ rulesetsDir: dir }), startServerProcess({ rulesetsDir: dir })]);
    const bare = await startServerProcess(); // without the tally ruleset
    const home = (await wranglerOn(source.url, await rootEci(source), 'new_child_request', { name: 'home', rids: ['test.tally'] }))['eci'] as string;
    const file = await exportFile(source, home);
    const sealed = await exportFile(source, home, 'pass');
    const flipped = Buffer.from(file);
    flipped[flipped.length - 3]! ^= 0xff;
    const newer = Buffer.from(file.toString('latin1').replace('"version":1', '"version":9'), 'latin1');
    // A record count of the same width, so only the header's word changes, not its length.
    const tampered = Buffer.from(
      file.toString('latin1').replace(/"records":(\d)/, (_m, d: string) => `"records":${(Number(d) % 9) + 1}`),
      'latin1',
    );
    expect(tampered.equals(file)).toBe(false);
    const cases: Array<[string, Buffer, string | undefined, number, string, string | undefined]> = [
      ['foreign', Buffer.from('{"hello": "world"}'), undefined, 400, 'INVALID_CLOUD_FILE', 'foreign'],
      ['truncated', file.subarray(0, file.length - 10), undefined, 400, 'INVALID_CLOUD_FILE', 'truncated'],
      ['corrupt', flipped, undefined, 400, 'INVALID_CLOUD_FILE', 'corrupt'],
      ['version', newer, undefined, 400, 'INVALID_CLOUD_FILE', 'version'],
      ['no passphrase', sealed, undefined, 400, 'INVALID_CLOUD_FILE', 'passphrase'],
      ['wrong passphrase', sealed, 'guess', 400, 'INVALID_CLOUD_FILE', 'passphrase'],
      ['a passphrase for a plain file', file, 'pass', 400, 'INVALID_CLOUD_FILE', 'passphrase'],
      ['a header saying other than its body', tampered, undefined, 400, 'INVALID_CLOUD_FILE', 'corrupt'],
    ];
    for (const [what, bytes, passphrase, status, code, reason] of cases) {
      const r = await importFile(target, bytes, passphrase);
      expect([what, r.status, r.body.error.code, r.body.error.reason]).toEqual([what, status, code, reason]);
    }
    expect(await children(target)).toEqual([]);
    const missing = await importFile(bare, file);
    expect([missing.status, missing.body.error.code, missing.body.error.rids]).toEqual([422, 'MISSING_RULESETS', ['test.tally']]);
    expect(await children(bare)).toEqual([]);
    // A good file once; the same again collides with what it brought.
    expect((await importFile(target, file)).status).toBe(200);
    const again = await importFile(target, file);
    expect([again.status, again.body.error.code]).toEqual([409, 'IMPORT_CONFLICT']);
    expect((await children(target)).map((c) => c.name)).toEqual(['home']);
    // Exporting needs the cloud's full authority; leaving needs a forwarding address.
    const leave = await fetch(`${source.url}/c/${home}/export?leave=true`, { method: 'POST' });
    expect([leave.status, ((await leave.json()) as any).error.code]).toEqual([400, 'INVALID_ARGS']);
    expect((await post(`${source.url}/sky/event/${home}/m1/tally/mark`, { n: 1 })).status).toBe(200); // it did not leave
  });
});
