import { connect } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { startServer } from '../channels/http/server.ts';
import { compile, on, repeat } from '../rulesets/index.ts';
import { onCleanup, testHost } from './helpers.ts';

// Hostile input at the channels' edges: each of these once crashed the host or answered 500.

async function serve() {
  const t = await testHost();
  const server = await startServer({ host: t.host, port: 0, hostname: '127.0.0.1' });
  onCleanup(() => server.stop());
  return { ...t, server, wsUrl: (eci: string) => `ws://127.0.0.1:${server.port}/ws/${eci}` };
}

const healthy = async (url: string) => (await fetch(`${url}/healthz`)).status;

describe('WebSocket protocol errors never take the host down', () => {
  it('an oversized frame, on an unknown or a valid ECI', async () => {
    const { server, root, wsUrl } = await serve();
    for (const eci of ['Enosuch000000000000000000000', root.eci]) {
      const ws = new WebSocket(wsUrl(eci));
      ws.on('error', () => undefined);
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      ws.on('open', () => ws.send('x'.repeat(300 * 1024)));
      expect([1009, 4404]).toContain(await closed);
      expect(await healthy(server.url)).toBe(200);
    }
  });

  it('an unmasked frame arriving with the upgrade request', async () => {
    const { server, root } = await serve();
    const socket = connect(server.port, '127.0.0.1');
    const key = Buffer.from('0123456789abcdef').toString('base64');
    const upgrade = `GET /ws/${root.eci} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    socket.on('error', () => undefined);
    let got = '';
    const answered = new Promise<void>((resolve) => socket.on('data', (d: Buffer) => (got += d.toString('latin1')).includes('101') && resolve()));
    socket.write(Buffer.concat([Buffer.from(upgrade), Buffer.from([0x81, 0x02, 0x68, 0x69])]));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await answered;
    await closed; // the server read the bad frame and closed the socket
    expect(await healthy(server.url)).toBe(200);
  });
});

describe('HTTP bad input', () => {
  it('attrs nested too deep get 400 INVALID_EVENT, not a stack overflow', async () => {
    const { server, root } = await serve();
    const deep = `{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const r = await fetch(`${server.url}/sky/event/${root.eci}/e1/x/y`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('INVALID_EVENT');
  });

  it('a log limit must be plain digits', async () => {
    const { server, root } = await serve();
    for (const limit of ['0x10', '1e1', '%205']) {
      const r = await fetch(`${server.url}/c/${root.eci}/logs?limit=${limit}`);
      expect(r.status).toBe(400);
    }
    expect((await fetch(`${server.url}/c/${root.eci}/logs?limit=5`)).status).toBe(200);
  });

  it('a client that aborts its upload is not counted as a server error', async () => {
    const { server, root } = await serve();
    const socket = connect(server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    socket.write(`POST /sky/event/${root.eci}/e1/x/y HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":`);
    socket.destroy();
    const metrics = async () => (await fetch(`${server.url}/metrics`)).text();
    await vi.waitFor(async () => expect(await metrics()).toMatch(/^kumo_http_aborted_total 1$/m));
    expect(await metrics()).not.toMatch(/kumo_http_responses_total\{status="500"\}/);
  });

  it('a log follower that leaves while the history is read leaves no watcher behind', async () => {
    const { server, root, host } = await serve();
    const read = host.episodeLog.bind(host);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reading = 0;
    host.episodeLog = async (eci, limit) => {
      reading++;
      await gate;
      return read(eci, limit);
    };
    const controllers = Array.from({ length: 5 }, () => new AbortController());
    const requests = controllers.map((c) => fetch(`${server.url}/c/${root.eci}/logs?follow=true`, { signal: c.signal }).catch(() => undefined));
    await vi.waitFor(() => expect(reading).toBe(5));
    expect(host.followers(root.cloudId)).toBe(5);
    for (const c of controllers) c.abort();
    await Promise.all(requests);
    release();
    await vi.waitFor(() => expect(host.followers(root.cloudId)).toBe(0));
  });
});

describe('event expressions', () => {
  it('a regex with the g flag still yields its capture groups', () => {
    const ev = (v: string) => ({ eid: 'e', domain: 't', type: 'r', attrs: { v }, time: 0 });
    const sel = compile(on('t', 'r', { attrs: { v: /(\d+)-(\d+)/g }, setting: ['a', 'b'] }));
    expect(sel.match(undefined, ev('12-34'))).toMatchObject({ fired: true, captures: { a: '12', b: '34' } });
    expect(sel.match(undefined, ev('56-78'))).toMatchObject({ fired: true, captures: { a: '56', b: '78' } });
    const avg = compile(repeat(2, on('t', 'r', { attrs: { v: /([\d.]+)/g } }), { avg: 'avg' }));
    const first = avg.match(undefined, ev('1 3'));
    expect(avg.match(first.state, ev('5'))).toMatchObject({ fired: true, captures: { avg: 3 } });
  });
});
