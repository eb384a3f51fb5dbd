import { describe, expect, it } from 'vitest';
import { claim, connect, type ConnectionState, type EventResult, type KumoClient } from '../client/index.ts';
import { onCleanup } from './helpers.ts';
import { rootEci, startServerProcess, wrangler } from './server-harness.ts';

function stateReached(kumo: KumoClient, state: ConnectionState): Promise<void> {
  return new Promise((resolve) => {
    const stop = kumo.onState((s) => {
      if (s !== state) return;
      stop();
      resolve();
    });
  });
}

const answered = (r: EventResult): unknown => r.directives[0]?.options['temperature'];

describe('the client library with a real host restarted under it', () => {
  it('queues events (bounded) while the host is away and sends them once it is back, in order', async () => {
    const first = await startServerProcess();
    const made = await wrangler(first.url, await rootEci(first), 'new_device_request', { name: 'thermo', rids: 'example.temperature' }, 'wrangler:new_device_created');
    const { eci } = await claim(first.url, made['claim'].code);
    const kumo = connect(first.url, eci, { backoff: { initialMs: 20, maxMs: 200 }, queueSize: 3 });
    onCleanup(() => kumo.close());
    await kumo.ready();
    expect(kumo.state).toBe('websocket');
    expect(answered(await kumo.event('sensor', 'reading', { temperature: 1 }))).toBe(1);

    const away = stateReached(kumo, 'offline');
    expect(await first.stop('SIGTERM')).toBe(0);
    await away;
    // five readings while the host is away: the queue keeps the newest three
    const during = [2, 3, 4, 5, 6].map((t) => kumo.event('sensor', 'reading', { temperature: t }).then(answered, (e: { code: string }) => e.code));
    expect(kumo.queued).toBe(3);

    const back = stateReached(kumo, 'websocket');
    await startServerProcess({ dataDir: first.dataDir, args: ['--port', new URL(first.url).port] });
    await back;
    expect(await Promise.all(during)).toEqual(['QUEUE_FULL', 'QUEUE_FULL', 4, 5, 6]);
    const readings = (await kumo.query('example.temperature', 'readings')) as Array<{ temperature: number }>;
    expect(readings.map((r) => r.temperature)).toEqual([1, 4, 5, 6]);
  });
});
