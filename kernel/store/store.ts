import { Level } from 'level';
import { decode, encode } from './codec.ts';
import { StoreLockedError, StoreOpenError, UnstorableValueError } from '../errors.ts';
import type { Key, Range } from './keys.ts';

/** One write in a batch. Build them with {@link put} and {@link del}, which check the value's type against the key's. */
export type WriteOp = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };

/** A put of a value of the key's type. */
export function put<V>(key: Key<V>, value: V): WriteOp {
  return { type: 'put', key, value };
}

/** A delete. */
export function del(key: Key<unknown>): WriteOp {
  return { type: 'del', key };
}

/** Range bounds with an optional limit and direction. */
export type RangeQuery<V> = Range<V> & { limit?: number; reverse?: boolean };

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
        throw new UnstorableValueError(op.key.split('!').slice(2).join('!'), err);
      }
    }
  }
}

/**
 * The host's store: one ordered key-value database, values in msgpack. Keys are strings built only
 * by `keys.ts`. Every episode's writes reach it as one atomic {@link Store.write}.
 */
export interface Store {
  /** The value of a key, typed by the key; undefined when absent. */
  get<V>(key: Key<V>): Promise<V | undefined>;
  get(key: string): Promise<unknown>;
  /** Entries of a key range in key order. */
  entries<V>(range: RangeQuery<V>): Promise<Array<[Key<V>, V]>>;
  /** Keys of a key range in key order. */
  keys<V>(range: RangeQuery<V>): Promise<Array<Key<V>>>;
  /** Apply all ops atomically. */
  write(ops: WriteOp[]): Promise<void>;
  close(): Promise<void>;
}

type Bound = { gte: string; lt: string; limit: number; reverse?: boolean };

/** The part of abstract-level this store uses (so `level` and `memory-level` both fit). */
export interface OrderedDb {
  getSync(key: string): Uint8Array | undefined;
  iterator(range: Bound): { all(): Promise<Array<[string, Uint8Array]>> };
  keys(range: Bound): { all(): Promise<string[]> };
  /** A chained batch: written atomically by `write`, or dropped by `close`. */
  batch(): OrderedBatch;
  /** Compact the keys in [start, end); LevelDB writes its memtable to a table first, whatever the range. */
  compactRange?(start: string, end: string): Promise<void>;
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

  // The one place values are decoded: the store trusts that a key's value has the key's type
  // because only keys.ts builds keys and only put() writes them.
  // A synchronous read: LevelDB answers from its memtable, bloom filters (a missing key, the common
  // case for ECI and tombstone lookups) and block cache in ~1.5 µs of this thread, where the async
  // form costs ~10 µs for its thread-pool round trip (bench/README.md, "reads").
  get<V>(key: Key<V> | string): Promise<V | undefined> {
    try {
      const v = this.db.getSync(key);
      return Promise.resolve(v === undefined ? undefined : (decode(v) as V));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async entries<V>(range: RangeQuery<V>): Promise<Array<[Key<V>, V]>> {
    const rows = await this.db.iterator(bound(range)).all();
    return rows.map(([k, v]) => [k as Key<V>, decode(v) as V]);
  }

  async keys<V>(range: RangeQuery<V>): Promise<Array<Key<V>>> {
    return (await this.db.keys(bound(range)).all()) as Array<Key<V>>;
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

  /**
   * Close, leaving no write-ahead log to replay: the memtable (up to 4 MB of recent writes) is
   * written to a table first, by compacting a range beyond every key (LevelDB flushes its memtable
   * before any manual compaction). The next open then reads no log and writes no table, and holds
   * none of it in memory. A process that dies instead replays its log as before.
   */
  async close(): Promise<void> {
    await this.db.compactRange?.(BEYOND, `${BEYOND}${BEYOND}`).catch(() => undefined);
    await this.db.close();
  }
}

/** A key above the keys kumo writes (harmless if not: compacting is only work). */
const BEYOND = '\uffff';

function bound<V>(range: RangeQuery<V>): Bound {
  return { gte: range.gte, lt: range.lt, limit: range.limit ?? -1, ...(range.reverse ? { reverse: true } : {}) };
}

/**
 * Open (creating if needed) the LevelDB store in `dir`. With `sync`, every batch is fsynced before
 * it is acknowledged (survives power loss); without, a batch is in the write-ahead log before it is
 * acknowledged (survives a crash of the process).
 */
export async function openLevelStore(dir: string, opts: { sync?: boolean } = {}): Promise<Store> {
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  try {
    await db.open();
  } catch (err) {
    // abstract-level says only "Database failed to open"; its cause says why.
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') throw new StoreLockedError({ cause: err });
    throw new StoreOpenError(typeof cause?.message === 'string' ? cause.message : (err as Error).message, { cause: err });
  }
  return new LevelStore(db, opts.sync ?? false);
}
