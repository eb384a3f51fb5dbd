import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { post, rootEci, startServerProcess, wrangler, type ServerProcess } from './server-harness.ts';
import { wsText } from '../channels/http/websocket.ts';

/** A test client: collects every frame, and answers `request` by frame id. */
class Client {
  readonly frames: any[] = [];
  private waiters: Array<{ test: (f: any) => boolean; resolve: (f: any) => void }> = [];
  closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(wsText(data));
      this.frames.push(frame);
      for (const w of [...this.waiters]) {
        if (w.test(frame)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(frame);
        }
      }
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  static async open(url: string): Promise<Client> {
    const ws = new WebSocket(url);
    const c = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }

  next(test: (f: any) => boolean): Promise<any> {
    const seen = this.frames.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  request(frame: Record<string, unknown>): Promise<any> {
    this.ws.send(JSON.stringify(frame));
    return this.next((f) => f.id === frame['id'] && 'ok' in f);
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }
}

let server: ServerProcess;
let wsBase: string;
let child: { eci: string; id: string };
let device: string;

beforeAll(async () => {
  server = await startServerProcess({ perFile: true });
  wsBase = server.url.replace(/^http/, 'ws');
  const owner = await rootEci(server);
  child = (await wrangler(server.url, owner, 'new_child_request', { name: 'ws-sensor' }, 'wrangler:new_child_created')) as { eci: string; id: string };
  await wrangler(server.url, child.eci, 'install_ruleset_request', { rid: 'example.temperature' }, 'wrangler:ruleset_installed');
  device = (await wrangler(server.url, child.eci, 'new_channel_request', { tags: ['device'] }, 'wrangler:channel_created')).id as string;
});

describe('WebSocket channel', () => {
  it('sends events and queries as frames and matches responses by id', async () => {
    const c = await Client.open(`${wsBase}/ws/${device}`);
    expect(await c.next((f) => f.op === 'ready')).toEqual({ op: 'ready', eci: device });
    const [a, b] = await Promise.all([
      c.request({ id: 'a', op: 'event', domain: 'sensor', type: 'reading', attrs: { temperature: 18 } }),
      c.request({ id: 7, op: 'event', domain: 'sensor', type: 'reading', attrs: { temperature: 19 }, eid: 'ws-eid-1' }),
    ]);
    expect(a).toMatchObject({ id: 'a', ok: true, result: { directives: [{ name: 'recorded', options: { temperature: 18 } }] } });
    expect(b).toMatchObject({ id: 7, ok: true, result: { eid: 'ws-eid-1' } });
    const q = await c.request({ id: 'q', op: 'query', rid: 'example.temperature', name: 'latest' });
    expect(q).toMatchObject({ id: 'q', ok: true, result: { temperature: 19 } });
    const bad = await c.request({ id: 'e', op: 'event', domain: 'sensor', type: 'reading', attrs: { temperature: 'hot' } });
    expect(bad).toMatchObject({ id: 'e', ok: false, error: { code: 'INVALID_ATTRS' } });
    c.ws.close();
  });

  it('receives what rules push to its ECI, and only its ECI', async () => {
    const mine = await Client.open(`${wsBase}/ws/${device}`);
    const other = await Client.open(`${wsBase}/ws/${child.eci}`);
    await Promise.all([mine.next((f) => f.op === 'ready'), other.next((f) => f.op === 'ready')]);
    // an event through HTTP on the device ECI: the alert is pushed to that ECI's sockets
    expect((await post(`${server.url}/sky/event/${device}/hot-1/sensor/reading`, { temperature: 40 })).status).toBe(200);
    expect(await mine.next((f) => f.op === 'push')).toEqual({ op: 'push', eci: device, name: 'alert', data: { temperature: 40, threshold: 30 } });
    // the other socket got nothing: prove it by a round trip after the push was released
    await other.request({ id: 'p', op: 'ping' });
    expect(other.frames.filter((f) => f.op === 'push')).toEqual([]);
    mine.ws.close();
    other.ws.close();
  });

  it('follows the episode log on a system ECI, and refuses it on others', async () => {
    const follower = await Client.open(`${wsBase}/ws/${child.eci}`);
    expect(await follower.request({ id: 'f', op: 'follow' })).toEqual({ id: 'f', ok: true, result: { following: true } });
    expect((await post(`${server.url}/sky/event/${device}/log-1/sensor/reading`, { temperature: 3 })).status).toBe(200);
    const log = await follower.next((f) => f.op === 'log');
    expect(log.entry).toMatchObject({ eid: 'log-1', domain: 'sensor', type: 'reading', fired: ['example.temperature/record'] });

    const deviceSocket = await Client.open(`${wsBase}/ws/${device}`);
    expect(await deviceSocket.request({ id: 'f', op: 'follow' })).toMatchObject({ id: 'f', ok: false, error: { code: 'POLICY_DENIED' } });
    follower.ws.close();
    deviceSocket.ws.close();
  });

  it('answers bad frames with error frames and keeps the socket open', async () => {
    const c = await Client.open(`${wsBase}/ws/${device}`);
    const errors: any[] = [];
    const nextError = () => c.next((f) => f.ok === false && !errors.includes(f)).then((f) => (errors.push(f), f));
    c.sendRaw('not json');
    expect(await nextError()).toMatchObject({ id: null, ok: false, error: { code: 'INVALID_ARGS' } });
    c.sendRaw('[1,2]');
    expect(await nextError()).toMatchObject({ id: null, error: { code: 'INVALID_ARGS' } });
    c.sendRaw(JSON.stringify({ op: 'ping' }));
    expect(await nextError()).toMatchObject({ id: null, error: { code: 'INVALID_ARGS', message: expect.stringContaining('id') } });
    c.sendRaw(JSON.stringify({ id: 'no-op' }));
    expect(await nextError()).toMatchObject({ id: 'no-op', error: { code: 'INVALID_ARGS' } });
    c.sendRaw(JSON.stringify({ id: 'weird', op: 'dance' }));
    expect(await nextError()).toMatchObject({ id: 'weird', error: { code: 'INVALID_ARGS' } });
    c.sendRaw(Buffer.from([1, 2, 3]), true);
    expect(await nextError()).toMatchObject({ id: null, error: { code: 'INVALID_ARGS', message: expect.stringContaining('binary') } });
    expect(await c.request({ id: 'x', op: 'event', domain: 'bad domain', type: 'x' })).toMatchObject({ ok: false, error: { code: 'INVALID_EVENT' } });
    expect(await c.request({ id: 'y', op: 'event', domain: 'sensor', type: 'reading', attrs: [1] })).toMatchObject({ ok: false, error: { code: 'INVALID_EVENT' } });
    expect(await c.request({ id: 'z', op: 'query', rid: 'example.temperature', name: 'nope' })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_FUNCTION' } });
    expect(await c.request({ id: 'alive', op: 'ping' })).toEqual({ id: 'alive', ok: true, result: 'pong' });
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.ws.close();
  });

  it('an unknown ECI gets an error frame and close code 4404', async () => {
    const c = await Client.open(`${wsBase}/ws/Enope`);
    expect(await c.next((f) => f.ok === false)).toMatchObject({ id: null, error: { code: 'UNKNOWN_ECI' } });
    expect(await c.closed).toEqual({ code: 4404, reason: 'UNKNOWN_ECI' });
  });

  it('an unknown WebSocket path is refused with 404 before the upgrade', async () => {
    const ws = new WebSocket(`${wsBase}/nope`);
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    expect(status).toBe(404);
  });
});
