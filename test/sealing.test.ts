import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keyring, keys, LevelStore, put, ranges } from '../kernel/index.ts';
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
