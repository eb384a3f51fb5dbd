import { Level } from 'level';
import { decode, encode } from './codec.ts';
import { KumoError, messageOf } from './errors.ts';
import type { Range } from './keys.ts';

/** One write in a batch. */
export type WriteOp = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };

/** A value already in msgpack (see {@link encodeOps}); written as it is. */
export class Encoded {
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * Encode the values of `ops` in place, so a value that cannot be stored (a circular object, a
 * BigInt too wide for msgpack, a symbol) fails the one episode that staged it, before group commit
 * puts it in a batch with other clouds' episodes.
 */
export function encodeOps(ops: WriteOp[]): void {
  for (const op of ops) {
    if (op.type === 'put' && !(op.value instanceof Encoded)) {
      try {
        op.value = new Encoded(encode(op.value));
      } catch (err) {
        throw new KumoError('UNSTORABLE_VALUE', `a value staged for ${op.key.split('!').slice(2).join('!')} cannot be stored: ${messageOf(err)}`, {}, { cause: err });
      }
    }
  }
}

/**
 * The host's store: one ordered key-value database, values in msgpack. Keys are strings built only
 * by `keys.ts`. Every episode's writes reach it as one atomic {@link Store.write}.
 */
export interface Store {
  get(key: string): Promise<unknown>;
  /** Entries of a key range in key order. */
  entries(range: Range & { limit?: number; reverse?: boolean }): Promise<Array<[string, unknown]>>;
  /** Keys of a key range in key order. */
  keys(range: Range & { limit?: number; reverse?: boolean }): Promise<string[]>;
  /** Apply all ops atomically. */
  write(ops: WriteOp[]): Promise<void>;
  close(): Promise<void>;
}

type Bound = { gte: string; lt: string; limit: number; reverse?: boolean };

/** The part of abstract-level this store uses (so `level` and `memory-level` both fit). */
export interface OrderedDb {
  get(key: string): Promise<Uint8Array | undefined>;
  iterator(range: Bound): { all(): Promise<Array<[string, Uint8Array]>> };
  keys(range: Bound): { all(): Promise<string[]> };
  /** A chained batch: written atomically by `write`, or dropped by `close`. */
  batch(): OrderedBatch;
  close(): Promise<void>;
}

export interface OrderedBatch {
  put(key: string, value: Uint8Array): unknown;
  del(key: string): unknown;
  write(opts: { sync: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** A {@link Store} over any abstract-level database opened with utf8 keys and view values. */
export class LevelStore implements Store {
  constructor(
    private readonly db: OrderedDb,
    private readonly sync = false,
  ) {}

  async get(key: string): Promise<unknown> {
    const v = await this.db.get(key);
    return v === undefined ? undefined : decode(v);
  }

  async entries(range: Range & { limit?: number; reverse?: boolean }): Promise<Array<[string, unknown]>> {
    const rows = await this.db.iterator({ ...range, limit: range.limit ?? -1 }).all();
    return rows.map(([k, v]) => [k, decode(v)]);
  }

  async keys(range: Range & { limit?: number; reverse?: boolean }): Promise<string[]> {
    return this.db.keys({ ...range, limit: range.limit ?? -1 }).all();
  }

  async write(ops: WriteOp[]): Promise<void> {
    if (ops.length === 0) return;
    // A chained batch, not db.batch(array): abstract-level clones and re-validates every op of an
    // array batch (~8.6 µs per op, 20% of CPU under load); the chained form costs ~1.5 µs per op.
    // Either way the batch is written atomically.
    const batch = this.db.batch();
    try {
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value instanceof Encoded ? op.value.bytes : encode(op.value));
        else batch.del(op.key);
      }
    } catch (err) {
      await batch.close();
      throw err;
    }
    await batch.write({ sync: this.sync });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/**
 * Open (creating if needed) the LevelDB store in `dir`. With `sync`, every batch is fsynced before
 * it is acknowledged (survives power loss); without, a batch is in the write-ahead log before it is
 * acknowledged (survives a crash of the process).
 */
export async function openLevelStore(dir: string, opts: { sync?: boolean } = {}): Promise<Store> {
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  return new LevelStore(db as unknown as OrderedDb, opts.sync ?? false);
}
