import diagnostics_channel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import type { Host } from '../kernel/index.ts';
import { rejection } from './fixtures.ts';
import { installKrl, krlHost } from './krl-harness.ts';

/**
 * KRL rules, construct by construct: each ruleset here is written for this test, and each event
 * sequence's directives and state follow from KRL's documented semantics (docs/krl.md).
 */

type Sender = (domainType: string, attrs?: Record<string, unknown>) => Promise<string[]>;

/** A host with `source` installed in its root cloud, and a function that sends an event and answers the names of its directives. */
async function withRuleset(source: string): Promise<{ host: Host; eci: string; send: Sender; setTime: (ms: number) => void; query: (name: string, args?: Record<string, unknown>) => Promise<unknown>; rid: string }> {
  const { host, root, clock } = await krlHost();
  const installed = await installKrl(host, root.eci, source);
  const rid = installed['rid'] as string;
  const send: Sender = async (dt, attrs = {}) => {
    const [domain, type] = dt.split(':') as [string, string];
    const r = await host.event({ eci: root.eci, domain, type, attrs });
    return r.directives.map((d) => (Object.keys(d.options).length ? `${d.name} ${JSON.stringify(d.options)}` : d.name));
  };
  return { host, eci: root.eci, send, setTime: (ms) => clock.set(ms), query: (name, args = {}) => host.query({ eci: root.eci, rid, name, args }), rid };
}

describe('KRL select when: every event-expression operator', () => {
  const SELECT = `ruleset test.select {
    rule prim { select when door opened room re#^(\\w+)$# setting(room) send_directive("prim", {"room": room}) }
    rule guarded { select when door closed where event:attr("force").as("Number") > 5 send_directive("guarded") }
    rule captured_where { select when door knock times re#(\\d+)# setting(n) where n.as("Number") >= 3 send_directive("loud", {"n": n}) }
    rule or_ { select when s1 a or s1 b send_directive("or") }
    rule and_ { select when s2 a and s2 b send_directive("and") }
    rule before_ { select when s3 a before s3 b send_directive("before") }
    rule then_ { select when s4 a then s4 b send_directive("then") }
    rule after_ { select when s5 a after s5 b send_directive("after") }
    rule between_ { select when s6 e between (s6 start, s6 end) send_directive("between") }
    rule not_between { select when s7 e not between (s7 start, s7 end) send_directive("not between") }
    rule any_ { select when any 2 (s8 a, s8 b, s8 c) send_directive("any") }
    rule count_ { select when count 3 (s9 t n re#(\\d+)#) sum(total) send_directive("count", {"total": total}) }
    rule repeat_ { select when repeat 2 (s10 t n re#(\\d+)#) max(m) send_directive("repeat", {"max": m}) }
    rule within_ { select when s11 a before s11 b within 1 minute send_directive("within") }
    rule where_only { select where event:domain == "s12" && event:type != "skip" send_directive("where") }
    rule idle is inactive { select when s1 a send_directive("never") }
  }`;

  it('matches primitives with attribute regexes, setting and where', async () => {
    const { send } = await withRuleset(SELECT);
    expect(await send('door:opened', { room: 'kitchen' })).toEqual(['prim {"room":"kitchen"}']);
    expect(await send('door:opened', { room: 'two words' })).toEqual([]);
    expect(await send('door:opened')).toEqual([]);
    expect(await send('door:closed', { force: '9' })).toEqual(['guarded']);
    expect(await send('door:closed', { force: 2 })).toEqual([]);
    expect(await send('door:knock', { times: '4' })).toEqual(['loud {"n":"4"}']);
    expect(await send('door:knock', { times: '2' })).toEqual([]);
  });

  it('or, and, before, then, after', async () => {
    const { send } = await withRuleset(SELECT);
    expect([await send('s1:a'), await send('s1:b'), await send('s1:c')]).toEqual([['or'], ['or'], []]);
    expect([await send('s2:b'), await send('s2:b'), await send('s2:a')]).toEqual([[], [], ['and']]);
    expect([await send('s3:b'), await send('s3:a'), await send('s3:x'), await send('s3:b')]).toEqual([[], [], [], ['before']]);
    expect([await send('s4:a'), await send('s4:b')]).toEqual([[], ['then']]);
    expect([await send('s5:a'), await send('s5:b'), await send('s5:a')]).toEqual([[], [], ['after']]);
  });

  it('between and not between fire on the end, by what came in between', async () => {
    const { send } = await withRuleset(SELECT);
    expect([await send('s6:start'), await send('s6:end')]).toEqual([[], []]);
    expect([await send('s6:start'), await send('s6:e'), await send('s6:end')]).toEqual([[], [], ['between']]);
    expect([await send('s7:start'), await send('s7:e'), await send('s7:end')]).toEqual([[], [], []]);
    expect([await send('s7:start'), await send('s7:end')]).toEqual([[], ['not between']]);
  });

  it('any n, count with sum, repeat with max', async () => {
    const { send } = await withRuleset(SELECT);
    expect([await send('s8:a'), await send('s8:a'), await send('s8:c')]).toEqual([[], [], ['any']]);
    expect([await send('s9:t', { n: '1' }), await send('s9:t', { n: '2' }), await send('s9:t', { n: '4' }), await send('s9:t', { n: '1' })]).toEqual([[], [], ['count {"total":7}'], []]);
    expect([await send('s10:t', { n: '5' }), await send('s10:t', { n: '3' }), await send('s10:t', { n: '1' })]).toEqual([[], ['repeat {"max":5}'], ['repeat {"max":3}']]);
  });

  it('within bounds a sequence by event time; select where takes any event it holds true for; inactive rules never run', async () => {
    const { send, setTime } = await withRuleset(SELECT);
    const t0 = Date.UTC(2026, 0, 1);
    expect([await send('s11:a'), (setTime(t0 + 30_000), await send('s11:b'))]).toEqual([[], ['within']]);
    await send('s11:a');
    setTime(t0 + 200_000);
    expect(await send('s11:b')).toEqual([]);
    expect([await send('s12:anything'), await send('s12:skip')]).toEqual([['where'], []]);
  });
});

describe('KRL rule bodies: foreach, pre, actions, postludes, statements', () => {
  const BODY = `ruleset test.body {
    meta { name "Body" shares total, tree, seen, state, __testing }
    global {
      state = function() {
        { "outcome": ent:outcome, "runs": ent:runs, "unchosen": ent:unchosen, "lengths": ent:lengths,
          "stopped": ent:stopped, "small": ent:small, "big": ent:big }
      }
      total = function() { ent:total.defaultsTo(0) }
      tree = function() { ent:tree }
      seen = function() { ent:seen.defaultsTo([]) }
      greet = defaction(who, greeting = "hello") {
        text = <<#{greeting}, #{who}>>
        every { send_directive("greet", {"text": text}) }
        return text.length()
      }
      __testing = { "events": [ { "domain": "t", "type": "each" } ] }
    }
    rule each {
      select when t each
      foreach event:attr("items") setting(item, i)
        foreach item{"tags"} setting(tag)
      pre { label = <<#{i}:#{tag}>> }
      send_directive("item", {"label": label})
      fired {
        ent:total := total() + 1;
        ent:seen := seen().append(label) on final
      }
    }
    rule each_map {
      select when t map
      foreach {"a": 1, "b": 2} setting(v, k)
      send_directive(k, {"v": v})
    }
    rule guard {
      select when t guard
      if event:attr("go") == "yes" then send_directive("went")
      fired { ent:outcome := "fired" } else { ent:outcome := "notfired" } finally { ent:runs := ent:runs.defaultsTo(0) + 1 }
    }
    rule choosing {
      select when t choose
      choose event:attr("which") {
        one => send_directive("one");
        two => send_directive("two");
      }
      notfired { ent:unchosen := event:attr("which") }
    }
    rule sampling { select when t sample sample { send_directive("s1"); send_directive("s2"); } }
    rule every_and_setting {
      select when t every
      every {
        greet("world") setting(n);
        greet(who = "pico", greeting = "hi") setting(m);
      }
      fired { ent:lengths := [n, m] }
    }
    rule paths {
      select when t paths
      fired {
        ent:tree{["a", "b"]} := 1;
        ent:tree{["a", "c"]} := 2;
        ent:tree{"d"} := [1, 2];
        clear ent:tree{["a", "b"]};
        clear ent:gone;
      }
    }
    rule raising {
      select when t raise
      fired {
        raise t event "raised" attributes {"from": "raising"};
        raise event "t:other" attributes {"x": 1};
      }
    }
    rule on_raised { select when t raised send_directive("got raised", event:attrs) }
    rule on_other { select when t other send_directive("got other", {"x": event:attr("x")}) }
    rule stopping { select when t stop fired { last; ent:stopped := true } }
    rule after_stop { select when t stop send_directive("not reached") }
    rule guarded_statements {
      select when t guards
      fired {
        ent:small := true if event:attr("n") < 10;
        ent:big := true if event:attr("n") >= 10;
      }
    }
    rule complain { select when t complain fired { error warn "something is off" } }
    rule on_error { select when system error send_directive("error seen", {"level": event:attr("level"), "data": event:attr("data"), "genus": event:attr("genus")}) }
    rule boom { select when t boom fired { ent:total := 100; ent:after := "x" - 1 } }
    rule logging { select when t log fired { log info <<logged #{event:attr("n")}>> } }
  }`;

  it('runs nested foreach loops with setting, pre per item, and on final once at the end', async () => {
    const { send, query } = await withRuleset(BODY);
    const out = await send('t:each', { items: [{ tags: ['x', 'y'] }, { tags: ['z'] }] });
    expect(out).toEqual(['item {"label":"0:x"}', 'item {"label":"0:y"}', 'item {"label":"1:z"}']);
    expect(await query('total')).toBe(3);
    expect(await query('seen')).toEqual(['1:z']);
    expect(await send('t:map')).toEqual(['a {"v":1}', 'b {"v":2}']);
  });

  it('if … then: fired or else (notfired), finally always', async () => {
    const { send, query } = await withRuleset(BODY);
    expect(await send('t:guard', { go: 'yes' })).toEqual(['went']);
    expect(await query('state')).toMatchObject({ outcome: 'fired', runs: 1 });
    expect(await send('t:guard', { go: 'no' })).toEqual([]);
    expect(await query('state')).toMatchObject({ outcome: 'notfired', runs: 2 });
  });

  it('choose picks the action by its label (none: not fired); sample runs one', async () => {
    const { send, query } = await withRuleset(BODY);
    expect(await send('t:choose', { which: 'two' })).toEqual(['two']);
    expect(await send('t:choose', { which: 'one' })).toEqual(['one']);
    expect(await query('state')).toMatchObject({ unchosen: null });
    expect(await send('t:choose', { which: 'three' })).toEqual([]);
    expect(await query('state')).toMatchObject({ unchosen: 'three' });
    const sampled = await send('t:sample');
    expect(sampled).toHaveLength(1);
    expect(['s1', 's2']).toContain(sampled[0]);
  });

  it('every runs a defaction with defaults and named arguments; setting binds what it returns', async () => {
    const { send, query } = await withRuleset(BODY);
    expect(await send('t:every')).toEqual(['greet {"text":"hello, world"}', 'greet {"text":"hi, pico"}']);
    expect(await query('state')).toMatchObject({ lengths: [12, 8] });
  });

  it('writes and clears entity paths', async () => {
    const { send, query } = await withRuleset(BODY);
    await send('t:paths');
    expect(await query('tree')).toEqual({ a: { c: 2 }, d: [1, 2] });
  });

  it('raise, with attributes, as domain and type or as one "domain:type"', async () => {
    const { send } = await withRuleset(BODY);
    expect(await send('t:raise')).toEqual(['got raised {"from":"raising"}', 'got other {"x":1}']);
  });

  it('last stops the ruleset for the event; statements with if guards; error raises system:error', async () => {
    const { send, query } = await withRuleset(BODY);
    expect(await send('t:stop')).toEqual([]);
    expect(await query('state')).toMatchObject({ stopped: true });
    await send('t:guards', { n: 3 });
    expect(await query('state')).toMatchObject({ small: true, big: null });
    await send('t:guards', { n: 30 });
    expect(await query('state')).toMatchObject({ small: true, big: true });
    expect(await send('t:complain')).toEqual(['error seen {"level":"warn","data":"something is off","genus":"user"}']);
  });

  it('log statements and klog are published on kumo:krl, naming the cloud, ruleset and rule', async () => {
    const { send } = await withRuleset(BODY);
    const lines: unknown[] = [];
    const listener = (m: unknown): void => void lines.push(m);
    diagnostics_channel.subscribe('kumo:krl', listener);
    try {
      await send('t:log', { n: 7 });
    } finally {
      diagnostics_channel.unsubscribe('kumo:krl', listener);
    }
    expect(lines).toEqual([expect.objectContaining({ rid: 'test.body', rule: 'logging', level: 'info', message: 'logged 7' })]);
  });

  it('shares a non-function global (__testing) as its value', async () => {
    const { query } = await withRuleset(BODY);
    expect(await query('__testing')).toEqual({ events: [{ domain: 't', type: 'each' }] });
  });

  it('a failing rule writes nothing of its episode', async () => {
    const { send, query, host, eci } = await withRuleset(BODY);
    await send('t:each', { items: [{ tags: ['a'] }] });
    const err = await rejection(host.event({ eci, domain: 't', type: 'boom', attrs: {} }));
    expect(err).toMatchObject({ code: 'RULE_FAILED', message: expect.stringContaining('rule test.body/boom failed: subtracting: x is not a number') });
    expect(await query('total')).toBe(1);
  });
});
