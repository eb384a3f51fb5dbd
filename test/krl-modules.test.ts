import { describe, expect, it } from 'vitest';
import counter from '../examples/counter.ts';
import { appHash } from '../kernel/index.ts';
import { installApp } from './apps-harness.ts';
import { install, rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';
import { installKrl, krlHost, krlRuleset } from './krl-harness.ts';

/** Modules between KRL rulesets (docs/krl.md, "Modules"): provides, use module … alias … with, configure using. */
const GREETINGS = `ruleset test.greetings {
  meta {
    configure using greeting = "Hello"
    provides greet, announce
  }
  global {
    greet = function(name) { <<#{greeting}, #{name}#{ent:suffix.defaultsTo("")}>> }
    announce = defaction(name) { send_directive("announce", {"text": greet(name)}) }
    hidden = function() { "not provided" }
  }
  rule suffix { select when greetings suffix fired { ent:suffix := event:attr("s") } }
}`;

const user = (rid: string, withClause: string): string => `ruleset ${rid} {
  meta {
    use module test.greetings alias g ${withClause}
    shares hi
  }
  global { hi = function(name) { g:greet(name) } }
  rule hello { select when user hello g:announce(event:attr("name")) }
  rule peek { select when user peek pre { x = g:hidden() } }
}`;

describe('KRL modules between rulesets', () => {
  it('uses a configured module: its provided functions read its own state; its defactions act for the user', async () => {
    const { host, root } = await krlHost();
    const refused = await rejection(installApp(host, root.eci, { source: user('test.howdy', 'with greeting = "Howdy"'), consent: true }));
    expect(refused).toMatchObject({ code: 'INVALID_APP', message: expect.stringContaining('uses the module test.greetings, which is not installed in this cloud') });
    await installKrl(host, root.eci, GREETINGS);
    // Using a module is calling another ruleset's functions: the owner consents to it.
    const asks = await rejection(installApp(host, root.eci, { source: user('test.howdy', 'with greeting = "Howdy"') }));
    expect(asks).toMatchObject({ code: 'CONSENT_REQUIRED', details: { asks: { calls: ['test.greetings'] } } });
    await installKrl(host, root.eci, user('test.howdy', 'with greeting = "Howdy"'));
    await installKrl(host, root.eci, user('test.plain', ''));
    const hi = (rid: string): Promise<unknown> => host.query({ eci: root.eci, rid, name: 'hi', args: { name: 'Ann' } });
    expect([await hi('test.howdy'), await hi('test.plain')]).toEqual(['Howdy, Ann', 'Hello, Ann']);
    await host.event({ eci: root.eci, domain: 'greetings', type: 'suffix', attrs: { s: '!' } });
    expect(await hi('test.howdy')).toBe('Howdy, Ann!');
    const r = await host.event({ eci: root.eci, domain: 'user', type: 'hello', attrs: { name: 'Bo' } });
    expect(r.directives.map((d) => [d.name, d.options, d.meta.rid])).toEqual([
      ['announce', { text: 'Howdy, Bo!' }, 'test.howdy'],
      ['announce', { text: 'Hello, Bo!' }, 'test.plain'],
    ]);
    // A module uninstalled from under its users: their calls of it fail, naming it.
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: 'test.greetings' } });
    expect(await rejection(hi('test.howdy'))).toMatchObject({ code: 'UNKNOWN_RULESET', details: { rid: 'test.greetings' } });
  });

  it('refuses what a module does not provide, and a configuration it does not declare', async () => {
    const { host, root } = await krlHost();
    await installKrl(host, root.eci, GREETINGS);
    await installKrl(host, root.eci, user('test.howdy', ''));
    expect(await rejection(host.event({ eci: root.eci, domain: 'user', type: 'peek', attrs: {} }))).toMatchObject({ code: 'RULE_FAILED', message: expect.stringContaining('test.greetings does not provide hidden') });
    await installKrl(host, root.eci, user('test.odd', 'with colour = "red"'));
    expect(await rejection(host.query({ eci: root.eci, rid: 'test.odd', name: 'hi', args: { name: 'x' } }))).toMatchObject({ message: expect.stringContaining('test.greetings cannot be configured with colour (it configures greeting)') });
  });

  it('refuses, at install, an update that would close a cycle of modules, naming it', async () => {
    const { host, root } = await krlHost();
    const a = krlRuleset('test.a', { meta: 'use module test.b alias b provides f', globals: 'f = function() { b:g() }' });
    const b1 = krlRuleset('test.b', { meta: 'provides g', globals: 'g = function() { 1 }' });
    const b2 = krlRuleset('test.b', { meta: 'use module test.a alias a provides g', globals: 'g = function() { a:f() }' });
    await installKrl(host, root.eci, b1);
    await installKrl(host, root.eci, a);
    const err = await rejection(installKrl(host, root.eci, b2));
    expect(err).toMatchObject({ code: 'INVALID_APP', message: expect.stringContaining('test.b would close a cycle of modules: test.b → test.a → test.b') });
    // The version installed before stays.
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'apps', args: {} })).toEqual(expect.arrayContaining([expect.objectContaining({ rid: 'test.b', hash: appHash(b1) })]));
  });

  it("reads a ruleset of the host's (TypeScript) as a module: its shared functions, arguments by name", async () => {
    const { host, root } = await testHost({ rulesets: [counter], apps: { sources: {} } });
    await install(host, root.eci, 'example.counter');
    await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { by: 4 } });
    await installKrl(host, root.eci, krlRuleset('test.reader', { meta: 'use module example.counter alias c', globals: 'twice = function() { c:count() * 2 }', shares: ['twice'] }));
    expect(await host.query({ eci: root.eci, rid: 'test.reader', name: 'twice', args: {} })).toBe(8);
  });

  it('raise … for rid: only that ruleset sees the event (the pico engine ignores `for`)', async () => {
    const { host, root } = await krlHost();
    const listener = (rid: string): string => krlRuleset(rid, { rules: `rule heard { select when t ping send_directive("heard") }` });
    await installKrl(host, root.eci, listener('test.one'));
    await installKrl(host, root.eci, listener('test.two'));
    await installKrl(host, root.eci, krlRuleset('test.sender', { rules: `rule send { select when t send fired { raise t event "ping" for "test.two" } }` }));
    const r = await host.event({ eci: root.eci, domain: 't', type: 'send', attrs: {} });
    expect(r.directives.map((d) => d.meta.rid)).toEqual(['test.two']);
  });
});
