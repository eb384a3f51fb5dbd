import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appHash } from '../kernel/index.ts';
import { appServer } from './apps-harness.ts';
import { repoRoot, rootEci, runKumo, startServerProcess } from './server-harness.ts';

describe('the README: the KRL temperature store, served and driven by the CLI', () => {
  it('installs examples/krl/temperature_store.krl from a URL (kumo install --from), takes readings, answers queries, schedules', async () => {
    const web = await appServer();
    const source = readFileSync(join(repoRoot, 'examples/krl/temperature_store.krl'), 'utf8');
    web.serve('/temperature_store.krl', source);
    const server = await startServerProcess({ args: ['--allow-app-hosts', '127.0.0.1'] });
    const eci = await rootEci(server);
    const kumo = (...args: string[]) => runKumo(['--url', server.url, '--data', server.dataDir, ...args]);
    expect(await kumo('install', '--from', web.url('/temperature_store.krl'))).toMatchObject({ code: 0, stdout: `installed app example.temperature_store 1.0.0 (${appHash(source).slice(0, 12)})\n` });
    const sent = await kumo('event', eci, 'wovyn:heartbeat', 'readings:=[{"temperatureF":72},{"temperatureF":91},{"humidity":40}]', '--json');
    const directives = (JSON.parse(sent.stdout) as { directives: Array<{ name: string; options: Record<string, unknown> }> }).directives;
    expect(directives.map((d) => d.name)).toEqual(['reading', 'reading', 'violation']);
    expect(directives[2]!.options).toEqual({ over: 11 });
    const temps = await kumo('query', eci, 'example.temperature_store', 'inRange', 'low:=80', '--json');
    expect(JSON.parse(temps.stdout)).toEqual([expect.objectContaining({ temperature: 91, n: 1 })]);
    const violations = await kumo('query', eci, 'example.temperature_store', 'violations', '--json');
    expect(JSON.parse(violations.stdout)).toEqual([expect.objectContaining({ temperature: 91 })]);
    await kumo('event', eci, 'wovyn:summary_requested');
    const schedules = await kumo('query', eci, 'io.picolabs.wrangler', 'schedules', '--json');
    expect(JSON.parse(schedules.stdout)).toEqual([expect.objectContaining({ domain: 'wovyn', type: 'summary' })]);
  });
});
