import { describe, expect, it, vi } from 'vitest';
import { post, runKumo, startServerProcess } from './server-harness.ts';

/** The README's links example (examples/thermostat.ts, examples/home.ts), with its CLI commands, on `kumo serve`. */
describe('the links example: a thermostat and its home', () => {
  it('links them, and readings flow to the home, whose answers flow back', async () => {
    const server = await startServerProcess();
    const kumo = async (...args: string[]): Promise<any> => {
      const r = await runKumo(['--url', server.url, '--data', server.dataDir, '--json', ...args]);
      if (r.code !== 0) throw new Error(`kumo ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    };
    // Waiting is done over HTTP: a CLI process per poll would be slow.
    const query = async (eci: string, rid: string, name: string) => (await post(`${server.url}/sky/cloud/${eci}/${rid}/${name}`)).body;
    const patient = { timeout: 15_000, interval: 50 };
    const H = (await kumo('cloud', 'new', 'home')).eci;
    const T = (await kumo('cloud', 'new', 'living-room')).eci;
    await kumo('install', 'example.home', '--eci', H);
    await kumo('install', 'example.thermostat', '--eci', T);

    await kumo('event', H, 'wrangler:autoAcceptConfigUpdate', 'configName=thermostats', 'regexMap:={"Tx_role":["^thermostat$"]}');
    const W = (await kumo('query', H, 'io.picolabs.subscription', 'wellKnown_Rx')).id;
    await kumo('event', T, 'wrangler:subscription', `wellKnown_Tx=${W}`, 'name=living-room', 'Rx_role=thermostat', 'Tx_role=home');
    await vi.waitFor(async () => expect(await query(T, 'io.picolabs.subscription', 'established')).toHaveLength(1), patient);
    expect(await kumo('query', T, 'io.picolabs.subscription', 'established')).toMatchObject([{ Rx_role: 'thermostat', Tx_role: 'home', Tx_host: null }]);

    await kumo('event', T, 'thermostat:reading', 'temperature:=27');
    await vi.waitFor(async () => expect(await query(T, 'example.thermostat', 'mode')).toBe('cool'), patient);
    expect(await kumo('query', H, 'example.home', 'temperatures')).toMatchObject({ 'living-room': { temperature: 27, mode: 'cool' } });
    await kumo('event', T, 'thermostat:reading', 'temperature:=21');
    await vi.waitFor(async () => expect(await query(T, 'example.thermostat', 'mode')).toBe('idle'), patient);
    expect(server.stderr()).toBe('');
  });
});
