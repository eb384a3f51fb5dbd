import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { on, ruleset, where } from '../rulesets/index.ts';
import { install, newChild } from './fixtures.ts';
import { testHost } from './helpers.ts';

// What a rule and a shared function see of their cloud, and the defaults of what a rule does
// (kernel/context.ts): the sandbox every ruleset is written against.

const W = 'io.picolabs.wrangler';

/** Reports what its context shows. */
const viewer = ruleset('test.viewer', { version: '2.1.0', name: 'Viewer', config: z.object({ colour: z.string().default('blue') }) })
  .rule('look', {
    select: on('look', 'at', { attrs: { what: /^(.*)$/ }, setting: ['what'] }),
    action(ctx) {
      ctx.directive('seen', {
        rid: ctx.rid,
        rule: ctx.rule,
        config: ctx.config,
        cloud: ctx.cloud,
        now: ctx.now(),
        eci: ctx.eci ?? null,
        event: { domain: ctx.event.domain, type: ctx.event.type, eid: ctx.event.eid },
        attrs: ctx.attrs,
        captures: ctx.captures,
        hostUrl: ctx.hostUrl ?? null,
      });
    },
  })
  .rule('write', {
    select: 'ent:write',
    action(ctx) {
      ctx.ent.set('b', 2);
      ctx.ent.set('a', 1);
      ctx.ent.delete('gone');
      ctx.directive('staged', { names: ctx.ent.names(), a: ctx.ent.has('a'), gone: ctx.ent.has('gone'), b: ctx.ent.get('b') });
    },
  })
  .rule('prepare', { select: 'ent:prepare', action: (ctx) => ctx.ent.set('gone', 'soon') })
  .rule('list', {
    select: 'list:all',
    action(ctx) {
      ctx.directive('lists', { children: ctx.children().map((c) => c.name), ecis: ctx.ecis().map((e) => e.id), installed: ctx.installed(), registered: ctx.registered() });
      // What a rule is given are copies: changing them changes nothing.
      const [child] = ctx.children();
      if (child) child.name = 'renamed';
      const [eci] = ctx.ecis();
      if (eci) eci.tags.push('system');
    },
  })
  .rule('bare', {
    select: 'bare:all',
    action(ctx) {
      ctx.directive('plain');
      ctx.raise('bare', 'raised');
      ctx.push(ctx.eci!, 'nudge');
    },
  })
  .rule('raised', { select: 'bare:raised', action: (ctx) => ctx.directive('raised', { attrs: ctx.attrs }) })
  .rule('times', {
    select: 'sched:set',
    action(ctx) {
      for (const [at, type] of [
        [3000, 'c'],
        [1000, 'b'],
        [1000, 'a'],
        [2000, 'd'],
      ] as const)
        ctx.scheduleAt(ctx.now() + at, 'sched', type);
    },
  })
  // Written as a newcomer might: the context's functions taken apart from it.
  .rule('apart', {
    select: 'apart:all',
    action: ({ ent, directive, raise, last, now, cloud, send, newEci, eci }) => {
      ent.set('apart', now());
      const made = newEci({ tags: ['apart'] });
      send(made.id, 'apart', 'sent');
      raise('bare', 'raised', { from: cloud.name });
      directive('apart', { has: ent.has('apart'), names: ent.names(), eci: eci === undefined ? null : 'given' });
      last();
    },
  })
  // A selector's test reads the committed state and the clock through the read half of the context.
  .rule('guarded', {
    select: where((e, ctx) => e.domain === 'guard' && ctx.ent.has('a') && !ctx.ent.has('zzz') && ctx.ent.names().join() === 'a,b' && ctx.now() === Number(e.attrs['now'])),
    action: (ctx) => ctx.directive('guarded'),
  })
  .rule('code', {
    select: 'claim:code',
    action: async (ctx) => {
      const made = ctx.newEci({ tags: ['for-a-device'] });
      const claim = await ctx.newClaimCode(made.id); // no options: the default lifetime
      ctx.directive('code', { expiresIn: claim.expires - ctx.now(), length: claim.code.length });
    },
  })
  .rule('after-last', { select: 'apart:all', action: (ctx) => ctx.directive('not reached') })
  .rule('sent', { select: 'apart:sent', action: (ctx) => ctx.ent.set('sent', true) })
  .share('ents', (ctx) => ({ names: ctx.ent.names(), a: ctx.ent.get('a') ?? null, has: ctx.ent.has('a'), hasNot: ctx.ent.has('zzz') }))
  .share('schedules', (ctx) => ctx.schedules().map((s) => [s.next, s.type]))
  .share('where', (ctx) => ({ rid: ctx.rid, config: ctx.config, cloud: ctx.cloud }))
  .build();

async function setup() {
  const t = await testHost({ rulesets: [viewer], url: 'https://kumo.example' });
  await install(t.host, t.root.eci, 'test.viewer', { colour: 'green' });
  return t;
}

describe('a rule’s context', () => {
  it('tells the rule its ruleset, config, cloud, time, event, ECI, attrs, captures and the host’s URL', async () => {
    const { host, root } = await setup();
    const r = await host.event({ eci: root.eci, eid: 'e1', domain: 'look', type: 'at', attrs: { what: 'sky' } });
    expect(r.directives[0]!.options).toEqual({
      rid: 'test.viewer',
      rule: 'look',
      config: { colour: 'green' },
      cloud: { id: root.cloudId, name: 'root', parent: null },
      now: host.clock.now(),
      eci: root.eci,
      event: { domain: 'look', type: 'at', eid: 'e1' },
      attrs: { what: 'sky' },
      captures: { what: 'sky' },
      hostUrl: 'https://kumo.example',
    });
    expect(await host.query({ eci: root.eci, rid: 'test.viewer', name: 'where' })).toEqual({ rid: 'test.viewer', config: { colour: 'green' }, cloud: { id: root.cloudId, name: 'root', parent: null } });
  });

  it('reads entity state with the episode’s own writes, names sorted; a function reads what was committed', async () => {
    const { host, root } = await setup();
    await host.event({ eci: root.eci, domain: 'ent', type: 'prepare' });
    expect(await host.query({ eci: root.eci, rid: 'test.viewer', name: 'ents' })).toEqual({ names: ['gone'], a: null, has: false, hasNot: false });
    const r = await host.event({ eci: root.eci, domain: 'ent', type: 'write' });
    expect(r.directives[0]!.options).toEqual({ names: ['a', 'b'], a: true, gone: false, b: 2 });
    expect(await host.query({ eci: root.eci, rid: 'test.viewer', name: 'ents' })).toEqual({ names: ['a', 'b'], a: 1, has: true, hasNot: false });
  });

  it('lets a selector read entity state and the clock; logs exactly the rules selected and fired', async () => {
    const { host, root } = await setup();
    const check = async () => (await host.event({ eci: root.eci, domain: 'guard', type: 'check', attrs: { now: host.clock.now() } })).directives.map((d) => d.name);
    expect(await check()).toEqual([]);
    expect(await host.query({ eci: root.eci, rid: 'test.viewer', name: 'ents' })).toEqual({ names: [], a: null, has: false, hasNot: false });
    await host.event({ eci: root.eci, domain: 'ent', type: 'write' });
    expect(await check()).toEqual(['guarded']);
    const [entry] = await host.episodeLog(root.eci, 1);
    expect(entry).toMatchObject({ selected: ['test.viewer/guarded'], fired: ['test.viewer/guarded'], directives: [{ name: 'guarded', rid: 'test.viewer', rule: 'guarded' }], raised: 0 });
  });

  it('makes a claim code with the default lifetime when given no options', async () => {
    const { host, root } = await setup();
    const r = await host.event({ eci: root.eci, domain: 'claim', type: 'code' });
    expect(r.directives[0]!.options).toMatchObject({ expiresIn: expect.any(Number) });
    expect((r.directives[0]!.options as { expiresIn: number }).expiresIn).toBeGreaterThan(0);
  });

  it('lists children by name and ECIs by id, as copies; installed rulesets in order with their config; registered ones by rid', async () => {
    const { host, root } = await setup();
    for (const name of ['zed', 'amy', 'kim']) await newChild(host, root.eci, name);
    for (let i = 0; i < 4; i++) await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: [`t${i}`] } });
    const channels = JSON.stringify(await host.query({ eci: root.eci, rid: W, name: 'channels' }));
    const lists = (await host.event({ eci: root.eci, domain: 'list', type: 'all' })).directives[0]!.options as { children: string[]; ecis: string[]; installed: unknown; registered: unknown };
    expect(lists.children).toEqual(['amy', 'kim', 'zed']);
    expect(lists.ecis).toEqual([...lists.ecis].sort());
    expect(lists.ecis).toContain(root.eci);
    expect(lists.installed).toEqual([
      { rid: W, config: {} },
      { rid: 'io.picolabs.subscription', config: {} },
      { rid: 'test.viewer', config: { colour: 'green' } },
    ]);
    expect(lists.registered).toEqual([
      { rid: 'io.picolabs.subscription', version: '1.0.0', name: 'subscription', description: expect.any(String) },
      { rid: W, version: '1.0.0', name: 'wrangler', description: expect.any(String) },
      { rid: 'test.viewer', version: '2.1.0', name: 'Viewer' },
    ]);
    expect(((await host.query({ eci: root.eci, rid: W, name: 'children' })) as Array<{ name: string }>).map((c) => c.name)).toEqual(['amy', 'kim', 'zed']);
    expect(lists.ecis).toHaveLength(6);
    expect(JSON.stringify(await host.query({ eci: root.eci, rid: W, name: 'channels' }))).toBe(channels);
  });

  it('lists schedules by their next time, then by id', async () => {
    const { host, root } = await setup();
    await host.event({ eci: root.eci, domain: 'sched', type: 'set' });
    const listed = (await host.query({ eci: root.eci, rid: 'test.viewer', name: 'schedules' })) as Array<[number, string]>;
    const now = host.clock.now();
    expect(listed.map(([next]) => next - now)).toEqual([1000, 1000, 2000, 3000]);
    const ids = (await host.query({ eci: root.eci, rid: W, name: 'schedules' })) as Array<{ id: string; next: number }>;
    expect(ids.slice(0, 2).map((s) => s.id)).toEqual(
      ids
        .slice(0, 2)
        .map((s) => s.id)
        .sort(),
    );
  });

  it('gives a directive, a raised event and a push nothing more than they were given', async () => {
    const { host, root } = await setup();
    const pushed: unknown[] = [];
    const stop = host.listen(root.eci, (m) => pushed.push({ name: m.name, data: m.data }));
    const r = await host.event({ eci: root.eci, domain: 'bare', type: 'all' });
    stop();
    expect(r.directives.map((d) => [d.name, d.options])).toEqual([
      ['plain', {}],
      ['raised', { attrs: {} }],
    ]);
    expect(pushed).toEqual([{ name: 'nudge', data: {} }]);
  });

  it('works taken apart: a rule may destructure its context’s functions', async () => {
    const { host, root } = await setup();
    const r = await host.event({ eci: root.eci, domain: 'apart', type: 'all' });
    expect(r.directives.map((d) => [d.name, d.options])).toEqual([
      ['apart', { has: true, names: ['apart'], eci: 'given' }],
      ['raised', { attrs: { from: 'root' } }],
    ]);
    await vi.waitFor(async () => expect(await host.query({ eci: root.eci, rid: 'test.viewer', name: 'ents' })).toMatchObject({ names: ['apart', 'sent'] }));
  });
});
