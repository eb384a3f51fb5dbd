import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLevelStore, type Store } from '../kernel/index.ts';
import { encodeOps, type WriteOp } from '../kernel/store/store.ts';
import { memoryStore, onCleanup, tempDir } from './helpers.ts';

// One conformance suite, run against every store implementation.
const implementations: Array<[string, () => Promise<Store>]> = [
  ['memory-level', () => memoryStore()],
  [
    'LevelDB on disk',
    async () => {
      const s = await openLevelStore(await tempDir());
      onCleanup(() => s.close());
      return s;
    },
  ],
];

describe.each(implementations)('store conformance: %s', (_name, open) => {
  it('writes a batch atomically and reads values back as msgpack', async () => {
    const s = await open();
    await s.write([
      { type: 'put', key: 'c!a!x', value: { n: 1, list: [1, 2] } },
      { type: 'put', key: 'c!a!y', value: 'y' },
      { type: 'put', key: 'c!b!x', value: null },
    ]);
    expect(await s.get('c!a!x')).toEqual({ n: 1, list: [1, 2] });
    expect(await s.get('c!b!x')).toBeNull();
    expect(await s.get('missing')).toBeUndefined();
  });

  it('reads a prefix range in key order, forwards, backwards and limited', async () => {
    const s = await open();
    await s.write(['c!a!2', 'c!a!1', 'c!a!3', 'c!ab!1', 'c!b!1'].map((key) => ({ type: 'put' as const, key, value: key })));
    expect((await s.entries({ gte: 'c!a!', lt: 'c!a"' })).map(([k]) => k)).toEqual(['c!a!1', 'c!a!2', 'c!a!3']);
    expect(await s.keys({ ...{ gte: 'c!a!', lt: 'c!a"' }, reverse: true, limit: 1 })).toEqual(['c!a!3']);
  });

  it('deletes in a batch', async () => {
    const s = await open();
    await s.write([{ type: 'put', key: 'k', value: 1 }]);
    await s.write([
      { type: 'del', key: 'k' },
      { type: 'put', key: 'j', value: 2 },
    ]);
    expect(await s.get('k')).toBeUndefined();
    expect(await s.get('j')).toBe(2);
  });
});

describe('encoding before group commit', () => {
  it('encodes each put once, however often it is asked, and leaves deletions alone', async () => {
    const s = await memoryStore();
    const ops: WriteOp[] = [
      { type: 'put', key: 'c!a!x', value: { n: 1 } },
      { type: 'del', key: 'c!a!y' },
    ];
    encodeOps(ops);
    encodeOps(ops); // a batch that is retried is encoded again: the value must not be wrapped twice
    expect(ops[1]).toEqual({ type: 'del', key: 'c!a!y' });
    await s.write(ops);
    expect(await s.get('c!a!x')).toEqual({ n: 1 });
  });

  it('names the record whose value cannot be stored, without the cloud it belongs to', () => {
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    const ops: WriteOp[] = [{ type: 'put', key: 'c!C0abc!e!test.notes!note', value: circular }];
    expect(() => encodeOps(ops)).toThrow(expect.objectContaining({ code: 'UNSTORABLE_VALUE', message: expect.stringMatching(/^a value staged for e!test\.notes!note cannot be stored: /) }));
  });

  it('a value that cannot be encoded fails its write with nothing written, and the store goes on', async () => {
    const s = await openLevelStore(await tempDir());
    onCleanup(() => s.close());
    await expect(
      s.write([
        { type: 'put', key: 'a', value: 1 },
        { type: 'put', key: 'b', value: 10n ** 30n },
      ]),
    ).rejects.toThrow();
    expect(await s.get('a')).toBeUndefined();
    await s.write([{ type: 'put', key: 'a', value: 2 }]);
    expect(await s.get('a')).toBe(2);
  });

  it('a read of a closed store is a rejection, not a throw', async () => {
    const s = await openLevelStore(await tempDir());
    await s.close();
    const read = s.get('a'); // must not throw here
    await expect(read).rejects.toThrow();
  });
});

describe('closing LevelDB', () => {
  it('leaves no write-ahead log to replay: what was written is in a table, and read back after reopening', async () => {
    const dir = await tempDir();
    const s = await openLevelStore(dir);
    const ops: WriteOp[] = Array.from({ length: 200 }, (_, i) => ({ type: 'put', key: `c!a!${String(i).padStart(3, '0')}`, value: { i } }));
    await s.write(ops);
    const logBytes = async () => {
      const logs = (await readdir(dir)).filter((f) => f.endsWith('.log'));
      return (await Promise.all(logs.map(async (f) => (await stat(join(dir, f))).size))).reduce((a, b) => a + b, 0);
    };
    expect(await logBytes()).toBeGreaterThan(0); // the batch is in the log while the store is open
    await s.close();
    expect(await logBytes()).toBe(0);
    const again = await openLevelStore(dir);
    onCleanup(() => again.close());
    expect((await again.keys({ gte: 'c!a!', lt: 'c!a"' })).length).toBe(200);
    expect(await again.get('c!a!199')).toEqual({ i: 199 });
  });
});
