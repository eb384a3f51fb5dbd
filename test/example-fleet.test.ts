import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.ts';
import { requireMosquitto } from './mqtt-harness.ts';
import { freePort, requireNatsServer } from './nats-harness.ts';
import { repoRoot } from './server-harness.ts';

/** The README's fleet example (examples/fleet/fleet.ts), run briefly as the README runs it. */
describe('the fleet example', () => {
  it('provisions thermometers with claim codes, half over WebSocket and half over MQTT, and the home shows their temperatures', { timeout: 120_000 }, async () => {
    requireNatsServer();
    requireMosquitto();
    const args = ['--thermometers', '4', '--seconds', '5', '--dir', join(await tempDir(), 'fleet'), '--port', '0', '--nats-port', String(await freePort()), '--mqtt-port', String(await freePort())];
    const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/fleet/fleet.ts', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise((r) => proc.once('exit', r));
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(out).toContain('4 thermometers: 2 over WebSocket, 2 over MQTT, linked to the home');
    const last = out.slice(out.lastIndexOf('home, '));
    for (const [n, via] of [
      [1, 'mqtt'],
      [2, 'websocket'],
      [3, 'mqtt'],
      [4, 'websocket'],
    ])
      expect(last).toMatch(new RegExp(`thermometer-${n} +${via} +\\d+\\.\\d °C`));
  });
});
