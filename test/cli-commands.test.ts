import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { post, repoRoot, rootEci, rulesetsDir, runKumo, startServerProcess, type ServerProcess } from './server-harness.ts';

let server: ServerProcess;
let owner: string;
const kumo = (...args: string[]) => runKumo(['--url', server.url, '--data', server.dataDir, ...args]);

beforeAll(async () => {
  server = await startServerProcess({ perFile: true });
  owner = await rootEci(server);
});

describe('kumo CLI against a running host', () => {
  it('manages child clouds, ECIs and installs, readable and --json', async () => {
    const made = await kumo('cloud', 'new', 'kitchen', '--json');
    expect(made.code).toBe(0);
    const kitchen = JSON.parse(made.stdout) as { name: string; id: string; eci: string };
    expect(kitchen.name).toBe('kitchen');

    const ls = await kumo('cloud', 'ls');
    expect(ls.code).toBe(0);
    expect(ls.stdout.split('\n')[0]).toMatch(/^NAME\s+ID\s+ECI$/);
    expect(ls.stdout).toContain(`kitchen  ${kitchen.id}  ${kitchen.eci}`);

    const eci = await kumo('eci', 'new', '--eci', kitchen.eci, '--tags', 'device,door', '--event-policy', '{"allow":[{"domain":"sensor","name":"*"}]}', '--json');
    expect(eci.code).toBe(0);
    const created = JSON.parse(eci.stdout) as { id: string; tags: string[] };
    expect(created.tags).toEqual(['device', 'door']);
    const ecis = await kumo('eci', 'ls', '--eci', kitchen.eci, '--json');
    expect((JSON.parse(ecis.stdout) as Array<{ id: string }>).map((e) => e.id)).toContain(created.id);

    expect(await kumo('install', 'example.temperature', '--eci', kitchen.eci, '--config', '{"threshold":5}')).toMatchObject({ code: 0, stdout: 'installed example.temperature\n' });
    const ev = await kumo('event', created.id, 'sensor:reading', 'temperature:=9', '--eid', 'cli-1');
    expect(ev).toMatchObject({ code: 0, stderr: '' });
    expect(ev.stdout).toBe(['eid cli-1', 'recorded {"temperature":9,"count":1}  [example.temperature/record]', 'alert {"temperature":9,"threshold":5}  [example.temperature/record]', ''].join('\n'));
    const q = await kumo('query', kitchen.eci, 'example.temperature', 'readings', '--json');
    expect(JSON.parse(q.stdout)).toMatchObject([{ temperature: 9 }]);

    const logs = await kumo('logs', '--eci', kitchen.eci);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/#\d+ \S+ sensor:reading eid=cli-1 fired example\.temperature\/record/);

    expect(await kumo('uninstall', 'example.temperature', '--eci', kitchen.eci)).toMatchObject({ code: 0, stdout: 'uninstalled example.temperature\n' });
    expect(await kumo('eci', 'rm', created.id, '--eci', kitchen.eci)).toMatchObject({ code: 0 });
    expect(await kumo('cloud', 'rm', 'kitchen')).toMatchObject({ code: 0, stdout: `deleted cloud kitchen (id ${kitchen.id})\n` });
    expect((await kumo('cloud', 'ls')).stdout).toBe('(no child clouds)\n');
  });

  it('reads the owner ECI from <data>/root.eci by default', async () => {
    const r = await kumo('eci', 'ls', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toContainEqual(expect.objectContaining({ id: owner, tags: ['owner', 'system'] }));
  });

  it('reports host errors on stderr with a non-zero exit, and --json errors as JSON', async () => {
    const unknown = await kumo('event', 'Enope', 'sensor:reading');
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toMatch(/^kumo: UNKNOWN_ECI \(404\): /);
    const json = await kumo('query', owner, 'example.temperature', 'latest', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'UNKNOWN_RULESET' } });
    const dup = await kumo('install', 'no.such.ruleset');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^kumo: UNKNOWN_RULESET \(404\)/);
  });

  it('usage errors exit 2; an unreachable host exits 1', async () => {
    expect(await kumo('event', owner, 'no-colon')).toMatchObject({ code: 2 });
    expect(await kumo('frobnicate')).toMatchObject({ code: 2 });
    expect(await kumo('cloud', 'ls', '--bogus')).toMatchObject({ code: 2 });
    expect(await kumo('event', owner, 'a:b', 'novalue')).toMatchObject({ code: 2 });
    const help = await runKumo(['--help']);
    expect(help).toMatchObject({ code: 0 });
    expect(help.stdout).toContain('kumo serve');
    const gone = await runKumo(['--url', 'http://127.0.0.1:9', '--eci', owner, 'cloud', 'ls']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/cannot reach the host at http:\/\/127\.0\.0\.1:9/);
    const noEci = await runKumo(['--url', server.url, '--data', '/nonexistent-kumo', 'cloud', 'ls']);
    expect(noEci.code).toBe(2);
    expect(noEci.stderr).toContain('no ECI');
  });

  it('logs --follow prints recent history, then each new episode, and stops on SIGINT', async () => {
    expect((await post(`${server.url}/sky/event/${owner}/before-follow/demo/ping`)).status).toBe(200);
    const proc = spawn(process.execPath, [join(repoRoot, 'bin/kumo.js'), '--url', server.url, '--data', server.dataDir, 'logs', '--follow', '--limit', '1', '--json'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    let onData = (): void => undefined;
    proc.stdout.setEncoding('utf8').on('data', (d: string) => ((out += d), onData()));
    const seen = (eid: string) =>
      new Promise<void>((resolve) => {
        onData = () => void (out.includes(`"eid":"${eid}"`) && resolve());
        onData();
      });
    await seen('before-follow'); // history arrives only after the live watch is attached
    expect((await post(`${server.url}/sky/event/${owner}/while-following/demo/ping`)).status).toBe(200);
    await seen('while-following');
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { eid: string; seq: number });
    expect(lines.map((l) => l.eid)).toEqual(['before-follow', 'while-following']);
    expect(lines[1]!.seq).toBe(lines[0]!.seq + 1);
  });
});

describe('kumo dead-letters', () => {
  it('lists the outgoing events of a cloud that could never be delivered', async () => {
    const dir = await rulesetsDir(
      'forward.ts',
      `import { ruleset } from RULESETS;
export default ruleset('test.forward').rule('go', { select: 'fwd:go', action: (ctx) => ctx.send(String(ctx.attrs['to']), 'x', 'y', {}) }).build();`,
    );
    const own = await startServerProcess({ rulesetsDir: dir });
    const me = await rootEci(own);
    const cli = (...args: string[]) => runKumo(['--url', own.url, '--data', own.dataDir, ...args]);
    expect(await cli('dead-letters')).toMatchObject({ code: 0, stdout: '(no dead letters)\n' });
    await cli('install', 'test.forward');
    await cli('event', me, 'fwd:go', 'to=E0000AAAAAAAAAAAAAAAAAAAAAA');
    await vi.waitFor(async () => expect((await cli('dead-letters')).stdout).toMatch(/^TIME\s+EVENT\s+TO ECI\s+REASON\n\S+\s+x:y\s+E0000AAAAAAAAAAAAAAAAAAAAAA\s+UNKNOWN_ECI: /), { timeout: 15_000 });
    const json = JSON.parse((await cli('dead-letters', '--json')).stdout) as Array<{ reason: { code: string } }>;
    expect(json).toMatchObject([{ eci: 'E0000AAAAAAAAAAAAAAAAAAAAAA', reason: { code: 'UNKNOWN_ECI' } }]);
    const device = await cli('eci', 'new', '--json');
    const narrow = (JSON.parse(device.stdout) as { id: string }).id;
    expect(await cli('dead-letters', '--eci', narrow)).toMatchObject({ code: 1, stderr: expect.stringContaining('POLICY_DENIED (403)') });
  });
});
