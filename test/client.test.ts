import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { backoffDelay, connect, KumoClientError, type ConnectionState, type KumoClient, type WebSocketConstructor, type WebSocketLike } from '../client/index.ts';
import { startServer } from '../channels/http/server.ts';
import type { DeviceInfo } from '../kernel/index.ts';
import temperature from '../examples/temperature-sensor.ts';
import { onCleanup, testHost } from './helpers.ts';

/** An in-process host on real HTTP (port 0) with one device cloud running the example thermometer ruleset. */
async function deviceHost() {
  const { host, root } = await testHost({ rulesets: [temperature] });
  const server = await startServer({ host, port: 0, hostname: '127.0.0.1' });
  onCleanup(() => server.stop());
  const r = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_device_request', attrs: { name: 'thermo', rids: ['example.temperature'] } });
  const made = r.directives[0]!.options as unknown as DeviceInfo;
  return { host, server, device: made.device.eci, owner: made.eci };
}

function client(url: string, eci: string, opts: Parameters<typeof connect>[2] = {}): KumoClient {
  const kumo = connect(url, eci, { backoff: { initialMs: 5, maxMs: 40 }, ...opts });
  onCleanup(() => kumo.close());
  return kumo;
}

function stateReached(kumo: KumoClient, state: ConnectionState): Promise<void> {
  return new Promise((resolve) => {
    if (kumo.state === state) return resolve();
    const stop = kumo.onState((s) => {
      if (s !== state) return;
      stop();
      resolve();
    });
  });
}

/** A real `ws` socket the test can cut, as a network would. */
class TestSocket implements WebSocketLike {
  readonly ws: WebSocket;
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;

  constructor(url: string, intercept: (frame: any, socket: TestSocket) => boolean = () => false) {
    this.ws = new WebSocket(url);
    this.ws.onopen = (ev) => this.onopen?.(ev);
    this.ws.onerror = (ev) => this.onerror?.(ev);
    this.ws.onclose = (ev) => this.onclose?.({ code: ev.code, reason: ev.reason });
    this.ws.onmessage = (ev) => {
      if (!intercept(JSON.parse(ev.data as string), this)) this.onmessage?.({ data: ev.data });
    };
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  send(data: string): void {
    this.ws.send(data);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }
}

/** The temperature a `recorded` answer is for. */
const answered = (result: any): number | undefined => result?.directives?.[0]?.options?.temperature;

/** A URL where nothing listens. */
async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('the client library (kumo/client)', () => {
  it.each(['websocket', 'http'] as const)('applies each reading once when the connection drops after the host answered (%s)', async (via) => {
    const { server, host, device, owner } = await deviceHost();
    const lose = new Set([3, 6]); // the first answer to these readings is lost with the connection
    const lost: number[] = [];
    const losing: WebSocketConstructor = class extends TestSocket {
      constructor(url: string) {
        super(url, (frame, socket) => {
          if (!frame.ok || frame.result.replay || !lose.delete(answered(frame.result)!)) return false;
          lost.push(answered(frame.result)!);
          socket.ws.terminate();
          return true;
        });
      }
    };
    const losingFetch: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const t = init?.body ? (JSON.parse(init.body as string) as { temperature?: number }).temperature : undefined;
      if (t !== undefined && lose.delete(t)) {
        await res.text();
        lost.push(t);
        throw new TypeError('fetch failed: the test lost the answer');
      }
      return res;
    };
    const kumo = client(server.url, device, via === 'websocket' ? { WebSocket: losing } : { transports: ['http'], fetch: losingFetch });
    const readings = [1, 2, 3, 4, 5, 6, 7, 8];
    const results = await Promise.all(readings.map((t) => kumo.event('sensor', 'reading', { temperature: t })));
    expect(lost).toEqual([3, 6]);
    // the retries of 3 and 6 got the first answers back; nothing was applied twice
    expect(results.map((r) => [answered(r), r.replay ?? false])).toEqual(readings.map((t) => [t, t === 3 || t === 6]));
    const stored = (await host.query({ eci: device, rid: 'example.temperature', name: 'readings' })) as Array<{ temperature: number }>;
    expect(stored.map((r) => r.temperature)).toEqual(readings);
    expect((await host.episodeLog(owner)).filter((e) => e.domain === 'sensor')).toHaveLength(readings.length);
  });

  it('falls back to HTTP when a WebSocket cannot connect, and moves to a WebSocket (and its pushes) once one can', async () => {
    const { server, device } = await deviceHost();
    let blocked = true;
    // While blocked, the upgrade goes to a path the host refuses (404), as a proxy that strips upgrades would.
    const blockable: WebSocketConstructor = class extends TestSocket {
      constructor(url: string) {
        super(blocked ? url.replace('/ws/', '/blocked/') : url);
      }
    };
    const kumo = client(server.url, device, { WebSocket: blockable });
    await stateReached(kumo, 'http');
    expect(answered(await kumo.event('sensor', 'reading', { temperature: 18 }))).toBe(18);
    expect(await kumo.query('example.temperature', 'latest')).toMatchObject({ temperature: 18 });
    blocked = false;
    await stateReached(kumo, 'websocket');
    const alert = new Promise((resolve) => kumo.on('alert', resolve));
    expect((await kumo.event('sensor', 'reading', { temperature: 40 })).directives.map((d) => d.name)).toEqual(['recorded', 'alert']);
    expect(await alert).toEqual({ temperature: 40, threshold: 30 });
  });

  it('gives up for good on an ECI the host does not know', async () => {
    const { server } = await deviceHost();
    const kumo = client(server.url, 'E0000AAAAAAAAAAAAAAAAAAAAAA');
    await expect(kumo.ready()).rejects.toMatchObject({ code: 'UNKNOWN_ECI' });
    expect(kumo.state).toBe('closed');
    await expect(kumo.event('sensor', 'reading')).rejects.toBeInstanceOf(KumoClientError);
  });

  it('waits longer after each failed attempt, with jitter, up to a cap', async () => {
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, { initialMs: 100, factor: 2, maxMs: 500 }, () => 0))).toEqual([50, 100, 200, 250]);
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, { initialMs: 100, factor: 2, maxMs: 500 }, () => 1))).toEqual([100, 200, 400, 500]);
    // the client asks its timers for exactly those delays while the host stays away
    const delays: number[] = [];
    const due: Array<() => void> = [];
    let scheduled: () => void = () => undefined;
    const timers = {
      setTimeout: (fn: () => void, ms: number) => {
        delays.push(ms);
        due.push(fn);
        scheduled();
        return delays.length;
      },
      clearTimeout: () => undefined,
    };
    const kumo = client(await deadUrl(), 'E0000AAAAAAAAAAAAAAAAAAAAAA', { transports: ['websocket'], timers, random: () => 0.5, backoff: { initialMs: 100, factor: 2, maxMs: 1000 } });
    for (;;) {
      if (due.length === 0) await new Promise<void>((resolve) => (scheduled = resolve));
      if (delays.length === 6) break;
      due.shift()!();
    }
    expect(delays).toEqual([75, 150, 300, 600, 750, 750]);
    expect(kumo.state).toBe('offline');
  });

  it('keeps a bounded queue of events while offline', async () => {
    const url = await deadUrl();
    const refusing = client(url, 'E0000AAAAAAAAAAAAAAAAAAAAAA', { transports: ['websocket'], queueSize: 2, overflow: 'refuse-new' });
    const kept = [refusing.event('a', 'b'), refusing.event('a', 'c')].map((p) => p.catch((e: KumoClientError) => e.code));
    await expect(refusing.event('a', 'd')).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    expect(refusing.queued).toBe(2);
    refusing.close();
    expect(await Promise.all(kept)).toEqual(['CLOSED', 'CLOSED']);
    await expect(refusing.query('r', 'f')).rejects.toMatchObject({ code: 'CLOSED' });
    const tooBig = client(url, 'E0000AAAAAAAAAAAAAAAAAAAAAA', { transports: ['websocket'], maxFrameBytes: 100 });
    await expect(tooBig.event('a', 'b', { x: 'y'.repeat(100) })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });
});
