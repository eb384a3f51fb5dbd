import { describe, expect, it } from 'vitest';
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
  .share('kept', (ctx) => ({ eci: ctx.ent.get('kept') ?? null }))
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
      eventPolicy: { allow: [{ domain: 'wrangler', name: '*' }, { domain: 'sensor', name: '*' }, { domain: 'parrot', name: 'say' }] },
      queryPolicy: { allow: [{ rid: W, name: '*' }, { rid: 'test.parrot', name: 'kept' }] },
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
    const slim = await channel(host, narrow.id, { eventPolicy: { allow: [{ domain: 'sensor', name: 'reading' }, { domain: 'door', name: '*' }] } });
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
});
