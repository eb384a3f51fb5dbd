import { chmod, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openHost } from '../channels/open-node.ts';
import { StartError } from '../channels/start-error.ts';
import { runKumo, startServerProcess } from './server-harness.ts';
import { onCleanup, tempDir } from './helpers.ts';

// Issue 9, items 3 and 7: the data directory is the operator's alone, and a host that cannot start
// says why in words the operator can act on.

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe.runIf(process.platform !== 'win32')('the data directory', () => {
  it('is created 0700, and the store’s files are readable by no one else', async () => {
    const dir = join(await tempDir(), 'nested', 'kumo-data');
    const host = await openHost({ dataDir: dir });
    onCleanup(() => host.close());
    const root = await host.root();
    for (let i = 0; i < 20; i++) await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: `c${i}` } });
    expect(await modeOf(dir)).toBe(0o700);
    const files = await readdir(dir);
    expect(files).toEqual(expect.arrayContaining(['LOCK', 'CURRENT', 'LOG']));
    for (const f of files) expect({ f, shared: (await modeOf(join(dir, f))) & 0o077 }).toEqual({ f, shared: 0 });
  });

  it('is refused when others may read it, with the command that fixes it', async () => {
    const dir = join(await tempDir(), 'open');
    await mkdir(dir);
    await chmod(dir, 0o755);
    const err = await openHost({ dataDir: dir }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StartError);
    expect(err).toMatchObject({ code: 'DATA_DIR_EXPOSED' });
    expect((err as Error).message).toContain(`chmod -R go-rwx ${dir}`);
    expect(await readdir(dir)).toEqual([]); // nothing was opened or written
  });

  it('held by another host is refused as in use, not "Database failed to open"', async () => {
    const dir = await tempDir();
    const first = await openHost({ dataDir: dir });
    onCleanup(() => first.close());
    await expect(openHost({ dataDir: dir })).rejects.toMatchObject({ code: 'DATA_DIR_IN_USE', message: expect.stringContaining('in use by another kumo host') });
  });
});

describe('kumo serve says why it cannot start', () => {
  it('a second host on the same data directory', async () => {
    const first = await startServerProcess();
    const second = await runKumo(['serve', '--port', '0', '--data', first.dataDir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^kumo: the data directory \S+ is in use by another kumo host/);
    expect(second.stderr).not.toContain('Database failed to open');
  });

  it("a second host on a directory whose LevelDB LOCK file was removed: refused by the host's own lock; a lock left by a killed host is taken over", async () => {
    const first = await startServerProcess();
    await rm(join(first.dataDir, 'LOCK'));
    const second = await runKumo(['serve', '--port', '0', '--data', first.dataDir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^kumo: the data directory \\S+ is in use by another kumo host \\(process ${first.proc.pid}\\)`));
    expect(await first.stop('SIGKILL')).toBeNull();
    expect(await readdir(first.dataDir)).toContain('kumo.lock');
    const again = await startServerProcess({ dataDir: first.dataDir });
    expect((await fetch(`${again.url}/healthz`)).status).toBe(200);
    expect(await again.stop()).toBe(0);
    expect(await readdir(first.dataDir)).not.toContain('kumo.lock');
  });

  it.each([
    ['its CURRENT file names a manifest that is missing', async (dir: string) => writeFile(join(dir, 'CURRENT'), 'MANIFEST-999999\n'), /MANIFEST-999999: No such file/],
    [
      'its LOCK is a directory',
      async (dir: string) => {
        await rm(join(dir, 'LOCK'));
        await mkdir(join(dir, 'LOCK'));
      },
      /LOCK: Is a directory/,
    ],
  ] as const)('a damaged store (%s): the cause, not "Database failed to open"', async (_what, damage, cause) => {
    const first = await startServerProcess();
    await first.stop();
    await damage(first.dataDir);
    const r = await runKumo(['serve', '--port', '0', '--data', first.dataDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kumo: the data directory \S+ holds no store kumo can open \(/);
    expect(r.stderr).toMatch(cause);
    expect(r.stderr).not.toContain('Database failed to open');
  });

  it('a busy port, found before the root cloud is made', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => busy.close(() => resolve())));
    const port = (busy.address() as { port: number }).port;
    const dataDir = join(await tempDir(), 'data');
    const r = await runKumo(['serve', '--host', '127.0.0.1', '--port', String(port), '--data', dataDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`kumo: port ${port} is in use`);
    expect(r.stdout).not.toContain('owner ECI');
    expect(await readdir(join(dataDir, '..'))).not.toContain('data.eci');
    // Started again on a free port, the host makes its root cloud and prints its ECI then.
    const ok = await startServerProcess({ dataDir });
    expect(ok.stdout()).toContain('kumo root owner ECI');
  });
});
