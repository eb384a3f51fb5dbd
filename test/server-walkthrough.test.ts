import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { post, rootEci, runKumo, startServerProcess, wrangler } from './server-harness.ts';

describe('kumo serve: the README walk-through, black box', () => {
  it('prints the owner ECI once, keeps it in root.eci (0600), and serves the walk-through', async () => {
    const server = await startServerProcess();
    const owner = await rootEci(server);
    expect(owner).toMatch(/^E[0-9A-Za-z_-]{20,}$/);
    expect(server.stdout()).toContain(`kumo root owner ECI ${owner}`);
    expect((await stat(`${server.dataDir}.eci`)).mode & 0o777).toBe(0o600);
    const base = server.url;
    const cli = (...args: string[]) => runKumo(['--url', base, '--data', server.dataDir, ...args]);

    // create a child cloud (HTTP), install the example (CLI), send events with HTTP and the CLI
    const child = await wrangler(base, owner, 'new_child_request', { name: 'thermometer' }, 'wrangler:new_child_created');
    const install = await cli('install', 'example.temperature', '--eci', child.eci);
    expect(install).toMatchObject({ code: 0, stdout: 'installed example.temperature\n' });

    const byHttp = await post(`${base}/sky/event/${child.eci}/reading-1/sensor/reading`, { temperature: 21.5 });
    expect(byHttp.status).toBe(200);
    expect(byHttp.body).toEqual({ eid: 'reading-1', directives: [{ name: 'recorded', options: { temperature: 21.5, count: 1 }, meta: { rid: 'example.temperature', rule: 'record', eid: 'reading-1' } }] });

    const byCli = await cli('event', child.eci, 'sensor:reading', 'temperature=35', '--json');
    expect(byCli.code).toBe(0);
    const answer = JSON.parse(byCli.stdout);
    expect(answer.directives.map((d: { name: string }) => d.name)).toEqual(['recorded', 'alert']);

    // query it: HTTP (GET with args in the query string) and CLI
    const latest = await fetch(`${base}/sky/cloud/${child.eci}/example.temperature/latest`);
    expect(latest.status).toBe(200);
    expect(await latest.json()).toMatchObject({ temperature: 35 });
    const count = await cli('query', child.eci, 'example.temperature', 'count');
    expect(count).toMatchObject({ code: 0, stdout: '2\n' });

    // the pico engine's /c/ routes
    const accepted = await post(`${base}/c/${child.eci}/event/sensor/reading`, { temperature: 10 });
    expect(accepted.status).toBe(202);
    expect(typeof accepted.body.eid).toBe('string');
    const waited = await post(`${base}/c/${child.eci}/event-wait/sensor/reading?temperature=11`);
    expect(waited.status).toBe(200);
    // the mailbox runs in order: the accepted event committed before the waited one
    expect(waited.body.directives[0].options).toEqual({ temperature: 11, count: 4 });
    const readings = await post(`${base}/c/${child.eci}/query/example.temperature/readings`);
    expect(readings.body.map((r: { temperature: number }) => r.temperature)).toEqual([21.5, 35, 10, 11]);

    // health, metrics, CORS
    expect(await (await fetch(`${base}/healthz`)).json()).toMatchObject({ ok: true });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^kumo_episodes_total\{outcome="ok"\} (\d+)$/m);
    expect(Number(/^kumo_episodes_total\{outcome="ok"\} (\d+)$/m.exec(metrics)![1])).toBeGreaterThanOrEqual(6);
    expect(metrics).toMatch(/^kumo_episode_duration_seconds_count \d+$/m);
    expect(metrics).toMatch(/^kumo_commit_batch_episodes_bucket\{le="\+Inf"\} \d+$/m);
    expect(metrics).toMatch(/^kumo_active_clouds \d+$/m);
    expect(metrics).toMatch(/^kumo_mailbox_depth 0$/m);
    const preflight = await fetch(`${base}/sky/event/x/y/z/w`, { method: 'OPTIONS', headers: { origin: 'http://example.com', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(server.stderr()).toBe('');
  });

  it('restart keeps clouds, ECIs, installs and state, and does not print the owner ECI again', async () => {
    const first = await startServerProcess();
    const owner = await rootEci(first);
    const child = await wrangler(first.url, owner, 'new_child_request', { name: 'kept' }, 'wrangler:new_child_created');
    await wrangler(first.url, child.eci, 'install_ruleset_request', { rid: 'example.temperature' }, 'wrangler:ruleset_installed');
    const extra = await wrangler(first.url, child.eci, 'new_channel_request', { tags: ['device'] }, 'wrangler:channel_created');
    expect((await post(`${first.url}/sky/event/${extra.id}/r1/sensor/reading`, { temperature: 19 })).status).toBe(200);
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(first.stdout()).toContain('kumo stopped');

    const second = await startServerProcess({ dataDir: first.dataDir });
    expect(second.stdout()).not.toContain(owner);
    expect(await rootEci(second)).toBe(owner);
    const kids = await post(`${second.url}/sky/cloud/${owner}/io.picolabs.wrangler/children`);
    expect(kids.body).toEqual([{ name: 'kept', id: child.id, eci: child.eci }]);
    const rids = await post(`${second.url}/sky/cloud/${child.eci}/io.picolabs.wrangler/installedRids`);
    expect(rids.body).toEqual(['io.picolabs.wrangler', 'io.picolabs.subscription', 'example.temperature']);
    const latest = await post(`${second.url}/sky/cloud/${extra.id}/example.temperature/latest`);
    expect(latest).toMatchObject({ status: 200, body: { temperature: 19 } });
  });
});
