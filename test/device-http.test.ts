import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { startServer } from '../channels/http/server.ts';
import type { DeviceInfo, Limits } from '../kernel/index.ts';
import temperature from '../examples/temperature-sensor.ts';
import { onCleanup, testHost } from './helpers.ts';
import { wsText } from '../channels/http/websocket.ts';

/** An in-process host (manual clock) on real HTTP, with one device. */
async function setup(limits: Partial<Limits> = {}) {
  const { host, root, clock } = await testHost({ rulesets: [temperature], limits });
  const server = await startServer({ host, port: 0, hostname: '127.0.0.1' });
  onCleanup(() => server.stop());
  const r = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_device_request', attrs: { name: 'thermo', rids: ['example.temperature'], expiresIn: 60_000 } });
  return { host, clock, url: server.url, made: r.directives[0]!.options as unknown as DeviceInfo };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

describe('devices over HTTP and WebSocket', () => {
  it('POST /claim hands the ECI over once; a used, malformed or expired code is refused', async () => {
    const { url, made, clock, host } = await setup();
    expect(await post(`${url}/claim`, { code: made.claim.code })).toMatchObject({ status: 200, body: { eci: made.device.eci } });
    expect(await post(`${url}/claim`, { code: made.claim.code })).toMatchObject({ status: 404, body: { error: { code: 'UNKNOWN_CLAIM_CODE' } } });
    expect(await post(`${url}/claim`, {})).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ARGS' } } });
    expect((await fetch(`${url}/claim?code=${made.claim.code}`)).status).toBe(404); // never in a URL by GET
    const again = await host.event({ eci: made.eci, domain: 'wrangler', type: 'claim_code_request', attrs: { eci: made.device.eci, expiresIn: 1000 } });
    clock.advance(1000);
    const expired = await post(`${url}/claim`, { code: (again.directives[0]!.options as { code: string }).code });
    expect(expired).toMatchObject({ status: 410, body: { error: { code: 'CLAIM_CODE_EXPIRED' } } });
  });

  it('refuses claims with 429 and Retry-After once too many have failed', async () => {
    const { url, made } = await setup({ claimFailuresPerMinute: 2 });
    for (const code of ['AAAA-AAAA-AAAA', 'BBBB-BBBB-BBBB']) expect((await post(`${url}/claim`, { code })).status).toBe(404);
    const limited = await post(`${url}/claim`, { code: made.claim.code });
    expect(limited).toMatchObject({ status: 429, body: { error: { code: 'RATE_LIMITED', retryAfter: 30 } } });
    expect(limited.headers.get('retry-after')).toBe('30');
  });

  it('applies an event with an Idempotency-Key once: the retry gets the first answer, marked replayed', async () => {
    const { url, made, host } = await setup();
    const device = made.device.eci;
    const send = (eid: string, key: string, t = 20) => post(`${url}/sky/event/${device}/${eid}/sensor/reading`, { temperature: t }, { 'idempotency-key': key });
    const first = await send('e1', 'reading-1');
    expect(first).toMatchObject({ status: 200, body: { eid: 'e1', directives: [{ name: 'recorded' }] } });
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    // the draft standard's quoted form is the same key
    const retry = await send('e2', '"reading-1"');
    expect(retry).toMatchObject({ status: 200, body: { ...first.body, replay: true } });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await send('e3', 'reading-1', 99)).toMatchObject({ status: 422, body: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } } });
    expect(await send('e4', 'no spaces allowed')).toMatchObject({ status: 400, body: { error: { code: 'INVALID_EVENT' } } });
    // the durable route: a retry of an applied event is answered with its first eid, nothing written
    const accepted = await post(`${url}/c/${device}/event/sensor/reading`, { temperature: 21 }, { 'idempotency-key': 'reading-2' });
    expect(accepted).toMatchObject({ status: 202, body: { eid: expect.any(String) } });
    await vi.waitFor(async () => expect(await host.query({ eci: device, rid: 'example.temperature', name: 'count' })).toBe(2));
    const acceptedAgain = await post(`${url}/c/${device}/event/sensor/reading`, { temperature: 21 }, { 'idempotency-key': 'reading-2' });
    expect(acceptedAgain).toMatchObject({ status: 202, body: { eid: accepted.body.eid, replay: true } });
    expect(acceptedAgain.headers.get('idempotent-replayed')).toBe('true');
    const waited = await post(`${url}/c/${device}/event-wait/sensor/reading`, { temperature: 21 }, { 'idempotency-key': 'reading-2' });
    expect(waited).toMatchObject({ status: 200, body: { eid: accepted.body.eid, replay: true } });
    expect(await host.query({ eci: device, rid: 'example.temperature', name: 'count' })).toBe(2);
    // browsers may send the header
    const preflight = await fetch(`${url}/sky/event/x/y/z/w`, { method: 'OPTIONS' });
    expect(preflight.headers.get('access-control-allow-headers')).toContain('idempotency-key');
  });

  it('takes the idempotency key of a WebSocket event frame', async () => {
    const { url, made } = await setup();
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws/${made.device.eci}`);
    onCleanup(() => ws.close());
    const frames: any[] = [];
    const answer = (id: number) => vi.waitFor(() => frames.find((f) => f.id === id) ?? Promise.reject(new Error('not yet')));
    ws.on('message', (d) => frames.push(JSON.parse(wsText(d))));
    await new Promise((resolve) => ws.once('open', resolve));
    const frame = { op: 'event', domain: 'sensor', type: 'reading', attrs: { temperature: 5 }, idempotencyKey: 'ws-1' };
    ws.send(JSON.stringify({ id: 1, ...frame }));
    const first = await answer(1);
    ws.send(JSON.stringify({ id: 2, ...frame }));
    expect(await answer(2)).toEqual({ id: 2, ok: true, result: { ...first.result, replay: true } });
    ws.send(JSON.stringify({ id: 3, ...frame, idempotencyKey: 7 }));
    expect(await answer(3)).toMatchObject({ ok: false, error: { code: 'INVALID_EVENT' } });
  });
});
