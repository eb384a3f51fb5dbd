import { describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { appHash, keys } from '../kernel/index.ts';
import { appHost, appServer, appSource, COUNTER, COUNTER_RID, heldPage, installApp } from './apps-harness.ts';
import { newChild, rejection } from './fixtures.ts';
import { tempDir, testHost } from './helpers.ts';

const inc = { domain: 'counter', type: 'inc' };

describe('apps: install by URL or upload, update, uninstall', () => {
  it("installs an app (the README's example) from a URL, runs its rules and answers its queries; the source is stored by hash", async () => {
    const web = await appServer();
    web.serve('/counter.ts', COUNTER);
    const { host, root } = await appHost();
    const installed = await installApp(host, root.eci, { url: web.url('/counter.ts') });
    expect(installed).toEqual({ rid: COUNTER_RID, config: {}, app: { version: '1.0.0', hash: appHash(COUNTER), url: web.url('/counter.ts'), grant: {} } });
    const r = await host.event({ eci: root.eci, ...inc, attrs: { by: '2' } });
    expect(r.directives.map((d) => [d.name, d.options, d.meta.rid])).toEqual([['count', { count: 2 }, COUNTER_RID]]);
    await host.event({ eci: root.eci, ...inc, attrs: {} });
    expect(await host.query({ eci: root.eci, rid: COUNTER_RID, name: 'count', args: {} })).toBe(3);
    expect(await host.store.get(keys.appSource(appHash(COUNTER)))).toBe(COUNTER);
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'apps', args: {} })).toEqual([{ rid: COUNTER_RID, version: '1.0.0', hash: appHash(COUNTER), url: web.url('/counter.ts'), grant: {} }]);
    // The schema runs in the sandbox: a bad attr is INVALID_ATTRS, and nothing is written.
    expect((await rejection(host.event({ eci: root.eci, ...inc, attrs: { by: 'x' } }))).code).toBe('INVALID_ATTRS');
    expect(await host.query({ eci: root.eci, rid: COUNTER_RID, name: 'count', args: {} })).toBe(3);
  });

  it('installs an uploaded source, and the app keeps its state across a restart of the host', async () => {
    const dir = await tempDir();
    const { host, root } = await testHost({ dir, apps: { sources: {} } });
    await installApp(host, root.eci, { source: COUNTER });
    await host.event({ eci: root.eci, ...inc, attrs: { by: 5 } });
    await host.close();
    const again = await testHost({ dir, apps: { sources: {} } });
    expect(await again.host.query({ eci: root.eci, rid: COUNTER_RID, name: 'count', args: {} })).toBe(5);
    const r = await again.host.event({ eci: root.eci, ...inc, attrs: {} });
    expect(r.directives[0]!.options).toEqual({ count: 6 });
  });

  it('updates to a new version in place (state kept), and uninstalls (state gone)', async () => {
    const web = await appServer();
    web.serve('/v1.ts', COUNTER);
    const v2 = COUNTER.replace("version: '1.0.0'", "version: '2.0.0'").replace('"version":"1.0.0"', '"version":"2.0.0"').replace('ctx.attrs.by;', 'ctx.attrs.by * 10;');
    web.serve('/v2.ts', v2);
    const { host, root } = await appHost();
    await installApp(host, root.eci, { url: web.url('/v1.ts') });
    await host.event({ eci: root.eci, ...inc, attrs: { by: 1 } });
    const updated = await installApp(host, root.eci, { url: web.url('/v2.ts') });
    expect(updated.app).toMatchObject({ version: '2.0.0', hash: appHash(v2) });
    const r = await host.event({ eci: root.eci, ...inc, attrs: { by: 1 } });
    expect(r.directives[0]!.options).toEqual({ count: 11 });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: COUNTER_RID } });
    expect((await rejection(host.query({ eci: root.eci, rid: COUNTER_RID, name: 'count', args: {} }))).code).toBe('UNKNOWN_RULESET');
    await installApp(host, root.eci, { url: web.url('/v1.ts') });
    expect(await host.query({ eci: root.eci, rid: COUNTER_RID, name: 'count', args: {} })).toBe(0);
  });

  it('gives every cloud its own state in the app, one sandbox for all of them', async () => {
    const { host, root } = await appHost();
    const a = await newChild(host, root.eci, 'a');
    const b = await newChild(host, root.eci, 'b');
    for (const c of [a, b]) await installApp(host, c.eci, { source: COUNTER });
    await host.event({ eci: a.eci, ...inc, attrs: { by: 7 } });
    await host.event({ eci: b.eci, ...inc, attrs: { by: 1 } });
    expect(await host.query({ eci: a.eci, rid: COUNTER_RID, name: 'count', args: {} })).toBe(7);
    expect(await host.query({ eci: b.eci, rid: COUNTER_RID, name: 'count', args: {} })).toBe(1);
    expect((host as unknown as { parts: { apps: { size: number } } }).parts.apps.size).toBe(1);
  });

  it('sees its own writes at once, raises into the episode, and stops its later rules with last()', async () => {
    const { host, root } = await appHost();
    const app = appSource(
      'app.order',
      {},
      `.rule('first', { select: 'o:go', action(ctx) { ctx.ent.set('a', 1); ctx.directive('seen', { a: ctx.ent.get('a'), names: ctx.ent.names(), cloud: ctx.cloud.name }); ctx.raise('o', 'raised', { n: 2 }); ctx.last(); } })
       .rule('second', { select: 'o:go', action(ctx) { ctx.directive('second', {}); } })
       .rule('third', { select: 'o:raised', action(ctx) { ctx.ent.delete('a'); ctx.directive('raised', { n: ctx.attrs.n, a: ctx.ent.get('a') ?? null }); } })
       .rule('later', { select: 'o:later', async action(ctx) { await null; ctx.ent.set('b', 2); await Promise.resolve(); ctx.directive('later', { b: ctx.ent.get('b') }); } })
       .rule('many', { select: 'o:many', action(ctx) { for (let i = 0; i < 40; i++) ctx.ent.set('k' + i, { i }); } })
       .rule('read', { select: 'o:read', action(ctx) { ctx.ent.set('k40', { i: 40 }); ctx.ent.delete('k0'); ctx.directive('read', { n: ctx.ent.names().length, k39: ctx.ent.get('k39') ?? null, k40: ctx.ent.get('k40'), k0: ctx.ent.has('k0') }); } })
       .rule('bulk', { select: 'o:bulk', action(ctx) { for (let i = 0; i < 40; i++) ctx.directive('d' + i, { data: String(i % 10).repeat(8 * 1024) }); } })
       .share('b', (ctx) => ctx.ent.get('b') ?? null)`,
    );
    await installApp(host, root.eci, { source: app });
    const r = await host.event({ eci: root.eci, domain: 'o', type: 'go', attrs: {} });
    expect(r.directives.map((d) => [d.name, d.options])).toEqual([
      ['seen', { a: 1, names: ['a'], cloud: 'root' }],
      ['raised', { n: 2, a: null }],
    ]);
    // Effects made after an await are the run's too.
    expect((await host.event({ eci: root.eci, domain: 'o', type: 'later', attrs: {} })).directives.map((d) => d.options)).toEqual([{ b: 2 }]);
    expect(await host.query({ eci: root.eci, rid: 'app.order', name: 'b', args: {} })).toBe(2);
    // Small state is handed in with the run; larger state is read from the host: the same answers.
    for (const [type, n] of [
      ['read', 2],
      ['many', 0],
      ['read', 41],
    ] as const) {
      const r = await host.event({ eci: root.eci, domain: 'o', type, attrs: {} });
      if (n > 0) expect(r.directives[0]!.options).toEqual({ n, k39: n > 2 ? { i: 39 } : null, k40: { i: 40 }, k0: false });
    }
    // Many effects, more bytes in all than one call may hand over: handed over in parts, in order.
    const bulk = await host.event({ eci: root.eci, domain: 'o', type: 'bulk', attrs: {} });
    expect(bulk.directives.map((d) => [d.name, d.options['data']])).toEqual(Array.from({ length: 40 }, (_, i) => [`d${i}`, String(i % 10).repeat(8 * 1024)]));
  });

  it("reads its run's view when it asks (event, attrs as the schema made them, captures, eci, config, cloud), its own while another cloud's query comes between", async () => {
    const { page, waiting, release } = await heldPage();
    const app = `import { ruleset, z, on } from 'kumo';
export default ruleset('app.view', { version: '1.0.0', config: z.object({ color: z.string() }), permissions: { http: ['127.0.0.1'] } })
  .rule('look', {
    select: on('v', 'look', { attrs: { code: /^(\\w+)-(\\d+)$/ }, setting: ['word', 'num'] }),
    attrs: z.object({ code: z.string(), n: z.coerce.number(), wait: z.string().optional() }),
    async action(ctx) {
      const before = ctx.cloud.name;
      if (ctx.attrs.wait) await ctx.http({ url: ctx.attrs.wait });
      ctx.directive('view', { rid: ctx.rid, rule: ctx.rule, type: ctx.event.type, raw: ctx.event.attrs.n, n: ctx.attrs.n, captures: ctx.captures, eci: ctx.eci, color: ctx.config.color, before, after: ctx.cloud.name });
    },
  })
  .share('who', (ctx) => ({ rid: ctx.rid, cloud: ctx.cloud.name, color: ctx.config.color }))
  .build();`;
    const { host, root } = await appHost();
    const [a, b] = [await newChild(host, root.eci, 'a'), await newChild(host, root.eci, 'b')];
    await installApp(host, a.eci, { source: app, consent: true, config: { color: 'red' } });
    await installApp(host, b.eci, { source: app, consent: true, config: { color: 'blue' } });
    const look = { domain: 'v', type: 'look', attrs: { code: 'abc-42', n: '7' } };
    const view = { rid: 'app.view', rule: 'look', type: 'look', raw: '7', n: 7, captures: { word: 'abc', num: '42' } };
    expect((await host.event({ eci: a.eci, ...look })).directives[0]!.options).toEqual({ ...view, eci: a.eci, color: 'red', before: 'a', after: 'a' });
    // A's run waits on the page; B's query runs in the same engine meanwhile; A's run goes on with A's view.
    const slow = host.event({ eci: a.eci, ...look, attrs: { ...look.attrs, wait: page } });
    await waiting;
    expect(await host.query({ eci: b.eci, rid: 'app.view', name: 'who', args: {} })).toEqual({ rid: 'app.view', cloud: 'b', color: 'blue' });
    release();
    expect((await slow).directives[0]!.options).toEqual({ ...view, eci: a.eci, color: 'red', before: 'a', after: 'a' });
  });

  it("takes turns: another cloud's run of the app waits while one run waits on the host, and neither sees the other's state", async () => {
    const { page, waiting, release } = await heldPage();
    const app = appSource(
      'app.turns',
      { permissions: { http: ['127.0.0.1'] } },
      `.rule('slow', { select: 't:slow', async action(ctx) { ctx.ent.set('mine', ctx.cloud.name); await ctx.http({ url: ctx.attrs.url }); ctx.ent.set('after', ctx.ent.get('mine')); ctx.directive('slow', { mine: ctx.ent.get('mine'), names: ctx.ent.names() }); } })
       .rule('quick', { select: 't:quick', action(ctx) { ctx.ent.set('other', 1); ctx.directive('quick', { names: ctx.ent.names() }); } })`,
    );
    const { host, root } = await appHost();
    const [a, b] = [await newChild(host, root.eci, 'a'), await newChild(host, root.eci, 'b')];
    for (const c of [a, b]) await installApp(host, c.eci, { source: app, consent: true });
    const slow = host.event({ eci: a.eci, domain: 't', type: 'slow', attrs: { url: page } });
    await waiting;
    let quickDone = false;
    const quick = host.event({ eci: b.eci, domain: 't', type: 'quick', attrs: {} }).then((r) => ((quickDone = true), r));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(quickDone).toBe(false);
    release();
    expect((await slow).directives[0]!.options).toEqual({ mine: 'a', names: ['after', 'mine'] });
    expect((await quick).directives[0]!.options).toEqual({ names: ['other'] });
  });

  it("refuses an app whose rid is one of the host's rulesets, and a rid given that is not the app's", async () => {
    const { host, root } = await appHost();
    const wrangler = appSource('io.picolabs.wrangler', {}, '');
    expect((await rejection(installApp(host, root.eci, { source: wrangler }))).code).toBe('INVALID_APP');
    expect((await rejection(installApp(host, root.eci, { source: COUNTER, rid: 'other.rid' }))).code).toBe('INVALID_ARGS');
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'installedRids', args: {} })).not.toContain(COUNTER_RID);
  });

  it('refuses sources that are not apps with INVALID_APP naming the problem, and installs nothing', async () => {
    const { host, root } = await appHost();
    const cases: Array<[string, RegExp]> = [
      ['export default 1 +;', /does not compile: .*line 1/],
      ["import { readFileSync } from 'fs';\nexport default readFileSync;", /may import only "kumo", not "fs"/],
      ["import cp from 'node:child_process';\nexport default cp;", /may import only "kumo", not "node:child_process"/],
      ["const cp = require('child_process');\nexport default cp;", /may import only "kumo", not "child_process"/],
      ["import('fs');\nexport default {};", /may import only "kumo"/],
      ['export default { rid: 1 };', /export default a built ruleset/],
      ['throw new Error("no");', /does not load: no/],
      ['process.exit(1);', /'process' is not defined/],
      [appSource('bad rid!', {}, ''), /invalid rid/],
      [appSource('app.perm', { permissions: { sned: true } }, ''), /"sned" is not a permission/],
    ];
    for (const [source, message] of cases) {
      const err = await rejection(installApp(host, root.eci, { source }));
      expect([err.code, err.message]).toEqual(['INVALID_APP', expect.stringMatching(message)]);
    }
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'apps', args: {} })).toEqual([]);
  });
});

describe('apps: moving with their clouds', () => {
  it("carries an app's source in a cloud's bundle: another host imports the cloud and runs the app, state intact", async () => {
    const a = await appHost();
    const home = await newChild(a.host, a.root.eci, 'home');
    await installApp(a.host, home.eci, { source: COUNTER });
    await a.host.event({ eci: home.eci, ...inc, attrs: { by: 3 } });
    const bundle = await a.host.exportCloud(home.eci);
    expect(bundle.apps).toEqual({ [appHash(COUNTER)]: COUNTER });
    const b = await testHost({ seed: 99, apps: { sources: {} } });
    const child = await b.host.importCloud(b.root.eci, structuredClone(bundle));
    expect(await b.host.store.get(keys.appSource(appHash(COUNTER)))).toBe(COUNTER);
    expect(await b.host.query({ eci: child.eci, rid: COUNTER_RID, name: 'count', args: {} })).toBe(3);
    expect((await b.host.event({ eci: child.eci, ...inc, attrs: {} })).directives[0]!.options).toEqual({ count: 4 });
  });

  it('refuses a bundle whose app source does not match its hash, or that lacks the source of an app it installs', async () => {
    const a = await appHost();
    const home = await newChild(a.host, a.root.eci, 'home');
    await installApp(a.host, home.eci, { source: COUNTER });
    const bundle = await a.host.exportCloud(home.eci);
    const b = await testHost({ seed: 99, apps: { sources: {} } });
    const tampered = structuredClone(bundle);
    tampered.apps = { [appHash(COUNTER)]: COUNTER.replace('ctx.attrs.by', 'ctx.attrs.by * 1000') };
    const missing = structuredClone(bundle);
    missing.apps = {};
    const notAMap = { ...structuredClone(bundle), apps: [COUNTER] } as unknown as typeof bundle;
    const noGrant = structuredClone(bundle);
    for (const record of noGrant.records) if ((record[1] as { app?: { grant?: unknown } }).app) delete (record[1] as { app: { grant?: unknown } }).app.grant;
    for (const bad of [tampered, missing, notAMap, noGrant]) {
      const err = await rejection(b.host.importCloud(b.root.eci, bad));
      expect([err.code, err.message]).toEqual(['INVALID_CLOUD_FILE', expect.stringMatching(/app/)]);
    }
    expect(await b.host.store.get(keys.appSource(appHash(COUNTER)))).toBeUndefined();
  });
});

describe('apps: where they may come from', () => {
  it('refuses hosts the operator denies, private addresses not named, errors, redirects too many, sizes too big', async () => {
    const web = await appServer();
    web.serve('/app.ts', COUNTER);
    web.serve('/big.ts', `// ${'x'.repeat(300_000)}\n${COUNTER}`);
    web.serve('/moved', '/app.ts', 302);
    web.serve('/loop', '/loop', 302);
    // Not named in an allow list: 127.0.0.1 is this machine.
    const open = await appHost({ sources: {} });
    expect((await rejection(installApp(open.host, open.root.eci, { url: web.url('/app.ts') }))).code).toBe('APP_SOURCE_DENIED');
    expect((await rejection(installApp(open.host, open.root.eci, { url: web.url('/app.ts').replace('127.0.0.1', 'localhost') }))).code).toBe('APP_SOURCE_DENIED');
    const denied = await appHost({ sources: { allow: ['127.0.0.1'], deny: ['127.0.0.1'] } });
    expect((await rejection(installApp(denied.host, denied.root.eci, { url: web.url('/app.ts') }))).code).toBe('APP_SOURCE_DENIED');
    const { host, root } = await appHost();
    const codes = async (url: string): Promise<string> => (await rejection(installApp(host, root.eci, { url }))).code;
    expect(await codes(web.url('/missing.ts'))).toBe('APP_SOURCE_FAILED');
    expect(await codes(web.url('/loop'))).toBe('APP_SOURCE_FAILED');
    expect(await codes(web.url('/big.ts'))).toBe('PAYLOAD_TOO_LARGE');
    expect(await codes('ftp://127.0.0.1/app.ts')).toBe('APP_SOURCE_DENIED');
    expect(await codes('not a url')).toBe('APP_SOURCE_DENIED');
    expect(await codes(pathToFileURL('/etc/passwd').href)).toBe('APP_SOURCE_DENIED');
    expect((await installApp(host, root.eci, { url: web.url('/moved') })).rid).toBe(COUNTER_RID);
  });

  it('fetches within its time limit', async () => {
    const { createServer } = await import('node:http');
    const server = createServer(() => undefined); // never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const { host, root } = await appHost({ sources: { allow: ['127.0.0.1'], timeoutMs: 300 } });
      const err = await rejection(installApp(host, root.eci, { url: `http://127.0.0.1:${port}/slow.ts` }));
      expect([err.code, err.message]).toEqual(['APP_SOURCE_FAILED', expect.stringContaining('within 300 ms')]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('installs file: URLs only inside the folder the operator allows', async () => {
    const dir = await tempDir();
    const apps = join(dir, 'apps');
    await mkdir(apps);
    await writeFile(join(apps, 'counter.ts'), COUNTER);
    await writeFile(join(dir, 'outside.ts'), COUNTER);
    const { host, root } = await appHost({ sources: { folder: apps } });
    expect((await installApp(host, root.eci, { url: pathToFileURL(join(apps, 'counter.ts')).href })).rid).toBe(COUNTER_RID);
    expect((await rejection(installApp(host, root.eci, { url: pathToFileURL(join(apps, '..', 'outside.ts')).href }))).code).toBe('APP_SOURCE_DENIED');
    expect((await rejection(installApp(host, root.eci, { url: pathToFileURL(join(apps, 'none.ts')).href }))).code).toBe('APP_SOURCE_FAILED');
  });

  it('refuses an upload over the size limit, and attrs giving both a url and a source', async () => {
    const { host, root } = await appHost();
    expect((await rejection(installApp(host, root.eci, { source: `// ${'y'.repeat(210 * 1024)}\n${COUNTER}` }))).code).toBe('PAYLOAD_TOO_LARGE');
    expect((await rejection(installApp(host, root.eci, { source: COUNTER, url: 'http://127.0.0.1/x.ts' }))).code).toBe('INVALID_ATTRS');
  });
});
