import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { bundleEcis, bundleRulesets, checkBundle, keys, ManualClock, ranges, seededIds, type CloudBundle, type Host, type Remote } from '../kernel/index.ts';
import { openDataDir } from '../channels/data-dir.ts';
import { newEci } from '../kernel/ids.ts';
import { readCloudFile, writeCloudFile } from '../channels/cloud-file.ts';
import temperature from '../examples/temperature-sensor.ts';
import { ruleset } from '../rulesets/index.ts';
import { gated, install, newChild, rejection } from './fixtures.ts';
import { allKeys, onCleanup, storeWith, tempDir, testHost } from './helpers.ts';

const T0 = Date.UTC(2026, 0, 1);

/** Keeps a note, rings on a schedule, and sends to an ECI it is told. */
const notes = ruleset('test.notes')
  .rule('note', { select: 'note:set', attrs: z.object({ text: z.string() }), action: (ctx) => ctx.ent.set('note', ctx.attrs.text) })
  .rule('alarm', { select: 'note:alarm', action: (ctx) => void ctx.scheduleAt(Number(ctx.attrs['at']), 'note', 'ring') })
  .rule('ring', { select: 'note:ring', action: (ctx) => ctx.ent.set('rang', ctx.now()) })
  .rule('tell', { select: 'note:tell', action: (ctx) => ctx.send(String(ctx.attrs['to']), 'note', 'set', { text: 'told' }) })
  .share('note', (ctx) => ctx.ent.get('note') ?? null)
  .share('rang', (ctx) => ctx.ent.get('rang') ?? null)
  .build();

const note = (host: Host, eci: string) => host.query({ eci, rid: 'test.notes', name: 'note' });

/** A host with `home` (child of the root) and `home/kitchen` (its child), both with notes and state. */
async function source(clock = new ManualClock(T0)) {
  const t = await testHost({ rulesets: [notes], clock, seed: 7 });
  const home = await newChild(t.host, t.root.eci, 'home');
  const kitchen = await newChild(t.host, home.eci, 'kitchen');
  for (const c of [home, kitchen]) await install(t.host, c.eci, 'test.notes');
  await t.host.event({ eci: home.eci, domain: 'note', type: 'set', attrs: { text: 'home note' } });
  await t.host.event({ eci: kitchen.eci, domain: 'note', type: 'set', attrs: { text: 'kitchen note' } });
  const made = await t.host.event({ eci: kitchen.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['fridge'] } });
  const fridge = (made.directives[0]!.options as { id: string }).id;
  await t.host.event({ eci: kitchen.eci, domain: 'note', type: 'alarm', attrs: { at: T0 + 60_000 } });
  return { ...t, home, kitchen, fridge };
}

async function target(clock = new ManualClock(T0)) {
  return testHost({ rulesets: [notes], clock, seed: 99 });
}

const keysOf = async (host: Host) => (await allKeys(host.store)).filter((k) => !k.includes('!~log!'));

describe('moving clouds between hosts in a file', () => {
  it('exports a cloud with its subtree, and another host imports it with ids, ECIs, state, schedules and logs intact', async () => {
    const a = await source();
    const bundle = await a.host.exportCloud(a.home.eci);
    expect(bundle.clouds.map((c) => c.name)).toEqual(['home', 'kitchen']);
    // A copy was taken: the clouds go on where they were.
    expect(await note(a.host, a.kitchen.eci)).toBe('kitchen note');
    const b = await target(a.clock);
    const child = await b.host.importCloud(b.root.eci, bundle);
    expect(child).toEqual({ id: a.home.id, name: 'home', eci: a.home.eci });
    expect(await b.host.query({ eci: b.root.eci, rid: 'io.picolabs.wrangler', name: 'children' })).toEqual([{ name: 'home', id: a.home.id, eci: a.home.eci }]);
    expect(await note(b.host, a.home.eci)).toBe('home note');
    expect(await note(b.host, a.fridge)).toBe('kitchen note'); // an ECI made later, on a grandchild
    expect((await b.host.episodeLog(a.kitchen.eci, 10)).map((e) => e.type)).toContain('alarm');
    await b.host.event({ eci: a.kitchen.eci, domain: 'note', type: 'set', attrs: { text: 'new' } });
    expect(await note(b.host, a.kitchen.eci)).toBe('new');
    b.clock.set(T0 + 60_000);
    expect(await b.host.runDue()).toBe(1); // the schedule fires on the new host
    expect(await b.host.query({ eci: a.kitchen.eci, rid: 'test.notes', name: 'rang' })).toBe(T0 + 60_000);
  });

  it('with leave, the clouds leave: their ECIs answer 410 CLOUD_MOVED with where they went, and nothing of them stays', async () => {
    const a = await source();
    const before = await keysOf(a.host);
    const bundle = await a.host.exportCloud(a.home.eci, { leave: { movedTo: 'https://new.example' } });
    for (const eci of [a.home.eci, a.kitchen.eci, a.fridge]) {
      expect(await rejection(a.host.event({ eci, domain: 'note', type: 'set', attrs: { text: 'x' } }))).toMatchObject({ code: 'CLOUD_MOVED', status: 410, details: { eci, location: 'https://new.example' } });
    }
    expect(await a.host.query({ eci: a.root.eci, rid: 'io.picolabs.wrangler', name: 'children' })).toEqual([]);
    const left = (await keysOf(a.host)).filter((k) => !before.includes(k));
    expect(left.every((k) => k.startsWith('t!'))).toBe(true);
    for (const id of [a.home.id, a.kitchen.id]) expect(await a.host.store.keys(ranges.cloud(id))).toEqual([]);
    expect(await a.host.store.keys({ gte: 'd!', lt: 'd"' })).toEqual([]);
    // Imported back where it was, it is itself again and no longer forwarded.
    await a.host.importCloud(a.root.eci, bundle);
    expect(await note(a.host, a.fridge)).toBe('kitchen note');
  });

  it('a leaving cloud takes its undelivered events along', async () => {
    const { slow, release } = gated();
    const a = await testHost({ rulesets: [notes, slow], limits: { mailbox: 1 } });
    const home = await newChild(a.host, a.root.eci, 'home');
    const busy = await newChild(a.host, a.root.eci, 'busy');
    await install(a.host, home.eci, 'test.notes');
    await install(a.host, busy.eci, 'test.slow');
    const stuck = [a.host.event({ eci: busy.eci, domain: 'slow', type: 'wait' }), a.host.event({ eci: busy.eci, domain: 'slow', type: 'wait' })];
    await a.host.event({ eci: home.eci, domain: 'note', type: 'tell', attrs: { to: busy.eci } }); // busy's mailbox is full: it waits in the outbox
    await vi.waitFor(() => expect(a.host.stats().outbox).toBe(1));
    const bundle = await a.host.exportCloud(home.eci, { leave: { movedTo: 'https://new.example' } });
    expect(bundle.outbox).toMatchObject([{ eci: busy.eci, event: { domain: 'note', type: 'set' } }]);
    expect(a.host.stats().outbox).toBe(0);
    expect(await a.host.store.keys(ranges.outbox())).toEqual([]);
    release();
    await Promise.all(stuck);
    // On a host that cannot reach busy's ECI, the event it carried ends as a dead letter of home.
    const b = await target();
    await b.host.importCloud(b.root.eci, bundle);
    await vi.waitFor(async () => expect(await b.host.deadLetters(home.eci)).toMatchObject([{ eci: busy.eci, reason: { code: 'UNKNOWN_ECI' } }]));
  });

  it('sends what the imported clouds had not delivered to ECIs of the host they left back there, and keeps the rest', async () => {
    const a = await source();
    const exported = await a.host.exportCloud(a.home.eci);
    const event = (eid: string, text: string) => ({ eid, domain: 'note', type: 'set', attrs: { text }, time: T0 });
    const outbox = [
      { cloudId: a.home.id, eci: a.root.eci, event: event('left', 'to the host it left'), since: T0 },
      { cloudId: a.home.id, eci: a.kitchen.eci, event: event('along', 'to a cloud that came along'), since: T0 },
      { cloudId: a.home.id, eci: a.root.eci, host: 'https://c.example', event: event('far', 'to a third host'), since: T0 },
    ];
    const bundle = { ...exported, from: 'https://a.example', outbox };
    /** Imports the bundle on a host at `url`; what it sends to other providers' hosts, by eid. */
    const importAt = async (url: string) => {
      const sent: Record<string, string> = {};
      const remote: Remote = { destination: (u) => u, deliver: (to, routed) => Promise.resolve(void (sent[routed.event.eid] = `${to} ${routed.eci}`)) };
      const b = await testHost({ rulesets: [notes], clock: a.clock, seed: 99, url, remote });
      await b.host.importCloud(b.root.eci, bundle);
      await vi.waitFor(async () => expect(await note(b.host, a.kitchen.eci)).toBe('to a cloud that came along'));
      await vi.waitFor(() => expect(b.host.stats().outbox).toBe(0));
      return sent;
    };
    expect(await importAt('https://b.example')).toEqual({ left: `https://a.example ${a.root.eci}`, far: `https://c.example ${a.root.eci}` });
    // Brought back to the host it left, what was sent there is local again.
    expect(await importAt('https://a.example')).toEqual({ far: `https://c.example ${a.root.eci}` });
  });

  it('work that arrives while a cloud is leaving waits (it is not refused), then is forwarded', async () => {
    const { slow, release } = gated();
    const a = await testHost({ rulesets: [slow] });
    const home = await newChild(a.host, a.root.eci, 'home');
    await install(a.host, home.eci, 'test.slow');
    const running = a.host.event({ eci: home.eci, domain: 'slow', type: 'wait' });
    const leaving = a.host.exportCloud(home.eci, { leave: { movedTo: 'https://new.example' } });
    await vi.waitFor(() => expect(a.host.stats().held).toBe(1)); // on hold, waiting for the running episode
    const late = a.host.event({ eci: home.eci, domain: 'slow', type: 'wait' }).then(
      () => 'applied',
      (e: { code: string }) => e.code,
    );
    release();
    await running;
    await leaving;
    expect(await late).toBe('CLOUD_MOVED');
    expect(a.host.stats().held).toBe(0);
  });

  it('refuses, with nothing written, a bundle that needs missing rulesets, collides, or writes outside its clouds', async () => {
    const a = await source();
    const bundle = await a.host.exportCloud(a.home.eci);
    const bare = await testHost({ seed: 5 });
    let before = await keysOf(bare.host);
    expect(await rejection(bare.host.importCloud(bare.root.eci, bundle))).toMatchObject({ code: 'MISSING_RULESETS', status: 422, details: { rids: ['test.notes'] } });
    expect(await keysOf(bare.host)).toEqual(before);
    before = await keysOf(a.host);
    expect(await rejection(a.host.importCloud(a.root.eci, bundle))).toMatchObject({ code: 'IMPORT_CONFLICT', status: 409 });
    const hostile: CloudBundle = { ...bundle, records: [...bundle.records, ['i!Eevil', 'C0000']] };
    expect(await rejection(a.host.importCloud(a.root.eci, hostile))).toMatchObject({ code: 'INVALID_CLOUD_FILE', details: { reason: 'corrupt' } });
    expect(await keysOf(a.host)).toEqual(before);
    const b = await target();
    await newChild(b.host, b.root.eci, 'home');
    before = await keysOf(b.host);
    expect(await rejection(b.host.importCloud(b.root.eci, bundle))).toMatchObject({ code: 'DUPLICATE_NAME' });
    expect(await keysOf(b.host)).toEqual(before);
  });

  it('serves an ECI it once looked up in vain as soon as its cloud is imported, and forwards it once the cloud leaves again', async () => {
    const a = await source();
    const bundle = await a.host.exportCloud(a.home.eci);
    const b = await target(a.clock);
    // Not here yet (b remembers that, and reads its store no more for it)…
    for (let i = 0; i < 2; i++) expect(await rejection(note(b.host, a.kitchen.eci))).toMatchObject({ code: 'UNKNOWN_ECI' });
    // …until the cloud comes in.
    await b.host.importCloud(b.root.eci, bundle);
    expect(await note(b.host, a.kitchen.eci)).toBe('kitchen note');
    await b.host.exportCloud(a.home.eci, { leave: { movedTo: 'https://c.example' } });
    expect(await rejection(note(b.host, a.kitchen.eci))).toMatchObject({ code: 'CLOUD_MOVED', status: 410 });
  });

  it('does not remember as elsewhere an ECI whose lookup overlapped the landing of its cloud', async () => {
    const a = await source();
    const bundle = await a.host.exportCloud(a.home.eci);
    // b's store answers the first read of the kitchen's index entry (nothing yet) only once the import is done.
    const store = await openDataDir(await tempDir());
    const indexKey = keys.eciIndex(a.kitchen.eci);
    let stale: (() => void) | undefined;
    const landed = new Promise<void>((r) => (stale = r));
    let first = true;
    const slowed = storeWith(store, {
      get: async (key: string) => {
        const value = await store.get(key);
        if (key === indexKey && first) {
          first = false;
          await landed;
        }
        return value;
      },
    });
    const b = await testHost({ rulesets: [notes], clock: a.clock, seed: 99, store: slowed });
    onCleanup(() => store.close());
    const looking = rejection(note(b.host, a.kitchen.eci));
    await b.host.importCloud(b.root.eci, bundle);
    stale!();
    expect(await looking).toMatchObject({ code: 'UNKNOWN_ECI' }); // it read the store before the cloud came
    expect(await note(b.host, a.kitchen.eci)).toBe('kitchen note');
  });

  it('forgets every ECI it remembers as elsewhere once it remembers 100,000', async () => {
    let reads = 0;
    const store = await openDataDir(await tempDir());
    onCleanup(() => store.close());
    const counted = storeWith(store, {
      get: (key: string) => {
        if (key.startsWith(keys.eciIndex(''))) reads++;
        return store.get(key);
      },
    });
    const { host } = await testHost({ store: counted });
    const first = newEci(seededIds(5), 0);
    const readsFor = async (eci: string): Promise<number> => {
      const before = reads;
      await rejection(host.eciInfo(eci));
      return reads - before;
    };
    expect(await readsFor(first)).toBe(1);
    expect(await readsFor(first)).toBe(0); // remembered
    const ids = seededIds(6);
    for (let i = 1; i < 100_000; i++) await rejection(host.eciInfo(newEci(ids, 0)));
    expect(await readsFor(first)).toBe(0); // 100,000 remembered: still there
    await rejection(host.eciInfo(newEci(ids, 0)));
    expect(await readsFor(first)).toBe(1); // one more, and all were forgotten
  });

  it('needs the full authority of the cloud to export it, and of the parent to import under it', async () => {
    const a = await source();
    const narrow = ((await a.host.event({ eci: a.home.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { eventPolicy: { allow: [{ domain: 'note', name: '*' }] } } })).directives[0]!.options as { id: string }).id;
    expect(await rejection(a.host.exportCloud(narrow))).toMatchObject({ code: 'POLICY_DENIED', message: expect.stringContaining("exporting the cloud (that needs the cloud's full authority") });
    const bundle = await a.host.exportCloud(a.home.eci);
    const b = await target();
    expect(await rejection(b.host.importCloud(narrow, bundle))).toMatchObject({ code: 'UNKNOWN_ECI' });
  });
});

describe('checking a bundle from outside', () => {
  /** What checkBundle says of `value`: its message, or 'ok'. */
  const verdict = (value: unknown): string => {
    try {
      checkBundle(value);
      return 'ok';
    } catch (err) {
      expect(err).toMatchObject({ code: 'INVALID_CLOUD_FILE', details: { reason: 'corrupt' } });
      return (err as Error).message.replace('the cloud file is corrupt: ', '');
    }
  };

  it('accepts a bundle as exported, and names the first thing wrong with each broken one', async () => {
    const a = await source();
    const b = await a.host.exportCloud(a.home.eci);
    const [root, kid] = b.clouds;
    const rootMeta = b.records.find(([k]) => k === `c!${root!.id}!meta`)!;
    const outgoing = { cloudId: kid!.id, eci: a.fridge, event: { eid: 'e1', domain: 'note', type: 'set', attrs: {}, time: T0 } };
    expect(verdict(b)).toBe('ok');
    expect(verdict({ ...b, outbox: [outgoing], from: 'https://a.example' })).toBe('ok');
    const cases: Array<[unknown, string]> = [
      [null, 'not a bundle'],
      [[b], 'not a bundle'],
      [{ ...b, root: 42 }, 'no root cloud'],
      [{ ...b, root: 'not-a-cloud-id' }, 'no root cloud'],
      [{ ...b, from: 7 }, 'the host it left is not a URL'],
      [{ ...b, clouds: {} }, 'missing parts'],
      [{ ...b, records: 'x' }, 'missing parts'],
      [{ ...b, outbox: undefined }, 'missing parts'],
      [{ ...b, clouds: [...b.clouds, 'C1'] }, 'a cloud without an id'],
      [{ ...b, clouds: [...b.clouds, { name: 'x' }] }, 'a cloud without an id'],
      [{ ...b, clouds: [...b.clouds, { id: 'nope' }] }, 'a cloud without an id'],
      [{ ...b, clouds: [kid, root] }, 'the root is not the first cloud'],
      [{ ...b, clouds: [] }, 'the root is not the first cloud'],
      [{ ...b, records: [...b.records, 'k'] }, 'a record is not [key, value]'],
      [{ ...b, records: [...b.records, ['k']] }, 'a record is not [key, value]'],
      [{ ...b, records: [...b.records, [1, 2]] }, 'a record is not [key, value]'],
      [{ ...b, records: [...b.records, ['h!root', 1]] }, 'a record outside the clouds it lists (h!root)'],
      [{ ...b, records: [...b.records, [`c!${a.root.cloudId}!meta`, 1]] }, `a record outside the clouds it lists (c!${a.root.cloudId}!meta)`],
      [{ ...b, records: [...b.records, [`c!${root!.id}!nonsense`, 1]] }, `a record outside the clouds it lists (c!${root!.id}!nonsense)`],
      [{ ...b, records: b.records.filter((r) => r !== rootMeta) }, `cloud ${root!.id} has no record`],
      // An ECI record's key must hold an ECI, and its value the ECI's tags.
      [{ ...b, records: [...b.records, [`c!${root!.id}!eci!garbage`, { tags: [] }]] }, `a record outside the clouds it lists (c!${root!.id}!eci!garbage)`],
      [{ ...b, records: [...b.records, [`c!${root!.id}!eci!${a.fridge}`, { tags: 'x' }]] }, `an ECI of cloud ${root!.id} without its tags`],
      [{ ...b, records: [...b.records, [`c!${root!.id}!eci!${a.fridge}`, null]] }, `an ECI of cloud ${root!.id} without its tags`],
      ...[{ x: ['i!evil'] }, { x: [7] }, { x: 'E0000' }, ['E0000'], 'x'].map((builtinEcis): [unknown, string] => [
        { ...b, records: b.records.map((r) => (r === rootMeta ? [r[0], { ...(r[1] as object), builtinEcis }] : r)) },
        `cloud ${root!.id} lists built-in ECIs that are not ECIs`,
      ]),
      [{ ...b, outbox: ['x'] }, 'an outgoing event of no listed cloud'],
      [{ ...b, outbox: [{ ...outgoing, cloudId: 7 }] }, 'an outgoing event of no listed cloud'],
      [{ ...b, outbox: [{ ...outgoing, cloudId: a.root.cloudId }] }, 'an outgoing event of no listed cloud'],
      [{ ...b, outbox: [{ ...outgoing, eci: 7 }] }, 'an outgoing event of no listed cloud'],
      [{ ...b, outbox: [{ ...outgoing, event: 'e' }] }, 'an outgoing event of no listed cloud'],
    ];
    for (const [value, why] of cases) expect(verdict(value)).toBe(why);
  });

  it('lists the rulesets and the ECIs a bundle brings', async () => {
    const a = await source();
    const b = await a.host.exportCloud(a.home.eci);
    // The built-ins are in every cloud: a bundle needs only the rulesets its clouds installed.
    expect(bundleRulesets(b)).toEqual(['test.notes']);
    const ecis = bundleEcis(b);
    const wellKnown = async (eci: string) => ((await a.host.query({ eci, rid: 'io.picolabs.subscription', name: 'wellKnown_Rx' })) as { id: string }).id;
    expect(ecis).toEqual(expect.arrayContaining([a.home.eci, a.kitchen.eci, a.fridge, await wellKnown(a.home.eci), await wellKnown(a.kitchen.eci)]));
    expect(ecis).toEqual([...new Set(ecis)]);
    // Each is an ECI record of its own, or a built-in's, listed in its cloud's meta record.
    const listed = (e: string) => b.records.some(([k, v]) => k.endsWith(`!eci!${e}`) || (k.endsWith('!meta') && JSON.stringify(v).includes(e)));
    expect(ecis.every(listed)).toBe(true);
    expect(ecis.length).toBe(b.records.filter(([k]) => k.includes('!eci!')).length + b.clouds.length);
  });

  it("an imported device's claim code works on its new host, and only there", async () => {
    const a = await testHost({ rulesets: [temperature], seed: 3 });
    const made = await a.host.event({ eci: a.root.eci, domain: 'wrangler', type: 'new_device_request', attrs: { name: 'thermo', rids: ['example.temperature'] } });
    const device = made.directives.find((d) => d.name === 'wrangler:new_device_created')!.options as { eci: string; device: { eci: string }; claim: { code: string } };
    const bundle = await a.host.exportCloud(device.eci, { leave: { movedTo: 'https://b.example' } });
    const b = await testHost({ rulesets: [temperature], seed: 4 });
    await b.host.importCloud(b.root.eci, bundle);
    expect(await rejection(a.host.claim(device.claim.code))).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE' });
    expect(await b.host.claim(device.claim.code)).toEqual({ eci: device.device.eci });
  });
});

describe('the cloud file', () => {
  const from = { realm: null, host: 'h1', now: T0 };

  it('round-trips a bundle, with a readable header, encrypted or not', async () => {
    const a = await source();
    const bundle = await a.host.exportCloud(a.home.eci);
    const plain = writeCloudFile(bundle, from);
    const { header, bundle: back } = readCloudFile(plain);
    expect(header).toMatchObject({ format: 'kumo-cloud', version: 1, host: 'h1', root: { id: a.home.id, name: 'home' }, rulesets: ['test.notes'], records: bundle.records.length });
    expect(back).toEqual(bundle);
    const secret = writeCloudFile(bundle, from, 'correct horse');
    expect(secret.includes(Buffer.from('kitchen note'))).toBe(false);
    expect(plain.includes(Buffer.from('kitchen note'))).toBe(true);
    expect(readCloudFile(secret, 'correct horse').bundle).toEqual(bundle);
  });

  it('refuses a foreign, truncated, corrupt, unknown-version or wrongly decrypted file, saying which', async () => {
    const a = await source();
    const bundle = await a.host.exportCloud(a.home.eci);
    const file = writeCloudFile(bundle, from);
    const refused = (f: Buffer, passphrase?: string) => {
      try {
        readCloudFile(f, passphrase);
      } catch (err) {
        return err as { code: string; details: { reason: string } };
      }
      throw new Error('accepted');
    };
    expect(refused(Buffer.from('{"not":"kumo"}'))).toMatchObject({ code: 'INVALID_CLOUD_FILE', details: { reason: 'foreign' } });
    expect(refused(file.subarray(0, file.length - 10))).toMatchObject({ details: { reason: 'truncated' } });
    expect(refused(file.subarray(0, 20))).toMatchObject({ details: { reason: 'truncated' } });
    const flipped = Buffer.from(file);
    flipped[flipped.length - 5] = flipped[flipped.length - 5]! ^ 0xff;
    expect(refused(flipped)).toMatchObject({ details: { reason: 'corrupt' } });
    const future = Buffer.from(file.toString('latin1').replace('"version":1', '"version":9'), 'latin1');
    expect(refused(future)).toMatchObject({ details: { reason: 'version' } });
    // A header of the right format and version whose fields are not what they must be (read through its schema).
    const MAGIC = 'KUMO-CLOUD\n'.length;
    const headLength = file.readUInt32BE(MAGIC);
    const header = JSON.parse(file.subarray(MAGIC + 4, MAGIC + 4 + headLength).toString('utf8')) as Record<string, unknown>;
    const withHeader = (h: Record<string, unknown>): Buffer => {
      const text = Buffer.from(JSON.stringify(h));
      const size = Buffer.alloc(4);
      size.writeUInt32BE(text.length);
      return Buffer.concat([file.subarray(0, MAGIC), size, text, file.subarray(MAGIC + 4 + headLength)]);
    };
    expect(() => readCloudFile(withHeader(header))).not.toThrow(); // the rebuilt file reads as before
    for (const broken of [{ clouds: 7 }, { bytes: 'many' }, { sha256: undefined }, { encryption: 'yes' }]) {
      const err = refused(withHeader({ ...header, ...broken }));
      expect(err).toMatchObject({ code: 'INVALID_CLOUD_FILE', details: { reason: 'corrupt' } });
      expect((err as unknown as Error).message).toMatch(/its header is malformed/);
    }
    const secret = writeCloudFile(bundle, from, 'right');
    expect(refused(secret, 'wrong')).toMatchObject({ details: { reason: 'passphrase' } });
    expect(refused(secret)).toMatchObject({ details: { reason: 'passphrase' } });
  });
});
