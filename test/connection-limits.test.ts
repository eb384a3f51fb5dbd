import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectionCap, openFileLimit, REFUSING_SLOTS, RESERVED_FDS } from '../channels/http/connection-limits.ts';
import { startServer } from '../channels/http/server.ts';
import { onCleanup, testHost } from './helpers.ts';
import { startServerProcess } from './server-harness.ts';

// Issue 9, item 4: a flood of connections is refused past a cap, and the store keeps the file
// descriptors it needs. Loopback only, bounded in count.

/** A raw client socket that collects what the server sends, until it closes. */
interface Raw {
  socket: Socket;
  /** Resolves with everything received once the server closed the connection (or reset it). */
  ended: Promise<string>;
  /** Resolves once the received text satisfies `test`. */
  until(test: (text: string) => boolean): Promise<string>;
}

async function open(port: number): Promise<Raw> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  const waiters: Array<() => void> = [];
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    text += d;
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => undefined);
  const ended = new Promise<string>((resolve) => socket.on('close', () => resolve(text)));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return {
    socket,
    ended,
    until: (test) =>
      new Promise((resolve) => {
        const look = (): void => (test(text) ? resolve(text) : void waiters.push(look));
        look();
      }),
  };
}

const request = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
const answered = (text: string): boolean => /\r\n\r\n/.test(text) && text.length >= text.indexOf('\r\n\r\n') + 4 + Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);

async function serve(connections: number) {
  const t = await testHost();
  const server = await startServer({ host: t.host, port: 0, hostname: '127.0.0.1', limits: { connections }, fileLimit: undefined });
  onCleanup(() => server.stop());
  return { ...t, server };
}

describe('the connection cap', () => {
  it('is the configured number, lowered to what the open-file limit leaves once the store’s share is reserved', () => {
    expect(openFileLimit(() => 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\n')).toBe(1024);
    expect(openFileLimit(() => 'Max open files            unlimited            unlimited            files\n')).toBe(Infinity);
    expect(
      openFileLimit(() => {
        throw new Error('no /proc');
      }),
    ).toBeUndefined();
    const reserved = RESERVED_FDS + Math.floor(1024 / 5) + REFUSING_SLOTS;
    expect(connectionCap(10_000, 1024)).toEqual({ cap: 1024 - reserved, reserved });
    expect(connectionCap(50, 1024)).toEqual({ cap: 50, reserved });
    expect(connectionCap(10_000, 20_000).cap).toBe(10_000);
    expect(connectionCap(10_000, undefined)).toEqual({ cap: 10_000, reserved: 0 });
    expect(connectionCap(10_000, 100).cap).toBe(1);
  });

  it('a flood of 200 connections on a cap of 50: 50 are served, the rest refused (503 TOO_MANY_CONNECTIONS or closed), and writes go on', async () => {
    const { server, root } = await serve(50);
    const sockets: Raw[] = [];
    for (let i = 0; i < 200; i++) sockets.push(await open(server.port));
    // The first socket writes through the flood; every socket then asks for health.
    const write = sockets[0]!;
    write.socket.write(`POST /sky/event/${root.eci}/flood-1/wrangler/new_child_request HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{"name":"flood"}`);
    const wrote = await write.until(answered);
    expect(wrote).toMatch(/^HTTP\/1\.1 200 /);
    for (const s of sockets.slice(1)) s.socket.write(request('/healthz', 'connection: close\r\n'));
    const answers = await Promise.all(sockets.slice(1).map((s) => s.ended));
    const served = answers.filter((a) => /^HTTP\/1\.1 200 /.test(a));
    const refused = answers.filter((a) => /^HTTP\/1\.1 503 /.test(a));
    const dropped = answers.filter((a) => a === '');
    expect(served).toHaveLength(49); // 50 with the writer
    expect(refused.length + dropped.length).toBe(150);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r).toMatch(/connection: close/i);
      expect(JSON.parse(r.slice(r.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'TOO_MANY_CONNECTIONS', limit: 50 } });
    }
    // Once the flood is gone, new connections are served again.
    write.socket.destroy();
    const later = await open(server.port);
    later.socket.write(request('/healthz', 'connection: close\r\n'));
    expect(await later.ended).toMatch(/^HTTP\/1\.1 200 /);
    expect(await (await fetch(`${server.url}/sky/cloud/${root.eci}/io.picolabs.wrangler/children`)).json()).toMatchObject([{ name: 'flood' }]);
  });

  it('a WebSocket upgrade past the cap is refused with the same JSON error', async () => {
    const { server, root } = await serve(1);
    const first = await open(server.port);
    first.socket.write(request('/healthz'));
    expect(await first.until(answered)).toMatch(/^HTTP\/1\.1 200 /); // the one connection served
    const second = await open(server.port);
    second.socket.write(request(`/ws/${root.eci}`, 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 13\r\n'));
    const text = await second.ended;
    expect(text).toMatch(/^HTTP\/1\.1 503 /);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'TOO_MANY_CONNECTIONS' } });
    first.socket.destroy();
  });
});

describe.runIf(process.platform === 'linux')('kumo serve under a low open-file limit', () => {
  it('derives its cap from the limit and says so', async () => {
    const server = await startServerProcess({ fileLimit: 512 });
    const reserved = RESERVED_FDS + Math.floor(512 / 5) + REFUSING_SLOTS;
    expect(server.stdout()).toContain(`kumo serves at most ${512 - reserved} connections (open files: limit 512, ${reserved} kept for the store and the process)`);
  });
});
