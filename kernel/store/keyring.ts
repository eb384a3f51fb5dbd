import { createHmac, randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { open as openFile, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeyringError } from '../errors.ts';
import { KEY_BYTES, newKey, open, seal } from './aead.ts';
import { decode, encode } from './codec.ts';

/**
 * The keys of a sealed store (docs/encryption.md), kept in one small file beside the store's own,
 * sealed under the host key. The host key itself is never in it: it comes from a key file, the
 * environment or a passphrase. The keyring holds
 * - the host data key (host-wide records) and the host's secret for keyed hashes of ECIs;
 * - 1,024 bucket keys, each wrapping the data keys of the clouds in its bucket. Deleting a cloud
 *   replaces its bucket's key (re-wrapping the other clouds' keys) and forgets the old one, so the
 *   cloud's key, in old table files or a backup, is wrapped by a key that no longer exists.
 *
 * It is rewritten whole (a temporary file, fsynced, renamed over it), so a crash leaves the old
 * file or the new one, never half of one.
 */

export const BUCKETS = 1024;

/** Where a host key comes from: the key (32 bytes: a key file, or `KUMO_HOST_KEY`), or a passphrase (scrypt). */
export type HostKeySource = { key: Uint8Array } | { passphrase: string };

interface KeyFile {
  kumo: 'keyring';
  version: 1;
  /** Names the host key (an HMAC of it), so a wrong key is told from a damaged keyring. */
  keyId: string;
  /** How a passphrase became the host key. */
  scrypt?: { salt: string; N: number; r: number; p: number };
  sealed: string;
}

/** A bucket's keys: the current one, and the next while a re-key is under way. */
type BucketKeys = [current: BucketKey, next?: BucketKey];
interface BucketKey {
  gen: number;
  key: Buffer;
}

interface Contents {
  data: Buffer;
  hmac: Buffer;
  buckets: Array<Array<[number, Buffer]>>;
}

const SCRYPT = { N: 1 << 15, r: 8, p: 1 };
const AAD = Buffer.from('kumo keyring v1');

export class Keyring {
  private constructor(
    private readonly path: string,
    private hostKey: Buffer,
    private file: Omit<KeyFile, 'sealed'>,
    readonly dataKey: Buffer,
    readonly hashKey: Buffer,
    private readonly buckets: BucketKeys[],
  ) {}

  /** Make a new keyring at `path` under the host key from `source`. */
  static async create(path: string, source: HostKeySource): Promise<Keyring> {
    const { key, scrypt } = await hostKeyOf(source);
    const buckets = Array.from({ length: BUCKETS }, (): BucketKeys => [{ gen: 1, key: newKey() }]);
    const ring = new Keyring(path, key, { kumo: 'keyring', version: 1, keyId: keyIdOf(key), ...(scrypt ? { scrypt } : {}) }, newKey(), newKey(), buckets);
    await ring.save();
    return ring;
  }

  /** Open the keyring at `path` with the host key from `source`; a {@link KeyringError} says why it cannot be. */
  static async open(path: string, source: HostKeySource): Promise<Keyring> {
    const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new KeyringError(err.code === 'ENOENT' ? 'missing' : 'damaged', `the keyring ${path} cannot be read (${err.message})`);
    });
    const file = parseFile(path, text);
    const { key } = await hostKeyOf(source, file.scrypt);
    if (keyIdOf(key) !== file.keyId) throw new KeyringError('wrong-key', `the host key is not the one that sealed the keyring ${path} (it was sealed by key ${file.keyId}, this is key ${keyIdOf(key)})`);
    const plain = open(key, AAD, Buffer.from(file.sealed, 'base64'));
    if (plain === null) throw new KeyringError('damaged', `the keyring ${path} is damaged: it does not authenticate under its own host key`);
    const c = decode(plain) as Contents;
    const buckets = c.buckets.map((b) => b.map(([gen, k]) => ({ gen, key: Buffer.from(k) })) as BucketKeys);
    const { sealed: _, ...rest } = file;
    return new Keyring(path, key, rest, Buffer.from(c.data), Buffer.from(c.hmac), buckets);
  }

  /** The id of this keyring's host key. */
  get keyId(): string {
    return this.file.keyId;
  }

  /** The bucket of cloud `id`. */
  bucketOf(id: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
    return (h >>> 0) % BUCKETS;
  }

  /** The key new wraps in bucket `b` use: the next one while a re-key is under way. */
  wrapping(b: number): BucketKey {
    const keys = this.buckets[b]!;
    return keys[1] ?? keys[0];
  }

  /** The key of generation `gen` of bucket `b`, if it still exists. */
  keyOf(b: number, gen: number): Buffer | undefined {
    return this.buckets[b]!.find((k) => k?.gen === gen)?.key;
  }

  /** Buckets with a re-key under way (begun, not settled). */
  rekeying(): number[] {
    return this.buckets.flatMap((keys, b) => (keys[1] ? [b] : []));
  }

  /** Begin replacing the keys of `buckets`: a next key each, saved before any wrap uses it. */
  async beginRekey(buckets: Iterable<number>): Promise<void> {
    for (const b of buckets) {
      const keys = this.buckets[b]!;
      keys[1] ??= { gen: keys[0].gen + 1, key: newKey() };
    }
    await this.save();
  }

  /** Finish it: the next keys become the current ones and the old ones are forgotten. Call once nothing is wrapped by the old. */
  async settle(buckets: Iterable<number>): Promise<void> {
    for (const b of buckets) {
      const keys = this.buckets[b]!;
      if (keys[1]) this.buckets[b] = [keys[1]];
    }
    await this.save();
  }

  /** Seal the keyring under a new host key (key rotation: no record of the store changes). */
  async rewrap(source: HostKeySource): Promise<void> {
    const { key, scrypt } = await hostKeyOf(source);
    this.hostKey = key;
    const { scrypt: _, ...rest } = this.file;
    this.file = { ...rest, keyId: keyIdOf(key), ...(scrypt ? { scrypt } : {}) };
    await this.save();
  }

  private async save(): Promise<void> {
    const contents: Contents = { data: this.dataKey, hmac: this.hashKey, buckets: this.buckets.map((keys) => keys.map((k) => [k!.gen, k!.key] as [number, Buffer])) };
    const file: KeyFile = { ...this.file, sealed: seal(this.hostKey, AAD, [encode(contents)]).toString('base64') };
    await writeAtomically(this.path, `${JSON.stringify(file)}\n`);
  }
}

/** Write `text` to `path` whole or not at all: a temporary file, fsynced, renamed over it, the directory fsynced. Mode 0600. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const f = await openFile(tmp, 'w', 0o600);
  try {
    await f.writeFile(text);
    await f.sync();
  } finally {
    await f.close();
  }
  await rename(tmp, path);
  const dir = await openFile(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function parseFile(path: string, text: string): KeyFile {
  let file: Partial<KeyFile> | null;
  try {
    file = JSON.parse(text) as Partial<KeyFile> | null;
  } catch {
    throw new KeyringError('damaged', `the keyring ${path} is damaged: it is not JSON`);
  }
  if (file?.kumo !== 'keyring' || typeof file.keyId !== 'string' || typeof file.sealed !== 'string') throw new KeyringError('damaged', `the keyring ${path} is damaged: it is not a kumo keyring`);
  if (file.version !== 1) throw new KeyringError('damaged', `the keyring ${path} is of version ${String(file.version)}, which this kumo does not know`);
  return file as KeyFile;
}

function keyIdOf(key: Uint8Array): string {
  return createHmac('sha256', key).update('kumo host key id').digest('hex').slice(0, 16);
}

async function hostKeyOf(source: HostKeySource, known?: KeyFile['scrypt']): Promise<{ key: Buffer; scrypt?: KeyFile['scrypt'] }> {
  if ('key' in source) {
    if (source.key.length !== KEY_BYTES) throw new KeyringError('wrong-key', `a host key is ${KEY_BYTES} bytes, not ${source.key.length}`);
    return { key: Buffer.from(source.key) };
  }
  if (source.passphrase.length === 0) throw new KeyringError('wrong-key', 'an empty passphrase protects nothing');
  const params = known ?? { salt: randomBytes(16).toString('base64'), ...SCRYPT };
  const key = await new Promise<Buffer>((resolve, reject) =>
    scryptCb(source.passphrase, Buffer.from(params.salt, 'base64'), KEY_BYTES, { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r } satisfies ScryptOptions, (err, k) => (err ? reject(err) : resolve(k))),
  );
  return { key, scrypt: params };
}
