import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer } from '../channels/server.ts';
import { keyValues } from '../channels/cli/run.ts';
import { rejection } from './fixtures.ts';
import { onCleanup, testHost } from './helpers.ts';

/**
 * Hostile shapes on every way in (issue 9, item 5): nesting far beyond any stack, `__proto__` keys,
 * values where names belong. Each is refused with its code; none reaches a cloud, none is a 500.
 */

/** An array nested `n` deep, built without recursion. */
function deep(n: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < n; i++) v = [v];
  return v;
}
const deepJson = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;

async function serve() {
  const t = await testHost();
  const server = await startServer({ host: t.host, port: 0, hostname: '127.0.0.1' });
  onCleanup(() => server.stop());
  return { ...t, server };
}

describe('the host refuses hostile shapes without recursing', () => {
  it('event names: a nested value where a name belongs', async () => {
    const { host, root } = await testHost();
    for (const [domain, type] of [[deep(200_000), 'x'], ['x', deep(200_000)], [{ a: 1 }, 'x']]) {
      const err = await rejection(host.event({ eci: root.eci, domain: domain as string, type: type as string }));
      expect(err).toMatchObject({ code: 'INVALID_EVENT' });
      expect(err.message.length).toBeLessThan(200);
    }
    expect(await rejection(host.event({ eci: root.eci, domain: 'x', type: 'y', eid: deep(200_000) as string }))).toMatchObject({ code: 'INVALID_EVENT' });
  });

  it('attrs and query args: depth, __proto__ and size each have their code', async () => {
    const { host, root } = await testHost();
    const proto = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    const nestedProto = { a: [{ b: proto }] };
    expect(await rejection(host.event({ eci: root.eci, domain: 'x', type: 'y', attrs: { a: deep(200_000) } }))).toMatchObject({ code: 'INVALID_EVENT' });
    expect(await rejection(host.event({ eci: root.eci, domain: 'x', type: 'y', attrs: nestedProto }))).toMatchObject({ code: 'INVALID_EVENT' });
    expect(await rejection(host.event({ eci: root.eci, domain: 'x', type: 'y', attrs: { big: 'x'.repeat(300 * 1024) } }))).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const q = (args: unknown) => host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'name', args });
    expect(await rejection(q({ a: deep(200_000) }))).toMatchObject({ code: 'INVALID_ARGS' });
    expect(await rejection(q(proto))).toMatchObject({ code: 'INVALID_ARGS' });
    expect(await rejection(q(nestedProto))).toMatchObject({ code: 'INVALID_ARGS' });
    expect(await rejection(q({ big: 'x'.repeat(300 * 1024) }))).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(await rejection(q(deep(10)))).toMatchObject({ code: 'INVALID_ARGS' });
    expect(await rejection(host.query({ eci: root.eci, rid: deep(200_000) as string, name: 'x' }))).toMatchObject({ code: 'INVALID_ARGS' });
    expect(await q({ fine: [1, { two: 2 }] })).toBe('root');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('over HTTP', () => {
  it('query args with __proto__ or nested too deep are 400 INVALID_ARGS', async () => {
    const { server, root } = await serve();
    const url = `${server.url}/sky/cloud/${root.eci}/io.picolabs.wrangler/name`;
    const send = async (body: string) => {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      return { status: r.status, code: ((await r.json()) as { error?: { code: string } }).error?.code };
    };
    expect(await send('{"__proto__": {"x": 1}}')).toEqual({ status: 400, code: 'INVALID_ARGS' });
    expect(await send(`{"a": ${deepJson(100_000)}}`)).toEqual({ status: 400, code: 'INVALID_ARGS' });
    const viaQueryString = await fetch(`${url}?__proto__=x`);
    expect(viaQueryString.status).toBe(400);
  });
});

describe('over WebSocket', () => {
  it('an event frame whose domain is a deeply nested array gets an INVALID_EVENT frame, and the socket goes on', async () => {
    const { server, root } = await serve();
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/${root.eci}`);
    const frames: Array<Record<string, any>> = [];
    const waiters: Array<() => void> = [];
    ws.on('message', (d) => {
      frames.push(JSON.parse(String(d)) as Record<string, any>);
      for (const w of waiters.splice(0)) w();
    });
    const answer = (id: number) =>
      new Promise<Record<string, any>>((resolve) => {
        const look = (): void => {
          const f = frames.find((x) => x['id'] === id);
          if (f) resolve(f);
          else waiters.push(look);
        };
        look();
      });
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    const nest = deepJson(100_000);
    ws.send(`{"id":1,"op":"event","domain":${nest},"type":"t"}`);
    ws.send(`{"id":2,"op":"event","domain":"d","type":"t","attrs":{"a":${nest}}}`);
    ws.send(`{"id":3,"op":"query","rid":"io.picolabs.wrangler","name":"name","args":{"__proto__":{"x":1}}}`);
    ws.send(`{"id":4,"op":"query","rid":${nest},"name":"name"}`);
    ws.send(`{"id":5,"op":"query","rid":"io.picolabs.wrangler","name":"name","args":{"a":${nest}}}`);
    ws.send(`{"id":6,"op":"query","rid":"io.picolabs.wrangler","name":"name"}`);
    expect(await answer(1)).toMatchObject({ ok: false, error: { code: 'INVALID_EVENT' } });
    expect(await answer(2)).toMatchObject({ ok: false, error: { code: 'INVALID_EVENT' } });
    expect(await answer(3)).toMatchObject({ ok: false, error: { code: 'INVALID_ARGS' } });
    expect(await answer(4)).toMatchObject({ ok: false, error: { code: 'INVALID_ARGS' } });
    expect(await answer(5)).toMatchObject({ ok: false, error: { code: 'INVALID_ARGS' } });
    expect(await answer(6)).toMatchObject({ ok: true, result: 'root' });
    expect(JSON.stringify(frames)).not.toMatch(/at \S+ \(|\.ts:\d+/);
    ws.close();
  });
});

describe('from the CLI', () => {
  it('key=value arguments keep a __proto__ key as a key, for the host to refuse', () => {
    const attrs = keyValues(['__proto__:={"x":1}', 'a=1']);
    expect(Object.getPrototypeOf(attrs)).toBe(Object.prototype);
    expect(Object.keys(attrs)).toEqual(['__proto__', 'a']);
    expect(JSON.parse(JSON.stringify(attrs))).toEqual(JSON.parse('{"__proto__":{"x":1},"a":"1"}'));
  });
});
