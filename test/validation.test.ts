import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer } from '../channels/http/server.ts';
import { keyValues } from '../channels/cli/run.ts';
import { encode } from '../kernel/index.ts';
import { isPlainObject } from '../kernel/validate.ts';
import { rejection } from './fixtures.ts';
import { onCleanup, testHost } from './helpers.ts';
import { wsText } from '../channels/http/websocket.ts';

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
    for (const [domain, type] of [
      [deep(200_000), 'x'],
      ['x', deep(200_000)],
      [{ a: 1 }, 'x'],
    ]) {
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
      frames.push(JSON.parse(wsText(d)) as Record<string, any>);
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

describe('every documented bound of an event or query', () => {
  /** Objects nested `n` deep, the outermost included. */
  const nested = (n: number): Record<string, unknown> => {
    let v: Record<string, unknown> = {};
    for (let i = 1; i < n; i++) v = { a: v };
    return v;
  };

  it('is met exactly, and refused one past it', async () => {
    const { host, root } = await testHost({ limits: { attrsBytes: 64 } });
    const ok = (e: Record<string, unknown>) => host.event({ eci: root.eci, domain: 'x', type: 'y', ...e });
    const refused = async (e: Record<string, unknown>) => (await rejection(ok(e))).code;
    // names: 1 to 100 of [A-Za-z0-9_.-]
    await ok({ domain: 'd'.repeat(100), type: 'A-z_0.9' });
    expect(await refused({ domain: 'd'.repeat(101) })).toBe('INVALID_EVENT');
    expect(await refused({ type: 't'.repeat(101) })).toBe('INVALID_EVENT');
    // eids: 1 to 128 printable ASCII characters, without "/" or "!"
    await ok({ eid: `${' '.repeat(1)}~${'e'.repeat(126)}` });
    for (const eid of ['', 'e'.repeat(129), 'a/b', 'a!b', 'tab\t', 'é']) expect(await refused({ eid })).toBe('INVALID_EVENT');
    // idempotency keys: 1 to 128 visible characters
    await ok({ idempotencyKey: `!${'k'.repeat(126)}~` });
    for (const idempotencyKey of ['', 'k'.repeat(129), 'a b']) expect(await refused({ idempotencyKey })).toBe('INVALID_EVENT');
    // attrs: nested at most 100 levels, and at most attrsBytes encoded
    const fits = (n: number) => ({ s: 'x'.repeat(n) });
    let n = 0;
    while (encode(fits(n + 1)).length <= 64) n++;
    expect(encode(fits(n)).length).toBe(64);
    await ok({ attrs: fits(n) });
    expect(await rejection(ok({ attrs: fits(n + 1) }))).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: 'attrs take 65 bytes; the limit is 64', details: { limit: 64 } });
    const roomy = await testHost();
    await roomy.host.event({ eci: roomy.root.eci, domain: 'x', type: 'y', attrs: nested(100) });
    expect(await rejection(roomy.host.event({ eci: roomy.root.eci, domain: 'x', type: 'y', attrs: nested(101) }))).toMatchObject({ code: 'INVALID_EVENT', message: 'attrs nest deeper than 100 levels' });
    expect(await roomy.host.query({ eci: roomy.root.eci, rid: 'io.picolabs.wrangler', name: 'name', args: nested(100) })).toBe('root');
    expect(await rejection(roomy.host.query({ eci: roomy.root.eci, rid: 'io.picolabs.wrangler', name: 'name', args: nested(101) }))).toMatchObject({ code: 'INVALID_ARGS' });
  });

  it('names a bad value in its message without serializing it', async () => {
    const { host, root } = await testHost();
    const bad = async (domain: unknown) => (await rejection(host.event({ eci: root.eci, domain: domain as string, type: 'y' }))).message;
    expect(await bad('a b')).toBe('event domain must be 1 to 100 characters of [A-Za-z0-9_.-], got "a b"');
    expect(await bad(`${'x'.repeat(39)} `)).toMatch(new RegExp(`got "${'x'.repeat(39)} "$`)); // 40 characters are shown whole
    expect(await bad(`${'x'.repeat(50)} `)).toMatch(new RegExp(`got "${'x'.repeat(40)}…"$`)); // longer ones are cut
    const shown: Array<[unknown, string]> = [
      [null, 'null'],
      [[1], 'an array'],
      [{ a: 1 }, 'an object'],
      [5, '5'],
      [true, 'true'],
      [undefined, 'undefined'],
      [10n, 'a bigint'],
      [Symbol('s'), 'a symbol'],
      [() => 1, 'a function'],
    ];
    for (const [value, words] of shown) expect(await bad(value)).toMatch(new RegExp(`got ${words}$`));
  });
});

describe('requests that are not requests', () => {
  it('an event, a query or a received event of the wrong shape is refused with its code before it reaches a cloud', async () => {
    const { host, root } = await testHost();
    expect(await rejection(host.event(null as never))).toMatchObject({ code: 'INVALID_ARGS', message: 'an event must be an object' });
    expect(await rejection(host.accept('x' as never))).toMatchObject({ code: 'INVALID_ARGS' });
    expect(await rejection(host.event({ eci: 42 as never, domain: 'x', type: 'y' }))).toMatchObject({ code: 'UNKNOWN_ECI', details: { eci: '42' } });
    expect(await rejection(host.query(null as never))).toMatchObject({ code: 'INVALID_ARGS', message: 'a query must be an object' });
    for (const [rid, name] of [
      ['', 'name'],
      ['io.picolabs.wrangler', ''],
      [7, 'name'],
      ['io.picolabs.wrangler', null],
    ]) {
      expect(await rejection(host.query({ eci: root.eci, rid: rid as string, name: name as string }))).toMatchObject({ code: 'INVALID_ARGS', message: 'a query needs a rid and a function name' });
    }
    expect(await rejection(host.query({ eci: { a: 1 } as never, rid: 'io.picolabs.wrangler', name: 'name' }))).toMatchObject({ code: 'UNKNOWN_ECI', details: { eci: 'an object' } });
    const event = { eid: 'e1', domain: 'x', type: 'y', attrs: {}, time: 1 };
    const shapeless = 'a received event needs an eci and an event';
    const timeless = 'a received event needs its event time';
    const received: Array<[unknown, string]> = [
      [null, shapeless],
      [{ eci: root.eci }, shapeless],
      [{ eci: root.eci, event: null }, shapeless],
      [{ eci: 5, event }, shapeless],
      [{ eci: root.eci, event: { ...event, time: '1' } }, timeless],
      [{ eci: root.eci, event: { ...event, time: Infinity } }, timeless],
      [{ eci: root.eci, event: { ...event, time: undefined } }, timeless],
    ];
    for (const [routed, message] of received) expect(await rejection(host.receive(routed as never))).toMatchObject({ code: 'INVALID_EVENT', message });
    expect(await rejection(host.receive({ eci: root.eci, event, idempotencyKey: 'a b' }))).toMatchObject({ code: 'INVALID_EVENT' });
    expect(await rejection(host.receive({ eci: root.eci, event: { ...event, attrs: [] as never } }))).toMatchObject({ code: 'INVALID_EVENT' });
    // Given nothing, an event gets a new eid and empty attrs, a query empty args.
    const made = await host.event({ eci: root.eci, domain: 'x', type: 'y' });
    expect(made.eid).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect((await host.episodeLog(root.eci, 1))[0]).toMatchObject({ eid: made.eid, time: host.clock.now() });
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'name' })).toBe('root');
  });
});

describe('what counts as a plain object', () => {
  it('an object literal or a null-prototype object; never null, an array, a primitive or a class instance', () => {
    const yes: unknown[] = [{}, { a: 1 }, Object.create(null), JSON.parse('{"x":[1]}')];
    const no: unknown[] = [null, undefined, [], [1], 'x', 1, true, 1n, new Date(0), new Map(), new (class Thing {})(), () => 1];
    for (const v of yes) expect(isPlainObject(v)).toBe(true);
    for (const v of no) expect(isPlainObject(v)).toBe(false);
  });
});
