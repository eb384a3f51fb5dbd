import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { onCleanup, tempDir } from './helpers.ts';
import { repoRoot, spawnServe, type ServeProcess, type SpawnOptions } from './serve-process.ts';

/** Black-box helpers: the real `kumo serve` process and the real `kumo` CLI, on temp data dirs. */

export { repoRoot };

export type ServerProcess = ServeProcess;

const fileCleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  while (fileCleanups.length > 0) await fileCleanups.pop()!().catch(() => undefined);
});

/** Clean up after the current test, or after the whole file when `perFile` (for beforeAll). */
function later(perFile: boolean, fn: () => Promise<void>): void {
  if (perFile) fileCleanups.push(fn);
  else onCleanup(fn);
}

export interface StartOptions extends Omit<SpawnOptions, 'dataDir'> {
  /** Started in beforeAll: keep it (and its temp dir) until the file ends. */
  perFile?: boolean;
  dataDir?: string;
}

/** How long a request may take to be answered before a test says so. */
const ANSWER_MS = 60_000;

/** Start `kumo serve --port 0` (see serve-process.ts), stopped after the test (or the file). */
export async function startServerProcess(opts: StartOptions = {}): Promise<ServerProcess> {
  let dataDir = opts.dataDir;
  if (!dataDir && opts.perFile) {
    const dir = await mkdtemp(join(tmpdir(), 'kumo-test-'));
    later(true, () => rm(dir, { recursive: true, force: true }));
    dataDir = dir;
  }
  dataDir ??= await tempDir();
  const server = await spawnServe({ ...opts, dataDir });
  later(opts.perFile ?? false, async () => {
    await server.stop('SIGKILL');
  });
  return server;
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
  return (await readFile(`${server.dataDir}.eci`, 'utf8')).trim();
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
