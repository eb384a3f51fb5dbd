import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../channels/cli/run.ts';
import { COMMANDS } from '../channels/cli/commands/index.ts';
import { tempDir } from './helpers.ts';
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

  it('installs apps from a file (the example of the README), lists them, asks consent for permissions, revokes them', async () => {
    const example = join(repoRoot, 'examples/apps/counter.ts');
    expect(await kumo('install', '--file', example)).toMatchObject({ code: 0, stdout: 'installed app example.app-counter 1.0.0 (ac8f2398682d)\n' });
    expect((await kumo('event', owner, 'counter:inc', 'by=2')).stdout).toContain('count {"count":2}  [example.app-counter/inc]');
    const sender = join(await tempDir(), 'sender.ts');
    await writeFile(sender, `import { ruleset } from 'kumo';\nexport default ruleset('app.sender', { version: '0.1.0', permissions: { send: true } }).build();\n`);
    const refused = await kumo('install', '--file', sender);
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringContaining('app app.sender asks to send: run again with --yes to grant it')]);
    expect(await kumo('install', '--file', sender, '--yes')).toMatchObject({ code: 0, stdout: expect.stringMatching(/^installed app app\.sender 0\.1\.0 \([0-9a-f]{12}\); may send\n$/) });
    const apps = await kumo('apps');
    expect(apps.stdout.split('\n').slice(0, 3)).toEqual([
      expect.stringMatching(/^RID\s+VERSION\s+FROM\s+GRANTED$/),
      expect.stringMatching(/^example\.app-counter\s+1\.0\.0\s+\(uploaded\)\s+-$/),
      expect.stringMatching(/^app\.sender\s+0\.1\.0\s+\(uploaded\)\s+send$/),
    ]);
    expect(await kumo('revoke', 'app.sender', 'send')).toMatchObject({ code: 0, stdout: 'revoked send from app.sender\n' });
    expect(JSON.parse((await kumo('apps', '--json')).stdout)).toContainEqual(expect.objectContaining({ rid: 'app.sender', grant: {} }));
    expect((await kumo('install')).code).toBe(2);
    expect((await kumo('install', 'x.rid', '--file', example)).code).toBe(2);
    expect(await kumo('install', '--file', join(repoRoot, 'no-such.ts'))).toMatchObject({ code: 2, stderr: expect.stringContaining('cannot read') });
    for (const rid of ['example.app-counter', 'app.sender']) expect((await kumo('uninstall', rid)).code).toBe(0);
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
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { eid: string; seq: number });
    expect(lines.map((l) => l.eid)).toEqual(['before-follow', 'while-following']);
    expect(lines[1]!.seq).toBe(lines[0]!.seq + 1);
  });
});

/** The CLI in this process (as bin/kumo.js runs it, without a process per command). */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['--url', server.url, '--data', server.dataDir, ...args], { out: (t) => void (stdout += t), err: (t) => void (stderr += t), env: {} });
  return { code, stdout, stderr };
}

describe('kumo CLI, issue 9', () => {
  it('eci new with only an event policy gets a query policy that allows nothing, and prints both', async () => {
    const made = await cli('eci', 'new', '--tags', 'sensor', '--event-policy', '{"allow":[{"domain":"sensor","name":"*"}]}');
    expect(made.code).toBe(0);
    const [first, events, queries] = made.stdout.trimEnd().split('\n');
    expect(first).toMatch(/^created ECI (E\S{26}) \(tags sensor\)$/);
    expect([events, queries]).toEqual(['  events:  sensor:*', '  queries: none']);
    const eci = /^created ECI (\S+)/.exec(first!)![1]!;
    expect((await cli('query', eci, 'io.picolabs.wrangler', 'channels')).stderr).toMatch(/^kumo: POLICY_DENIED \(403\)/);
    expect((await cli('event', eci, 'sensor:reading', 'temperature:=3')).code).toBe(0);
    const onlyQueries = JSON.parse((await cli('eci', 'new', '--query-policy', '{"allow":[{"rid":"example.temperature"}]}', '--json')).stdout) as { eventPolicy: unknown };
    expect(onlyQueries.eventPolicy).toEqual({ allow: [], deny: [] });
    const ls = await cli('eci', 'ls');
    expect(ls.stdout.split('\n')[0]).toMatch(/^ECI\s+TAGS\s+EVENTS\s+QUERIES$/);
    expect(ls.stdout).toMatch(new RegExp(`${eci}\\s+sensor\\s+sensor:\\*\\s+none`));
    expect(ls.stdout).toMatch(new RegExp(`${owner}\\s+owner,system\\s+\\*:\\*\\s+\\*/\\*`));
  });

  it('cloud rm takes a name, and an id only with --id', async () => {
    const a = JSON.parse((await cli('cloud', 'new', 'rm-a', '--json')).stdout) as { id: string };
    const twin = JSON.parse((await cli('cloud', 'new', a.id, '--json')).stdout) as { id: string };
    expect(await cli('cloud', 'rm', a.id)).toMatchObject({ code: 0, stdout: `deleted cloud ${a.id} (id ${twin.id})\n` });
    expect(await cli('cloud', 'rm', '--id', a.id)).toMatchObject({ code: 0, stdout: `deleted cloud rm-a (id ${a.id})\n` });
    expect((await cli('cloud', 'rm', 'rm-a')).stderr).toMatch(/^kumo: UNKNOWN_CLOUD \(404\)/);
    expect((await cli('cloud', 'rm', 'x', '--id', 'y')).code).toBe(2);
  });

  it('help, and help for a command', async () => {
    const all = await cli('help');
    expect(all).toMatchObject({ code: 0, stderr: '' });
    expect(all.stdout).toContain('kumo help [COMMAND]');
    expect(all.stdout).toMatch(/KUMO_URL, KUMO_ECI, KUMO_DATA/);
    const one = await cli('help', 'eci', 'new');
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^kumo eci new \[--tags a,b\]/);
    expect(one.stdout).toContain('the other allows nothing');
    const group = await cli('help', 'cloud');
    expect(group.stdout).toContain('kumo cloud new NAME');
    expect(group.stdout).toContain('kumo cloud rm --id ID');
    expect(await cli('help', 'frobnicate')).toMatchObject({ code: 2, stderr: expect.stringContaining('no command "frobnicate"') });
  });

  it("every command has its help; a wrong command line shows that command's usage, not the whole list; other errors show no usage", async () => {
    for (const c of COMMANDS) {
      const help = await cli('help', ...c.name.split(' '));
      expect([c.name, help.code]).toEqual([c.name, 0]);
      expect(help.stdout).toContain(`kumo ${c.name}`);
    }
    expect((await cli('help', 'cloud', 'move')).stdout).toMatch(/^kumo cloud move NAME --to HOST_ID\n\nMove the child cloud/);
    const bogus = await cli('cloud', 'ls', '--bogus');
    expect(bogus).toMatchObject({ code: 2, stderr: "kumo: Unknown option '--bogus'\nusage: kumo cloud ls\n" });
    expect(await cli('eci', 'rm')).toMatchObject({ code: 2, stderr: 'kumo: kumo eci rm needs 1 argument\nusage: kumo eci rm ECI\n' });
    expect(await cli('cloud', 'ls', 'extra')).toMatchObject({ code: 2, stderr: 'kumo: too many arguments: "extra"\nusage: kumo cloud ls\n' });
    expect(await cli('cloud', 'export', 'nobody')).toMatchObject({ code: 2, stderr: 'kumo: the cloud has no child named "nobody" (kumo cloud ls)\n' });
    expect(await cli('cloud', 'import', '/nonexistent/file.kumo')).toMatchObject({ code: 2, stderr: 'kumo: cannot read /nonexistent/file.kumo: ENOENT\n' });
    expect(await cli('frobnicate', 'now')).toMatchObject({ code: 2, stderr: 'kumo: no command "frobnicate now" (kumo help lists them)\n' });
    for (const r of [await cli('query', owner, 'no.such', 'f'), await cli('cloud', 'rm', 'nobody')]) {
      expect(r.code).toBe(1);
      expect(r.stderr.split('\n')).toHaveLength(2); // one line, no usage
    }
  });

  it('rulesets lists what the host has registered; installed what the cloud has installed', async () => {
    const registered = await cli('rulesets');
    expect(registered.stdout.split('\n')[0]).toMatch(/^RID\s+VERSION\s+NAME$/);
    expect(registered.stdout).toMatch(/example\.counter\s+1\.0\.0\s+Counter/);
    expect(registered.stdout).toMatch(/io\.picolabs\.wrangler\s+1\.0\.0\s+wrangler/);
    const kid = JSON.parse((await cli('cloud', 'new', 'installed-kid', '--json')).stdout) as { eci: string };
    await cli('install', 'example.counter', '--eci', kid.eci);
    const installed = await cli('installed', '--eci', kid.eci, '--json');
    expect(JSON.parse(installed.stdout)).toEqual([
      { rid: 'io.picolabs.wrangler', version: '1.0.0', name: 'wrangler', description: expect.any(String) },
      { rid: 'io.picolabs.subscription', version: '1.0.0', name: 'subscription', description: expect.any(String) },
      { rid: 'example.counter', version: '1.0.0', name: 'Counter' },
    ]);
    expect((await cli('installed', '--eci', kid.eci)).stdout).toMatch(/^RID\s+VERSION\s+NAME\nio\.picolabs\.wrangler\s+1\.0\.0\s+wrangler\nio\.picolabs\.subscription\s+1\.0\.0\s+subscription\nexample\.counter\s+1\.0\.0\s+Counter\n$/);
  });

  it('logs prints in one order, oldest first, as text and as JSON', async () => {
    for (const eid of ['order-1', 'order-2', 'order-3']) expect((await post(`${server.url}/sky/event/${owner}/${eid}/demo/ping`)).status).toBe(200);
    const text = (await cli('logs', '--limit', '3')).stdout
      .trimEnd()
      .split('\n')
      .map((l) => /eid=(\S+)/.exec(l)![1]);
    const json = (JSON.parse((await cli('logs', '--limit', '3', '--json')).stdout) as Array<{ eid: string }>).map((e) => e.eid);
    expect(text).toEqual(['order-1', 'order-2', 'order-3']);
    expect(json).toEqual(text);
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

describe('kumo cloud export / import / move', () => {
  it('carries a cloud to another host in a file (encrypted, binary-safe on stdout), leaves a forwarding address, and refuses what it cannot do', async () => {
    const [source, target] = await Promise.all([startServerProcess(), startServerProcess()]);
    const on =
      (s: ServerProcess) =>
      (...args: string[]) =>
        runKumo(['--url', s.url, '--data', s.dataDir, ...args]);
    const [src, dst] = [on(source), on(target)];
    const kitchen = JSON.parse((await src('cloud', 'new', 'kitchen', '--json')).stdout) as { id: string; eci: string };
    expect((await src('install', 'example.temperature', '--eci', kitchen.eci)).code).toBe(0);
    expect((await src('event', kitchen.eci, 'sensor:reading', 'temperature:=21')).code).toBe(0);
    const dir = await tempDir();
    await writeFile(join(dir, 'pass'), 'open sesame\n');
    const file = join(dir, 'kitchen.kumo');
    // Through a shell, as a user would: the file on stdout, redirected.
    const sh = (cmd: string) => new Promise<number | null>((resolve) => spawn('/bin/sh', ['-c', cmd], { cwd: repoRoot, stdio: 'ignore' }).once('exit', resolve));
    const kumoJs = join(repoRoot, 'bin/kumo.js');
    expect(await sh(`"${process.execPath}" "${kumoJs}" --url ${source.url} --eci ${await rootEci(source)} cloud export kitchen --passphrase-file "${join(dir, 'pass')}" > "${file}"`)).toBe(0);
    expect((await readFile(file)).subarray(0, 11).toString('latin1')).toBe('KUMO-CLOUD\n');
    // It holds capabilities: readable by its owner alone, though the shell made it with the umask's mode.
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const plain = join(dir, 'plain.kumo');
    const warned = await runKumo(['--url', source.url, '--eci', await rootEci(source), 'cloud', 'export', 'kitchen', '--out', plain]);
    expect(warned).toMatchObject({ code: 0, stdout: '', stderr: expect.stringContaining('not encrypted') });
    expect((await stat(plain)).mode & 0o777).toBe(0o600);
    expect(await dst('cloud', 'import', plain, '--passphrase-file', join(dir, 'pass'))).toMatchObject({ code: 1, stderr: expect.stringMatching(/^kumo: INVALID_CLOUD_FILE \(400\).*not encrypted/) });

    expect(await dst('cloud', 'import', file)).toMatchObject({ code: 1, stderr: expect.stringMatching(/^kumo: INVALID_CLOUD_FILE \(400\).*passphrase/) });
    const imported = await dst('cloud', 'import', file, '--passphrase-file', join(dir, 'pass'));
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(new RegExp(`^imported cloud kitchen \\(id ${kitchen.id}\\) with 0 descendants, \\d+ records\\neci ${kitchen.eci}\\n$`));
    expect((await post(`${target.url}/sky/cloud/${kitchen.eci}/example.temperature/latest`)).body).toMatchObject({ temperature: 21 });
    expect(await dst('cloud', 'import', file, '--passphrase-file', join(dir, 'pass'))).toMatchObject({ code: 1, stderr: expect.stringMatching(/^kumo: IMPORT_CONFLICT \(409\)/) });

    // Leaving needs somewhere to go; then the source answers 410 with it.
    expect(await src('cloud', 'export', 'kitchen', '--remove')).toMatchObject({ code: 2, stderr: expect.stringContaining('--remove needs --moved-to URL') });
    expect(await sh(`"${process.execPath}" "${kumoJs}" --url ${source.url} --eci ${await rootEci(source)} cloud export kitchen --remove --moved-to ${target.url} > "${join(dir, 'gone.kumo')}"`)).toBe(0);
    expect((await src('cloud', 'ls')).stdout).toBe('(no child clouds)\n');
    const moved = await post(`${source.url}/sky/event/${kitchen.eci}/e1/sensor/reading`, { temperature: 5 });
    expect([moved.status, moved.body.error.code, moved.body.error.location]).toEqual([410, 'CLOUD_MOVED', target.url]);

    // A host alone has no other host to move a cloud to.
    expect(await dst('cloud', 'move', 'kitchen', '--to', 'h2')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^kumo: INVALID_ARGS \(400\).*not in a realm/) });
    expect(await dst('cloud', 'move', 'kitchen')).toMatchObject({ code: 2, stderr: expect.stringContaining('--to HOST_ID') });
  });
});

describe('kumo login / sessions', () => {
  it('prints a one-time code for the console at the served page, lists the session it opens, and ends it', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>kumo console</title>');
    const login = await kumo('login', '--json');
    expect(login.code).toBe(0);
    const { code, url } = JSON.parse(login.stdout) as { code: string; url: string };
    expect(url).toBe(`${server.url}/`);
    expect((await kumo('login')).stdout).toMatch(/^Open http:\/\/.+\/ and type this code \(it works once, until .+\):\n\n {2}[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\n$/);
    // The second code replaced the first.
    const first = await fetch(`${server.url}/console/api/signin/code`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
    expect(first.status).toBe(401);
    const fresh = JSON.parse((await kumo('login', '--json')).stdout) as { code: string };
    const signed = await fetch(`${server.url}/console/api/signin/code`, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'test-browser' }, body: JSON.stringify({ code: fresh.code }) });
    expect(signed.status).toBe(200);
    const cookie = signed.headers.get('set-cookie')!.split(';')[0]!;
    const listed = await kumo('sessions');
    expect(listed.stdout).toMatch(/^SESSION\s+VIA\s+SINCE\s+UNTIL\s+BROWSER\n\S+\s+code\s+\S+\s+\S+\s+test-browser\n\(no passkeys\)\n$/);
    expect(await kumo('sessions', '--revoke', 'all')).toMatchObject({ code: 0, stdout: 'ended 1 session(s)\n' });
    expect((await fetch(`${server.url}/console/api/session`, { headers: { cookie } })).status).toBe(401);
    expect(await kumo('sessions', '--revoke', 'nope')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^kumo: INVALID_ARGS \(400\)/) });
    expect(await kumo('login', '--eci', 'Enotaneci')).toMatchObject({ code: 1, stderr: expect.stringMatching(/UNKNOWN_ECI \(404\)/) });
  });
});
