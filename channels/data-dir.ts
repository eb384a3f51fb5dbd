import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { openLevelStore, StoreLockedError, StoreOpenError, type LevelStore, type Store } from '../kernel/index.ts';
import { DirLockedError, lockDir, type DirLock } from './dir-lock.ts';
import { exists, keyringFile, openKeyring, rotateHostKey, upgradeMarker, type HostKeyOptions } from './host-key.ts';
import { StartError } from './start-error.ts';

/** Permission bits of group and others: none may be set on a data directory. */
const SHARED_BITS = 0o077;

/**
 * Open the store in a host's data directory. The store holds every ECI (the owner's included), so
 * only the operator may read it: the directory is created 0700; one that group or others can use
 * is refused, with the command that fixes it; and the files LevelDB makes, now and later (it
 * creates them 0644), are kept private by the process's umask. A directory another host holds is
 * refused with that reason, not LevelDB's "Database failed to open": by the host's own lock
 * (dir-lock.ts), which holds even when LevelDB's `LOCK` file was removed, and by LevelDB's. The
 * store is sealed (docs/encryption.md) with the keyring the host key opens (host-key.ts).
 */
export async function openDataDir(dir: string, opts: { sync?: boolean; keys?: HostKeyOptions } = {}): Promise<Store> {
  const lock = await lockDataDir(dir);
  try {
    return await openLocked(dir, lock, opts);
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/** The store of `dir`, whose lock `lock` is (released when the store closes). */
async function openLocked(dir: string, lock: DirLock, opts: { sync?: boolean; keys?: HostKeyOptions & { upgrading?: boolean } }): Promise<LevelStore> {
  try {
    // The key before the store: a host with the wrong one (or none) stops here, having written nothing.
    const keyring = await openKeyring(dir, opts.keys);
    const store = (await openLevelStore(dir, { ...(opts.sync ? { sync: true } : {}), keyring })) as LevelStore;
    const close = store.close.bind(store);
    store.close = async () => {
      await close();
      await lock.release();
    };
    return store;
  } catch (err) {
    if (err instanceof StoreLockedError) throw new StartError('DATA_DIR_IN_USE', `the data directory ${dir} is in use by another kumo host; stop that host, or give this one another --data`, { cause: err });
    if (err instanceof StoreOpenError)
      throw new StartError('DATA_DIR_DAMAGED', `the data directory ${dir} holds no store kumo can open (${err.message.replace(/^the store cannot be opened: /, '')}); restore it from a backup, or start with another --data`, { cause: err });
    throw err;
  }
}

/** Make `dir` (0700) if need be, refuse it if others may use it, and hold it: no other host or command may open it meanwhile. */
async function lockDataDir(dir: string): Promise<DirLock> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') {
    const mode = (await stat(dir)).mode & 0o777;
    if ((mode & SHARED_BITS) !== 0) {
      throw new StartError('DATA_DIR_EXPOSED', `the data directory ${dir} is open to other users (mode ${mode.toString(8).padStart(4, '0')}) and its store holds every ECI; fix it with: chmod -R go-rwx ${dir}`);
    }
    privateUmask();
  }
  try {
    return await lockDir(dir);
  } catch (err) {
    if (err instanceof DirLockedError) throw new StartError('DATA_DIR_IN_USE', `the data directory ${dir} is in use by another kumo host (process ${err.pid ?? '?'}); stop that host, or give this one another --data`, { cause: err });
    throw err;
  }
}

/** `kumo keys rotate`: a new host key for the keyring of `dir` (host-key.ts), the directory held meanwhile, so no host runs on it. */
export async function rotateDataDirKey(dir: string, opts: Parameters<typeof rotateHostKey>[1] = {}): Promise<{ keyId: string; keyFile?: string }> {
  const lock = await lockDataDir(dir);
  try {
    return await rotateHostKey(dir, opts);
  } finally {
    await lock.release();
  }
}

/** Files this process creates from now on are not readable by group or others. */
function privateUmask(): void {
  try {
    process.umask(process.umask() | SHARED_BITS);
  } catch {
    // Worker threads cannot change the umask; the directory's own mode still keeps others out.
  }
}

/**
 * `kumo upgrade`: seal, in place, a data directory made before kumo sealed its stores
 * (docs/encryption.md, "Upgrading"). A marker file says an upgrade is under way, so a host never
 * starts on a half-sealed store; run again after a crash, it carries on where it stopped. At the
 * end every table is compacted (no old file keeps a record in the clear) and the owner ECI file
 * moves out of the directory. Returns how many records it sealed.
 */
export async function upgradeDataDir(dir: string, opts: { keys?: HostKeyOptions; onBatch?: (sealed: number) => void } = {}): Promise<number> {
  const lock = await lockDataDir(dir);
  const marker = upgradeMarker(dir);
  if ((await exists(keyringFile(dir))) && !(await exists(marker))) {
    await lock.release();
    return 0;
  }
  let store: LevelStore;
  try {
    await writeFile(marker, 'kumo upgrade under way\n', { mode: 0o600 });
    store = await openLocked(dir, lock, { keys: { ...opts.keys, upgrading: true } });
  } catch (err) {
    await lock.release();
    throw err;
  }
  let n: number;
  try {
    n = await store.sealInPlace(1000, opts.onBatch);
    await store.compact();
  } finally {
    await store.close();
  }
  await rename(join(dir, 'root.eci'), `${resolve(dir)}.eci`).catch(() => undefined);
  await rm(marker);
  return n;
}
