import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDir } from './lib.ts';

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export interface BenchNats {
  url: string;
  pid: number;
  /** Its temp directory (removed by stop). */
  dir: string;
  stop(): void;
}

/**
 * nats-server with JetStream on a free port, its store in a temp directory, for the benchmarks
 * that need a realm; `extra` adds configuration (it may write files into the directory first).
 */
export async function startNats(extra: (dir: string) => Promise<string> | string = () => ''): Promise<BenchNats> {
  if (spawnSync('nats-server', ['--version']).status !== 0) throw new Error('this benchmark needs nats-server: apt-get install -y nats-server');
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'kumo-bench-nats-'));
  await writeFile(join(dir, 'n.conf'), `server_name: bench\nlisten: "127.0.0.1:${port}"\njetstream { store_dir: "${join(dir, 'js')}" }\n${await extra(dir)}`);
  const proc = spawn('nats-server', ['-c', join(dir, 'n.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    proc.once('exit', (code) => reject(new Error(`nats-server exited (${code}):\n${log}`)));
    proc.stderr.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) resolve();
    });
  });
  proc.removeAllListeners('exit');
  proc.stderr.resume();
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: proc.pid!,
    dir,
    stop() {
      proc.kill('SIGTERM');
      void removeDir(dir);
    },
  };
}
