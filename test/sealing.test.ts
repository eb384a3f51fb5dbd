import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { erase, Keyring, keys, LevelStore, put, ranges, type OrderedDb } from '../kernel/index.ts';
import { newKey, open, seal } from '../kernel/store/aead.ts';
import { Sealer } from '../kernel/store/sealing.ts';
import { memoryStore, tempDir } from './helpers.ts';

// The store's cipher and the sealing of records (kernel/store/aead.ts, sealing.ts; docs/encryption.md).

const bytes = fc.uint8Array({ maxLength: 300 });

describe('the cipher', () => {
  it('opens what it sealed, under the same key and associated data only; any byte changed opens nothing (property)', () => {
    fc.assert(
      fc.property(bytes, bytes, bytes, fc.nat(), (plain, aad, head, pick) => {
        const key = newKey();
        const sealed = seal(key, aad, [plain], head);
        expect(sealed.subarray(0, head.length)).toEqual(Buffer.from(head));
        expect(open(key, aad, sealed, head.length)).toEqual(Buffer.from(plain));
        expect(open(newKey(), aad, sealed, head.length)).toBeNull();
        expect(open(key, Buffer.concat([aad, Buffer.from([1])]), sealed, head.length)).toBeNull();
        const changed = Buffer.from(sealed);
        const at = head.length + (pick % (changed.length - head.length));
        changed[at] = changed[at]! ^ 0x80;
        expect(open(key, aad, changed, head.length)).toBeNull();
        expect(open(key, aad, sealed.subarray(0, sealed.length - 1), head.length)).toBeNull();
      }),
      { numRuns: 200 },
    );
  });
});

describe('a sealed store', () => {
  async function sealedStore(): Promise<{ store: LevelStore; raw: Awaited<ReturnType<typeof memoryStore>>['db'] }> {
    const { db } = await memoryStore();
    const ring = await Keyring.create(join(await tempDir(), 'kumo.keyring'), { key: newKey() });
    return { store: new LevelStore(db, false, new Sealer(ring, db)), raw: db };
  }

  it('gives back the keys and values it was given, in key order, while no secret part of a key is stored (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.stringMatching(/^E[A-Za-z0-9_-]{8,26}$/), { minLength: 1, maxLength: 20 }), fc.jsonValue(), async (ecis, value) => {
        const { store, raw } = await sealedStore();
        await store.write(ecis.flatMap((e) => [put(keys.eci('Cabc', e), { tags: [], value } as never), put(keys.eciIndex(e), 'Cabc' as never)]));
        expect((await store.keys(ranges.eciIndex())).map((k) => k.slice(2))).toEqual([...ecis].sort());
        expect((await store.keys({ ...ranges.eciIndex(), reverse: true })).map((k) => k.slice(2))).toEqual([...ecis].sort().reverse());
        expect((await store.entries(ranges.cloud('Cabc'))).map(([k]) => k)).toEqual(ecis.map((e) => keys.eci('Cabc', e)).sort());
        for (const e of ecis) expect(await store.get(keys.eciIndex(e))).toBe('Cabc');
        const stored = await raw.iterator().all();
        for (const e of ecis) expect(stored.some(([k, v]) => k.includes(e) || Buffer.from(v).includes(Buffer.from(e)))).toBe(false);
        // Values copied to another key do not open there.
        const [k1, v1] = stored.find(([k]) => k.startsWith('i!'))!;
        const [k2] = stored.filter(([k]) => k.startsWith('i!') && k !== k1)[0] ?? [];
        if (k2) {
          await raw.put(k2, v1);
          await expect(store.entries(ranges.eciIndex())).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
        }
      }),
      { numRuns: 25 },
    );
  });

  it('keeps a secret part of any length: an app URL of 100,000 characters', async () => {
    const { store, raw } = await sealedStore();
    const url = `https://apps.example/${'x'.repeat(100_000)}`;
    await store.write([put(keys.appUrl(url), 'abc')]);
    expect(await store.get(keys.appUrl(url))).toBe('abc');
    expect((await raw.keys().all()).filter((k) => k.startsWith('u!'))).toEqual([expect.stringMatching(/^u![A-Za-z0-9_-]{22}$/)]);
  });

  it('keeps a put and a delete of one key in one batch in their order', async () => {
    const { store } = await sealedStore();
    const many = Array.from({ length: 40 }, (_, i) => put(keys.entity('Cabc', 'r', `v${i}`), { i }));
    await store.write([...many, { type: 'del', key: keys.entity('Cabc', 'r', 'v0') }, put(keys.entity('Cabc', 'r', 'v1'), 'again')]);
    expect(await store.get(keys.entity('Cabc', 'r', 'v0'))).toBeUndefined();
    expect(await store.get(keys.entity('Cabc', 'r', 'v1'))).toBe('again');
    expect(await store.get(keys.entity('Cabc', 'r', 'v39'))).toEqual({ i: 39 });
    expect((await store.entries(ranges.entities('Cabc', 'r'))).length).toBe(39);
  });
});

describe('erasing a cloud in a sealed store', () => {
  async function sealed() {
    const { db } = await memoryStore();
    const path = join(await tempDir(), 'kumo.keyring');
    const ring = await Keyring.create(path, { key: newKey() });
    return { db, ring, path, store: new LevelStore(db, false, new Sealer(ring, db)) };
  }
  const event = { eid: 'e1', domain: 'd', type: 't', attrs: { secret: 's3cret' }, time: 1 };

  it("deletes its data key with its records, sends on the events it sent (sealed under the host's key), drops those waiting for it", async () => {
    const { db, ring, store } = await sealed();
    await store.write([
      put(keys.meta('Cgone'), { name: 'gone', parent: null, created: 1 }),
      put(keys.outbox(1), { cloudId: 'Cgone' as never, eci: 'Eelsewhere', event, since: 1 }),
      put(keys.inbox(1), { cloudId: 'Cgone' as never, eci: 'Egone', event }),
    ]);
    await store.write([put(keys.outbox(2), { cloudId: 'Cstays' as never, eci: 'Ex', event, since: 1 })]);
    const wrapped = `x!${String(ring.bucketOf('Cgone')).padStart(4, '0')}!Cgone`;
    expect(db.getSync(wrapped)).toBeDefined();
    await store.write([{ type: 'del', key: keys.meta('Cgone') }, erase('Cgone')]);
    expect(db.getSync(wrapped)).toBeUndefined();
    expect(await store.entries(ranges.outbox())).toEqual([
      [keys.outbox(1), { cloudId: 'Cgone', eci: 'Eelsewhere', event, since: 1 }],
      [keys.outbox(2), { cloudId: 'Cstays', eci: 'Ex', event, since: 1 }],
    ]);
    expect(await store.entries(ranges.inbox())).toEqual([]);
    // The event it sent is now the host's: its value names no cloud.
    expect(db.getSync(keys.outbox(1))![1]).toBe(0);
    expect(db.getSync(keys.outbox(2))![1]).toBe(2);
    expect(ring.rekeying()).toEqual([]);
  });

  it('a deletion whose keyring cannot be saved after its batch is answered as done; the next open finishes the re-key', async () => {
    const { db, ring, path, store } = await sealed();
    await store.write([put(keys.meta('Cgone'), { name: 'gone', parent: null, created: 1 })]);
    const b = ring.bucketOf('Cgone');
    const settle = ring.settle.bind(ring);
    ring.settle = () => Promise.reject(new Error('disk full'));
    await store.write([{ type: 'del', key: keys.meta('Cgone') }, erase('Cgone')]);
    expect(await store.get(keys.meta('Cgone'))).toBeUndefined();
    ring.settle = settle;
    const onDisk = await Keyring.open(path, { key: (ring as unknown as { hostKey: Buffer }).hostKey });
    expect(onDisk.rekeying()).toEqual([b]);
    const reopened = new LevelStore(db, false, new Sealer(onDisk, db));
    await reopened.settleKeys();
    expect(onDisk.rekeying()).toEqual([]);
    expect((await Keyring.open(path, { key: (ring as unknown as { hostKey: Buffer }).hostKey })).rekeying()).toEqual([]);
  });

  it('a record whose owner byte or magic byte was changed is refused, not guessed', async () => {
    const { db, store } = await sealed();
    await store.write([put(keys.outbox(1), { cloudId: 'Ca' as never, eci: 'Ex', event, since: 1 }), put(keys.entity('Ca', 'r', 'x'), 1)]);
    const entity = Buffer.from(db.getSync(keys.entity('Ca', 'r', 'x'))!);
    await db.put(keys.entity('Ca', 'r', 'x'), Buffer.from([0xc1, 7, ...entity.subarray(2)]));
    await expect(store.get(keys.entity('Ca', 'r', 'x'))).rejects.toMatchObject({ code: 'STORE_CORRUPT', message: expect.stringContaining('its owner byte is 7') });
    await db.put(keys.entity('Ca', 'r', 'x'), Buffer.from([0x81, ...entity.subarray(1)]));
    await expect(store.get(keys.entity('Ca', 'r', 'x'))).rejects.toMatchObject({ code: 'STORE_CORRUPT', message: expect.stringContaining('not sealed') });
    // The owner named in a pending event changed to another cloud: that cloud's key opens nothing.
    const pending = Buffer.from(db.getSync(keys.outbox(1))!);
    pending[4] = 'b'.charCodeAt(0);
    await db.put(keys.outbox(1), pending);
    await store.write([put(keys.meta('Cb'), { name: 'b', parent: null, created: 1 })]);
    await expect(store.entries(ranges.outbox())).rejects.toMatchObject({ code: 'STORE_CORRUPT', message: expect.stringContaining('does not authenticate') });
  });

  it('a batch that is not written leaves no data key behind: the next write of the cloud makes one that lasts', async () => {
    const { db, ring, path } = await sealed();
    let fail = true;
    const flaky: OrderedDb = {
      getSync: (k) => db.getSync(k),
      iterator: (r) => db.iterator(r),
      keys: (r) => db.keys(r),
      close: () => db.close(),
      batch: () => {
        const b = db.batch();
        return { put: (k, v) => b.put(k, v), del: (k) => b.del(k), close: () => b.close(), write: (o) => (fail ? ((fail = false), b.close().then(() => Promise.reject(new Error('disk full')))) : b.write(o)) };
      },
    };
    const store = new LevelStore(flaky, false, new Sealer(ring, flaky));
    await expect(store.write([put(keys.entity('Cnew', 'r', 'x'), 'first')])).rejects.toThrow('disk full');
    await store.write([put(keys.entity('Cnew', 'r', 'x'), 'second')]);
    // Opened again (no cache): the value opens with the key that was stored.
    const again = new LevelStore(db, false, new Sealer(await Keyring.open(path, { key: (ring as unknown as { hostKey: Buffer }).hostKey }), db));
    expect(await again.get(keys.entity('Cnew', 'r', 'x'))).toBe('second');
  });
});

describe('a keyring', () => {
  it('refuses a file that is not a keyring, of another version, or a key of the wrong size', async () => {
    const path = join(await tempDir(), 'kumo.keyring');
    const key = newKey();
    await Keyring.create(path, { key });
    const good = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (e: { reason: string; message: string }) => ({ reason: e.reason, message: e.message }),
      );
    await writeFile(path, JSON.stringify({ ...good, kumo: 'other' }));
    expect(await refusal(Keyring.open(path, { key }))).toEqual({ reason: 'damaged', message: `the keyring ${path} is damaged: it is not a kumo keyring` });
    await writeFile(path, JSON.stringify({ ...good, version: 2 }));
    expect(await refusal(Keyring.open(path, { key }))).toEqual({ reason: 'damaged', message: `the keyring ${path} is of version 2, which this kumo does not know` });
    await writeFile(path, 'null');
    expect(await refusal(Keyring.open(path, { key }))).toMatchObject({ reason: 'damaged' });
    await writeFile(path, JSON.stringify(good));
    expect(await refusal(Keyring.open(path, { key: key.subarray(0, 16) }))).toEqual({ reason: 'wrong-key', message: 'a host key is 32 bytes, not 16' });
    expect(await refusal(Keyring.open(path, { passphrase: '' }))).toEqual({ reason: 'wrong-key', message: 'an empty passphrase protects nothing' });
    expect(await refusal(Keyring.open(`${path}.none`, { key }))).toMatchObject({ reason: 'missing' });
    expect(await Keyring.open(path, { key })).toBeInstanceOf(Keyring);
  });

  it('spreads clouds over its buckets, and a re-key keeps the old key until it is settled', async () => {
    const ring = await Keyring.create(join(await tempDir(), 'kumo.keyring'), { key: newKey() });
    const used = new Set(Array.from({ length: 4096 }, (_, i) => ring.bucketOf(`C${i.toString(36)}x`)));
    expect(used.size).toBeGreaterThan(900);
    expect(ring.bucketOf('Cabc')).not.toBe(ring.bucketOf('Cabd'));
    const old = ring.wrapping(7);
    await ring.beginRekey([7]);
    expect(ring.rekeying()).toEqual([7]);
    expect(ring.wrapping(7).gen).toBe(old.gen + 1);
    expect(ring.keyOf(7, old.gen)).toEqual(old.key);
    await ring.settle([7]);
    expect(ring.rekeying()).toEqual([]);
    expect(ring.keyOf(7, old.gen)).toBeUndefined();
    expect(ring.keyOf(7, old.gen + 1)).toBeDefined();
  });
});
