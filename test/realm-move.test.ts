import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it, vi } from 'vitest';
import { openNode } from '../channels/open-node.ts';
import { openLevelStore, ranges, type Store } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { install, newChild, rejection } from './fixtures.ts';
import { onCleanup, storeWith, tempDir } from './helpers.ts';
import { startNats } from './nats-harness.ts';

/** Counts `tally:mark {n}`; `tally:later {ms}` schedules a `tally:mark {n: 'rang'}`. */
const tally = ruleset('test.tally')
  .rule('mark', { select: 'tally:mark', action: (ctx) => ctx.ent.set(`n${String(ctx.attrs['n'])}`, ((ctx.ent.get(`n${String(ctx.attrs['n'])}`) as number | undefined) ?? 0) + 1) })
  .rule('later', { select: 'tally:later', action: (ctx) => void ctx.scheduleAt(ctx.now() + Number(ctx.attrs['ms']), 'tally', 'mark', { n: 'rang' }) })
  .share('counts', (ctx) => Object.fromEntries(ctx.ent.names().map((k) => [k.slice(1), ctx.ent.get(k)])))
  .build();

async function realmHost(nats: string, name: string, store?: Store) {
  const node = await openNode({ ...(store ? { store } : { dataDir: await tempDir() }), rulesets: [tally], hostId: name, realm: { servers: [nats], partitions: 4 } });
  onCleanup(async () => {
    await node.realm!.stop();
    await node.host.close();
    await node.realm!.close();
  });
  node.host.start(50);
  await node.realm!.register({ since: Date.now() });
  return { ...node, root: await node.host.root() };
}

/** `test.keep`: `keep:it {secret}` keeps the secret in entity state. */
const keep = ruleset('test.keep')
  .rule('it', { select: 'keep:it', action: (ctx) => ctx.ent.set('secret', ctx.attrs['secret']) })
  .share('secret', (ctx) => ctx.ent.get('secret') ?? null)
  .build();

describe('moving a cloud within a realm', () => {
  it('crosses NATS sealed for the receiving host: nothing of the cloud in any message, nothing in either data directory', async () => {
    const nats = await startNats();
    const hostOn = async (name: string) => {
      const dataDir = await tempDir();
      const node = await openNode({ dataDir, rulesets: [keep], hostId: name, realm: { servers: [nats.url], partitions: 4 } });
      node.host.start(50);
      return { ...node, dataDir, root: await node.host.root() };
    };
    const [a, b] = [await hostOn('a'), await hostOn('b')];
    const secret = `S3cr3t-${randomBytes(18).toString('base64url')}`;
    const home = await newChild(a.host, a.root.eci, `home-${secret}`);
    await install(a.host, home.eci, 'test.keep');
    await a.host.event({ eci: home.eci, domain: 'keep', type: 'it', attrs: { secret } });
    // An ECI of the cloud that no request names (the move's own request names the ECI it moves, as any request of the realm names its ECI: TLS covers those).
    const made = await a.host.event({ eci: home.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['quiet'] } });
    const quiet = (made.directives[0]?.options as { id: string }).id;
    // Everything that crosses the NATS server meanwhile, whatever its subject.
    const spy = await connect({ servers: nats.url });
    const seen: Buffer[] = [];
    const subjects: string[] = [];
    spy.subscribe('>', { callback: (_err, msg) => void (seen.push(Buffer.from(msg.data)), subjects.push(msg.subject)) });
    await spy.flush();
    expect(await a.host.moveCloud(home.eci, 'b')).toMatchObject({ to: 'b', clouds: 1 });
    expect(await b.host.query({ eci: home.eci, rid: 'test.keep', name: 'secret' })).toBe(secret);
    await spy.flush();
    await spy.close();
    expect(seen.reduce((n, m) => n + m.length, 0)).toBeGreaterThan(1000);
    for (const needle of [secret, quiet]) expect(seen.flatMap((m, i) => (m.includes(Buffer.from(needle)) ? [`${subjects[i]}: ${m.toString().slice(0, 300)}`] : []))).toEqual([]);
    for (const h of [a, b]) {
      await h.realm!.stop();
      await h.host.close();
      await h.realm!.close();
    }
    for (const h of [a, b]) {
      for (const name of await readdir(h.dataDir, { recursive: true })) {
        const path = join(h.dataDir, name);
        if (!(await stat(path)).isFile()) continue;
        const bytes = await readFile(path);
        for (const needle of [secret, home.eci, quiet]) expect(bytes.includes(Buffer.from(needle)), `${needle} in ${h.realm!.hostId}:${name}`).toBe(false);
      }
    }
  });

  it('moves a cloud with its subtree, state and schedules; every ECI keeps working through every host', async () => {
    const nats = await startNats();
    const [a, b, c] = [await realmHost(nats.url, 'a'), await realmHost(nats.url, 'b'), await realmHost(nats.url, 'c')];
    const home = await newChild(a.host, a.root.eci, 'home');
    const kitchen = await newChild(a.host, home.eci, 'kitchen');
    for (const x of [home, kitchen]) await install(a.host, x.eci, 'test.tally');
    // Through b, which then knows the ECI is not its own, until the cloud lands there.
    await b.host.event({ eci: kitchen.eci, domain: 'tally', type: 'mark', attrs: { n: 1 } });
    await a.host.event({ eci: kitchen.eci, domain: 'tally', type: 'later', attrs: { ms: 1500 } });
    const moved = (await c.host.moveCloud(home.eci, 'b')) as { to: string; clouds: number };
    expect(moved).toMatchObject({ to: 'b', clouds: 2 });
    for (const id of [home.id, kitchen.id]) expect(await a.host.store.keys(ranges.cloud(id))).toEqual([]);
    expect(await b.host.store.keys(ranges.cloud(kitchen.id))).not.toEqual([]);
    for (const front of [a, b, c]) {
      await front.host.event({ eci: kitchen.eci, domain: 'tally', type: 'mark', attrs: { n: 2 } });
    }
    expect(await c.host.query({ eci: kitchen.eci, rid: 'test.tally', name: 'counts' })).toEqual({ '1': 1, '2': 3 });
    // The parent keeps its child; the schedule fires on the new host.
    expect(await a.host.query({ eci: a.root.eci, rid: 'io.picolabs.wrangler', name: 'children' })).toEqual([{ name: 'home', id: home.id, eci: home.eci }]);
    await vi.waitFor(async () => expect(await b.host.query({ eci: kitchen.eci, rid: 'test.tally', name: 'counts' })).toMatchObject({ rang: 1 }), { timeout: 5000 });
  });

  it('moved a second and a third time (B → C → A, then back to B): one copy, on the host it went to last; the parent keeps its child', async () => {
    const nats = await startNats();
    const [a, b, c] = [await realmHost(nats.url, 'a'), await realmHost(nats.url, 'b'), await realmHost(nats.url, 'c')];
    const home = await newChild(b.host, b.root.eci, 'home');
    const kitchen = await newChild(b.host, home.eci, 'kitchen');
    for (const x of [home, kitchen]) await install(b.host, x.eci, 'test.tally');
    const hosts = { a, b, c };
    let n = 0;
    for (const to of ['c', 'a', 'b', 'c'] as const) {
      expect(await a.host.moveCloud(home.eci, to)).toMatchObject({ to, clouds: 2 });
      n++;
      for (const [name, h] of Object.entries(hosts)) {
        for (const id of [home.id, kitchen.id]) expect([to, name, (await h.host.store.keys(ranges.cloud(id))).length > 0]).toEqual([to, name, name === to]);
        await h.host.event({ eci: kitchen.eci, domain: 'tally', type: 'mark', attrs: { n } });
      }
      expect(await b.host.query({ eci: kitchen.eci, rid: 'test.tally', name: 'counts' })).toEqual(Object.fromEntries(Array.from({ length: n }, (_, i) => [String(i + 1), 3])));
    }
    expect(await b.host.query({ eci: b.root.eci, rid: 'io.picolabs.wrangler', name: 'children' })).toEqual([{ name: 'home', id: home.id, eci: home.eci }]);
    expect([a, b, c].map((h) => h.host.stats().held)).toEqual([0, 0, 0]);
  });

  it("deleting a cloud reaches its descendants on other hosts, however far they moved; nobody can send the kernel's deletion", async () => {
    const nats = await startNats();
    const [a, b, c] = [await realmHost(nats.url, 'a'), await realmHost(nats.url, 'b'), await realmHost(nats.url, 'c')];
    const home = await newChild(a.host, a.root.eci, 'home');
    const kitchen = await newChild(a.host, home.eci, 'kitchen');
    const shelf = await newChild(a.host, kitchen.eci, 'shelf');
    const garage = await newChild(a.host, home.eci, 'garage');
    await a.host.moveCloud(kitchen.eci, 'b'); // kitchen and shelf to b
    await a.host.moveCloud(shelf.eci, 'c'); // then shelf on to c
    await a.host.moveCloud(garage.eci, 'c');
    // Deleting one child that is elsewhere, through its parent on a.
    await a.host.event({ eci: home.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'garage' } });
    await vi.waitFor(async () => expect(await rejection(b.host.eciInfo(garage.eci))).toMatchObject({ code: 'UNKNOWN_ECI' }));
    // The ECI can stop resolving before c's batch lands: the records go soon after.
    await vi.waitFor(async () => expect(await c.host.store.keys(ranges.cloud(garage.id))).toEqual([]));
    expect(await b.host.eciInfo(shelf.eci)).toMatchObject({ id: shelf.eci });
    // Deleting home from the root: kitchen on b, and shelf on c, go too.
    await a.host.event({ eci: a.root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'home' } });
    await vi.waitFor(async () => {
      for (const x of [kitchen, shelf]) expect(await rejection(a.host.eciInfo(x.eci))).toMatchObject({ code: 'UNKNOWN_ECI' });
    });
    await vi.waitFor(async () => {
      for (const h of [a, b, c]) for (const x of [home, kitchen, shelf, garage]) expect(await h.host.store.keys(ranges.cloud(x.id))).toEqual([]);
    });
    expect(await a.host.query({ eci: a.root.eci, rid: 'io.picolabs.wrangler', name: 'children' })).toEqual([]);
    expect(await a.host.deadLetters(a.root.eci)).toEqual([]);
    for (const h of [a, b, c]) expect(h.host.stats().outbox).toBe(0);
    expect(await rejection(a.host.event({ eci: a.root.eci, domain: 'kumo', type: 'delete_cloud' }))).toMatchObject({ code: 'INVALID_EVENT' });
  });

  it('a committed move whose copy the store refuses to delete: answered committed, the copy held (never served) and deleted by a later try', async () => {
    const nats = await startNats();
    let refuse = true;
    const inner = await openLevelStore(await tempDir());
    const store = storeWith(inner, {
      write: (ops) => (refuse && ops.some((op) => op.type === 'del' && op.key.startsWith('h!moveout!')) ? Promise.reject(new Error('disk full')) : inner.write(ops)),
    });
    const a = await realmHost(nats.url, 'a', store);
    const b = await realmHost(nats.url, 'b');
    const home = await newChild(a.host, a.root.eci, 'home');
    await install(a.host, home.eci, 'test.tally');
    expect(await a.host.moveCloud(home.eci, 'b')).toMatchObject({ to: 'b', clouds: 1 });
    expect(await a.host.store.keys(ranges.cloud(home.id))).not.toEqual([]); // still here, held
    // Work through a waits for the held copy, then finds the cloud on b: never served by a.
    const through = a.host.event({ eci: home.eci, domain: 'tally', type: 'mark', attrs: { n: 1 } });
    refuse = false;
    await through;
    await vi.waitFor(async () => expect(await a.host.store.keys(ranges.cloud(home.id))).toEqual([]), { timeout: 5000 });
    expect(await b.host.query({ eci: home.eci, rid: 'test.tally', name: 'counts' })).toEqual({ '1': 1 });
    expect(a.host.stats().held).toBe(0);
  });

  it('refuses a move to an unknown host or through a narrow ECI, and changes nothing', async () => {
    const nats = await startNats();
    const a = await realmHost(nats.url, 'a');
    await realmHost(nats.url, 'b');
    const home = await newChild(a.host, a.root.eci, 'home');
    expect(await rejection(a.host.moveCloud(home.eci, 'nowhere'))).toMatchObject({ code: 'INVALID_ARGS' });
    const narrow = ((await a.host.event({ eci: home.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { eventPolicy: { allow: [{ domain: 'tally', name: '*' }] } } })).directives[0]!.options as { id: string }).id;
    expect(await rejection(a.host.moveCloud(narrow, 'b'))).toMatchObject({ code: 'POLICY_DENIED' });
    expect(await a.host.store.keys(ranges.cloud(home.id))).not.toEqual([]);
    expect(a.host.stats().held).toBe(0);
  });

  it('the owner can ask for a move with wrangler:move_request', async () => {
    const nats = await startNats();
    const a = await realmHost(nats.url, 'a');
    const b = await realmHost(nats.url, 'b');
    const home = await newChild(a.host, a.root.eci, 'home');
    await install(a.host, home.eci, 'test.tally');
    const r = await a.host.event({ eci: home.eci, domain: 'wrangler', type: 'move_request', attrs: { to: 'b' } });
    expect(r.directives.map((d) => d.name)).toEqual(['wrangler:move_started']);
    await vi.waitFor(async () => expect(await b.host.store.keys(ranges.cloud(home.id))).not.toEqual([]));
    await vi.waitFor(async () => expect(await a.host.store.keys(ranges.cloud(home.id))).toEqual([]));
    await a.host.event({ eci: home.eci, domain: 'tally', type: 'mark', attrs: { n: 5 } });
    expect(await b.host.query({ eci: home.eci, rid: 'test.tally', name: 'counts' })).toEqual({ '5': 1 });
  });
});
