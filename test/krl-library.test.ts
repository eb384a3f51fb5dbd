import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { appServer } from './apps-harness.ts';
import { rejection } from './fixtures.ts';
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
