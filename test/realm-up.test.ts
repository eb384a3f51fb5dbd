import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { onCleanup, tempDir } from './helpers.ts';
import { freePortRun, requireNatsServer } from './nats-harness.ts';
import { repoRoot, runKumo } from './server-harness.ts';

describe('kumo realm up', () => {
  it('starts nats-server and three hosts; the README walk-through works across them; Ctrl-C stops it all', { timeout: 60_000 }, async () => {
    requireNatsServer();
    const dir = await tempDir();
    const port = await freePortRun(4); // three hosts on port, port + 1, port + 2; nats-server on port + 3
    const natsPort = port + 3;
    const proc = spawn(process.execPath, [join(repoRoot, 'bin/kumo.js'), 'realm', 'up', '--hosts', '3', '--dir', dir, '--port', String(port), '--nats-port', String(natsPort), '--rulesets', 'examples'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    onCleanup(async () => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    });
    await vi.waitFor(() => expect(out).toMatch(/kumo realm up: /), { timeout: 30_000 });
    const url = (i: number) => `http://localhost:${port + i - 1}`;
    const owner1 = (await readFile(`${join(dir, 'host-1')}.eci`, 'utf8')).trim();
    const made = await runKumo(['cloud', 'new', 'thermo', '--url', url(1), '--eci', owner1, '--json']);
    const child = (JSON.parse(made.stdout) as { eci: string }).eci;
    expect(await runKumo(['install', 'example.temperature', '--url', url(1), '--eci', child])).toMatchObject({ code: 0 });
    expect((await runKumo(['event', child, 'sensor:reading', 'temperature:=21', '--url', url(3)])).stdout).toContain('recorded {"temperature":21,"count":1}');
    const logs = await runKumo(['logs', '--url', url(2), '--eci', child]);
    expect(logs.stdout).toMatch(/sensor:reading .* fired example\.temperature\/record/);
    const realm = JSON.parse((await runKumo(['realm', '--url', url(2), '--json'])).stdout) as { realm: string; hosts: Array<{ id: string }> };
    expect(realm.hosts.map((h) => h.id)).toEqual(['host-1', 'host-2', 'host-3']);
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
