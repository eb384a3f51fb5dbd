import { mkdir, stat } from 'node:fs/promises';
import { openLevelStore, StoreLockedError, type Store } from '../kernel/index.ts';
import { StartError } from './start-error.ts';

/** Permission bits of group and others: none may be set on a data directory. */
const SHARED_BITS = 0o077;

/**
 * Open the store in a host's data directory. The store holds every ECI (the owner's included), so
 * only the operator may read it: the directory is created 0700; one that group or others can use
 * is refused, with the command that fixes it; and the files LevelDB makes, now and later (it
 * creates them 0644), are kept private by the process's umask. A directory another host holds is
 * refused with that reason, not LevelDB's "Database failed to open".
 */
export async function openDataDir(dir: string, opts: { sync?: boolean } = {}): Promise<Store> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') {
    const mode = (await stat(dir)).mode & 0o777;
    if ((mode & SHARED_BITS) !== 0) {
      throw new StartError('DATA_DIR_EXPOSED', `the data directory ${dir} is open to other users (mode ${mode.toString(8).padStart(4, '0')}) and its store holds every ECI; fix it with: chmod -R go-rwx ${dir}`);
    }
    privateUmask();
  }
  try {
    return await openLevelStore(dir, opts);
  } catch (err) {
    if (err instanceof StoreLockedError) throw new StartError('DATA_DIR_IN_USE', `the data directory ${dir} is in use by another kumo host; stop that host, or give this one another --data`, { cause: err });
    throw err;
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
