import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/**
 * A real `kumo serve` process, without vitest (the test harness and the chaos run both use it):
 * started with `--port 0`, ready once it prints `kumo listening on URL`.
 */

export const repoRoot = join(import.meta.dirname, '..');

/** How long a `kumo serve` may take to listen before it is said not to. */
const START_MS = 60_000;

export interface ServeProcess {
  url: string;
  dataDir: string;
  proc: ChildProcess;
  /** Everything printed on stdout and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null: killed by a signal). */
  exited: Promise<number | null>;
  /** Send a signal (SIGTERM by default) and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  dataDir: string;
  rulesetsDir?: string;
  args?: string[];
  /** Run under this open-file limit (`ulimit -n`; Linux and macOS shells). */
  fileLimit?: number;
  /** Run from this directory, as an installed `kumo` would be (through bin/kumo.js). */
  cwd?: string;
  env?: Record<string, string>;
}

/** Start `kumo serve --port 0`; resolves once it listens, rejects with what it said if it exits or hangs first. */
export async function spawnServe(opts: SpawnOptions): Promise<ServeProcess> {
  const entry = opts.cwd ? [join(repoRoot, 'bin/kumo.js')] : ['--import', 'tsx', 'channels/cli/main.ts'];
  const args = [...entry, 'serve', '--port', '0', '--data', opts.dataDir, '--rulesets', opts.rulesetsDir ?? 'examples', ...(opts.args ?? [])];
  const env = { ...process.env, ...opts.env };
  const proc = opts.fileLimit
    ? spawn('/bin/sh', ['-c', `ulimit -n ${opts.fileLimit} && exec "$0" "$@"`, process.execPath, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { cwd: opts.cwd ?? repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const m = /kumo listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        proc.stdout.off('data', check);
        resolve(m[1]!);
      }
    };
    proc.stdout.on('data', check);
    void exited.then((code) => reject(new Error(`kumo serve exited (${code}) before listening:\n${out}\n${err}`)));
    // A start that hangs fails with what the process said, not with a test's time-out.
    setTimeout(() => reject(new Error(`kumo serve not listening after ${START_MS / 1000} s:\n${out}\n${err}`)), START_MS).unref();
  }).catch((e: unknown) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    throw e;
  });
  return {
    url,
    dataDir: opts.dataDir,
    proc,
    exited,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}
