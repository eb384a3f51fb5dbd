import { readFileSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A host's own lock on its data directory, besides LevelDB's `LOCK`: a file `kumo.lock` naming the
 * process that holds the directory (its pid and, on Linux, its start time, so a pid used again by
 * another process after a crash is not mistaken for the holder). LevelDB's lock is gone when its
 * file is removed, and two hosts writing one store corrupt it; this one is checked by content, so a
 * second host is refused while the first lives, and a lock left by a host that died is taken over.
 */
export interface DirLock {
  release(): Promise<void>;
}

const FILE = 'kumo.lock';

/** Take the lock of `dir`, or throw {@link DirLockedError} naming the live process holding it. */
export async function lockDir(dir: string): Promise<DirLock> {
  const path = join(dir, FILE);
  const mine = `${process.pid} ${startTime(process.pid) ?? ''}`.trim();
  for (let tries = 0; tries < 5; tries++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${mine}\n`);
      await handle.close();
      return { release: () => release(path, mine) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = (await readFile(path, 'utf8').catch(() => '')).trim();
    const [pid, since] = held.split(' ');
    if (pid !== undefined && alive(Number(pid), since)) throw new DirLockedError(Number(pid));
    // Left by a process that is gone: set it aside (one of two hosts racing for it wins the rename) and try again.
    await rename(path, `${path}.stale`).catch(() => undefined);
  }
  throw new DirLockedError(undefined);
}

async function release(path: string, mine: string): Promise<void> {
  const held = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (held === mine) await rm(path, { force: true });
}

/** Is process `pid` running, and the one that wrote the lock (same start time, where the system tells)? */
function alive(pid: number, since: string | undefined): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const now = startTime(pid);
  return since === undefined || now === undefined || now === since;
}

/** When process `pid` started, in clock ticks since boot (Linux's /proc; undefined elsewhere). */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ")".
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The directory is held by a live process. */
export class DirLockedError extends Error {
  constructor(readonly pid: number | undefined) {
    super(pid === undefined ? 'the directory is locked' : `the directory is locked by process ${pid}`);
    this.name = 'DirLockedError';
  }
}
