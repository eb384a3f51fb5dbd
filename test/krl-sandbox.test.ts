import { describe, expect, it } from 'vitest';
import { appServer } from './apps-harness.ts';
import { rejection } from './fixtures.ts';
import { installKrl, krlHost, krlRuleset } from './krl-harness.ts';

/**
 * A KRL ruleset is sandboxed by construction: it reaches nothing but its modules, and its budget
 * ends what would run away (docs/krl.md, "Limits"). Each refusal is a clear error, nothing of the
 * episode is written, and the host serves other clouds meanwhile.
 */
const HOSTILE = krlRuleset('test.hostile', {
  shares: ['current', 'spin', 'loop'],
  globals: `
    current = function() { ent:count.defaultsTo(0) }
    spin = function(n) { spin(n + 1) }
    loop = function(n) { n <= 0 => 0 | loop(n - 1) + loop(n - 1) }
    grow = function(s, n) { n <= 0 => s | grow(s + s, n - 1) }
    many = function(a, n) { n <= 0 => a | many(a.append(a), n - 1) }`,
  rules: `
    rule bump { select when t bump fired { ent:count := current() + 1 } }
    rule recurse { select when t recurse fired { ent:count := 99; x = spin(0) } }
    rule exponential { select when t exponential fired { ent:count := 99; x = loop(40) } }
    rule range { select when t range fired { ent:count := 99; x = 0.range(100000000) } }
    rule string { select when t string fired { ent:count := 99; x = grow("ab", 40) } }
    rule array { select when t array fired { ent:count := 99; x = many([1], 40) } }
    rule denied { select when t denied http:get("http://denied.example/x") setting(r) fired { ent:count := 99 } }`,
});

describe('KRL regular expressions run in linear time', () => {
  it('matches, replaces and splits with a pattern that backtracks for ever in V8, at once', async () => {
    const { evaluate } = await import('./krl-harness.ts');
    const long = '0.range(20000).map(function(x) { "a" }).join("") + "b"';
    const [matched, replaced, split, like, selected] = await evaluate([
      `(${long}).match(re#(a+)+$#i)`,
      `(${long}).replace(re#(a+)+c#, "x").length()`,
      `(${long}).split(re#(a+)+c#).length()`,
      `(${long}) like "^(a|aa)+$"`,
      `"Hello".match(re#^h(?<rest>.*)#i) && "x1y22".extract(re#(\\d+)#g).length() == 2`,
    ]);
    expect([matched, replaced, split, like, selected]).toEqual([false, 20002, 1, false, true]);
  });

  it('refuses what cannot run in linear time: a literal at install with its place, a string made a regex at run time', async () => {
    const { host, root } = await krlHost();
    const { installApp } = await import('./apps-harness.ts');
    const err = await rejection(installApp(host, root.eci, { source: 'ruleset test.bad {\n  rule r { select when a b x re#(a)\\1# }\n}', consent: true }));
    expect(err).toMatchObject({ code: 'INVALID_APP', details: { line: 2, column: 30 } });
    expect(err.message).toContain('is not a regular expression kumo can run in linear time');
    const { evaluateError } = await import('./krl-harness.ts');
    expect(await evaluateError('"a(?=b)".as("RegExp")')).toMatchObject({ code: 'QUERY_FAILED', message: expect.stringContaining('a(?=b) is not a regular expression kumo can run in linear time') });
  });
});

describe('KRL maps: a key is only a key', () => {
  it('"__proto__" as a map key, a collect key, a decoded key or a path is data, and no prototype changes', async () => {
    const { evaluate } = await import('./krl-harness.ts');
    const got = await evaluate([
      '{"__proto__": {"polluted": 1}}{["__proto__", "polluted"]}',
      '[1, 2].collect(function(x) { "__proto__" }).keys()',
      '"{\\"__proto__\\": {\\"polluted\\": 2}}".decode(){["__proto__", "polluted"]}',
      '{}.put(["__proto__", "polluted"], 3){["__proto__", "polluted"]}',
      '{}{"polluted"}',
      '{"constructor": 1}{"constructor"}',
      '{"__proto__": 1}',
    ]);
    // Inside KRL the key is data; the kernel takes no value with it (UNSTORABLE_VALUE), as from any ruleset.
    expect(got).toEqual([1, ['__proto__'], 2, 3, null, 1, expect.stringContaining('values may not contain the key "__proto__"')]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('KRL sandbox: each runaway ends with a clear error, nothing written, the host serving', () => {
  it.each([
    ['recurse', 'stack', /nested calls deeper than 200/],
    ['exponential', 'steps', /took more than its 200000 steps \(in rule exponential\)/],
    ['range', 'size', /made a value of 100000001 characters or elements/],
    ['string', 'size', /made a value of \d+ characters or elements; at most 1000000/],
    ['array', 'steps', /took more than its 200000 steps \(in rule array\)/],
  ])('%s: APP_LIMIT_EXCEEDED (%s)', async (type, limit, message) => {
    const { host, root } = await krlHost();
    await installKrl(host, root.eci, HOSTILE);
    const other = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'other' } });
    const otherEci = (other.directives[0]!.options as { eci: string }).eci;
    await installKrl(host, otherEci, HOSTILE);
    await host.event({ eci: root.eci, domain: 't', type: 'bump', attrs: {} });
    const [failed, served] = await Promise.all([rejection(host.event({ eci: root.eci, domain: 't', type, attrs: {} })), host.event({ eci: otherEci, domain: 't', type: 'bump', attrs: {} })]);
    expect(failed).toMatchObject({ code: 'APP_LIMIT_EXCEEDED', status: 422, details: { rid: 'test.hostile', limit } });
    expect(failed.message).toMatch(message);
    expect(served.eid).toBeTruthy();
    expect(await host.query({ eci: root.eci, rid: 'test.hostile', name: 'current', args: {} })).toBe(1);
    expect(await host.query({ eci: otherEci, rid: 'test.hostile', name: 'current', args: {} })).toBe(1);
  });

  it('gives an episode one budget per ruleset: rules and raised events spend from it together', async () => {
    const { host, root } = await krlHost({ steps: 5_000 });
    const source = krlRuleset('test.spend', {
      // About n steps: a range of n elements is n steps to make.
      globals: 'spend = function(n) { 1.range(n).length() }',
      rules: `
        rule one { select when t go fired { x = spend(1500) } }
        rule two { select when t go fired { x = spend(1500); raise t event "more" attributes event:attrs } }
        rule three { select when t more fired { x = spend(event:attr("n").defaultsTo(1500)) } }`,
    });
    await installKrl(host, root.eci, source);
    // About 1,500 steps each, three times: some 4,500 of 5,000.
    expect((await host.event({ eci: root.eci, domain: 't', type: 'go', attrs: {} })).eid).toBeTruthy();
    // The raised event's rule spends from the same episode's budget: 1,500 + 1,500 + 2,100 > 5,000.
    const err = await rejection(host.event({ eci: root.eci, domain: 't', type: 'go', attrs: { n: 2100 } }));
    expect(err).toMatchObject({ code: 'APP_LIMIT_EXCEEDED', details: { limit: 'steps', max: 5000 } });
    expect(err.message).toContain('(in rule three)');
    // Alone, the same work fits.
    expect((await host.event({ eci: root.eci, domain: 't', type: 'more', attrs: { n: 2100 } })).eid).toBeTruthy();
  });

  it('bounds queries the same way: a runaway function is APP_LIMIT_EXCEEDED, the next query answers', async () => {
    const { host, root } = await krlHost({ steps: 5_000 });
    await installKrl(host, root.eci, HOSTILE);
    expect(await rejection(host.query({ eci: root.eci, rid: 'test.hostile', name: 'loop', args: { n: 30 } }))).toMatchObject({ code: 'APP_LIMIT_EXCEEDED', details: { limit: 'steps', max: 5000 } });
    expect(await rejection(host.query({ eci: root.eci, rid: 'test.hostile', name: 'spin', args: { n: 0 } }))).toMatchObject({ code: 'APP_LIMIT_EXCEEDED', details: { limit: 'stack' } });
    expect(await host.query({ eci: root.eci, rid: 'test.hostile', name: 'loop', args: { n: 3 } })).toBe(0);
  });

  it('reaches over HTTP only hosts its owner granted and the operator allows', async () => {
    const { host, root } = await krlHost();
    // A literal URL's host is what the ruleset asks for; the owner consents at install.
    const installed = await installKrl(host, root.eci, HOSTILE);
    expect(installed['app']).toMatchObject({ grant: { http: ['denied.example'] } });
    // The operator allows only 127.0.0.1: the request is refused before any connection.
    const err = await rejection(host.event({ eci: root.eci, domain: 't', type: 'denied', attrs: {} }));
    expect(err).toMatchObject({ code: 'APP_SOURCE_DENIED' });
    expect(await host.query({ eci: root.eci, rid: 'test.hostile', name: 'current', args: {} })).toBe(0);
  });

  it('an HTTP request to a host the ruleset did not name is APP_PERMISSION_DENIED', async () => {
    const web = await appServer();
    web.serve('/data', '{"t": 21}');
    const { host, root } = await krlHost();
    const source = krlRuleset('test.fetcher', {
      rules: `
        rule fetch {
          select when t fetch
          pre { url = event:attr("url") }
          http:get(url, parseJSON = true) setting(r)
          fired { ent:got := r{"content"} }
        }
        rule named { select when t named http:get("${web.url('/data')}", parseJSON = true) setting(r) fired { ent:got := r{"content"}; ent:status := r{"status_code"} } }`,
      globals: 'got = function() { [ent:got, ent:status] }',
      shares: ['got'],
    });
    const installed = await installKrl(host, root.eci, source);
    expect(installed['app']).toMatchObject({ grant: { http: ['127.0.0.1'] } });
    await host.event({ eci: root.eci, domain: 't', type: 'named', attrs: {} });
    expect(await host.query({ eci: root.eci, rid: 'test.fetcher', name: 'got', args: {} })).toEqual([{ t: 21 }, 200]);
    // A URL computed at run time is checked against the grant when the request is made.
    const refused = await rejection(host.event({ eci: root.eci, domain: 't', type: 'fetch', attrs: { url: 'http://localhost:9/x' } }));
    expect(refused).toMatchObject({ code: 'APP_PERMISSION_DENIED', details: { permission: 'http' } });
  });
});
