import { describe, expect, it } from 'vitest';
import { and, ruleset, z } from '../rulesets/index.ts';
import { counter, install, newChild, rejection } from './fixtures.ts';
import { allKeys, testHost } from './helpers.ts';
import { ranges, type Store } from '../kernel/index.ts';

const slow = ruleset('test.slow')
  .rule('wait', {
    select: 'slow:wait',
    async action() {
      await new Promise((r) => setTimeout(r, 20));
    },
  })
  .build();

describe('cloud lifecycle', () => {
  it('refuses with MAILBOX_FULL when a cloud has too many messages waiting, and keeps serving', async () => {
    const { host, root } = await testHost({ rulesets: [slow], limits: { mailbox: 3 } });
    await install(host, root.eci, 'test.slow');
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => host.event({ eci: root.eci, domain: 'slow', type: 'wait' })));
    const refused = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
    expect(refused.length).toBeGreaterThan(0);
    for (const err of refused) expect(err).toMatchObject({ code: 'MAILBOX_FULL', status: 503 });
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(3);
    await expect(host.event({ eci: root.eci, domain: 'slow', type: 'wait' })).resolves.toBeDefined();
  });

  it('deletes a child and every descendant, leaving no key of the subtree', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    const store: Store = host.store;
    const keep = await newChild(host, root.eci, 'keep');
    const doomed = await newChild(host, root.eci, 'doomed');
    const grand = await newChild(host, doomed.eci, 'grand');
    const great = await newChild(host, grand.eci, 'great');
    await install(host, great.eci, 'test.counter');
    await host.event({ eci: great.eci, domain: 'counter', type: 'inc' });
    const extra = await host.event({ eci: grand.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['x'] } });
    const extraEci = (extra.directives[0]!.options as { id: string }).id;
    const subtree = [doomed.id, grand.id, great.id];
    const subtreeEcis = [doomed.eci, grand.eci, great.eci, extraEci];
    const before = await allKeys(store);
    for (const id of subtree) expect(before.some((k) => k.includes(id))).toBe(true);

    const r = await host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'doomed' } });
    expect(r.directives[0]).toMatchObject({ name: 'wrangler:child_deleted', options: { name: 'doomed', eci: doomed.eci } });

    const after = await allKeys(store);
    for (const id of [...subtree, ...subtreeEcis]) expect(after.filter((k) => k.includes(id))).toEqual([]);
    expect(after.some((k) => k.includes(keep.id))).toBe(true);
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'children' })).toEqual([{ name: 'keep', eci: keep.eci, id: keep.id }]);
    for (const eci of subtreeEcis) expect((await rejection(host.event({ eci, domain: 'counter', type: 'inc' }))).code).toBe('UNKNOWN_ECI');
  });

  it('uninstalling a ruleset removes its state; reinstalling starts fresh', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    await install(host, root.eci, 'test.counter');
    await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { by: 5 } });
    expect((await allKeys(host.store)).filter((k) => k.includes('!ent!test.counter!'))).toHaveLength(1);
    const r = await host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: 'test.counter' } });
    expect(r.directives[0]).toMatchObject({ name: 'wrangler:ruleset_uninstalled', options: { rid: 'test.counter' } });
    expect((await allKeys(host.store)).filter((k) => k.includes('test.counter'))).toEqual([]);
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'installedRids' })).toEqual(['io.picolabs.wrangler', 'io.picolabs.subscription']);
    expect((await rejection(host.query({ eci: root.eci, rid: 'test.counter', name: 'count' }))).code).toBe('UNKNOWN_RULESET');
    await install(host, root.eci, 'test.counter');
    expect(await host.query({ eci: root.eci, rid: 'test.counter', name: 'count' })).toBe(0);
  });

  it('installs with a validated config that rules and functions can read', async () => {
    const configured = ruleset('test.configured', { config: z.object({ greeting: z.string().default('hello') }) })
      .rule('greet', { select: 'greet:me', action: (ctx) => ctx.directive('greeting', { text: `${String(ctx.config['greeting'])}!` }) })
      .share('config', (ctx) => ctx.config)
      .build();
    const { host, root } = await testHost({ rulesets: [configured] });
    expect(await rejection(install(host, root.eci, 'test.configured', { greeting: 42 }))).toMatchObject({ code: 'INVALID_ARGS', details: { rid: 'io.picolabs.wrangler' } });
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'installedRids' })).toEqual(['io.picolabs.wrangler', 'io.picolabs.subscription']);
    await install(host, root.eci, 'test.configured', { greeting: 'ahoy' });
    expect((await host.event({ eci: root.eci, domain: 'greet', type: 'me' })).directives[0]!.options).toEqual({ text: 'ahoy!' });
    expect(await host.query({ eci: root.eci, rid: 'test.configured', name: 'config' })).toEqual({ greeting: 'ahoy' });
    expect(await rejection(install(host, root.eci, 'test.nope'))).toMatchObject({ code: 'UNKNOWN_RULESET', status: 404 });
  });

  it('lets only a parent manage its children, refuses duplicate names and system channel deletion', async () => {
    const { host, root } = await testHost();
    const a = await newChild(host, root.eci, 'a');
    await newChild(host, root.eci, 'b');
    expect(await rejection(newChild(host, root.eci, 'a'))).toMatchObject({ code: 'DUPLICATE_NAME', status: 409 });
    // A child cannot delete its sibling or its parent: it only sees its own children.
    expect(await rejection(host.event({ eci: a.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'b' } }))).toMatchObject({ code: 'UNKNOWN_CLOUD', status: 404 });
    expect(((await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'children' })) as unknown[]).length).toBe(2);
    expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'channel_deletion_request', attrs: { eci: root.eci } }))).toMatchObject({ code: 'INVALID_ARGS' });
    expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: 'io.picolabs.wrangler' } }))).toMatchObject({ code: 'INVALID_ARGS' });
    const made = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: 'phone,app' } });
    const eci = made.directives[0]!.options as { id: string; tags: string[] };
    expect(eci.tags).toEqual(['phone', 'app']);
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'channel_deletion_request', attrs: { eci: eci.id } });
    expect(await rejection(host.event({ eci: eci.id, domain: 'x', type: 'y' }))).toMatchObject({ code: 'UNKNOWN_ECI' });
  });

  it('deletes a child only by what was given: a name never matches a sibling’s id', async () => {
    const { host, root } = await testHost();
    const a = await newChild(host, root.eci, 'a');
    const namedLikeA = await newChild(host, root.eci, a.id);
    const del = async (attrs: Record<string, string>) => (await host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs })).directives[0]!.options as { id: string };
    expect((await del({ name: a.id })).id).toBe(namedLikeA.id);
    expect(await rejection(del({ name: 'a', id: namedLikeA.id }))).toMatchObject({ code: 'UNKNOWN_CLOUD' });
    expect(await rejection(del({ eci: a.id }))).toMatchObject({ code: 'UNKNOWN_CLOUD' });
    expect((await del({ id: a.id })).id).toBe(a.id);
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'children' })).toEqual([]);
  });

  it('lists the rulesets registered on the host', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'registeredRulesets' })).toEqual([
      { rid: 'io.picolabs.subscription', version: '1.0.0', name: 'subscription', description: expect.any(String) },
      { rid: 'io.picolabs.wrangler', version: '1.0.0', name: 'wrangler', description: expect.any(String) },
      { rid: 'test.counter', version: '1.0.0' },
    ]);
  });

  it('close() waits for every event already admitted; later ones get SHUTTING_DOWN', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    await install(host, root.eci, 'test.counter');
    const sent = Array.from({ length: 50 }, () => host.event({ eci: root.eci, domain: 'counter', type: 'inc' }));
    const closing = host.close();
    const late = rejection(host.event({ eci: root.eci, domain: 'counter', type: 'inc' }));
    const results = await Promise.allSettled(sent);
    await closing;
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(await late).toMatchObject({ code: 'SHUTTING_DOWN', status: 503 });
  });

  it('creates a child with rulesets installed in the same episode (pico rids attr)', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    const r = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'kid', rids: 'test.counter' } });
    const kid = r.directives[0]!.options as { eci: string };
    expect(await host.query({ eci: kid.eci, rid: 'io.picolabs.wrangler', name: 'installedRids' })).toEqual(['io.picolabs.wrangler', 'io.picolabs.subscription', 'test.counter']);
    expect((await host.event({ eci: kid.eci, domain: 'counter', type: 'inc' })).directives[0]!.options).toEqual({ count: 1 });
    expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'other', rids: ['test.nope'] } }))).toMatchObject({ code: 'UNKNOWN_RULESET' });
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'children' })).toHaveLength(1);
  });
});

describe('uninstall', () => {
  it('stops the ruleset at once: its wildcard rules write nothing more, and nothing comes back after an eviction', async () => {
    const everything = ruleset('test.everything')
      .rule('count', { select: '*:*', action: (ctx) => ctx.ent.set('n', ((ctx.ent.get('n') as number | undefined) ?? 0) + 1) })
      .rule('pair', { select: and('x:a', 'x:b'), action: (ctx) => ctx.directive('pair') })
      .share('n', (ctx) => ctx.ent.get('n') ?? null)
      .build();
    const { host, root, clock } = await testHost({ rulesets: [everything] });
    await install(host, root.eci, 'test.everything');
    await host.event({ eci: root.eci, domain: 'x', type: 'a' }); // a partial and()
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: 'test.everything' } });
    expect((await host.store.keys(ranges.cloud(root.cloudId))).filter((k) => k.includes('test.everything'))).toEqual([]);
    clock.advance(60 * 60_000);
    host.evictIdle();
    await install(host, root.eci, 'test.everything');
    expect(await host.query({ eci: root.eci, rid: 'test.everything', name: 'n' })).toBe(1); // only the install event itself
    expect((await host.event({ eci: root.eci, domain: 'x', type: 'b' })).directives).toEqual([]); // the old half of and() is gone
  });
});

describe('ECIs made in an episode', () => {
  it('can be pushed to and deleted in the same episode, leaving nothing behind', async () => {
    const temp = ruleset('test.temp')
      .rule('flash', {
        select: 't:flash',
        action(ctx) {
          const made = ctx.newEci({ tags: ['temp'] });
          ctx.push(made.id, 'hello');
          ctx.directive('saw', { count: ctx.ecis().filter((e) => e.id === made.id).length });
          ctx.deleteEci(made.id);
          ctx.directive('after', { count: ctx.ecis().filter((e) => e.id === made.id).length });
        },
      })
      .build();
    const { host, root } = await testHost({ rulesets: [temp] });
    await install(host, root.eci, 'test.temp');
    const before = await allKeys(host.store);
    const r = await host.event({ eci: root.eci, domain: 't', type: 'flash' });
    expect(r.directives.map((d) => [d.name, d.options])).toEqual([
      ['saw', { count: 1 }],
      ['after', { count: 0 }],
    ]);
    expect((await allKeys(host.store)).filter((k) => !k.includes('!~log!'))).toEqual(before.filter((k) => !k.includes('!~log!')));
    expect((await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'channels' })) as unknown[]).toHaveLength(2); // the owner's and the well-known
  });
});

/** Does to its cloud whatever the event says, through the rule context (no wrangler schemas in between). */
const builder = ruleset('test.builder', {})
  .rule('children', {
    select: 'b:children',
    async action(ctx) {
      for (const name of ctx.attrs['names'] as unknown[]) await ctx.newChild(name as string, { rids: ctx.attrs['rids'] as string[] });
    },
  })
  .rule('delete', {
    select: 'b:delete',
    async action(ctx) {
      for (const which of ctx.attrs['which'] as unknown[]) ctx.directive('deleted', { ...(await ctx.deleteChild(which as string)) });
    },
  })
  .rule('install', { select: 'b:install', action: (ctx) => ctx.install(String(ctx.attrs['rid']), ctx.attrs['config'] as Record<string, unknown>) })
  .rule('uninstall', { select: 'b:uninstall', action: (ctx) => ctx.uninstall(String(ctx.attrs['rid'])) })
  .rule('forget', { select: 'b:forget', action: (ctx) => ctx.deleteEci(ctx.attrs['eci'] as string) })
  .rule('push', { select: 'b:push', action: (ctx) => ctx.push(ctx.attrs['eci'] as string, ctx.attrs['name'] as string, ctx.attrs['data'] as Record<string, unknown>) })
  .build();

const needsConfig = ruleset('test.needs', { config: z.object({ key: z.string() }) }).build();
const plain = ruleset('test.plain').build();

describe('what a rule may change in its cloud', () => {
  async function setup(limits = {}) {
    const t = await testHost({ rulesets: [builder, needsConfig, plain, counter], limits });
    await install(t.host, t.root.eci, 'test.builder');
    const run = (type: string, attrs: Record<string, unknown>) => t.host.event({ eci: t.root.eci, domain: 'b', type, attrs });
    const children = async () => ((await t.host.query({ eci: t.root.eci, rid: 'io.picolabs.wrangler', name: 'children' })) as Array<{ name: string }>).map((c) => c.name).sort();
    return { ...t, run, children };
  }

  it('children: names of 1 to 100 characters, no control or invisible formatting characters, well-formed, no space at either end; at most 100 rids, each with a config if it needs one', async () => {
    const { run, children } = await setup();
    await run('children', { names: ['x'.repeat(100), 'ü ☃ 1', 'kid', 'family 👨‍👩‍👧'] });
    for (const names of [[''], ['x'.repeat(101)], ['tab\there'], [7], [' '], ['  '], [' lead'], ['trail '], ['evil\u202egnp.exe'], ['a\u2066b'], ['zero\u200bwidth'], ['\ud800x'], ['x\udc00'], ['line\u2028break'], ['del\u007f']]) {
      expect(await rejection(run('children', { names }))).toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('1 to 100 printable characters') });
    }
    for (const rids of ['test.plain', Array.from({ length: 101 }, () => 'test.plain')]) {
      expect(await rejection(run('children', { names: ['more'], rids }))).toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('at most 100 rids') });
    }
    expect(await rejection(run('children', { names: ['more'], rids: ['test.needs'] }))).toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('test.needs needs a config') });
    await run('children', { names: ['many'], rids: Array.from({ length: 100 }, () => 'test.plain') });
    expect(await children()).toEqual(['kid', 'many', 'x'.repeat(100), 'ü ☃ 1', 'family 👨‍👩‍👧'].sort());
  });

  it('children: a name is taken once, also within one episode, and the limit counts the children the episode made', async () => {
    const { run, children } = await setup({ childrenPerCloud: 3 });
    expect(await rejection(run('children', { names: ['twin', 'twin'] }))).toMatchObject({ code: 'DUPLICATE_NAME', details: { name: 'twin' } });
    await run('children', { names: ['a', 'b'] });
    expect(await rejection(run('children', { names: ['c', 'd'] }))).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { limit: 'childrenPerCloud', value: 3 } });
    await run('children', { names: ['c'] });
    expect(await children()).toEqual(['a', 'b', 'c']);
  });

  it('children: deleted by id, name or ECI, or by an object of those; once however often one episode names it', async () => {
    const { host, root, run, children } = await setup();
    const kids = [await newChild(host, root.eci, 'a'), await newChild(host, root.eci, 'b'), await newChild(host, root.eci, 'c')];
    const r = await run('delete', { which: [kids[0]!.eci, kids[0]!.id, { name: 'a' }] });
    expect(r.directives.map((d) => d.options['id'])).toEqual([kids[0]!.id, kids[0]!.id, kids[0]!.id]);
    for (const which of [{ nickname: 'b' }, { name: 7 }, {}, null, 5]) expect(await rejection(run('delete', { which: [which] }))).toMatchObject({ code: 'UNKNOWN_CLOUD' });
    expect(await rejection(run('delete', { which: [{ name: 'b', id: kids[2]!.id }] }))).toMatchObject({ code: 'UNKNOWN_CLOUD', message: expect.stringContaining(`no child name "b" and id "${kids[2]!.id}"`) });
    await run('delete', { which: [{ name: 'b', id: kids[1]!.id, eci: undefined }], x: 1 });
    expect(await children()).toEqual(['c']);
  });

  it('installs: in order, an install again keeping its place with its new config; the config must be an object', async () => {
    const { host, root, run } = await setup();
    await run('install', { rid: 'test.plain', config: {} });
    await run('install', { rid: 'test.counter', config: {} });
    await run('install', { rid: 'test.plain', config: { again: true } });
    const installed = await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'installedRids' });
    expect(installed).toEqual(['io.picolabs.wrangler', 'io.picolabs.subscription', 'test.builder', 'test.plain', 'test.counter']);
    await run('uninstall', { rid: 'test.plain' });
    await run('install', { rid: 'test.plain', config: {} }); // a new install goes last
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'installedRids' })).toEqual(['io.picolabs.wrangler', 'io.picolabs.subscription', 'test.builder', 'test.counter', 'test.plain']);
    for (const config of ['x', [1]]) expect(await rejection(run('install', { rid: 'test.plain', config }))).toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('config must be an object') });
    expect(await rejection(run('install', { rid: 'test.needs', config: { key: 5 } }))).toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('config rejected by test.needs') });
    expect(await rejection(run('uninstall', { rid: 'test.needs' }))).toMatchObject({ code: 'UNKNOWN_RULESET' });
  });

  it('ECIs and pushes: only to ECIs of the cloud, with a name and an object of data', async () => {
    const { host, root, run } = await setup();
    const nowhere = 'E0000AAAAAAAAAAAAAAAAAAAAAA';
    expect(await rejection(run('forget', { eci: nowhere }))).toMatchObject({ code: 'UNKNOWN_ECI', message: expect.stringContaining(`has no ECI "${nowhere}"`) });
    expect(await rejection(run('forget', { eci: 5 }))).toMatchObject({ code: 'UNKNOWN_ECI' });
    expect(await rejection(run('push', { eci: nowhere, name: 'x', data: {} }))).toMatchObject({ code: 'UNKNOWN_ECI', message: expect.stringContaining('to push to') });
    expect(await rejection(run('push', { eci: root.eci, name: '', data: {} }))).toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('a push needs a name') });
    expect(await rejection(run('push', { eci: root.eci, name: 'x', data: [1] }))).toMatchObject({ code: 'INVALID_EVENT', message: expect.stringContaining('push data must be an object') });
    const heard: unknown[] = [];
    const stop = host.listen(root.eci, (m) => heard.push([m.cloudId, m.eci, m.name, m.data]));
    await run('push', { eci: root.eci, name: 'hello', data: { n: 1 } });
    stop();
    expect(heard).toEqual([[root.cloudId, root.eci, 'hello', { n: 1 }]]);
  });
});
