import { connect } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { startServer } from '../channels/http/server.ts';
import type { ChannelLimits } from '../channels/http/limits.ts';
import { ruleset } from '../rulesets/index.ts';
import { install } from './fixtures.ts';
import { onCleanup, testHost } from './helpers.ts';
import { wsText } from '../channels/http/websocket.ts';

// The bounds the channels keep per client; each test fails if its bound is not enforced.

let gate: Promise<void> = Promise.resolve();
const loud = ruleset('test.loud')
  .rule('shout', { select: 'loud:shout', action: (ctx) => ctx.push(ctx.eci!, 'shout', { blob: 'x'.repeat(200_000) }) })
  .rule('wait', { select: 'loud:wait', action: () => gate })
  .rule('verbose', { select: 'loud:verbose', action: (ctx) => Array.from({ length: 50 }, (_, i) => ctx.directive(`${i}:${'d'.repeat(2000)}`)) })
  .build();

async function serve(limits: Partial<ChannelLimits>) {
  const t = await testHost({ rulesets: [loud] });
  await install(t.host, t.root.eci, 'test.loud');
  const server = await startServer({ host: t.host, port: 0, hostname: '127.0.0.1', limits });
  onCleanup(() => server.stop());
  return { ...t, server };
}

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve()); // the ready frame
    ws.once('error', reject);
  });
  return ws;
}

describe('channel limits', () => {
  it('closes a WebSocket that stops reading (1008 SLOW_CONSUMER) once too much waits for it', async () => {
    const { host, root, server } = await serve({ bufferedBytes: 64 * 1024 });
    const ws = await open(`ws://127.0.0.1:${server.port}/ws/${root.eci}`);
    let pushes = 0;
    ws.on('message', () => pushes++);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.pause(); // the client stops reading; the kernel's socket buffers fill, then the host's
    for (let i = 0; i < 40; i++) await host.event({ eci: root.eci, domain: 'loud', type: 'shout' });
    ws.resume();
    expect(await closed).toBe(1008);
    expect(pushes).toBeLessThan(40);
  });

  it('refuses a WebSocket request past the requests running per socket (LIMIT_EXCEEDED)', async () => {
    let release!: () => void;
    gate = new Promise<void>((r) => (release = r));
    const { root, server } = await serve({ socketInflight: 2 });
    const ws = await open(`ws://127.0.0.1:${server.port}/ws/${root.eci}`);
    const answers = new Map<number, { ok: boolean; error?: { code: string } }>();
    ws.on('message', (d) => {
      const f = JSON.parse(wsText(d)) as { id: number; ok: boolean };
      answers.set(f.id, f);
    });
    for (const id of [1, 2, 3]) ws.send(JSON.stringify({ id, op: 'event', domain: 'loud', type: 'wait' }));
    await vi.waitFor(() => expect(answers.get(3)).toMatchObject({ ok: false, error: { code: 'LIMIT_EXCEEDED' } }));
    expect(answers.has(1) || answers.has(2)).toBe(false);
    release();
    await vi.waitFor(() => expect([answers.get(1)?.ok, answers.get(2)?.ok]).toEqual([true, true]));
    ws.close();
  });

  it('disconnects a log follower that stops reading once too much waits for it', async () => {
    const { host, root, server } = await serve({ bufferedBytes: 64 * 1024 });
    const socket = connect(server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    socket.write(`GET /c/${root.eci}/logs?follow=true&limit=1 HTTP/1.1\r\nhost: x\r\n\r\n`);
    await vi.waitFor(() => expect(host.followers(root.cloudId)).toBe(1));
    socket.pause();
    for (let i = 0; i < 100 && host.followers(root.cloudId) > 0; i++) await host.event({ eci: root.eci, domain: 'loud', type: 'verbose' });
    await vi.waitFor(() => expect(host.followers(root.cloudId)).toBe(0));
    socket.destroy();
  });
});
