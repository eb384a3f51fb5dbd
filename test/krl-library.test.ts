import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { appServer } from './apps-harness.ts';
import { rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';
import { installKrl, krlHost } from './krl-harness.ts';

/** KRL's modules through a real host (docs/krl.md, "Modules"): event, meta, time, math, random, schedule, http, ctx, wrangler, subscriptions. */
const MODS = (post: string): string => `ruleset test.mods {
  meta {
    name "Mods"
    use module io.picolabs.wrangler alias wrangler
    use module io.picolabs.subscription alias subs
    shares info, times, maths, subsInfo, sched, state
  }
  global {
    info = function() {
      { "rid": meta:rid, "name": meta:rulesetName, "picoId": meta:picoId == ctx:picoId, "inQuery": meta:inQuery,
        "me": wrangler:myself(){"name"}, "rids": wrangler:installedRIDs(), "children": wrangler:children().map(function(c) { c{"name"} }),
        "krlChannels": wrangler:channels("krl").length(), "ctxRid": ctx:rid, "rulesets": ctx:rulesets.map(function(r) { r{"rid"} }) }
    }
    times = function() {
      { "now": time:now(), "later": time:add(time:now(), {"days": 1, "hours": 2}), "fmt": time:strftime(time:now(), "%F %T %a %b"),
        "new": time:new("2026-03-04T05:06:07Z"), "month": time:add("2026-01-31T00:00:00.000Z", {"months": 1}) }
    }
    maths = function() {
      { "abs": math:abs(-2), "ceil": math:ceiling(1.2), "floor": math:floor(1.8), "int": math:int(-1.5), "round": math:round(1.234, 2),
        "sqrt": math:sqrt(9), "b64": math:base64encode("hi"), "unb64": math:base64decode("aGk="), "sha": math:hash("sha256", "abc"),
        "hmac": math:hmac("sha256", "k", "m", "base64"), "rint": random:integer(5, 5), "rnum": random:number(2, 2), "uuid": random:uuid().length(),
        "algos": math:hashAlgorithms >< "sha256" }
    }
    subsInfo = function() { { "established": subs:established(), "wellKnown": subs:wellKnown_Rx(){"id"}.typeof() } }
    sched = function() { schedule:list().map(function(s) { s{["event", "type"]} }) }
    state = function() { { "got": ent:got, "channel": ent:channel{"tags"}, "removed": ent:removed } }
  }
  rule send { select when t send event:send({"eci": event:attr("to"), "domain": "t", "type": "got", "attrs": {"n": 7}}) }
  rule got { select when t got fired { ent:got := event:attr("n") } }
  rule channel { select when t channel wrangler:createChannel(["krl", "made"]) setting(c) fired { ent:channel := c } }
  rule schedule_two {
    select when t sched
    fired {
      schedule t event "a" at time:add(time:now(), {"minutes": 5}) setting(a);
      schedule t event "b" repeat "0 * * * *" setting(b);
      ent:ids := [a, b]
    }
  }
  rule remove_one { select when t remove schedule:remove(ent:ids[0]) setting(removed) fired { ent:removed := removed } }
  rule info_in_rule {
    select when t info
    send_directive("info", { "inEvent": meta:inEvent, "ruleName": meta:ruleName, "eci": meta:eci == event:eci, "domain": event:domain,
                             "type": event:type, "eid": event:eid == meta:txnId, "attrs": event:attrs })
  }
  rule fetch { select when t fetch http:post("${post}", json = {"a": 1}, parseJSON = true, autoraise = "posted") setting(r) fired { ent:got := r{"content"} } }
  rule posted { select when http post send_directive("posted", {"label": event:attr("label"), "status": event:attr("status_code")}) }
}`;

async function setup(): Promise<{
  host: Awaited<ReturnType<typeof krlHost>>['host'];
  eci: string;
  query: (n: string) => Promise<unknown>;
  send: (t: string, attrs?: Record<string, unknown>) => Promise<Array<[string, unknown]>>;
  web: Awaited<ReturnType<typeof appServer>>;
}> {
  const web = await appServer();
  web.serve('/post', '{"ok": true}');
  const { host, root } = await krlHost();
  const installed = await installKrl(host, root.eci, MODS(web.url('/post')));
  expect(installed['app']).toMatchObject({ grant: { send: true, channels: true, calls: ['io.picolabs.subscription'], http: ['127.0.0.1'] } });
  const query = (name: string): Promise<unknown> => host.query({ eci: root.eci, rid: 'test.mods', name, args: {} });
  const send = async (type: string, attrs: Record<string, unknown> = {}): Promise<Array<[string, unknown]>> => (await host.event({ eci: root.eci, domain: 't', type, attrs })).directives.map((d) => [d.name, d.options]);
  return { host, eci: root.eci, query, send, web };
}

describe('KRL modules of every ruleset', () => {
  it('meta, ctx and wrangler describe the cloud and the ruleset', async () => {
    const { host, eci, query, send } = await setup();
    await host.event({ eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'kid' } });
    expect(await query('info')).toEqual({
      rid: 'test.mods',
      name: 'Mods',
      picoId: true,
      inQuery: true,
      me: 'root',
      rids: ['io.picolabs.wrangler', 'io.picolabs.subscription', 'test.mods'],
      children: ['kid'],
      krlChannels: 0,
      ctxRid: 'test.mods',
      rulesets: ['io.picolabs.wrangler', 'io.picolabs.subscription', 'test.mods'],
    });
    expect(await send('info', { x: 1 })).toEqual([['info', { inEvent: true, ruleName: 'info_in_rule', eci: true, domain: 't', type: 'info', eid: true, attrs: { x: 1 } }]]);
    await send('channel');
    expect(await query('state')).toMatchObject({ channel: ['krl', 'made'] });
    expect(await query('info')).toMatchObject({ krlChannels: 1 });
  });

  it('time works in UTC ISO strings from the host clock; math and random', async () => {
    const { query } = await setup();
    expect(await query('times')).toEqual({
      now: '2026-01-01T00:00:00.000Z',
      later: '2026-01-02T02:00:00.000Z',
      fmt: '2026-01-01 00:00:00 Thu Jan',
      new: '2026-03-04T05:06:07.000Z',
      month: '2026-03-03T00:00:00.000Z',
    });
    expect(await query('maths')).toEqual({
      abs: 2,
      ceil: 2,
      floor: 1,
      int: -1,
      round: 1.23,
      sqrt: 3,
      b64: 'aGk=',
      unb64: 'hi',
      sha: createHash('sha256').update('abc').digest('hex'),
      hmac: createHmac('sha256', 'k').update('m').digest('base64'),
      rint: 5,
      rnum: 2,
      uuid: 36,
      algos: true,
    });
  });

  it('schedule: list, and remove of one schedule only', async () => {
    const { query, send } = await setup();
    await send('sched');
    expect(await query('sched')).toEqual(['a', 'b']);
    await send('remove');
    expect(await query('sched')).toEqual(['b']);
    expect(await query('state')).toMatchObject({ removed: true });
  });

  it('event:send reaches another cloud after the episode commits', async () => {
    const { host, eci, query } = await setup();
    const kid = await host.event({ eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'kid' } });
    const kidEci = (kid.directives[0]!.options as { eci: string }).eci;
    await host.event({ eci: kidEci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { source: MODS('http://127.0.0.1:1/none'), consent: true } });
    await host.event({ eci, domain: 't', type: 'send', attrs: { to: kidEci } });
    await expect.poll(() => host.query({ eci: kidEci, rid: 'test.mods', name: 'state', args: {} })).toMatchObject({ got: 7 });
    expect(await query('state')).toMatchObject({ got: null });
  });

  it('http: a POST with a JSON body, the response parsed, and autoraise', async () => {
    const { query, send, web } = await setup();
    expect(await send('fetch')).toEqual([['posted', { label: 'posted', status: 200 }]]);
    expect(await query('state')).toMatchObject({ got: { ok: true } });
    expect(web.requests).toEqual(['/post']);
  });

  it('subscriptions: the host subscription ruleset’s functions, through use module', async () => {
    const { query } = await setup();
    expect(await query('subsInfo')).toEqual({ established: [], wellKnown: 'String' });
  });

  it('an operation not granted is APP_PERMISSION_DENIED, checked by the kernel', async () => {
    const { host, eci } = await setup();
    await host.event({ eci, domain: 'wrangler', type: 'app_revoke_request', attrs: { rid: 'test.mods', permission: 'send' } });
    expect(await rejection(host.event({ eci, domain: 't', type: 'send', attrs: { to: eci } }))).toMatchObject({ code: 'APP_PERMISSION_DENIED', details: { permission: 'send' } });
  });
});

/** A web server that answers every request with what it received, as JSON (or as text for /text). */
async function echoServer(): Promise<{ url: (path: string) => string }> {
  const { createServer } = await import('node:http');
  const { onCleanup } = await import('./helpers.ts');
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      if (req.url === '/text') return void res.writeHead(201, { 'content-type': 'text/plain' }).end('not json');
      res.writeHead(200, { 'content-type': 'application/json', 'x-echo': 'yes' }).end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  return { url: (path) => `http://127.0.0.1:${port}${path}` };
}

const MORE = (base: string): string => `ruleset test.more {
  meta {
    use module io.picolabs.wrangler alias wrangler
    shares queryView, strf, errs, state
  }
  global {
    queryView = function() {
      { "attrs": event:attrs, "attr": event:attr("x"), "domain": event:domain, "eci": event:eci, "host": meta:host, "inEvent": meta:inEvent,
        "config": meta:rulesetConfig, "parent": ctx:parent, "myselfEci": wrangler:myself(){"eci"}, "parentEci": wrangler:parent_eci(),
        "randomInt": random:integer(), "randomDefault": random:number() < 1, "abs": math:abs("x"), "rounded": math:round(2.5), "hex": math:hash("md5", "a", "hex") }
    }
    fetched = http:get("${base}/json")
    strf = function(t) { time:strftime(t, "%Y-%m-%dT%H:%M:%S.%L %s %% %a %b %Q") }
    errs = function(which) {
      which == "unit" => time:add(time:now(), {"fortnights": 1}) |
      which == "time" => time:new("not a time") |
      which == "algo" => math:hash("nope", "a") |
      which == "map" => time:add(time:now(), 5) |
      which == "http" => http:get("${base}/json") |
      "none"
    }
    state = function() { { "r": ent:r, "removed": ent:removed, "kid": ent:kid, "kids": ctx:children.length(), "channels": ctx:channels.length(), "tagged": wrangler:channels(["One", "two"]).length() } }
  }
  rule get {
    select when h get
    http:get("${base}/json", qs = {"a": 1, "b": "x y"}, headers = {"X-Thing": "v"}, parseJSON = true) setting(r)
    fired { ent:r := r }
  }
  rule methods {
    select when h methods
    every {
      http:put("${base}/put", body = "raw", parseJSON = true) setting(put);
      http:patch("${base}/patch", form = {"a": "1", "b": "2"}, parseJSON = true) setting(patch);
      http:delete("${base}/del", auth = {"username": "u", "password": "p"}, parseJSON = true) setting(del);
      http:head("${base}/head") setting(head);
      http:post("${base}/text", parseJSON = true) setting(text);
    }
    fired {
      ent:r := { "put": [put{["content", "method"]}, put{["content", "body"]}], "patch": [patch{["content", "headers", "content-type"]}, patch{["content", "body"]}],
                 "del": [del{["content", "method"]}, del{["content", "headers", "authorization"]}], "head": [head{"status_code"}, head{"content"}],
                 "text": [text{"content"}, text{"status_code"}, text{"content_type"}, text{"content_length"}] }
    }
  }
  rule unknown_schedule { select when h unsched schedule:remove("no-such-id") setting(removed) fired { ent:removed := removed } }
  rule pico { select when h pico ctx:newPico("kid", []) setting(kid) fired { ent:kid := kid{"name"} } }
  rule unpico { select when h unpico ctx:delPico(event:attr("eci")) }
  rule channels {
    select when h channels
    every {
      ctx:newChannel(["one", "two"], {"allow": [{"domain": "h", "name": "*"}], "deny": []}, {"allow": [{"rid": "*", "name": "*"}], "deny": []}) setting(c);
      wrangler:createChannel("one") setting(d);
    }
    fired { ent:made := [c{"id"}, d{"id"}] }
  }
  rule unchannel { select when h unchannel every { ctx:delChannel(ent:made[0]); wrangler:deleteChannel(ent:made[1]); } }
  rule tell { select when h tell ctx:event(event:attr("eci"), "h", "told", {"n": 2}) }
  rule waits { select when h waits pre { x = [1].map(function(u) { http:get("${base}/json") }) } }
  rule waitsInWhere { select when h where_waits where http:get("${base}/json") send_directive("never") }
  rule waitsInGlobal { select when h global_waits pre { x = fetched } }
  rule told { select when h told fired { ent:r := event:attr("n") } }
}`;

describe('KRL modules: the rest of each', () => {
  async function more(): Promise<{ host: Awaited<ReturnType<typeof krlHost>>['host']; eci: string; q: (n: string, args?: Record<string, unknown>) => Promise<unknown>; send: (t: string, attrs?: Record<string, unknown>) => Promise<void> }> {
    const web = await echoServer();
    const { host, root } = await krlHost();
    const installed = await installKrl(host, root.eci, MORE(web.url('')), { config: { answer: 42 } });
    expect(installed['app']).toMatchObject({ grant: { channels: true, children: true, send: true, http: ['127.0.0.1'] } });
    const q = (name: string, args: Record<string, unknown> = {}): Promise<unknown> => host.query({ eci: root.eci, rid: 'test.more', name, args });
    const send = async (type: string, attrs: Record<string, unknown> = {}): Promise<void> => void (await host.event({ eci: root.eci, domain: 'h', type, attrs }));
    return { host, eci: root.eci, q, send };
  }

  it('in a query: no event, no ECI, no host; the config given at install; defaults of random; math of what is not a number', async () => {
    const { q } = await more();
    expect(await q('queryView')).toEqual({
      attrs: null,
      attr: null,
      domain: null,
      eci: null,
      host: null,
      inEvent: false,
      config: { answer: 42 },
      parent: null,
      myselfEci: null,
      parentEci: null,
      randomInt: expect.any(Number),
      randomDefault: true,
      abs: 0,
      rounded: 3,
      hex: '0cc175b9c0f1b6a831c399e269772661',
    });
    expect([0, 1]).toContain(((await q('queryView')) as { randomInt: number }).randomInt);
  });

  it('strftime takes every field it documents and leaves an unknown one as written', async () => {
    const { q } = await more();
    expect(await q('strf', { t: '2026-02-03T04:05:06.007Z' })).toBe(`2026-02-03T04:05:06.007 ${Date.UTC(2026, 1, 3, 4, 5, 6) / 1000} % Tue Feb %Q`);
  });

  it('refuses a unit it does not know, what is not a time, an unknown hash, amounts that are not a map, an HTTP request in a query', async () => {
    const { q } = await more();
    const failure = (which: string): Promise<string> =>
      q('errs', { which }).then(
        () => 'answered',
        (e: Error) => e.message,
      );
    expect(await failure('unit')).toContain('time:add knows years, months, weeks, days, hours, minutes, seconds, not fortnights');
    expect(await failure('time')).toContain('not a time is not a time');
    expect(await failure('algo')).toContain('math: unknown hash algorithm "nope"');
    expect(await failure('map')).toContain('the amounts of time:add must be a map');
    expect(await failure('http')).toContain("http:get works only in a rule's actions and prelude, not in a query or a where");
    expect(await q('errs', { which: 'other' })).toBe('none');
  });

  it('http: query string, headers, body, form, basic auth, every method, text kept when it is not JSON', async () => {
    const { q, send } = await more();
    await send('get');
    const got = ((await q('state')) as { r: { content: { method: string; url: string; headers: Record<string, string> }; status_code: number; status_line: string; content_type: string; headers: Record<string, string> } }).r;
    expect(got.content).toMatchObject({ method: 'GET', url: '/json?a=1&b=x+y', headers: { 'x-thing': 'v' } });
    expect(got).toMatchObject({ status_code: 200, status_line: '200', content_type: 'application/json', headers: expect.objectContaining({ 'x-echo': 'yes' }) });
    await send('methods');
    expect(((await q('state')) as { r: unknown }).r).toEqual({
      put: ['PUT', 'raw'],
      patch: ['application/x-www-form-urlencoded', 'a=1&b=2'],
      del: ['DELETE', `Basic ${Buffer.from('u:p').toString('base64')}`],
      head: [200, ''],
      text: ['not json', 201, 'text/plain', 8],
    });
  });

  it('refuses to wait on the host where KRL computes without waiting: a function given to an operator, a global; in a where, nothing can', async () => {
    const { host, eci } = await more();
    const failure = async (type: string): Promise<string> => (await rejection(host.event({ eci, domain: 'h', type, attrs: {} }))).message;
    expect(await failure('waits')).toContain('the function given to .map() waits on the host');
    expect(await failure('where_waits')).toContain("http:get works only in a rule's actions and prelude, not in a query or a where");
    expect(await failure('global_waits')).toContain("the global `fetched` waits on the host; globals are computed without waiting (move it into a rule's pre)");
  });

  it('ctx and wrangler: children and channels made and deleted; ctx:event sends; schedule:remove of an unknown id is false', async () => {
    const { host, eci, q, send } = await more();
    await send('unsched');
    expect(await q('state')).toMatchObject({ removed: false, kids: 0 });
    await send('pico');
    expect(await q('state')).toMatchObject({ kid: 'kid', kids: 1 });
    const [kid] = (await host.query({ eci, rid: 'io.picolabs.wrangler', name: 'children', args: {} })) as Array<{ eci: string }>;
    await send('unpico', { eci: kid!.eci });
    expect(await q('state')).toMatchObject({ kids: 0 });
    const before = ((await q('state')) as { channels: number }).channels;
    await send('channels');
    expect(await q('state')).toMatchObject({ channels: before + 2, tagged: 1 });
    await send('unchannel');
    expect(await q('state')).toMatchObject({ channels: before, tagged: 0 });
    await send('tell', { eci });
    await expect.poll(async () => ((await q('state')) as { r: unknown }).r).toBe(2);
  });
});

describe('KRL modules: named arguments, every unit and name, the values of an event and a host', () => {
  const NAMED = `ruleset test.named {
    meta { use module io.picolabs.wrangler alias wrangler shares q, state }
    global {
      q = function() {
        { "months": 0.range(11).map(function(m) { time:strftime(time:add(date = "2026-01-15T00:00:00Z", spec = {"months": m}), format = "%b") }),
          "days": 0.range(6).map(function(d) { time:strftime(time:add("2026-01-04T00:00:00Z", {"days": d}), "%a") }),
          "units": time:add("2026-01-01T00:00:00Z", {"years": 1, "weeks": 1, "minutes": 2, "seconds": 3}),
          "newNamed": time:new(date = "2026-05-06T07:08:09Z"),
          "maths": [math:ceiling("x"), math:floor("x"), math:int("x"), math:sqrt("x"), math:round(n = 1.26, precision = 1),
                    math:hash("sha256", "abc", "base64"), math:hmac("sha1", "k", "m"), math:abs(n = -3)],
          "randoms": 0.range(40).map(function(i) { random:integer(3, 1) }).unique().sort("numeric"),
          "numbers": 0.range(40).map(function(i) { random:number(upper = 5, lower = 4) }).all(function(x) { x >= 4 && x < 5 }),
          "name": wrangler:name(), "allChannels": wrangler:channels().length() == ctx:channels.length(),
          "rulesets": ctx:rulesets.filter(function(r) { r{"rid"} == "test.named" }) }
      }
      state = function() { { "ev": ent:ev, "sched": ent:sched, "kid": ent:kid, "made": ent:made } }
    }
    rule ev {
      select when n ev
      fired {
        ent:ev := { "time": event:time, "eid": event:eid == meta:txnId, "type": event:type, "eci": meta:eci.isnull(), "host": meta:host, "inQuery": meta:inQuery };
        schedule n event "later" repeat "0 0 * * *" attributes {"x": 1}
      }
    }
    rule sched { select when n sched fired { ent:sched := schedule:list() } }
    rule named_actions {
      select when n named
      every {
        ctx:newPico(name = "named kid") setting(kid);
        wrangler:createChannel(tags = ["named"]) setting(c);
        event:send(event = {"eci": event:attr("to"), "domain": "n", "name": "delivered"});
      }
      fired { ent:kid := kid{"name"}; ent:made := c{"tags"} }
    }
  }`;

  it('answers pico’s shapes with named arguments, for every month, weekday and unit', async () => {
    const { host, root } = await testHost({ apps: { sources: {} }, url: 'https://kumo.example' });
    await installKrl(host, root.eci, NAMED, { config: {} });
    const q = (await host.query({ eci: root.eci, rid: 'test.named', name: 'q', args: {} })) as Record<string, unknown>;
    expect(q['months']).toEqual(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']);
    expect(q['days']).toEqual(['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']);
    expect(q['units']).toBe('2027-01-08T00:02:03.000Z');
    expect(q['newNamed']).toBe('2026-05-06T07:08:09.000Z');
    expect(q['maths']).toEqual([0, 0, 0, 0, 1.3, createHash('sha256').update('abc').digest('base64'), createHmac('sha1', 'k').update('m').digest('hex'), 3]);
    expect(q['randoms']).toEqual([1, 2, 3]);
    expect(q).toMatchObject({ numbers: true, name: 'root', allChannels: true, rulesets: [{ rid: 'test.named', config: {}, version: '0.0.0', url: null }] });
  });

  it('gives a rule its event, the host URL, schedules as pico lists them, and actions their arguments by name', async () => {
    const { host, root, clock } = await testHost({ apps: { sources: {} }, url: 'https://kumo.example' });
    await installKrl(host, root.eci, NAMED);
    clock.set(Date.UTC(2026, 0, 1, 6));
    await host.event({ eci: root.eci, domain: 'n', type: 'ev', attrs: {} });
    await host.event({ eci: root.eci, domain: 'n', type: 'sched', attrs: {} });
    const state = (await host.query({ eci: root.eci, rid: 'test.named', name: 'state', args: {} })) as Record<string, unknown>;
    expect(state['ev']).toEqual({ time: Date.UTC(2026, 0, 1, 6), eid: true, type: 'ev', eci: false, host: 'https://kumo.example', inQuery: false });
    expect(state['sched']).toEqual([{ id: expect.any(String), event: { domain: 'n', type: 'later', attrs: { x: 1 } }, timespec: '0 0 * * *' }]);
    await host.event({ eci: root.eci, domain: 'n', type: 'named', attrs: { to: root.eci } });
    expect(await host.query({ eci: root.eci, rid: 'test.named', name: 'state', args: {} })).toMatchObject({ kid: 'named kid', made: ['named'] });
  });
});
