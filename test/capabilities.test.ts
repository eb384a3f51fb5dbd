import { describe, expect, it, vi } from 'vitest';
import { ranges, SYSTEM_TAG, within } from '../kernel/index.ts';
import { ALLOW_ALL_EVENTS, ALLOW_ALL_QUERIES } from '../kernel/capabilities/policy.ts';
import { ruleset } from '../rulesets/index.ts';
import { install, newChild, rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';

const W = 'io.picolabs.wrangler';

/** Remembers whatever ECI it is told, and hands it back in a query, a directive and a push. */
const parrot = ruleset('test.parrot')
  .rule('keep', { select: 'parrot:keep', action: (ctx) => ctx.ent.set('kept', ctx.attrs['eci']) })
  .rule('say', {
    select: 'parrot:say',
    action(ctx) {
      ctx.directive('said', { eci: ctx.ent.get('kept') ?? null, nested: [{ eci: ctx.ent.get('kept') ?? null }] });
      ctx.push(ctx.eci!, 'said', { eci: ctx.ent.get('kept') ?? null });
    },
  })
  .rule('hide', {
    select: 'parrot:hide',
    action(ctx) {
      const kept = String(ctx.ent.get('kept'));
      ctx.directive('hidden', { text: `the ECI is ${kept}.`, keyed: { [kept]: 'x', other: 'y' }, twice: `${kept}${kept}` });
    },
  })
  .rule('throw', {
    select: 'parrot:throw',
    action: (ctx) => {
      throw new Error(`kept ${String(ctx.ent.get('kept'))}`);
    },
  })
  .rule('send', { select: 'parrot:send', action: (ctx) => ctx.send(String(ctx.attrs['to']), 'parrot', 'keep', { eci: ctx.ent.get('kept') ?? null }) })
  .share('kept', (ctx) => ({ eci: ctx.ent.get('kept') ?? null }))
  .share('throws', (ctx) => {
    throw new Error(`kept ${String(ctx.ent.get('kept'))}`);
  })
  .share('twice', (ctx) => {
    const one = { eci: ctx.ent.get('kept') ?? null };
    return { first: one, again: one };
  })
  .share('loop', (ctx) => {
    const loop: Record<string, unknown> = { eci: ctx.ent.get('kept') ?? null };
    loop['self'] = loop;
    return { loop };
  })
  .share('deep', () => {
    let v: unknown = 'leaf';
    for (let i = 0; i < 5000; i++) v = [v];
    return v;
  })
  .build();

async function setup() {
  const t = await testHost({ rulesets: [parrot] });
  const { host, root } = t;
  await install(host, root.eci, 'test.parrot');
  const made = await host.event({
    eci: root.eci,
    domain: 'wrangler',
    type: 'new_channel_request',
    attrs: {
      tags: ['app'],
      eventPolicy: {
        allow: [
          { domain: 'wrangler', name: '*' },
          { domain: 'sensor', name: '*' },
          { domain: 'parrot', name: '*' },
        ],
      },
      queryPolicy: {
        allow: [
          { rid: W, name: '*' },
          { rid: 'test.parrot', name: '*' },
        ],
      },
    },
  });
  const narrow = made.directives[0]!.options as { id: string; eventPolicy: unknown; queryPolicy: unknown };
  return { ...t, narrow };
}

const channel = async (host: Awaited<ReturnType<typeof setup>>['host'], through: string, attrs: Record<string, unknown>) =>
  (await host.event({ eci: through, domain: 'wrangler', type: 'new_channel_request', attrs })).directives[0]!.options as { id: string; eventPolicy: { allow: unknown[] }; queryPolicy: unknown };

describe('capabilities', () => {
  it('no one can mint a system ECI, whatever the case of the tag', async () => {
    const { host, root } = await testHost();
    for (const tag of ['system', 'SYSTEM', 'System']) {
      expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: [tag] } }))).toMatchObject({ code: 'INVALID_ARGS' });
    }
  });

  it('a channel made through an ECI gets that ECI’s policies when it asks for none, never allow-all', async () => {
    const { host, narrow } = await setup();
    const sub = await channel(host, narrow.id, {});
    expect([sub.eventPolicy, sub.queryPolicy]).toEqual([narrow.eventPolicy, narrow.queryPolicy]);
    expect(await rejection(host.event({ eci: sub.id, domain: 'door', type: 'open' }))).toMatchObject({ code: 'POLICY_DENIED' });
  });

  it('a channel asking for more than its creator may gets the intersection', async () => {
    const { host, narrow } = await setup();
    const wide = await channel(host, narrow.id, { eventPolicy: { allow: [{ domain: '*', name: '*' }] }, queryPolicy: { allow: [{ rid: '*', name: '*' }] } });
    expect([wide.eventPolicy, wide.queryPolicy]).toEqual([narrow.eventPolicy, narrow.queryPolicy]);
    const slim = await channel(host, narrow.id, {
      eventPolicy: {
        allow: [
          { domain: 'sensor', name: 'reading' },
          { domain: 'door', name: '*' },
        ],
      },
    });
    expect(slim.eventPolicy).toEqual({ allow: [{ domain: 'sensor', name: 'reading' }], deny: [] });
    expect(await rejection(host.event({ eci: slim.id, domain: 'door', type: 'open' }))).toMatchObject({ code: 'POLICY_DENIED' });
  });

  it('the owner keeps full authority: its new channels may allow everything', async () => {
    const { host, root } = await setup();
    const sub = await channel(host, root.eci, {});
    expect(sub.eventPolicy).toEqual({ allow: [{ domain: '*', name: '*' }], deny: [] });
  });

  it('channels() and children() through an ECI show only ECIs within its authority', async () => {
    const { host, root, narrow } = await setup();
    const kid = await newChild(host, root.eci, 'kid');
    const sub = await channel(host, narrow.id, {});
    const seen = (await host.query({ eci: narrow.id, rid: W, name: 'channels' })) as Array<{ id: string }>;
    expect(seen.map((c) => c.id).sort()).toEqual([narrow.id, sub.id].sort());
    expect(await host.query({ eci: narrow.id, rid: W, name: 'children' })).toEqual([{ name: 'kid', id: kid.id, eci: null }]);
    const all = (await host.query({ eci: root.eci, rid: W, name: 'channels' })) as Array<{ id: string }>;
    expect(all.map((c) => c.id)).toContain(root.eci);
    expect(await host.query({ eci: root.eci, rid: W, name: 'children' })).toEqual([{ name: 'kid', id: kid.id, eci: kid.eci }]);
  });

  it('a child made through a narrow ECI is made, but its full-authority ECI is not handed back', async () => {
    const { host, narrow } = await setup();
    const r = await host.event({ eci: narrow.id, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'k2' } });
    expect(r.directives[0]!.options).toMatchObject({ name: 'k2', eci: null });
  });

  it('no query result, directive or push carries an ECI of the cloud beyond the caller’s authority', async () => {
    const { host, root, narrow } = await setup();
    await host.event({ eci: root.eci, domain: 'parrot', type: 'keep', attrs: { eci: root.eci } });
    expect(await host.query({ eci: narrow.id, rid: 'test.parrot', name: 'kept' })).toEqual({ eci: null });
    expect(await host.query({ eci: root.eci, rid: 'test.parrot', name: 'kept' })).toEqual({ eci: root.eci });
    const pushed: unknown[] = [];
    const stop = host.listen(narrow.id, (m) => pushed.push(m.data));
    const said = await host.event({ eci: narrow.id, domain: 'parrot', type: 'say' });
    expect(said.directives[0]!.options).toEqual({ eci: null, nested: [{ eci: null }] });
    expect(pushed).toEqual([{ eci: null }]);
    stop();
    // An ECI of another cloud is not this cloud's to judge, and passes.
    await host.event({ eci: root.eci, domain: 'parrot', type: 'keep', attrs: { eci: 'E0000AAAAAAAAAAAAAAAAAAAAAA' } });
    expect(await host.query({ eci: narrow.id, rid: 'test.parrot', name: 'kept' })).toEqual({ eci: 'E0000AAAAAAAAAAAAAAAAAAAAAA' });
  });

  it('an ECI beyond the caller’s authority is cut out of longer strings and object keys too', async () => {
    const { host, root, narrow } = await setup();
    await host.event({ eci: root.eci, domain: 'parrot', type: 'keep', attrs: { eci: root.eci } });
    const seen = (await host.event({ eci: narrow.id, domain: 'parrot', type: 'hide' })).directives[0]!.options;
    expect(seen).toEqual({ text: 'the ECI is [ECI withheld].', keyed: { other: 'y' }, twice: '[ECI withheld]' });
    expect(JSON.stringify(seen)).not.toContain(root.eci);
    const owner = (await host.event({ eci: root.eci, domain: 'parrot', type: 'hide' })).directives[0]!.options;
    expect(owner).toMatchObject({ text: `the ECI is ${root.eci}.`, keyed: { [root.eci]: 'x' } });
  });

  it('errors a rule or function throws carry no ECI beyond the caller’s authority; the log keeps the whole message', async () => {
    const { host, root, narrow } = await setup();
    await host.event({ eci: root.eci, domain: 'parrot', type: 'keep', attrs: { eci: root.eci } });
    const fromRule = await rejection(host.event({ eci: narrow.id, domain: 'parrot', type: 'throw' }));
    expect(fromRule).toMatchObject({ code: 'RULE_FAILED', details: { rid: 'test.parrot', rule: 'throw' } });
    expect(fromRule.message).toContain('kept [ECI withheld]');
    expect(fromRule.message).not.toContain(root.eci);
    const fromQuery = await rejection(host.query({ eci: narrow.id, rid: 'test.parrot', name: 'throws' }));
    expect(fromQuery).toMatchObject({ code: 'QUERY_FAILED' });
    expect(fromQuery.message).not.toContain(root.eci);
    expect((await rejection(host.query({ eci: root.eci, rid: 'test.parrot', name: 'throws' }))).message).toContain(root.eci);
    const [entry] = await host.episodeLog(root.eci, 1);
    expect(entry!.error!.message).toContain(root.eci);
  });

  it('an event sent to another cloud on behalf of a narrow ECI carries only ECIs within its authority', async () => {
    const { host, root, narrow } = await setup();
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.parrot');
    await host.event({ eci: root.eci, domain: 'parrot', type: 'keep', attrs: { eci: root.eci } });
    const arrived = async () => (await host.query({ eci: kid.eci, rid: 'test.parrot', name: 'kept' })) as { eci: string | null };
    await host.event({ eci: narrow.id, domain: 'parrot', type: 'send', attrs: { to: kid.eci } });
    await vi.waitFor(() => expect(host.stats().outbox).toBe(0));
    await vi.waitFor(async () => expect((await host.episodeLog(kid.eci, 1))[0]).toMatchObject({ domain: 'parrot', type: 'keep' }));
    expect(await arrived()).toEqual({ eci: null });
    await host.event({ eci: root.eci, domain: 'parrot', type: 'send', attrs: { to: kid.eci } });
    await vi.waitFor(async () => expect(await arrived()).toEqual({ eci: root.eci }));
  });

  it('an object that appears twice in an answer is cut both times; an answer that refers to itself is refused (no transport carries it)', async () => {
    const { host, root, narrow } = await setup();
    await host.event({ eci: root.eci, domain: 'parrot', type: 'keep', attrs: { eci: root.eci } });
    expect(await host.query({ eci: narrow.id, rid: 'test.parrot', name: 'twice' })).toEqual({ first: { eci: null }, again: { eci: null } });
    for (const eci of [narrow.id, root.eci]) expect(await rejection(host.query({ eci, rid: 'test.parrot', name: 'loop' }))).toMatchObject({ code: 'UNSTORABLE_VALUE' });
  });

  it('an ECI deletes only ECIs within its authority: a wider one is unknown to it and stays', async () => {
    const { host, root } = await setup();
    const deleter = await channel(host, root.eci, { eventPolicy: { allow: [{ domain: 'wrangler', name: 'channel_deletion_request' }] }, queryPolicy: { allow: [] } });
    const wide = await channel(host, root.eci, { tags: ['app'] });
    const narrower = await channel(host, root.eci, { eventPolicy: { allow: [{ domain: 'wrangler', name: 'channel_deletion_request' }] }, queryPolicy: { allow: [] } });
    const del = (eci: string) => host.event({ eci: deleter.id, domain: 'wrangler', type: 'channel_deletion_request', attrs: { eci } });
    expect(await rejection(del(wide.id))).toMatchObject({ code: 'UNKNOWN_ECI' });
    expect((await host.eciInfo(wide.id)).id).toBe(wide.id);
    await del(narrower.id);
    expect(await rejection(host.eciInfo(narrower.id))).toMatchObject({ code: 'UNKNOWN_ECI' });
    await del(deleter.id); // itself: within its own authority
    expect(await rejection(host.eciInfo(deleter.id))).toMatchObject({ code: 'UNKNOWN_ECI' });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'channel_deletion_request', attrs: { eci: wide.id } });
    expect(await rejection(host.eciInfo(wide.id))).toMatchObject({ code: 'UNKNOWN_ECI' });
  });

  it('an answer nested too deep to check is refused, not a stack overflow', async () => {
    const { host, narrow } = await setup();
    expect(await rejection(host.query({ eci: narrow.id, rid: 'test.parrot', name: 'deep' }))).toMatchObject({ code: 'UNSTORABLE_VALUE' });
  });
});

describe('the order of authority', () => {
  it('an ECI tagged system is never within one that is not, whatever their policies', () => {
    const all = { eventPolicy: structuredClone(ALLOW_ALL_EVENTS), queryPolicy: structuredClone(ALLOW_ALL_QUERIES) };
    const system = { ...all, tags: [SYSTEM_TAG] };
    const plain = { ...all, tags: ['app'] };
    expect(within(system, plain)).toBe(false);
    expect(within(plain, system)).toBe(true);
    expect(within(system, system)).toBe(true);
    expect(within(plain, plain)).toBe(true);
  });
});

describe('policies and requests from outside are parsed, not trusted', () => {
  it('a policy that is not a plain object, or whose rules are not, is refused with INVALID_ARGS', async () => {
    const { host, root } = await testHost();
    const before = await host.store.keys(ranges.active(root.cloudId));
    for (const eventPolicy of [[], 'all', { allow: {} }, { allow: [null] }, { allow: [['wrangler', '*']] }, { allow: [{ domain: 'a b' }] }]) {
      const err = await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['x'], eventPolicy } }));
      expect(err).toMatchObject({ code: 'INVALID_ARGS' });
    }
    expect(await host.store.keys(ranges.active(root.cloudId))).toEqual(before); // no channel made (failed episodes are logged, nothing else written)
  });

  it('a bounce from another host naming no cloud id is refused, and nothing is kept', async () => {
    const { host, root } = await testHost();
    const event = { eid: 'b1', domain: 'x', type: 'y', attrs: {}, time: 0 };
    for (const cloudId of ['not-a-cloud', 42, root.eci]) {
      const err = await rejection(host.handle({ op: 'bounce', cloudId: cloudId as string, eci: root.eci, event, reason: { code: 'UNKNOWN_ECI', message: 'gone' } }, { local: true }));
      expect(err).toMatchObject({ code: 'INVALID_ARGS' });
    }
  });
});
