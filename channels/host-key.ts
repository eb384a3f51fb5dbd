import { randomBytes } from 'node:crypto';
import { access, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Keyring, KeyringError, writeAtomically, type HostKeySource } from '../kernel/index.ts';
import { StartError } from './start-error.ts';

/**
 * Where a host's key comes from (docs/encryption.md), in this order: `KUMO_HOST_KEY` (the key,
 * base64url), `KUMO_HOST_PASSPHRASE` (scrypt), else a key file: `--key-file`, by default beside
 * the data directory (`<data>.key`), never inside it, so a copy of the directory does not carry it.
 * A new store's key file is made (0600) at its first start.
 */
export interface HostKeyOptions {
  keyFile?: string;
  env?: Record<string, string | undefined>;
}

/** The keyring of a data directory's store. */
export const keyringFile = (dir: string): string => join(dir, 'kumo.keyring');

/** Present while `kumo upgrade` seals a data directory made before sealing. */
export const upgradeMarker = (dir: string): string => join(dir, 'kumo.upgrading');

/** The default key file of a data directory. */
export const defaultKeyFile = (dir: string): string => `${resolve(dir)}.key`;

/** Where the host key of `dir` comes from, as the operator gave it. */
export function keySourceOf(dir: string, opts: HostKeyOptions = {}): { env: HostKeySource } | { file: string } {
  const env = opts.env ?? process.env;
  const key = env['KUMO_HOST_KEY'];
  const passphrase = env['KUMO_HOST_PASSPHRASE'];
  if (key && passphrase) throw new StartError('KEY_WRONG', 'both KUMO_HOST_KEY and KUMO_HOST_PASSPHRASE are set: give the host key one way');
  if (key) return { env: { key: parseKey(key, 'KUMO_HOST_KEY') } };
  if (passphrase) return { env: { passphrase } };
  return { file: opts.keyFile ?? defaultKeyFile(dir) };
}

/** A host key as text: 32 bytes, base64url (as `kumo keys new` prints and key files hold). */
export function parseKey(text: string, where: string): Uint8Array {
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== 32 || key.toString('base64url') !== text.trim()) throw new StartError('KEY_WRONG', `${where} is not a host key (32 bytes, base64url: 43 characters)`);
  return key;
}

/** A new host key, as text. */
export function newKeyText(): string {
  return randomBytes(32).toString('base64url');
}

/** Is there a file (or directory) at `path`? */
export const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * The keyring of the store in `dir`, opened with the host key, or made with it for a new store. A
 * key file being replaced (`<file>.next`, see {@link rotateHostKey}) when a crash stopped it is
 * taken up or dropped, whichever the keyring says. Refusals are {@link StartError}s, and write
 * nothing.
 */
export async function openKeyring(dir: string, opts: HostKeyOptions & { upgrading?: boolean } = {}): Promise<Keyring> {
  const path = keyringFile(dir);
  const source = keySourceOf(dir, opts);
  if (!opts.upgrading && (await exists(upgradeMarker(dir)))) throw new StartError('DATA_DIR_UNSEALED', `the sealing of the data directory ${dir} was interrupted: finish it with: kumo upgrade --data ${dir}`);
  if (!(await exists(path))) {
    if (!opts.upgrading && (await exists(join(dir, 'CURRENT'))))
      throw new StartError('DATA_DIR_UNSEALED', `the data directory ${dir} was made before kumo sealed its stores: its records are in the clear. Seal it first with: kumo upgrade --data ${dir}`);
    if ('env' in source) return Keyring.create(path, source.env);
    if (!(await exists(source.file))) await writeAtomically(source.file, `${newKeyText()}\n`);
    return Keyring.create(path, { key: await readKeyFile(source.file) });
  }
  if ('env' in source) return opening(path, source.env, 'the host key given in the environment');
  const next = `${source.file}.next`;
  if (!(await exists(source.file)) && !(await exists(next)))
    throw new StartError('KEY_MISSING', `the host key file ${source.file} is missing, and without it the store in ${dir} cannot be read. Restore it from where you keep its copy (or give --key-file, KUMO_HOST_KEY or KUMO_HOST_PASSPHRASE)`);
  if (await exists(next)) {
    // A rotation stopped midway: the keyring is sealed by the old key or the new one.
    const nextKey = await readKeyFile(next);
    const ring = await Keyring.open(path, { key: nextKey }).catch(() => null);
    if (ring) {
      await rename(next, source.file);
      return ring;
    }
    await rm(next, { force: true });
  }
  return opening(path, { key: await readKeyFile(source.file) }, `the host key file ${source.file}`);
}

async function opening(path: string, source: HostKeySource, what: string): Promise<Keyring> {
  try {
    return await Keyring.open(path, source);
  } catch (err) {
    if (!(err instanceof KeyringError)) throw err;
    if (err.reason === 'wrong-key') throw new StartError('KEY_WRONG', `${what} does not open this store: ${err.message}. Nothing was written`, { cause: err });
    throw new StartError(err.reason === 'missing' ? 'KEY_MISSING' : 'KEYRING_DAMAGED', `${err.message}. Restore the keyring from a backup; nothing was written`, { cause: err });
  }
}

async function readKeyFile(file: string): Promise<Uint8Array> {
  return parseKey(await readFile(file, 'utf8'), `the key file ${file}`);
}

/**
 * Seal the keyring of `dir` under a new host key (no record is rewritten). With a key file, the new
 * key is written beside it (`<file>.next`) first, then the keyring, then the file replaced: a crash
 * at any point leaves a store that opens (see {@link openKeyring}). With the key in the
 * environment, `next` is the new one (the keyring is replaced whole, or not at all).
 */
export async function rotateHostKey(dir: string, opts: HostKeyOptions & { next?: HostKeySource; crashAt?: (step: string) => void } = {}): Promise<{ keyId: string; keyFile?: string }> {
  const ring = await openKeyring(dir, opts);
  const source = keySourceOf(dir, opts);
  if ('env' in source) {
    if (!opts.next) throw new StartError('KEY_WRONG', 'the host key is given in the environment: give the new one in KUMO_NEW_HOST_KEY or KUMO_NEW_HOST_PASSPHRASE');
    await ring.rewrap(opts.next);
    return { keyId: ring.keyId };
  }
  const text = newKeyText();
  const next = `${source.file}.next`;
  await writeAtomically(next, `${text}\n`);
  opts.crashAt?.('key-written');
  await ring.rewrap({ key: parseKey(text, next) });
  opts.crashAt?.('keyring-sealed');
  await rename(next, source.file);
  return { keyId: ring.keyId, keyFile: source.file };
}
