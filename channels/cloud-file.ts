import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import { z } from '../rulesets/builder.ts'; // zod, owned by the builder
import { bundleRulesets, decode, encode, InvalidArgsError, InvalidCloudFileError, isList, isPlainObject, type CloudBundle } from '../kernel/index.ts';

/**
 * The cloud file: clouds exported to carry them to another host, realm or provider (docs/realm.md).
 *
 *   KUMO-CLOUD\n                  11 bytes: what the file is
 *   header length                 4 bytes, big-endian
 *   header                        JSON (below)
 *   body                          msgpack of the bundle {root, clouds, records, outbox}; with a
 *                                 passphrase, AES-256-GCM of it under a scrypt key
 *
 * The header says, readably: the format version, the source realm and host, when, the clouds (ids,
 * names, parents), the rulesets they need, how many records, the body's length and the SHA-256 of
 * the plain body (a checksum), and how the body is encrypted when it is.
 */

const MAGIC = Buffer.from('KUMO-CLOUD\n', 'latin1');
export const CLOUD_FILE_VERSION = 1;

/** The header, read from the file by this schema (never trusted as it comes). */
const Encryption = z.object({ cipher: z.string(), kdf: z.string(), N: z.number(), r: z.number(), p: z.number(), salt: z.string(), iv: z.string(), tag: z.string() });
const Header = z.object({
  format: z.literal('kumo-cloud'),
  version: z.number(),
  realm: z.string().nullable(),
  host: z.string(),
  exported: z.number(),
  root: z.object({ id: z.string(), name: z.string() }),
  clouds: z.array(z.object({ id: z.string(), name: z.string(), parent: z.string().nullable() })),
  rulesets: z.array(z.string()),
  records: z.number(),
  /** Length of the body as stored (encrypted or not). */
  bytes: z.number(),
  /** SHA-256 of the plain body, hex. */
  sha256: z.string(),
  encryption: Encryption.optional(),
});
export type CloudFileHeader = z.infer<typeof Header>;

/** scrypt cost: 2^15 × 8 × 128 bytes = 32 MiB and about 0.1 s per key on this project's machine. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** Write a bundle as a cloud file, encrypted when a passphrase is given. */
export function writeCloudFile(bundle: CloudBundle, from: { realm: string | null; host: string; now: number }, passphrase?: string): Buffer {
  const plain = Buffer.from(encode(bundle));
  const sha256 = createHash('sha256').update(plain).digest('hex');
  let body = plain;
  let encryption: CloudFileHeader['encryption'];
  if (passphrase !== undefined) {
    if (passphrase.length === 0) throw new InvalidArgsError('an empty passphrase protects nothing');
    const salt = randomBytes(16);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', scryptSync(passphrase, salt, 32, SCRYPT), iv);
    cipher.setAAD(Buffer.from(sha256));
    body = Buffer.concat([cipher.update(plain), cipher.final()]);
    encryption = { cipher: 'aes-256-gcm', kdf: 'scrypt', N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: salt.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
  }
  const root = bundle.clouds[0]!;
  const header: CloudFileHeader = {
    format: 'kumo-cloud',
    version: CLOUD_FILE_VERSION,
    realm: from.realm,
    host: from.host,
    exported: from.now,
    root: { id: root.id, name: root.name },
    clouds: bundle.clouds.map((c) => ({ id: c.id, name: c.name, parent: c.parent })),
    rulesets: bundleRulesets(bundle),
    records: bundle.records.length,
    bytes: body.length,
    sha256,
    ...(encryption ? { encryption } : {}),
  };
  const head = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(head.length);
  return Buffer.concat([MAGIC, length, head, body]);
}

/** Read a cloud file: its header and its bundle (still to be checked by the host), or why not. */
export function readCloudFile(file: Buffer, passphrase?: string): { header: CloudFileHeader; bundle: unknown } {
  if (file.length < MAGIC.length || !file.subarray(0, MAGIC.length).equals(MAGIC)) throw new InvalidCloudFileError('foreign', 'this is not a kumo cloud file');
  if (file.length < MAGIC.length + 4) throw new InvalidCloudFileError('truncated', 'the cloud file is truncated (no header)');
  const headLength = file.readUInt32BE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (file.length < start + headLength) throw new InvalidCloudFileError('truncated', 'the cloud file is truncated (in its header)');
  let raw: unknown;
  try {
    raw = JSON.parse(file.subarray(start, start + headLength).toString('utf8'));
  } catch {
    throw new InvalidCloudFileError('corrupt', 'the cloud file is corrupt: its header is not JSON');
  }
  if (!isPlainObject(raw) || raw['format'] !== 'kumo-cloud') throw new InvalidCloudFileError('foreign', 'this is not a kumo cloud file');
  if (raw['version'] !== CLOUD_FILE_VERSION) throw new InvalidCloudFileError('version', `the cloud file has format version ${JSON.stringify(raw['version'])}; this kumo reads version ${CLOUD_FILE_VERSION}`);
  const parsed = Header.safeParse(raw);
  if (!parsed.success) throw new InvalidCloudFileError('corrupt', `the cloud file is corrupt: its header is malformed (${parsed.error.issues[0]?.path.join('.') ?? ''})`);
  const header = parsed.data;
  const body = file.subarray(start + headLength);
  if (body.length < header.bytes) throw new InvalidCloudFileError('truncated', `the cloud file is truncated (${body.length} of ${header.bytes} body bytes)`);
  if (body.length > header.bytes) throw new InvalidCloudFileError('corrupt', 'the cloud file is corrupt: bytes after its body');
  if (!header.encryption && passphrase !== undefined) throw new InvalidCloudFileError('passphrase', 'the cloud file is not encrypted, yet a passphrase was given: is it the file you meant? (import it without one)');
  const plain = header.encryption ? decrypt(body, header, passphrase) : body;
  if (createHash('sha256').update(plain).digest('hex') !== header.sha256) throw new InvalidCloudFileError('corrupt', 'the cloud file is corrupt: its checksum does not match');
  let bundle: unknown;
  try {
    bundle = decode(plain);
  } catch {
    throw new InvalidCloudFileError('corrupt', 'the cloud file is corrupt: its body cannot be decoded');
  }
  // The checksum covers the body only: a header that says other than its body was changed.
  const clouds = isPlainObject(bundle) ? bundle['clouds'] : undefined;
  const records = isPlainObject(bundle) ? bundle['records'] : undefined;
  if (!isList(clouds) || !isList(records) || header.records !== records.length || header.clouds.length !== clouds.length) {
    throw new InvalidCloudFileError('corrupt', 'the cloud file is corrupt: its header does not match its body');
  }
  return { header, bundle };
}

function decrypt(body: Buffer, header: CloudFileHeader, passphrase: string | undefined): Buffer {
  const e = header.encryption!;
  if (passphrase === undefined) throw new InvalidCloudFileError('passphrase', 'the cloud file is encrypted: give its passphrase');
  if (e.cipher !== 'aes-256-gcm' || e.kdf !== 'scrypt') throw new InvalidCloudFileError('version', `the cloud file is encrypted with ${e.cipher}/${e.kdf}, which this kumo does not read`);
  try {
    const key = scryptSync(passphrase, Buffer.from(e.salt, 'base64'), 32, { N: e.N, r: e.r, p: e.p, maxmem: SCRYPT.maxmem });
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(e.iv, 'base64'));
    decipher.setAAD(Buffer.from(header.sha256));
    decipher.setAuthTag(Buffer.from(e.tag, 'base64'));
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new InvalidCloudFileError('passphrase', 'the cloud file cannot be decrypted: wrong passphrase, or the file was changed');
  }
}
