import { describe, expect, it } from 'vitest';
import { subscribe } from '../kernel/index.ts';
import { on, or, ruleset } from '../rulesets/index.ts';
import { install, rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';

const tracer = ruleset<{ trace: string[] }>('test.tracer')
  .rule('start', {
    select: 't:start',
    action(ctx) {
      ctx.directive('start');
      ctx.raise('t', 'a');
      ctx.raise('t', 'b');
    },
  })
  .rule('a', {
    select: 't:a',
    action(ctx) {
      ctx.directive('a');
      ctx.raise('t', 'c');
    },
  })
  .rule('b', { select: 't:b', action: (ctx) => ctx.directive('b') })
  .rule('c', { select: 't:c', action: (ctx) => ctx.directive('c') })
  .rule('loop', { select: 't:loop', action: (ctx) => ctx.raise('t', 'loop') })
  .rule('stop-first', {
    select: 't:last',
    action(ctx) {
      ctx.directive('before-last');
      ctx.last();
    },
  })
  .rule('never', { select: 't:last', action: (ctx) => ctx.directive('after-last') })
  .rule('any-type', { select: on('wild', '*'), action: (ctx) => ctx.directive(`wild:${ctx.event.type}`) })
  .rule('guarded', {
    select: on('temp', 'reading', { attrs: { temp: /^(\d+)\.(\d)$/ }, setting: ['whole', 'tenth'], where: (c) => Number(c['whole']) >= 30 }),
    action: (ctx) => ctx.directive('hot', ctx.captures),
  })
  .rule('either', { select: or(on('x:one'), on('x:two')), action: (ctx) => ctx.directive(`either:${ctx.event.type}`) })
  .build();

const other = ruleset('test.other')
  .rule('also', { select: 't:last', action: (ctx) => ctx.directive('other-ruleset') })
  .rule('init', {
    select: on('wrangler', 'ruleset_installed', { where: (_c, e) => e.attrs['rid'] === 'test.other' }),
    action: (ctx) => ctx.directive('initialised', { via: ctx.event.domain }),
  })
  .build();

async function setup() {
  const t = await testHost({ rulesets: [tracer, other] });
  await install(t.host, t.root.eci, 'test.tracer');
  return t;
}

const names = (r: { directives: Array<{ name: string }> }) => r.directives.map((d) => d.name);

describe('episodes', () => {
  it('runs raised events in the same episode, breadth-first, with directives naming rid and rule', async () => {
    const { host, root } = await setup();
    const r = await host.event({ eci: root.eci, eid: 'bfs', domain: 't', type: 'start' });
    expect(names(r)).toEqual(['start', 'a', 'b', 'c']);
    expect(r.eid).toBe('bfs');
    expect(r.directives[1]!.meta).toEqual({ rid: 'test.tracer', rule: 'a', eid: 'bfs' });
    const [log] = await host.episodeLog(root.eci, 1);
    expect(log).toMatchObject({ eid: 'bfs', raised: 3, fired: ['test.tracer/start', 'test.tracer/a', 'test.tracer/b', 'test.tracer/c'] });
  });

  it('stops runaway raising at the depth limit with LIMIT_EXCEEDED', async () => {
    const { host, root } = await setup();
    expect(await rejection(host.event({ eci: root.eci, domain: 't', type: 'loop' }))).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { rid: 'test.tracer', rule: 'loop' } });
  });

  it('allows raising exactly limits.raiseDepth deep and processing exactly limits.eventsPerEpisode events, and no more', async () => {
    const raiser = ruleset('test.raiser')
      .rule('deeper', { select: 'r:deep', action: (ctx) => (Number(ctx.attrs['left']) > 0 ? ctx.raise('r', 'deep', { left: Number(ctx.attrs['left']) - 1 }) : ctx.directive('bottom')) })
      .rule('fan', { select: 'r:fan', action: (ctx) => void Array.from({ length: Number(ctx.attrs['n']) }, () => ctx.raise('r', 'leaf')) })
      .rule('leaf', { select: 'r:leaf', action: (ctx) => ctx.directive('leaf') })
      .build();
    const { host, root } = await testHost({ rulesets: [raiser], limits: { raiseDepth: 3, eventsPerEpisode: 5 } });
    await install(host, root.eci, 'test.raiser');
    const send = (type: string, attrs: Record<string, unknown>) => host.event({ eci: root.eci, domain: 'r', type, attrs });
    expect(names(await send('deep', { left: 3 }))).toEqual(['bottom']);
    expect(await rejection(send('deep', { left: 4 }))).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { limit: 'raiseDepth', value: 3 } });
    expect(names(await send('fan', { n: 4 }))).toEqual(['leaf', 'leaf', 'leaf', 'leaf']); // 1 + 4 events
    expect(await rejection(send('fan', { n: 5 }))).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { limit: 'eventsPerEpisode', value: 5 } });
  });

  it('runs a rule once per foreach item, its action only when its guard holds, then fired, notfired and always; the log lists it as fired only if it fired', async () => {
    const steps: string[] = [];
    const guarded = ruleset('test.guarded')
      .rule('each', {
        select: 'g:each',
        foreach: (ctx) => ctx.attrs['items'] as number[],
        if: (ctx) => (ctx.item as number) % 2 === 1,
        action: (ctx) => void steps.push(`action ${ctx.item as number}`),
        fired: (ctx) => void steps.push(`fired ${ctx.item as number}`),
        notfired: (ctx) => void steps.push(`notfired ${ctx.item as number}`),
        always: (ctx) => void steps.push(`always ${ctx.item as number}`),
      })
      .build();
    const { host, root } = await testHost({ rulesets: [guarded] });
    await install(host, root.eci, 'test.guarded');
    await host.event({ eci: root.eci, eid: 'odd', domain: 'g', type: 'each', attrs: { items: [1, 2] } });
    expect(steps).toEqual(['action 1', 'fired 1', 'always 1', 'notfired 2', 'always 2']);
    await host.event({ eci: root.eci, eid: 'even', domain: 'g', type: 'each', attrs: { items: [2] } });
    const [even, odd] = await host.episodeLog(root.eci, 2);
    expect([odd!.selected, odd!.fired]).toEqual([['test.guarded/each'], ['test.guarded/each']]);
    expect([even!.selected, even!.fired]).toEqual([['test.guarded/each'], []]);
  });

  it('a rule that uninstalls its own ruleset is the last of that ruleset to run', async () => {
    const leaving = ruleset('test.leaving')
      .rule('leave', { select: 'l:go', action: (ctx) => ctx.uninstall('test.leaving') })
      .rule('after', { select: 'l:go', action: (ctx) => ctx.directive('after') })
      .build();
    const { host, root } = await testHost({ rulesets: [leaving] });
    await install(host, root.eci, 'test.leaving');
    const r = await host.event({ eci: root.eci, domain: 'l', type: 'go' });
    expect(names(r)).not.toContain('after');
    const [entry] = await host.episodeLog(root.eci, 1);
    expect(entry!.fired).toEqual(['test.leaving/leave']);
  });

  it('`last` stops the rest of the current ruleset only', async () => {
    const { host, root } = await setup();
    await install(host, root.eci, 'test.other');
    expect(names(await host.event({ eci: root.eci, domain: 't', type: 'last' }))).toEqual(['before-last', 'other-ruleset']);
  });

  it('selects by wildcard, attribute regex captures, where guards and or', async () => {
    const { host, root } = await setup();
    expect(names(await host.event({ eci: root.eci, domain: 'wild', type: 'thing' }))).toEqual(['wild:thing']);
    expect((await host.event({ eci: root.eci, domain: 'temp', type: 'reading', attrs: { temp: '31.5' } })).directives[0]!.options).toEqual({ whole: '31', tenth: '5' });
    expect(names(await host.event({ eci: root.eci, domain: 'temp', type: 'reading', attrs: { temp: '21.5' } }))).toEqual([]);
    expect(names(await host.event({ eci: root.eci, domain: 'temp', type: 'reading', attrs: { temp: 'warm' } }))).toEqual([]);
    expect(names(await host.event({ eci: root.eci, domain: 'x', type: 'two' }))).toEqual(['either:two']);
  });

  it('lets a newly installed ruleset react to wrangler:ruleset_installed in the same episode', async () => {
    const { host, root } = await setup();
    const r = await host.event({ eci: root.eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { rid: 'test.other' } });
    expect(names(r)).toEqual(['wrangler:ruleset_installed', 'initialised']);
  });

  it('keeps the episode log capped', async () => {
    const { host, root } = await testHost({ rulesets: [tracer], limits: { logEntries: 5 } });
    for (let i = 0; i < 12; i++) await host.event({ eci: root.eci, eid: `e${i}`, domain: 'none', type: 'x' });
    const log = await host.episodeLog(root.eci);
    expect(log.map((e) => e.eid)).toEqual(['e11', 'e10', 'e9', 'e8', 'e7']);
    const stored = (await host.store.keys({ gte: `c!${root.cloudId}!~log!`, lt: `c!${root.cloudId}!~log"` })).length;
    expect(stored).toBe(5);
  });

  it('writes no episode log when the host turns it off', async () => {
    const { host, root } = await testHost({ rulesets: [tracer], limits: { logEntries: 0 } });
    await host.event({ eci: root.eci, domain: 'none', type: 'x' });
    expect(await host.episodeLog(root.eci)).toEqual([]);
    expect(await host.store.keys({ gte: `c!${root.cloudId}!~log!`, lt: `c!${root.cloudId}!~log"` })).toEqual([]);
  });

  it('publishes typed observability events on diagnostics_channel', async () => {
    const { host, root } = await setup();
    const seen: Array<{ eid: string; fired: number; error?: string }> = [];
    const stop = subscribe('episode', (m) => seen.push(m));
    await host.event({ eci: root.eci, eid: 'obs', domain: 't', type: 'start' });
    await host.event({ eci: root.eci, eid: 'obs2', domain: 't', type: 'loop' }).catch(() => undefined);
    stop();
    expect(seen).toEqual([expect.objectContaining({ eid: 'obs', fired: 4 }), expect.objectContaining({ eid: 'obs2', error: 'LIMIT_EXCEEDED' })]);
  });

  it('runs exact, wildcard-type, wildcard-domain and catch-all rules in declaration order', async () => {
    const mixed = ruleset('test.mixed')
      .rule('all', { select: '*:*', action: (ctx) => ctx.directive('all') })
      .rule('exact', { select: 'a:b', action: (ctx) => ctx.directive('exact') })
      .rule('any-type', { select: on('a', '*'), action: (ctx) => ctx.directive('any-type') })
      .rule('any-domain', { select: on('*', 'b'), action: (ctx) => ctx.directive('any-domain') })
      .rule('exact-again', { select: 'a:b', action: (ctx) => ctx.directive('exact-again') })
      .build();
    const { host, root } = await testHost({ rulesets: [mixed] });
    await install(host, root.eci, 'test.mixed');
    expect(names(await host.event({ eci: root.eci, domain: 'a', type: 'b' }))).toEqual(['all', 'exact', 'any-type', 'any-domain', 'exact-again']);
    expect(names(await host.event({ eci: root.eci, domain: 'a', type: 'c' }))).toEqual(['all', 'any-type']);
    expect(names(await host.event({ eci: root.eci, domain: 'z', type: 'b' }))).toEqual(['all', 'any-domain']);
  });
});

describe('what an episode says of its own time', () => {
  it('publishes and logs durations: never negative, never more than the call took', async () => {
    const { host, root } = await setup();
    const seen: Array<{ ms: number; error?: string }> = [];
    const stop = subscribe('episode', (m) => m.host === host.id && seen.push(m));
    let t0 = performance.now();
    await host.event({ eci: root.eci, domain: 't', type: 'start' });
    const okBound = performance.now() - t0;
    t0 = performance.now();
    await rejection(host.event({ eci: root.eci, domain: 't', type: 'loop' }));
    const failBound = performance.now() - t0;
    stop();
    expect(seen.map((m) => m.error)).toEqual([undefined, 'LIMIT_EXCEEDED']);
    expect(seen[0]!.ms).toBeGreaterThanOrEqual(0);
    expect(seen[0]!.ms).toBeLessThanOrEqual(okBound);
    expect(seen[1]!.ms).toBeGreaterThanOrEqual(0);
    expect(seen[1]!.ms).toBeLessThanOrEqual(failBound);
    const [failed, ok] = await host.episodeLog(root.eci, 2);
    for (const [entry, bound] of [
      [ok!, okBound],
      [failed!, failBound],
    ] as const) {
      expect(entry.ms).toBeGreaterThanOrEqual(0);
      expect(entry.ms).toBeLessThanOrEqual(bound);
    }
  });

  it('a rule whose expression names one event twice runs once for it', async () => {
    const twice = ruleset('test.twice')
      .rule('either', { select: or('t:twice', 't:twice'), action: (ctx) => ctx.directive('once') })
      .build();
    const { host, root } = await testHost({ rulesets: [twice] });
    await install(host, root.eci, 'test.twice');
    const r = await host.event({ eci: root.eci, domain: 't', type: 'twice' });
    expect(r.directives.map((d) => d.name)).toEqual(['once']);
  });
});
