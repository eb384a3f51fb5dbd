import { Level } from 'level';
import { decode, encode } from './codec.ts';
import { StoreLockedError, StoreOpenError, UnstorableValueError } from '../errors.ts';
import { isKeyRecord, ownedByValue, plainRange, type Key, type Range } from './keys.ts';
import type { Keyring } from './keyring.ts';
import type { Bound, OrderedBatch, OrderedDb } from './ordered-db.ts';
import { isSealed, Sealer } from './sealing.ts';

export type { OrderedBatch, OrderedDb } from './ordered-db.ts';

/**
 * One write in a batch. Build them with {@link put}, {@link del} and {@link erase}; put checks the
 * value's type against the key's.
 */
export type WriteOp = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string } | { type: 'erase'; cloudId: string };

/** A put of a value of the key's type. */
export function put<V>(key: Key<V>, value: V): WriteOp {
  return { type: 'put', key, value };
}

/** A delete. */
export function del(key: Key<unknown>): WriteOp {
  return { type: 'del', key };
}

/**
 * Forget cloud `cloudId`'s data key, in the batch that deletes its records: in a sealed store, any
 * copy of its records left in old files or a backup can then no longer be read (docs/encryption.md).
 */
export function erase(cloudId: string): WriteOp {
  return { type: 'erase', cloudId };
}

/** Range bounds with an optional limit and direction. */
export type RangeQuery<V> = Range<V> & { limit?: number; reverse?: boolean };

/** A value already in msgpack (see {@link encodeOps}); written as it is. */
export class Encoded {
  constructor(
    readonly bytes: Uint8Array,
    /** The cloud a host-wide record belongs to, read from its value (see {@link ownerOf}). */
    readonly owner?: string,
  ) {}
}

/** The cloud a host-wide record belongs to, as its value names it (its pending events: sealed with that cloud's key). */
function ownerOf(key: string, value: unknown): string | undefined {
  return ownedByValue(key) ? (value as { cloudId?: string }).cloudId : undefined;
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
        op.value = new Encoded(encode(op.value), ownerOf(op.key, op.value));
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

/**
 * A {@link Store} over any abstract-level database opened with utf8 keys and view values. With a
 * {@link Sealer} its records are sealed (store/sealing.ts); the keys and values it gives back are
 * the ones written either way.
 */
export class LevelStore implements Store {
  /** The write in progress: a sealed store writes one batch at a time (a cloud's erasure re-keys its bucket meanwhile). */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: OrderedDb,
    private readonly sync = false,
    private readonly sealer?: Sealer,
  ) {}

  // The one place values are decoded: the store trusts that a key's value has the key's type
  // because only keys.ts builds keys and only put() writes them.
  // A synchronous read: LevelDB answers from its memtable, bloom filters (a missing key, the common
  // case for ECI and tombstone lookups) and block cache in ~1.5 µs of this thread, where the async
  // form costs ~10 µs for its thread-pool round trip (bench/README.md, "reads").
  get<V>(key: Key<V> | string): Promise<V | undefined> {
    try {
      const s = this.sealer;
      if (!s) {
        const v = this.db.getSync(key);
        return Promise.resolve(v === undefined ? undefined : (decode(v) as V));
      }
      const phys = s.physical(key);
      const v = this.db.getSync(phys);
      const opened = v === undefined ? undefined : s.open(phys, v);
      return Promise.resolve(opened === undefined ? undefined : (decode(opened.bytes) as V));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async entries<V>(range: RangeQuery<V>): Promise<Array<[Key<V>, V]>> {
    const rows = await this.db.iterator(bound(range)).all();
    const s = this.sealer;
    if (!s) return rows.map(([k, v]) => [k as Key<V>, decode(v) as V]);
    const out: Array<[Key<V>, V]> = [];
    let hashed = false;
    for (const [k, v] of rows) {
      if (isKeyRecord(k)) continue;
      const opened = s.open(k, v);
      if (!opened) continue;
      if (opened.key !== k) hashed = true;
      out.push([opened.key as Key<V>, decode(opened.bytes) as V]);
    }
    // Keys stored with a hash of their secret part come in the hash's order: put back in the keys' own
    // (a limit on such a range counts in the hash's order: the kernel sets none there).
    const order = range.reverse ? -1 : 1;
    return hashed ? out.sort(([a], [b]) => (a < b ? -order : a > b ? order : 0)) : out;
  }

  async keys<V>(range: RangeQuery<V>): Promise<Array<Key<V>>> {
    // Keys with a secret part are stored with a hash of it: the key as written is in the value.
    if (this.sealer && !plainRange(range.gte)) return (await this.entries(range)).map(([k]) => k);
    return (await this.db.keys(bound(range)).all()) as Array<Key<V>>;
  }

  write(ops: WriteOp[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    if (!this.sealer) return this.writeBatch(ops);
    const sealer = this.sealer;
    return this.serially(() => this.writeSealed(ops, sealer));
  }

  /** Run `write` after the writes before it (a sealed store writes one batch at a time). */
  private serially(write: () => Promise<void>): Promise<void> {
    const run = this.writing.then(write);
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async writeBatch(ops: WriteOp[]): Promise<void> {
    // A chained batch, not db.batch(array): abstract-level clones and re-validates every op of an
    // array batch (~8.6 µs per op, 20% of CPU under load); the chained form costs ~1.5 µs per op.
    // Either way the batch is written atomically.
    const batch = this.db.batch();
    try {
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value instanceof Encoded ? op.value.bytes : encode(op.value));
        else if (op.type === 'del') batch.del(op.key);
      }
    } catch (err) {
      await batch.close();
      throw err;
    }
    await batch.write({ sync: this.sync });
  }

  /**
   * A sealed batch. Erasing clouds re-keys their buckets around it: the keyring saves the buckets'
   * next keys, the batch (fsynced) deletes the clouds' data keys and wraps the others again, then
   * the keyring forgets the old keys. A crash between leaves the re-key to finish at the next open.
   */
  private async writeSealed(ops: WriteOp[], s: Sealer): Promise<void> {
    const erased = new Set(ops.flatMap((op) => (op.type === 'erase' ? [op.cloudId] : [])));
    const buckets = new Set([...erased].map((id) => s.keyring.bucketOf(id)));
    if (erased.size > 0) await s.keyring.beginRekey(buckets);
    const batch = this.db.batch();
    try {
      if (erased.size > 0) {
        await this.keepPending(erased, s, batch);
        await s.rewrapBuckets(buckets, batch, erased);
      }
      s.beginBatch(erased);
      for (const op of ops) {
        if (op.type === 'put') {
          const bytes = op.value instanceof Encoded ? op.value.bytes : encode(op.value);
          const owner = op.value instanceof Encoded ? op.value.owner : ownerOf(op.key, op.value);
          const [phys, sealed] = s.seal(op.key, bytes, batch, owner);
          batch.put(phys, sealed);
        } else if (op.type === 'del') batch.del(s.physical(op.key));
      }
    } catch (err) {
      s.endBatch(false);
      await batch.close();
      throw err;
    }
    try {
      await batch.write({ sync: this.sync || erased.size > 0 });
    } catch (err) {
      s.endBatch(false);
      throw err;
    }
    s.endBatch(true);
    // The batch is written: the clouds are deleted, whatever comes next. A keyring that cannot be
    // saved now (a full disk) keeps the old bucket keys on disk until a later save or the next
    // open settles them; the deletion is not answered as failed.
    if (erased.size > 0) await s.keyring.settle(buckets).catch(() => undefined);
  }

  /**
   * The pending events of clouds being erased: those they sent are sealed again with the host's
   * key (they are still delivered, as before the cloud went), those sent to them go.
   */
  private async keepPending(erased: ReadonlySet<string>, s: Sealer, batch: OrderedBatch): Promise<void> {
    for (const prefix of ['o!', 'n!']) {
      for (const [k, v] of await this.db.iterator({ gte: prefix, lt: `${prefix.slice(0, -1)}"`, limit: -1 }).all()) {
        const owner = s.ownerOf(v);
        if (owner === undefined || !erased.has(owner)) continue;
        const opened = prefix === 'o!' ? s.open(k, v) : undefined;
        if (opened) batch.put(...s.seal(k, opened.bytes, batch));
        else batch.del(k);
      }
    }
  }

  /**
   * Seal a store written before sealing, in place (`kumo upgrade`): every record still in the clear
   * sealed, a key with a secret part moved to its hashed form, `batch` records a batch. A crash
   * midway loses nothing: what is sealed stays sealed, the rest is done by the next run. Returns
   * how many records it sealed.
   */
  async sealInPlace(batch = 1000, onBatch?: (sealed: number) => void): Promise<number> {
    const s = this.sealer;
    if (!s) throw new TypeError('sealInPlace needs a sealed store');
    let from = '';
    let sealed = 0;
    for (;;) {
      const rows = await this.db.iterator({ gte: from, lt: BEYOND, limit: batch }).all();
      if (rows.length === 0) break;
      const plain = rows.filter(([k, v]) => !isSealed(v) && !isKeyRecord(k));
      if (plain.length > 0) {
        await this.serially(async () => {
          const b = this.db.batch();
          s.beginBatch(new Set());
          try {
            for (const [k, v] of plain) {
              const [phys, sealed] = s.seal(k, v, b, ownerOf(k, decode(v)));
              // One batch: the record sealed under its hashed key, and its plain key gone.
              if (phys !== k) b.del(k);
              b.put(phys, sealed);
            }
            await b.write({ sync: true });
          } catch (err) {
            s.endBatch(false);
            throw err;
          }
          s.endBatch(true);
        });
      }
      sealed += plain.length;
      onBatch?.(sealed);
      from = `${rows[rows.length - 1]![0]}\0`;
    }
    return sealed;
  }

  /** Finish a re-key a crash interrupted (see {@link writeSealed}). */
  async settleKeys(): Promise<void> {
    const s = this.sealer;
    const buckets = s?.keyring.rekeying() ?? [];
    if (!s || buckets.length === 0) return;
    const batch = this.db.batch();
    await s.rewrapBuckets(buckets, batch);
    await batch.write({ sync: true });
    await s.keyring.settle(buckets);
  }

  /** Compact every key: old table files, with the values overwritten or deleted since, are rewritten. */
  async compact(): Promise<void> {
    await this.db.compactRange?.('', BEYOND);
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
 * Open (creating if needed) the LevelDB store in `dir`, sealed with `keyring`'s keys when given
 * (a re-key a crash interrupted is finished first). With `sync`, every batch is fsynced before
 * it is acknowledged (survives power loss); without, a batch is in the write-ahead log before it is
 * acknowledged (survives a crash of the process).
 */
export async function openLevelStore(dir: string, opts: { sync?: boolean; keyring?: Keyring } = {}): Promise<Store> {
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  try {
    await db.open();
  } catch (err) {
    // abstract-level says only "Database failed to open"; its cause says why.
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') throw new StoreLockedError({ cause: err });
    throw new StoreOpenError(typeof cause?.message === 'string' ? cause.message : (err as Error).message, { cause: err });
  }
  if (!opts.keyring) return new LevelStore(db, opts.sync ?? false);
  const store = new LevelStore(db, opts.sync ?? false, new Sealer(opts.keyring, db));
  try {
    await store.settleKeys();
  } catch (err) {
    await db.close();
    throw err;
  }
  return store;
}
