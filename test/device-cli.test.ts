import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../channels/cli/run.ts';
import { tempDir } from './helpers.ts';
import { post, repoRoot, startServerProcess, type CliResult, type ServerProcess } from './server-harness.ts';

let server: ServerProcess;

/** The CLI, run in this process (its own tests run bin/kumo.js) against the real host process. */
async function kumo(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli([...args, '--url', server.url, '--data', server.dataDir], { out: (t) => (stdout += t), err: (t) => (stderr += t), env: {} });
  return { code, stdout, stderr };
}

/** The example device (examples/device/thermometer.ts), as the README runs it. */
function thermometer(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/device/thermometer.ts', '--url', server.url, '--every', '0', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const codeIn = (text: string): string => /claim code ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})/.exec(text)![1]!;

beforeAll(async () => {
  server = await startServerProcess({ perFile: true });
});

describe('devices from the command line, and the example device', () => {
  it('kumo device add → the example device claims its ECI and sends readings → kumo device ls shows its last contact', async () => {
    const added = await kumo('device', 'add', 'thermo', '--rids', 'example.temperature');
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(added.stdout).toContain('it may send events of sensor and query example.temperature');
    const code = codeIn(added.stdout);
    const before = await kumo('device', 'ls', '--json');
    expect(JSON.parse(before.stdout)).toEqual([expect.objectContaining({ name: 'thermo', events: ['sensor'], rids: ['example.temperature'], lastContact: null })]);
    expect((await kumo('device', 'ls')).stdout).toMatch(/thermo\s+sensor\s+never/);

    const eciFile = join(await tempDir(), 'thermo.eci');
    const run = await thermometer(['--code', code, '--eci-file', eciFile, '--count', '3']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('claimed ECI');
    expect(run.stdout.match(/^reading [\d.]+ → recorded/gm)).toHaveLength(3);
    const eci = (await readFile(eciFile, 'utf8')).trim();
    // a second run needs no code: it kept its ECI
    const again = await thermometer(['--eci-file', eciFile, '--count', '1']);
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(again.stdout).not.toContain('claimed');
    expect((await post(`${server.url}/sky/cloud/${eci}/example.temperature/count`)).body).toBe(4);

    const after = JSON.parse((await kumo('device', 'ls', '--json')).stdout) as Array<{ lastContact: number; created: number }>;
    expect(after[0]!.lastContact).toBeGreaterThanOrEqual(after[0]!.created);
    expect((await kumo('device', 'ls')).stdout).toMatch(/thermo\s+sensor\s+\d{4}-\d\d-\d\dT/);
  });

  it('refuses a used code, makes a new one on demand, and claims from the command line', async () => {
    const added = await kumo('device', 'add', 'door', '--events', 'door,motion', '--expires', '2h');
    const code = codeIn(added.stdout);
    const claimed = await kumo('device', 'claim', code);
    expect(claimed.stdout).toMatch(/^eci E\S{26}\n$/);
    expect(await kumo('device', 'claim', code)).toMatchObject({ code: 1, stderr: expect.stringContaining('UNKNOWN_CLAIM_CODE (404)') });
    const fresh = await kumo('device', 'code', 'door');
    expect(fresh.code).toBe(0);
    expect((await kumo('device', 'claim', codeIn(fresh.stdout))).stdout).toBe(claimed.stdout);
    expect(await kumo('device', 'code', 'nobody')).toMatchObject({ code: 2 });
    expect(await kumo('device', 'add', 'bad', '--expires', 'soon')).toMatchObject({ code: 2 });
  });
});
