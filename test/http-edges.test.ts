import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startServer } from '../channels/http/server.ts';
import type { ChannelLimits } from '../channels/http/limits.ts';
import { ruleset } from '../rulesets/index.ts';
import { install } from './fixtures.ts';
import { onCleanup, testHost } from './helpers.ts';

// Issue 9, items 7 and 8: HEAD, Node's own refusals as JSON, curl's form content type, no server
// paths in errors, and a graceful stop that answers every request that still arrives.

let release = (): void => undefined;
const fs = ruleset('test.edges')
  .rule('read', {
    select: 'edges:read',
    action: async () => {
      const { readFile } = await import('node:fs/promises');
      await readFile('/nonexistent-kumo-dir/secret/config.json');
    },
  })
  .rule('hold', { select: 'edges:hold', action: () => new Promise<void>((resolve) => (release = resolve)) })
  .share('where', () => {
    throw new Error(`failed to load /srv/kumo/private/state.json and file:///home/op/x.ts`);
  })
  .build();

async function serve(limits: Partial<ChannelLimits> = {}) {
  const t = await testHost({ rulesets: [fs] });
  await install(t.host, t.root.eci, 'test.edges');
  const server = await startServer({ host: t.host, port: 0, hostname: '127.0.0.1', limits });
  onCleanup(() => server.stop());
  return { ...t, server };
}

/** A raw connection: write bytes, read whole responses (by content-length) in order. */
function raw(port: number): { socket: Socket; write(text: string): void; next(): Promise<{ head: string; body: string }>; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('latin1');
  socket.on('error', () => undefined);
  let buf = '';
  let waiter: (() => void) | undefined;
  socket.on('data', (d: string) => {
    buf += d;
    waiter?.();
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const take = (): { head: string; body: string } | undefined => {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const head = buf.slice(0, end);
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    if (buf.length < end + 4 + length) return undefined;
    const body = buf.slice(end + 4, end + 4 + length);
    buf = buf.slice(end + 4 + length);
    return { head, body };
  };
  return {
    socket,
    closed,
    write: (text) => void socket.write(text),
    next: () =>
      new Promise((resolve, reject) => {
        const look = (): void => {
          const r = take();
          if (r) resolve(r);
        };
        waiter = look;
        void closed.then(() => reject(new Error(`connection closed; received: ${JSON.stringify(buf)}`)));
        look();
      }),
  };
}

const json = (body: string): { error: { code: string; message: string } } => JSON.parse(body);

describe('HEAD', () => {
  it('is answered wherever GET is, with GET’s headers and no body', async () => {
    const { server, root } = await serve();
    for (const path of ['/healthz', `/sky/cloud/${root.eci}/io.picolabs.wrangler/name`, `/c/${root.eci}/logs?follow=true`, '/metrics']) {
      const [head, get] = [await fetch(`${server.url}${path.replace('?follow=true', '')}`, { method: 'HEAD' }), await fetch(`${server.url}${path.replace('?follow=true', '')}`)];
      expect({ path, status: head.status }).toEqual({ path, status: 200 });
      expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
      expect(await head.text()).toBe('');
    }
    const follow = await fetch(`${server.url}/c/${root.eci}/logs?follow=true`, { method: 'HEAD' });
    expect(follow.status).toBe(200); // answered, and over: a HEAD never follows
    expect((await fetch(`${server.url}/nowhere`, { method: 'HEAD' })).status).toBe(404);
    const pre = await fetch(`${server.url}/healthz`, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-methods')).toContain('HEAD');
    expect(pre.headers.get('access-control-max-age')).toBe('600');
    // any other answer carries what a browser reads from it, not the preflight's part
    const plain = await fetch(`${server.url}/healthz`);
    expect(plain.headers.get('access-control-allow-origin')).toBe('*');
    expect(plain.headers.get('access-control-expose-headers')).toBe('idempotent-replayed, retry-after');
    expect(plain.headers.get('access-control-allow-methods')).toBeNull();
  });
});

describe('Node’s own refusals are JSON like the rest', () => {
  it('400 for a request that is not HTTP', async () => {
    const { server } = await serve();
    const c = raw(server.port);
    c.write('HELLO THERE\r\n\r\n');
    const r = await c.next();
    expect(r.head).toMatch(/^HTTP\/1\.1 400 /);
    expect(r.head).toMatch(/content-type: application\/json/i);
    expect(json(r.body).error.code).toBe('MALFORMED_REQUEST');
  });

  it('431 for headers over the limit', async () => {
    const { server } = await serve();
    const c = raw(server.port);
    c.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    const r = await c.next();
    expect(r.head).toMatch(/^HTTP\/1\.1 431 /);
    expect(json(r.body).error.code).toBe('HEADERS_TOO_LARGE');
  });

  it('408 for headers that do not arrive in time', async () => {
    const { server } = await serve({ headersMs: 300 });
    const c = raw(server.port);
    c.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // and never the blank line
    const r = await c.next();
    expect(r.head).toMatch(/^HTTP\/1\.1 408 /);
    expect(json(r.body).error.code).toBe('REQUEST_TIMEOUT');
  });
});

describe('curl’s default form content type', () => {
  it('a JSON body sent as a form is read as JSON', async () => {
    const { server, root } = await serve();
    const r = await fetch(`${server.url}/sky/event/${root.eci}/form-1/wrangler/new_child_request`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '{"name":"from-curl"}' });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ directives: [{ options: { name: 'from-curl' } }] });
    const form = await fetch(`${server.url}/sky/event/${root.eci}/form-2/wrangler/new_child_request`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=a%7Bform' });
    expect(await form.json()).toMatchObject({ directives: [{ options: { name: 'a{form' } }] });
  });

  it('broken JSON sent as a form is refused with a message naming the header', async () => {
    const { server, root } = await serve();
    const r = await fetch(`${server.url}/sky/event/${root.eci}/form-3/x/y`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: "{name: 'x'}" });
    expect(r.status).toBe(400);
    const { error } = (await r.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('INVALID_EVENT');
    expect(error.message).toContain('content-type: application/json');
  });
});

describe('errors never show server paths', () => {
  it('not from a rule, a function or a bug', async () => {
    const { server, root } = await serve();
    const rule = await fetch(`${server.url}/sky/event/${root.eci}/p1/edges/read`);
    const fn = await fetch(`${server.url}/sky/cloud/${root.eci}/test.edges/where`);
    for (const r of [rule, fn]) {
      const text = await r.text();
      expect(r.status).toBe(500);
      expect(text).toContain('<path>');
      expect(text).not.toMatch(/nonexistent-kumo-dir|\/srv\/kumo|\/home\/op/);
    }
  });
});

describe('a graceful stop', () => {
  it('answers a request that arrives on an open keep-alive connection with 503 SHUTTING_DOWN, then closes it', async () => {
    const { server, root, host } = await serve();
    const c = raw(server.port);
    c.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await c.next()).head).toMatch(/^HTTP\/1\.1 200 /); // the connection is now idle, kept alive
    // An episode that runs until released holds the stop open.
    const held = fetch(`${server.url}/sky/event/${root.eci}/hold-1/edges/hold`);
    await new Promise<void>((resolve) => {
      const check = (): void => (host.stats().mailboxDepth > 0 ? resolve() : void setImmediate(check));
      check();
    });
    const stopped = server.stop();
    c.write(`GET /sky/cloud/${root.eci}/io.picolabs.wrangler/name HTTP/1.1\r\nHost: x\r\n\r\n`);
    const r = await c.next();
    expect(r.head).toMatch(/^HTTP\/1\.1 503 /);
    expect(r.head).toMatch(/^connection: close$/im);
    expect(json(r.body).error.code).toBe('SHUTTING_DOWN');
    await c.closed;
    release();
    expect((await held).status).toBe(200); // the running episode still answered
    await stopped;
  });
});
