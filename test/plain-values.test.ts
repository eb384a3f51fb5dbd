import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ruleset } from '../rulesets/index.ts';
import { startServer } from '../channels/http/server.ts';
import { shapeProblem } from '../kernel/validate.ts';
import { install, rejection } from './fixtures.ts';
import { onCleanup, testHost } from './helpers.ts';
import { wsText } from '../channels/http/websocket.ts';

/**
 * Values that cannot cross the wire (a BigInt, a cycle, a Date, deep nesting) are refused where a
 * rule or function makes them, inside the episode: nothing is written, and no transport ever meets
 * them (a WebSocket frame once ended the host, and a directive answered 500 after its commit).
 */

const deep = (n: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = { v };
  return v;
};
const cyclic = (): unknown => {
  const o: Record<string, unknown> = { a: 1 };
  o['self'] = o;
  return o;
};

const BAD: Record<string, () => unknown> = { bigint: () => 2n ** 60n, cycle: cyclic, deep: () => deep(5000), date: () => new Date(0), map: () => new Map(), fn: () => () => 1 };

const hostile = ruleset<{ n: number; x: unknown }>('test.hostile')
  .rule('set', { select: 'bad:set', action: (ctx) => ctx.ent.set('x', BAD[String(ctx.attrs['kind'])]!()) })
  .rule('directive', {
    select: 'bad:directive',
    action(ctx) {
      ctx.ent.set('n', (ctx.ent.get('n') ?? 0) + 1);
      ctx.directive('d', { v: BAD[String(ctx.attrs['kind'])]!() });
    },
  })
  .rule('count', { select: 'good:count', action: (ctx) => ctx.ent.set('n', (ctx.ent.get('n') ?? 0) + 1) })
  .share('n', (ctx) => ctx.ent.get('n') ?? 0)
  .share('bad', (_ctx, args) => BAD[String(args['kind'])]!())
  .share('bytes', () => ({ b: new Uint8Array([1, 2]) }))
  .build();

describe('values a rule or function makes', () => {
  it.each(Object.keys(BAD))('ent.set of a %s fails its episode with UNSTORABLE_VALUE naming the rule; nothing written', async (kind) => {
    const { host, root } = await testHost({ rulesets: [hostile] });
    await install(host, root.eci, 'test.hostile');
    const err = await rejection(host.event({ eci: root.eci, domain: 'bad', type: 'set', attrs: { kind } }));
    expect(err).toMatchObject({ code: 'UNSTORABLE_VALUE', status: 500, details: { rid: 'test.hostile', rule: 'set' } });
    expect(err.message).toContain('entity "x"');
  });

  it.each(Object.keys(BAD))('a directive holding a %s fails the episode before the commit: the state it changed is not kept (a retry cannot apply it twice)', async (kind) => {
    const { host, root } = await testHost({ rulesets: [hostile] });
    await install(host, root.eci, 'test.hostile');
    expect(await rejection(host.event({ eci: root.eci, domain: 'bad', type: 'directive', attrs: { kind } }))).toMatchObject({ code: 'UNSTORABLE_VALUE', details: { rule: 'directive' } });
    expect(await host.query({ eci: root.eci, rid: 'test.hostile', name: 'n' })).toBe(0);
    await host.event({ eci: root.eci, domain: 'good', type: 'count' });
    expect(await host.query({ eci: root.eci, rid: 'test.hostile', name: 'n' })).toBe(1);
  });

  it('bytes stay allowed (stored as binary)', async () => {
    const { host, root } = await testHost({ rulesets: [hostile] });
    await install(host, root.eci, 'test.hostile');
    expect(await host.query({ eci: root.eci, rid: 'test.hostile', name: 'bytes' })).toEqual({ b: new Uint8Array([1, 2]) });
  });

  it('a shared function answering with values JSON cannot carry: an error with its code over HTTP and over a WebSocket, and the host goes on', async () => {
    const { host, root } = await testHost({ rulesets: [hostile] });
    await install(host, root.eci, 'test.hostile');
    const server = await startServer({ host, port: 0, hostname: '127.0.0.1' });
    onCleanup(() => server.stop());
    for (const kind of ['bigint', 'cycle', 'deep']) {
      const r = await fetch(`${server.url}/sky/cloud/${root.eci}/test.hostile/bad?kind=${kind}`);
      expect(r.status).toBe(500);
      expect(await r.json()).toMatchObject({ error: { code: 'UNSTORABLE_VALUE', message: expect.stringContaining('the answer of test.hostile/bad') } });
    }
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws/${root.eci}`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const frames: any[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(wsText(d))));
    for (const [i, kind] of ['bigint', 'cycle', 'deep'].entries()) ws.send(JSON.stringify({ id: i, op: 'query', rid: 'test.hostile', name: 'bad', args: { kind } }));
    ws.send(JSON.stringify({ id: 9, op: 'event', domain: 'bad', type: 'directive', attrs: { kind: 'bigint' } }));
    ws.send(JSON.stringify({ id: 10, op: 'query', rid: 'test.hostile', name: 'n' }));
    await expect.poll(() => frames.length).toBe(5);
    ws.close();
    expect(frames.filter((f) => f.ok === false).map((f) => f.error.code)).toEqual(Array(4).fill('UNSTORABLE_VALUE'));
    expect(frames.find((f) => f.id === 10)).toMatchObject({ ok: true, result: 0 });
    expect((await fetch(`${server.url}/sky/cloud/${root.eci}/test.hostile/n`)).status).toBe(200);
  });
});

describe('shapeProblem', () => {
  it('names what is wrong, or nothing for plain data', () => {
    expect(shapeProblem({ a: [1, 'x', null, { b: true }], u: undefined, n: Number.NaN })).toBeUndefined();
    expect(shapeProblem({ a: [1n] })).toMatch(/BigInt/);
    expect(shapeProblem(new Date())).toMatch(/Date/);
    expect(shapeProblem({ s: Symbol('x') })).toMatch(/symbol/);
    expect(shapeProblem([new Set()])).toMatch(/Set/);
    expect(shapeProblem(cyclic())).toMatch(/refer to themselves/);
    expect(shapeProblem([[cyclic()]], 256)).toMatch(/refer to themselves/);
    expect(shapeProblem(deep(100))).toBeUndefined();
    expect(shapeProblem(deep(101))).toMatch(/deeper than 100/);
    expect(shapeProblem(deep(256), 256)).toBeUndefined();
    // A value shared a thousand ways over is walked as JSON would write it: bounded, not forever.
    let wide: unknown = [1];
    for (let i = 0; i < 40; i++) wide = [wide, wide];
    expect(shapeProblem(wide)).toMatch(/more than 1000000 values/);
  });
});
