import { describe, expect, it } from 'vitest';
import { appHash, keys } from '../kernel/index.ts';
import { isKrl, parse } from '../rulesets/krl/index.ts';
import { appServer, installApp } from './apps-harness.ts';
import { rejection } from './fixtures.ts';
import { tempDir, testHost } from './helpers.ts';
import { installKrl, krlHost, krlRuleset } from './krl-harness.ts';

/** KRL rulesets install as apps (docs/krl.md, "Installing"): by URL as pico sends it, or uploaded. */
const counter = (version: string, step: number): string =>
  krlRuleset('test.counter', {
    meta: `version "${version}"`,
    shares: ['current'],
    globals: 'current = function() { ent:count.defaultsTo(0) }',
    rules: `rule inc { select when counter inc send_directive("count", {"count": current() + ${step}}) fired { ent:count := current() + ${step} } }`,
  });

describe('KRL: install by URL, update when the content changes, uninstall', () => {
  it('installs from a URL as pico sends it (the rid is the one the ruleset declares), updates in place by content, uninstalls', async () => {
    const web = await appServer();
    web.serve('/counter.krl', counter('1.0.0', 1));
    const { host, root } = await krlHost();
    const installed = await installApp(host, root.eci, { url: web.url('/counter.krl') });
    expect(installed).toEqual({ rid: 'test.counter', config: {}, app: { version: '1.0.0', hash: appHash(counter('1.0.0', 1)), url: web.url('/counter.krl'), grant: {} } });
    await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: {} });
    // The same URL, new content: a new hash, installed in place; entity state stays.
    web.serve('/counter.krl', counter('1.1.0', 10));
    const updated = await installApp(host, root.eci, { url: web.url('/counter.krl') });
    expect(updated['app']).toMatchObject({ version: '1.1.0', hash: appHash(counter('1.1.0', 10)) });
    const r = await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: {} });
    expect(r.directives.map((d) => d.options)).toEqual([{ count: 11 }]);
    // A rid given with the url must be the ruleset's.
    expect(await rejection(installApp(host, root.eci, { url: web.url('/counter.krl'), rid: 'other.rid' }))).toMatchObject({ code: 'INVALID_ARGS' });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: 'test.counter' } });
    expect(await rejection(host.query({ eci: root.eci, rid: 'test.counter', name: 'current', args: {} }))).toMatchObject({ code: 'UNKNOWN_RULESET' });
  });

  it("runs pico's initialization idiom: a rule on wrangler:ruleset_installed where its rid is among the rids, in the install's episode", async () => {
    const { host, root } = await krlHost();
    const source = krlRuleset('test.init', {
      shares: ['inited'],
      globals: 'inited = function() { ent:inited }',
      rules: 'rule initialize { select when wrangler ruleset_installed where event:attr("rids") >< meta:rid fired { ent:inited := event:attr("rid") } }',
    });
    await installKrl(host, root.eci, source);
    expect(await host.query({ eci: root.eci, rid: 'test.init', name: 'inited', args: {} })).toBe('test.init');
  });

  it('keeps a KRL ruleset across a restart: its source is stored by hash and compiled again', async () => {
    const dir = await tempDir();
    const first = await testHost({ dir, apps: { sources: {} } });
    await installKrl(first.host, first.root.eci, counter('1.0.0', 2));
    await first.host.event({ eci: first.root.eci, domain: 'counter', type: 'inc', attrs: {} });
    expect(await first.host.store.get(keys.appSource(appHash(counter('1.0.0', 2))))).toBe(counter('1.0.0', 2));
    await first.host.close();
    const again = await testHost({ dir, apps: { sources: {} } });
    const r = await again.host.event({ eci: first.root.eci, domain: 'counter', type: 'inc', attrs: {} });
    expect(r.directives.map((d) => d.options)).toEqual([{ count: 4 }]);
  });

  it('carries a KRL ruleset in a cloud file to another host', async () => {
    const a = await krlHost();
    const b = await krlHost();
    const child = await a.host.event({ eci: a.root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'travels' } });
    const eci = (child.directives[0]!.options as { eci: string }).eci;
    await installKrl(a.host, eci, counter('1.0.0', 3));
    await a.host.event({ eci, domain: 'counter', type: 'inc', attrs: {} });
    const bundle = await a.host.exportCloud(eci);
    await b.host.importCloud(b.root.eci, bundle);
    const r = await b.host.event({ eci, domain: 'counter', type: 'inc', attrs: {} });
    expect(r.directives.map((d) => d.options)).toEqual([{ count: 6 }]);
  });
});

describe('KRL: a URL whose content changed updates every install from it on the host', () => {
  it('runs the content last installed from a URL in every cloud that installed from it, keeping each its state and grant, across a restart and a move', async () => {
    const web = await appServer();
    web.serve('/counter.krl', counter('1.0.0', 1));
    const dir = await tempDir();
    const first = await testHost({ dir, apps: { sources: { allow: ['127.0.0.1'] } } });
    const { host, root } = first;
    const child = async (name: string): Promise<string> => ((await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name } })).directives[0]!.options as { eci: string }).eci;
    const [a, b, uploaded] = [await child('a'), await child('b'), await child('uploaded')];
    for (const eci of [a, b]) await installApp(host, eci, { url: web.url('/counter.krl') });
    await installKrl(host, uploaded, counter('1.0.0', 1));
    const inc = async (h: typeof host, eci: string): Promise<unknown> => (await h.event({ eci, domain: 'counter', type: 'inc', attrs: {} })).directives[0]!.options;
    expect([await inc(host, a), await inc(host, b), await inc(host, uploaded)]).toEqual([{ count: 1 }, { count: 1 }, { count: 1 }]);
    // The publisher changes the content; one owner installs from the URL again.
    const v2 = counter('1.1.0', 10);
    web.serve('/counter.krl', v2);
    await installApp(host, a, { url: web.url('/counter.krl') });
    expect([await inc(host, a), await inc(host, b), await inc(host, uploaded)]).toEqual([{ count: 11 }, { count: 11 }, { count: 2 }]);
    const apps = (await host.query({ eci: b, rid: 'io.picolabs.wrangler', name: 'apps', args: {} })) as Array<Record<string, unknown>>;
    expect(apps).toEqual([{ rid: 'test.counter', version: '1.1.0', hash: appHash(v2), url: web.url('/counter.krl'), grant: {} }]);
    await host.close();
    const again = await testHost({ dir, apps: { sources: { allow: ['127.0.0.1'] } } });
    expect(await inc(again.host, b)).toEqual({ count: 21 });
    // Carried to another host, it runs there what it ran here.
    const other = await krlHost();
    await other.host.importCloud(other.root.eci, await again.host.exportCloud(b));
    expect(await inc(other.host, b)).toEqual({ count: 31 });
  });

  it('holds a cloud that follows a URL to what its owner granted: new content asking more is refused its use there', async () => {
    const web = await appServer();
    const base = krlRuleset('test.grow', { rules: 'rule hi { select when t hi send_directive("hi") }' });
    web.serve('/grow.krl', base);
    const { host, root } = await krlHost();
    const kid = ((await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'kid' } })).directives[0]!.options as { eci: string }).eci;
    await installApp(host, kid, { url: web.url('/grow.krl') });
    web.serve('/grow.krl', krlRuleset('test.grow', { rules: `rule hi { select when t hi event:send({"eci": "${root.eci}", "domain": "t", "type": "x"}) }` }));
    const asks = await rejection(installApp(host, root.eci, { url: web.url('/grow.krl') }));
    expect(asks).toMatchObject({ code: 'CONSENT_REQUIRED' });
    await installApp(host, root.eci, { url: web.url('/grow.krl'), consent: true });
    expect((await host.event({ eci: root.eci, domain: 't', type: 'hi', attrs: {} })).eid).toBeTruthy();
    expect(await rejection(host.event({ eci: kid, domain: 't', type: 'hi', attrs: {} }))).toMatchObject({ code: 'APP_PERMISSION_DENIED', details: { permission: 'send' } });
  });
});

describe('KRL: what does not compile is refused at install with its line and column, and nothing is installed', () => {
  it.each([
    ['a syntax error', 'ruleset test.bad {\n  rule r {\n    select when a b\n    send_directive("x"\n  }\n}', 'KRL syntax error at line 5, column 3: Expected `)`', { line: 5, column: 3 }],
    ['an unknown module', 'ruleset test.bad {\n  global { f = function() { nope:thing() } }\n}', 'KRL at line 2, column 29: unknown module nope', { line: 2, column: 29 }],
    ['an unknown member', 'ruleset test.bad {\n  global { f = function() { time:nope() } }\n}', 'time:nope is not defined', { line: 2 }],
    ['an action in an expression', 'ruleset test.bad {\n  global { f = function() { event:send({}) } }\n}', 'event:send is an action: use it in an action block', { line: 2 }],
    ['app variables', 'ruleset test.bad {\n  rule r { select when a b fired { app:x := 1 } }\n}', 'app: variables (shared by every pico of a ruleset) are not supported', { line: 2 }],
    ['a share that is not a global', 'ruleset test.bad {\n  meta { shares missing }\n}', 'shares missing, which is not a global', { line: 2, column: 17 }],
    ['a rule declared twice', 'ruleset test.bad {\n  rule r { select when a b }\n  rule r { select when a c }\n}', 'rule r is declared twice', { line: 3, column: 8 }],
    ['meta keys', 'ruleset test.bad {\n  meta { keys api "secret" }\n}', 'meta keys is not supported', { line: 2 }],
    ['an operator without its call', 'ruleset test.bad {\n  global { f = function() { [1].length } }\n}', '.length needs its arguments', { line: 2 }],
    ['a ruleset cut short', 'ruleset', 'KRL syntax error at line 1', { line: 1 }],
    ['a regular expression JavaScript refuses', 'ruleset test.bad {\n  rule r { select when a b x re#(#  }\n}', 'KRL syntax error: Invalid regular expression', {}],
  ])('%s', async (_what, source, message, at) => {
    const { host, root } = await krlHost();
    const err = await rejection(installApp(host, root.eci, { source, consent: true }));
    expect(err).toMatchObject({ code: 'INVALID_APP', status: 400, details: at });
    expect(err.message).toContain(message);
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'apps', args: {} })).toEqual([]);
  });
});

describe('KRL sources told apart from ES modules', () => {
  it('is KRL when its first word after comments is ruleset; the parser takes only a whole ruleset', () => {
    expect(isKrl('// a counter\n/* pico */ ruleset a.b { }')).toBe(true);
    expect(isKrl("import { ruleset } from 'kumo';\nexport default ruleset('a', {}).build();")).toBe(false);
    expect(isKrl("ruleset('a', {}).build()")).toBe(false);
    expect(() => parse('1 + 2')).toThrow('KRL source must be one ruleset { … }, not expressions');
  });
});
