import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { onCleanup, tempDir } from './helpers.ts';

/** Black-box helpers: the real `kumo serve` process and the real `kumo` CLI, on temp data dirs. */

export const repoRoot = join(import.meta.dirname, '..');

export interface ServerProcess {
  url: string;
  dataDir: string;
  proc: ChildProcess;
  /** Everything printed on stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Send a signal and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const fileCleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  while (fileCleanups.length > 0) await fileCleanups.pop()!().catch(() => undefined);
});

/** Clean up after the current test, or after the whole file when `perFile` (for beforeAll). */
function later(perFile: boolean, fn: () => Promise<void>): void {
  if (perFile) fileCleanups.push(fn);
  else onCleanup(fn);
}

export interface StartOptions {
  /** Started in beforeAll: keep it (and its temp dir) until the file ends. */
  perFile?: boolean;
  dataDir?: string;
  rulesetsDir?: string;
  args?: string[];
  /** Run under this open-file limit (`ulimit -n`; Linux and macOS shells). */
  fileLimit?: number;
  /** Run from this directory, as an installed `kumo` would be (through bin/kumo.js). */
  cwd?: string;
  /** More environment variables. */
  env?: Record<string, string>;
}

/** How long a `kumo serve` may take to listen, and a request to be answered, before a test says so. */
const START_MS = 60_000;
const ANSWER_MS = 60_000;

/** Start `kumo serve --port 0` and wait for its `kumo listening on URL` line. */
export async function startServerProcess(opts: StartOptions = {}): Promise<ServerProcess> {
  let dataDir = opts.dataDir;
  if (!dataDir && opts.perFile) {
    const dir = await mkdtemp(join(tmpdir(), 'kumo-test-'));
    later(true, () => rm(dir, { recursive: true, force: true }));
    dataDir = dir;
  }
  dataDir ??= await tempDir();
  const entry = opts.cwd ? [join(repoRoot, 'bin/kumo.js')] : ['--import', 'tsx', 'channels/cli/main.ts'];
  const args = [...entry, 'serve', '--port', '0', '--data', dataDir, '--rulesets', opts.rulesetsDir ?? 'examples', ...(opts.args ?? [])];
  const env = { ...process.env, ...opts.env };
  const proc = opts.fileLimit
    ? spawn('/bin/sh', ['-c', `ulimit -n ${opts.fileLimit} && exec "$0" "$@"`, process.execPath, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { cwd: opts.cwd ?? repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  later(opts.perFile ?? false, async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const m = /kumo listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        proc.stdout!.off('data', check);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`kumo serve exited (${code}) before listening:\n${out}\n${err}`)));
    // A start that hangs fails with what the process said, not with the test's time-out.
    setTimeout(() => reject(new Error(`kumo serve not listening after ${START_MS / 1000} s:\n${out}\n${err}`)), START_MS).unref();
  });
  return {
    url,
    dataDir,
    proc,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the installed-style `bin/kumo.js` with `args` (from `cwd`). */
export function runKumo(args: string[], env: Record<string, string> = {}, cwd = repoRoot): Promise<CliResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [join(repoRoot, 'bin/kumo.js'), ...args], { cwd, env: { ...process.env, KUMO_URL: '', KUMO_ECI: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The root owner ECI a server wrote to `<data>/root.eci`. */
export async function rootEci(server: ServerProcess): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile(join(server.dataDir, 'root.eci'), 'utf8')).trim();
}

/** POST JSON to a path and return status and parsed body. */
export async function post(url: string, body: unknown = {}): Promise<{ status: number; body: any }> {
  // A request that hangs fails naming itself, not with the test's time-out.
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(ANSWER_MS) }).catch((err: unknown) => {
    throw err instanceof Error && err.name === 'TimeoutError' ? new Error(`POST ${url} ${JSON.stringify(body).slice(0, 200)}: no answer in ${ANSWER_MS / 1000} s`) : err;
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Send a wrangler event to `eci` and return the options of the directive named `directive`. */
export async function wrangler(base: string, eci: string, type: string, attrs: Record<string, unknown>, directive: string): Promise<Record<string, any>> {
  const r = await post(`${base}/sky/event/${eci}/w-${Math.random().toString(36).slice(2)}/wrangler/${type}`, attrs);
  if (r.status !== 200) throw new Error(`wrangler ${type}: ${r.status} ${JSON.stringify(r.body)}`);
  const d = (r.body.directives as Array<{ name: string; options: Record<string, any> }>).find((x) => x.name === directive);
  if (!d) throw new Error(`no ${directive} directive in ${JSON.stringify(r.body)}`);
  return d.options;
}

/** A rulesets directory holding one file with `source` (imports may use `RULESETS` for the repo's rulesets entry). */
export async function rulesetsDir(file: string, source: string): Promise<string> {
  const dir = await tempDir();
  await writeFile(join(dir, file), source.replaceAll('RULESETS', JSON.stringify(join(repoRoot, 'rulesets/index.ts'))));
  return dir;
}
