import { StoreCorruptError } from '../errors.ts';
import { keyedHash, newKey, open, seal } from './aead.ts';
import { cloudOfKey, secretTailAt, wrappedKey, wrappedKeys } from './keys.ts';
import type { Keyring } from './keyring.ts';
import type { OrderedBatch, OrderedDb } from './ordered-db.ts';

/**
 * How a sealed store keeps its records (docs/encryption.md): every value sealed (aead.ts) under
 * the data key of the cloud it belongs to (the host's data key for host-wide records), bound to
 * its key; every secret in a key (an ECI, a code's hash, an idempotency key) replaced by a keyed
 * hash, the key as written kept inside the sealed value. The rest of the kernel sees the keys and
 * values it wrote: this file and the store are the only ones that know.
 *
 * A cloud's data key is made at its first write and kept wrapped by its bucket's key (keyring.ts)
 * under `x!{bucket}!{cloudId}`. Erasing the cloud (an `erase` op: store.ts) deletes it and gives
 * the bucket a new key ({@link Sealer.rewrapBuckets}): the cloud's records, wherever copies of them
 * are, are then sealed by a key nothing can give back.
 *
 * A sealed value: `0xc1` (a byte msgpack never begins with), the owner (0 the host, 1 the cloud of
 * the key, 2 a cloud named next: length and id), then nonce, ciphertext and tag, authenticated with
 * the key it is stored under. A key with a secret part has that part, as written, first inside.
 */

const MAGIC = 0xc1;
const HOST = 0;
const CLOUD_OF_KEY = 1;
const CLOUD_NAMED = 2;
/** Unwrapped cloud keys kept in memory (the oldest go first); a miss costs a read and an unwrap. */
const CACHED_KEYS = 65_536;

/** Is `bytes` a sealed value (not a plain msgpack one, as a store written before sealing has)? */
export function isSealed(bytes: Uint8Array): boolean {
  return bytes[0] === MAGIC;
}

export class Sealer {
  private readonly cloudKeys = new Map<string, Buffer>();
  /** Clouds whose data keys the batch being sealed made: forgotten if it is not written. */
  private made: string[] = [];
  /** The cloud whose key was asked for last, and its key. */
  private lastId: string | undefined;
  private lastKey: Buffer | undefined;
  /** Clouds whose data keys the batch being sealed erases: a record it puts for one gets a new key. */
  private erasing: ReadonlySet<string> = new Set();

  constructor(
    readonly keyring: Keyring,
    private readonly db: OrderedDb,
  ) {}

  /** The key a record is stored under: its secret part, if any, as a keyed hash. */
  physical(key: string): string {
    return this.hashed(key, secretTailAt(key));
  }

  private hashed(key: string, at: number): string {
    return at < 0 ? key : `${key.slice(0, at)}${keyedHash(this.keyring.hashKey, key.slice(at)).toString('base64url')}`;
  }

  /**
   * Seal `bytes`, the value of `key`: the key it is stored under, and the sealed value. `owner`
   * names the cloud a host-wide record belongs to (its pending events). A cloud's first record
   * makes its data key, whose wrapped form goes into `batch`.
   */
  seal(key: string, bytes: Uint8Array, batch: OrderedBatch, owner?: string): [string, Uint8Array] {
    const ofKey = cloudOfKey(key);
    const cloud = ofKey ?? owner;
    const dataKey = cloud === undefined ? this.keyring.dataKey : this.keyOf(cloud, batch);
    const head = header(ofKey !== undefined ? CLOUD_OF_KEY : cloud !== undefined ? CLOUD_NAMED : HOST, ofKey === undefined ? cloud : undefined);
    const at = secretTailAt(key);
    const phys = this.hashed(key, at);
    // Bound to the key it is stored under; the head needs no binding: another owner in it names another key, which opens nothing.
    const aad = Buffer.from(phys);
    if (at < 0) return [phys, seal(dataKey, aad, [bytes], head)];
    const tail = Buffer.from(key.slice(at));
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(tail.length);
    return [phys, seal(dataKey, aad, [len, tail, bytes], head)];
  }

  /**
   * The key as written and the value bytes of the record stored under `phys`; undefined when the
   * cloud it belongs to was erased (its data key is gone: the record is as good as deleted).
   */
  open(phys: string, sealed: Uint8Array): { key: string; bytes: Buffer } | undefined {
    if (sealed[0] !== MAGIC) throw new StoreCorruptError(phys, 'its value is not sealed');
    const owner = sealed[1];
    let at = 2;
    let cloud: string | undefined;
    if (owner === CLOUD_NAMED) {
      cloud = this.ownerOf(sealed);
      at = 3 + sealed[2]!;
    } else if (owner === CLOUD_OF_KEY) cloud = cloudOfKey(phys);
    else if (owner !== HOST) throw new StoreCorruptError(phys, `its owner byte is ${owner}`);
    const dataKey = cloud === undefined ? this.keyring.dataKey : this.existingKey(cloud);
    if (dataKey === undefined) return undefined;
    const plain = open(dataKey, Buffer.from(phys), sealed, at);
    if (plain === null) throw new StoreCorruptError(phys, 'it does not authenticate under its key');
    const tailAt = secretTailAt(phys);
    if (tailAt < 0) return { key: phys, bytes: plain };
    const len = plain.readUInt32BE(0);
    return { key: `${phys.slice(0, tailAt)}${plain.subarray(4, 4 + len).toString()}`, bytes: plain.subarray(4 + len) };
  }

  /** The cloud a sealed host-wide record belongs to, if it names one. */
  ownerOf(sealed: Uint8Array): string | undefined {
    return sealed[1] === CLOUD_NAMED ? Buffer.from(sealed.subarray(3, 3 + sealed[2]!)).toString('latin1') : undefined;
  }

  /** Cloud `id`'s data key: cached, else unwrapped from the store, else made (its wrapped form put in `batch`). */
  private keyOf(id: string, batch: OrderedBatch): Buffer {
    const known = this.existingKey(id);
    if (known) return known;
    const key = newKey();
    const b = this.keyring.bucketOf(id);
    batch.put(wrappedKey(b, id), this.wrap(b, id, key));
    this.remember(id, key);
    this.made.push(id);
    return key;
  }

  /** Cloud `id`'s data key if it has one (undefined once erased). */
  private existingKey(id: string): Buffer | undefined {
    // Erased by this batch: the key it made since, if any (its old key is gone).
    if (this.erasing.size > 0 && this.erasing.has(id)) return this.made.includes(id) ? this.cloudKeys.get(id) : undefined;
    // An episode's records come together: its cloud's key was most likely the last one asked for.
    if (id === this.lastId) return this.lastKey;
    const cached = this.cloudKeys.get(id);
    if (cached) return this.last(id, cached);
    const b = this.keyring.bucketOf(id);
    const k = wrappedKey(b, id);
    const wrapped = this.db.getSync(k);
    if (wrapped === undefined) return undefined;
    const key = this.unwrap(b, k, wrapped);
    if (key) this.remember(id, key);
    return key && this.last(id, key);
  }

  private last(id: string, key: Buffer): Buffer {
    this.lastId = id;
    this.lastKey = key;
    return key;
  }

  private remember(id: string, key: Buffer): void {
    if (this.cloudKeys.size >= CACHED_KEYS) this.cloudKeys.delete(this.cloudKeys.keys().next().value!);
    this.cloudKeys.set(id, key);
  }

  /** A batch erasing the data keys of `erased` begins to be sealed: they are forgotten, a record put for one gets a new one. */
  beginBatch(erased: ReadonlySet<string>): void {
    for (const id of erased) this.cloudKeys.delete(id);
    this.lastId = undefined;
    this.erasing = erased;
    this.made = [];
  }

  /** The batch sealed was written (`written`) or not: a data key it made is its cloud's own, or never existed. */
  endBatch(written: boolean): void {
    if (!written) for (const id of [...this.made, ...this.erasing]) this.cloudKeys.delete(id);
    if (!written || this.erasing.size > 0) this.lastId = undefined;
    this.erasing = new Set();
    this.made = [];
  }

  private wrap(b: number, id: string, key: Buffer): Buffer {
    const { gen, key: kek } = this.keyring.wrapping(b);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(gen);
    return seal(kek, Buffer.from(wrappedKey(b, id)), [key], head);
  }

  /** A wrapped data key opened; undefined when its bucket key was forgotten (erased). */
  private unwrap(b: number, k: string, wrapped: Uint8Array): Buffer | undefined {
    const kek = this.keyring.keyOf(b, Buffer.from(wrapped.subarray(0, 4)).readUInt32BE(0));
    if (kek === undefined) return undefined;
    const key = open(kek, Buffer.from(k), wrapped, 4);
    if (key === null) throw new StoreCorruptError(k, 'a cloud data key that does not authenticate under its bucket key');
    return key;
  }

  /**
   * Into `batch` (written with sync before {@link Keyring.settle}): the data keys of `erased`
   * deleted, and every other data key in their buckets wrapped again by the bucket's next key.
   * The keyring must have begun re-keying those buckets ({@link Keyring.beginRekey}). With no
   * `erased`, it finishes a re-key a crash interrupted.
   */
  async rewrapBuckets(buckets: Iterable<number>, batch: OrderedBatch, erased: ReadonlySet<string> = new Set()): Promise<void> {
    for (const b of buckets) {
      const next = this.keyring.wrapping(b);
      const { gte, lt } = wrappedKeys(b);
      for (const [k, wrapped] of await this.db.iterator({ gte, lt, limit: -1 }).all()) {
        const id = k.slice(wrappedKey(b, '').length);
        if (erased.has(id)) {
          batch.del(k);
          continue;
        }
        if (Buffer.from(wrapped.subarray(0, 4)).readUInt32BE(0) === next.gen) continue;
        const key = this.unwrap(b, k, wrapped);
        if (key) batch.put(k, this.wrap(b, id, key));
      }
    }
  }
}

const HEADS = [Buffer.from([MAGIC, HOST]), Buffer.from([MAGIC, CLOUD_OF_KEY])];

function header(owner: number, cloud?: string): Buffer {
  if (owner !== CLOUD_NAMED) return HEADS[owner]!;
  const id = Buffer.from(cloud!, 'latin1');
  return Buffer.concat([Buffer.from([MAGIC, owner, id.length]), id]);
}
