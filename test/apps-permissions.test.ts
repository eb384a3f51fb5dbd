import { describe, expect, it } from 'vitest';
import { appHost, appServer, appSource, COUNTER, COUNTER_RID, installApp } from './apps-harness.ts';
import { newChild, rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';
import { ruleset } from '../rulesets/index.ts';

/** An app with one rule per operation that needs a permission: `op:<name>` calls it with `attrs.args`. */
const OPS = ['send', 'push', 'newEci', 'deleteEci', 'newChild', 'deleteChild', 'newDevice', 'newClaimCode', 'install', 'uninstall', 'moveTo'];
const opsApp = (permissions: Record<string, unknown>): string =>
  appSource(
    'app.ops',
    { version: '1.0.0', permissions },
    OPS.map(
      (op) => `.rule(${JSON.stringify(op)}, {
        select: 'op:${op}',
        async action(ctx) {
          ctx.ent.set('before', true);
          const out = await ctx.${op}(...ctx.attrs.args);
          ctx.directive('done', { out: out ?? null });
        },
      })`,
    ).join('') +
      `.rule('caught', {
        select: 'op:caught',
        action(ctx) {
          try { ctx.send('x', 'a', 'b'); } catch (e) { ctx.directive('caught', { code: e.code, name: e.name, message: e.message }); }
        },
      })
      .share('before', (ctx) => ctx.ent.get('before') ?? false)`,
  );

const ALL = { send: true, channels: true, children: true, manage: true };

describe('apps: permissions, enforced by the kernel', () => {
  it('installs an app asking nothing without consent; one asking more needs it, and the refusal says what it asks', async () => {
    const { host, root } = await appHost();
    expect((await installApp(host, root.eci, { source: opsApp({}) })).app).toMatchObject({ grant: {} });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: 'app.ops' } });
    const err = await rejection(installApp(host, root.eci, { source: opsApp({ send: true, storage: 100_000 }) }));
    expect([err.code, err.status, err.details['asks']]).toEqual(['CONSENT_REQUIRED', 409, { send: true, storage: 100_000 }]);
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'apps', args: {} })).toEqual([]);
    const ok = await installApp(host, root.eci, { source: opsApp({ send: true, storage: 100_000 }), consent: 'true' });
    expect(ok.app).toMatchObject({ grant: { send: true, storage: 100_000 } });
  });

  it('an update asking for more than was granted needs consent again; one asking less does not', async () => {
    const { host, root } = await appHost();
    await installApp(host, root.eci, { source: opsApp({ send: true }), consent: true });
    const more = opsApp({ send: true, children: true }).replace("'1.0.0'", "'1.1.0'").replace('"1.0.0"', '"1.1.0"');
    const err = await rejection(installApp(host, root.eci, { source: more }));
    expect([err.code, err.details['asks']]).toEqual(['CONSENT_REQUIRED', { children: true }]);
    // Refused: the installed version and its grant stay.
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'apps', args: {} })).toMatchObject([{ version: '1.0.0', grant: { send: true } }]);
    expect((await installApp(host, root.eci, { source: more, consent: true })).app).toMatchObject({ version: '1.1.0', grant: { send: true, children: true } });
    expect((await installApp(host, root.eci, { source: opsApp({}) })).app).toMatchObject({ grant: {} });
  });

  it('refuses every operation needing a permission not granted, with the permission named, and writes nothing of the episode', async () => {
    const { host, root } = await appHost();
    await installApp(host, root.eci, { source: opsApp({}) });
    const needs: Record<string, string> = {
      send: 'send',
      push: 'send',
      newEci: 'channels',
      deleteEci: 'channels',
      newChild: 'children',
      deleteChild: 'children',
      newDevice: 'children',
      newClaimCode: 'children',
      install: 'manage',
      uninstall: 'manage',
      moveTo: 'manage',
    };
    for (const op of OPS) {
      const err = await rejection(host.event({ eci: root.eci, domain: 'op', type: op, attrs: { args: ['x'] } }));
      expect([op, err.code, err.status, err.details['permission'], err.details['rid']]).toEqual([op, 'APP_PERMISSION_DENIED', 403, needs[op], 'app.ops']);
    }
    expect(await host.query({ eci: root.eci, rid: 'app.ops', name: 'before', args: {} })).toBe(false);
    // The app gets the error at the call, and may handle it.
    const r = await host.event({ eci: root.eci, domain: 'op', type: 'caught', attrs: {} });
    expect(r.directives[0]!.options).toEqual({ code: 'APP_PERMISSION_DENIED', name: 'APP_PERMISSION_DENIED', message: expect.stringContaining('not granted it "send"') });
  });

  it('allows each operation once granted (its own checks still apply), and a revoked grant is refused at the next call', async () => {
    const { host, root } = await appHost();
    const target = await newChild(host, root.eci, 'target');
    await installApp(host, target.eci, { source: COUNTER });
    await installApp(host, root.eci, { source: opsApp(ALL), consent: true });
    const run = (op: string, args: unknown[]) => host.event({ eci: root.eci, domain: 'op', type: op, attrs: { args } });
    await run('send', [target.eci, 'counter', 'inc', { by: 4 }]);
    await expect.poll(() => host.query({ eci: target.eci, rid: COUNTER_RID, name: 'count', args: {} })).toBe(4);
    const eci = (await run('newEci', [{ tags: ['made-by-app'] }])).directives[0]!.options['out'] as { id: string; tags: string[] };
    expect(eci.tags).toEqual(['made-by-app']);
    await run('deleteEci', [eci.id]);
    const child = (await run('newChild', ['kid'])).directives[0]!.options['out'] as { name: string };
    expect(child.name).toBe('kid');
    expect((await run('deleteChild', ['kid'])).directives[0]!.options['out']).toMatchObject({ name: 'kid' });
    expect((await run('newDevice', ['sensor', { events: ['reading'] }])).directives[0]!.options['out']).toMatchObject({ name: 'sensor' });
    // Granted, the kernel's own checks still say no: an unknown ruleset, a move without a host id.
    expect((await rejection(run('install', ['no.such.rid']))).code).toBe('UNKNOWN_RULESET');
    expect((await rejection(run('moveTo', ['']))).code).toBe('INVALID_ARGS');

    await host.event({ eci: root.eci, domain: 'wrangler', type: 'app_revoke_request', attrs: { rid: 'app.ops', permission: 'send' } });
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'apps', args: {} })).toMatchObject([{ grant: { channels: true, children: true, manage: true } }]);
    const err = await rejection(run('send', [target.eci, 'counter', 'inc', {}]));
    expect([err.code, err.details['permission']]).toEqual(['APP_PERMISSION_DENIED', 'send']);
    expect((await run('newEci', [{ tags: ['still'] }])).directives[0]!.options['out']).toMatchObject({ tags: ['still'] });
  });

  it('refuses revoking what is not a permission, or of a ruleset that is not an app', async () => {
    const { host, root } = await appHost();
    await installApp(host, root.eci, { source: opsApp(ALL), consent: true });
    const revoke = (rid: string, permission: string) => rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'app_revoke_request', attrs: { rid, permission } }));
    expect((await revoke('app.ops', 'everything')).code).toBe('INVALID_ARGS');
    expect(await revoke('io.picolabs.wrangler', 'send')).toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('io.picolabs.wrangler is not an app') });
    expect((await revoke('no.app', 'send')).code).toBe('UNKNOWN_RULESET');
  });

  it("calls other rulesets' shared functions only as granted (calls), and HTTP only to the hosts granted (http)", async () => {
    const web = await appServer();
    web.serve('/ping', 'pong');
    const { host, root } = await appHost();
    await installApp(host, root.eci, { source: COUNTER });
    await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { by: 5 } });
    const reach = (permissions: Record<string, unknown>) =>
      appSource(
        'app.reach',
        { permissions },
        `.rule('call', { select: 'r:call', async action(ctx) { ctx.directive('called', { value: await ctx.call(ctx.attrs.rid, ctx.attrs.name, {}) }); } })
         .rule('http', { select: 'r:http', async action(ctx) { const r = await ctx.http(ctx.attrs.request); ctx.directive('http', { status: r.status, body: r.body }); } })
         .share('own', () => 1)`,
      );
    const run = (type: string, attrs: Record<string, unknown>) => host.event({ eci: root.eci, domain: 'r', type, attrs });
    const ping = { url: web.url('/ping') };
    await installApp(host, root.eci, { source: reach({}) });
    for (const [type, attrs, permission] of [
      ['call', { rid: COUNTER_RID, name: 'count' }, 'calls'],
      ['http', { request: ping }, 'http'],
    ] as const) {
      const err = await rejection(run(type, attrs));
      expect([err.code, err.details['permission']]).toEqual(['APP_PERMISSION_DENIED', permission]);
    }
    const asks = { calls: [COUNTER_RID, 'io.picolabs.wrangler'], http: ['127.0.0.1'] };
    expect((await rejection(installApp(host, root.eci, { source: reach(asks) }))).details['asks']).toEqual(asks);
    await installApp(host, root.eci, { source: reach(asks), consent: true });
    expect((await run('call', { rid: COUNTER_RID, name: 'count' })).directives[0]!.options).toEqual({ value: 5 });
    expect((await run('call', { rid: 'io.picolabs.wrangler', name: 'name' })).directives[0]!.options).toEqual({ value: 'root' });
    expect((await run('http', { request: ping })).directives[0]!.options).toEqual({ status: 200, body: 'pong' });
    expect(web.requests).toEqual(['/ping']);
    const refused = async (type: string, attrs: Record<string, unknown>) => (await rejection(run(type, attrs))).code;
    expect(await refused('call', { rid: 'app.reach', name: 'own' })).toBe('INVALID_ARGS');
    expect(await refused('call', { rid: COUNTER_RID, name: 'nothing' })).toBe('UNKNOWN_FUNCTION');
    expect(await refused('call', { rid: 'io.picolabs.wrangler', name: 'constructor' })).toBe('UNKNOWN_FUNCTION');
    expect(await refused('call', { rid: 'io.picolabs.wrangler', name: 'nothing' })).toBe('UNKNOWN_FUNCTION');
    expect(await refused('http', { request: { url: web.url('/ping').replace('127.0.0.1', 'localhost') } })).toBe('APP_PERMISSION_DENIED');
    expect(await refused('http', { request: { ...ping, method: 'TRACE' } })).toBe('INVALID_ARGS');
    expect(await refused('http', { request: { url: 'ftp://127.0.0.1/x' } })).toBe('INVALID_ARGS');
    for (const request of ['http://127.0.0.1/', { url: 'not a url' }, { ...ping, headers: { a: 1 } }, { ...ping, headers: ['x'] }, { ...ping, body: { a: 1 } }, { ...ping, method: 7 }])
      expect(await refused('http', { request })).toBe('INVALID_ARGS');
    expect(await refused('http', { request: { ...ping, body: 'x'.repeat(300 * 1024) } })).toBe('PAYLOAD_TOO_LARGE');
    expect(web.requests).toEqual(['/ping']);
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'app_revoke_request', attrs: { rid: 'app.reach', permission: 'http' } });
    expect((await rejection(run('http', { request: ping }))).details['permission']).toBe('http');
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: COUNTER_RID } });
    expect(await refused('call', { rid: COUNTER_RID, name: 'count' })).toBe('UNKNOWN_RULESET');
  });

  it("two apps calling each other's functions from rules running at once in two clouds both finish", async () => {
    const { host, root } = await appHost();
    const app = (rid: string, other: string) =>
      appSource(
        rid,
        { permissions: { calls: [other] } },
        `.rule('ask', { select: 'x:ask', async action(ctx) { ctx.directive('asked', { answer: await ctx.call(${JSON.stringify(other)}, 'answer', {}) }); } }).share('answer', (ctx) => ctx.rid)`,
      );
    const [one, two] = [await newChild(host, root.eci, 'one'), await newChild(host, root.eci, 'two')];
    // Installed in opposite orders: one runs a's rule first (holding a's engine while it calls b), two b's.
    for (const [c, order] of [
      [one, ['app.a', 'app.b']],
      [two, ['app.b', 'app.a']],
    ] as const)
      for (const rid of order) await installApp(host, c.eci, { source: app(rid, rid === 'app.a' ? 'app.b' : 'app.a'), consent: true });
    const answers = await Promise.all([one, two, one, two].map((c) => host.event({ eci: c.eci, domain: 'x', type: 'ask', attrs: {} })));
    const asked = answers.map((r) => Object.fromEntries(r.directives.map((d) => [d.meta.rid, d.options['answer']])));
    expect(asked).toEqual(Array(4).fill({ 'app.a': 'app.b', 'app.b': 'app.a' }));
  });

  it('refuses, as the kernel, an app install asked for without a source or with one of the wrong kind or size', async () => {
    const installer = ruleset('test.installer')
      .rule('go', { select: 'app:install', action: async (ctx) => void ctx.directive('installed', { ...(await ctx.installApp(ctx.attrs)) }) })
      .build();
    const { host, root } = await testHost({ rulesets: [installer], limits: { appBytes: Buffer.byteLength(COUNTER) }, apps: { sources: {} } });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { rid: 'test.installer' } });
    const go = (attrs: Record<string, unknown>) => host.event({ eci: root.eci, domain: 'app', type: 'install', attrs });
    for (const attrs of [{}, { url: 5 }, { source: 5 }, { url: 'http://x.example/a.ts', source: COUNTER }]) {
      const err = await rejection(go(attrs));
      expect([err.code, err.message]).toEqual(['INVALID_ARGS', expect.stringMatching(/url|source/)]);
    }
    // A source of exactly the limit installs; one byte more does not.
    expect((await go({ source: COUNTER })).directives[0]!.options).toMatchObject({ rid: COUNTER_RID });
    expect((await rejection(go({ source: `${COUNTER} ` }))).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('holds an app to its storage: an episode that would hold more fails with APP_LIMIT_EXCEEDED, nothing written', async () => {
    const { host, root } = await appHost();
    const hoarder = appSource(
      'app.hoard',
      { permissions: { storage: 2000 } },
      `.rule('put', { select: 'hoard:put', action(ctx) { ctx.ent.set(ctx.attrs.name, 'x'.repeat(ctx.attrs.size)); } })
       .rule('look', { select: 'hoard:look', action(ctx) { ctx.directive('names', { names: ctx.ent.names() }); } })
       .share('names', (ctx) => ctx.ent.names())`,
    );
    await installApp(host, root.eci, { source: hoarder, consent: true });
    await host.event({ eci: root.eci, domain: 'hoard', type: 'put', attrs: { name: 'a', size: 1500 } });
    const err = await rejection(host.event({ eci: root.eci, domain: 'hoard', type: 'put', attrs: { name: 'b', size: 600 } }));
    expect([err.code, err.details['limit'], err.details['rid'], err.details['max']]).toEqual(['APP_LIMIT_EXCEEDED', 'storage', 'app.hoard', 2000]);
    expect(await host.query({ eci: root.eci, rid: 'app.hoard', name: 'names', args: {} })).toEqual(['a']);
    // Replacing a value counts its new size only; the limit itself is allowed: "a" and a string of
    // 1,996 characters take 1 + 3 + 1,996 bytes stored.
    await host.event({ eci: root.eci, domain: 'hoard', type: 'put', attrs: { name: 'a', size: 1996 } });
    expect((await rejection(host.event({ eci: root.eci, domain: 'hoard', type: 'put', attrs: { name: 'a', size: 1997 } }))).code).toBe('APP_LIMIT_EXCEEDED');
    // An update asking less (no consent needed) leaves the app holding more than it may: a rule that
    // writes nothing still runs; one that writes anything is refused.
    await installApp(host, root.eci, { source: hoarder.replace('"storage":2000', '"storage":1000') });
    expect((await host.event({ eci: root.eci, domain: 'hoard', type: 'look', attrs: {} })).directives[0]!.options).toEqual({ names: ['a'] });
    expect((await rejection(host.event({ eci: root.eci, domain: 'hoard', type: 'put', attrs: { name: 'b', size: 1 } }))).details['max']).toBe(1000);
  });
});
