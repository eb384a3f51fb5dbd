import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { keys, ManualClock, put, type Host } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { install, newChild, rejection } from './fixtures.ts';
import { tempDir, testHost } from './helpers.ts';

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

const alarm = ruleset<{ rings: number[]; ids: string[] }>('test.alarm')
  .rule('set', {
    select: 'alarm:set',
    attrs: z.object({ at: z.number().optional(), cron: z.string().optional() }),
    action(ctx) {
      const id = ctx.attrs.cron ? ctx.scheduleRepeat(ctx.attrs.cron, 'alarm', 'ring', { why: 'cron' }) : ctx.scheduleAt(ctx.attrs.at!, 'alarm', 'ring', { why: 'once' });
      ctx.directive('scheduled', { id });
    },
  })
  .rule('ring', {
    select: 'alarm:ring',
    action(ctx) {
      ctx.ent.set('rings', [...(ctx.ent.get('rings') ?? []), ctx.now()]);
    },
  })
  .rule('cancel', {
    select: 'alarm:cancel',
    attrs: z.object({ id: z.string() }),
    action: (ctx) => ctx.cancelSchedule(ctx.attrs.id),
  })
  .share('rings', (ctx) => ctx.ent.get('rings') ?? [])
  .share('list', (ctx) => ctx.schedules())
  .build();

describe('scheduled events', () => {
  it('fire from the host timer once started, as its clock moves', async () => {
    const { host, root, clock } = await testHost({ rulesets: [alarm], clock: new ManualClock(T0) });
    await install(host, root.eci, 'test.alarm');
    await host.event({ eci: root.eci, domain: 'alarm', type: 'set', attrs: { at: T0 + 1000 } });
    host.start(250);
    // Each tick of the timer may fire what is due; move the clock a tick at a time until it has.
    await vi.waitFor(async () => {
      clock.advance(250);
      expect(await host.query({ eci: root.eci, rid: 'test.alarm', name: 'rings' })).toHaveLength(1);
    });
    expect((await host.query({ eci: root.eci, rid: 'test.alarm', name: 'rings' })) as number[]).toEqual([expect.any(Number)]);
    expect(((await host.query({ eci: root.eci, rid: 'test.alarm', name: 'rings' })) as number[])[0]).toBeGreaterThanOrEqual(T0 + 1000);
  });

  it('fire at their time, by the injected clock, and are gone after', async () => {
    const { host, root, clock } = await testHost({ rulesets: [alarm], clock: new ManualClock(T0) });
    await install(host, root.eci, 'test.alarm');
    await host.event({ eci: root.eci, domain: 'alarm', type: 'set', attrs: { at: T0 + 5000 } });
    clock.set(T0 + 4999);
    expect(await host.runDue()).toBe(0);
    clock.set(T0 + 5000);
    expect(await host.runDue()).toBe(1);
    expect(await host.query({ eci: root.eci, rid: 'test.alarm', name: 'rings' })).toEqual([T0 + 5000]);
    expect(await host.query({ eci: root.eci, rid: 'test.alarm', name: 'list' })).toEqual([]);
    clock.advance(10_000);
    expect(await host.runDue()).toBe(0);
  });

  it('fire after a restart when they came due while the host was down', async () => {
    const dir = await tempDir();
    const first = await testHost({ dir, rulesets: [alarm], clock: new ManualClock(T0) });
    await install(first.host, first.root.eci, 'test.alarm');
    await first.host.event({ eci: first.root.eci, domain: 'alarm', type: 'set', attrs: { at: T0 + 60_000 } });
    await first.host.event({ eci: first.root.eci, domain: 'alarm', type: 'set', attrs: { cron: '*/5 * * * *' } });
    await first.host.close();

    const clock = new ManualClock(T0 + 10 * 60_000); // ten minutes later
    const { host, root } = await testHost({ dir, rulesets: [alarm], clock });
    expect(await host.runDue()).toBe(2);
    expect(await host.query({ eci: root.eci, rid: 'test.alarm', name: 'rings' })).toEqual([clock.now(), clock.now()]);
    // The repeating schedule fires once for the missed runs and moves to its next time.
    const list = (await host.query({ eci: root.eci, rid: 'test.alarm', name: 'list' })) as Array<{ next: number; cron: string }>;
    expect(list).toEqual([expect.objectContaining({ cron: '*/5 * * * *', next: T0 + 15 * 60_000 })]);
    clock.set(T0 + 15 * 60_000);
    expect(await host.runDue()).toBe(1);
    expect(await host.runDue()).toBe(0);
  });

  it('are listed and cancelled one by one', async () => {
    const { host, root, clock } = await testHost({ rulesets: [alarm], clock: new ManualClock(T0) });
    await install(host, root.eci, 'test.alarm');
    const ids: string[] = [];
    for (const at of [T0 + 1000, T0 + 2000, T0 + 3000]) {
      const r = await host.event({ eci: root.eci, domain: 'alarm', type: 'set', attrs: { at } });
      ids.push((r.directives[0]!.options as { id: string }).id);
    }
    const listed = (await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'schedules' })) as Array<{ id: string; next: number }>;
    expect(listed.map((s) => s.id)).toEqual(ids);
    await host.event({ eci: root.eci, domain: 'alarm', type: 'cancel', attrs: { id: ids[1]! } });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'schedule_deletion_request', attrs: { id: ids[2]! } });
    expect(((await host.query({ eci: root.eci, rid: 'test.alarm', name: 'list' })) as Array<{ id: string }>).map((s) => s.id)).toEqual([ids[0]]);
    clock.set(T0 + 5000);
    expect(await host.runDue()).toBe(1);
    expect(await host.query({ eci: root.eci, rid: 'test.alarm', name: 'rings' })).toEqual([T0 + 5000]);
    expect(await rejection(host.event({ eci: root.eci, domain: 'alarm', type: 'cancel', attrs: { id: ids[1]! } }))).toMatchObject({ code: 'UNKNOWN_SCHEDULE', status: 404 });
  });

  it('refuses bad cron expressions and more schedules than the limit', async () => {
    const { host, root } = await testHost({ rulesets: [alarm], clock: new ManualClock(T0), limits: { schedulesPerCloud: 2 } });
    await install(host, root.eci, 'test.alarm');
    expect(await rejection(host.event({ eci: root.eci, domain: 'alarm', type: 'set', attrs: { cron: 'every tuesday' } }))).toMatchObject({ code: 'INVALID_SCHEDULE', status: 400 });
    await host.event({ eci: root.eci, domain: 'alarm', type: 'set', attrs: { at: T0 + 1 } });
    await host.event({ eci: root.eci, domain: 'alarm', type: 'set', attrs: { at: T0 + 2 } });
    expect(await rejection(host.event({ eci: root.eci, domain: 'alarm', type: 'set', attrs: { at: T0 + 3 } }))).toMatchObject({ code: 'LIMIT_EXCEEDED' });
  });

  it('cancelling a cron schedule in the episode it fires leaves no due key behind', async () => {
    const cron = ruleset('test.cron')
      .rule('start', { select: 'c:start', action: (ctx) => void ctx.scheduleRepeat('* * * * *', 'c', 'tick') })
      .rule('tick', { select: 'c:tick', action: (ctx) => ctx.schedules().forEach((s) => ctx.cancelSchedule(s.id)) })
      .build();
    const { host, root, clock } = await testHost({ rulesets: [cron] });
    await install(host, root.eci, 'test.cron');
    await host.event({ eci: root.eci, domain: 'c', type: 'start' });
    clock.advance(60_000);
    expect(await host.runDue()).toBe(1);
    expect(await host.store.keys({ gte: 'd!', lt: 'd"' })).toEqual([]);
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'schedules' })).toEqual([]);
  });
});

describe('scheduled events, the edges', () => {
  /** `s:at {at}` schedules `s:ring` at a time given by name, to reach values JSON cannot carry. */
  const TIMES: Record<string, unknown> = { negative: -1, nan: Number.NaN, infinite: Number.POSITIVE_INFINITY, text: '1767225600000' };
  const edgy = ruleset('test.edgy')
    .rule('at', { select: 's:at', action: (ctx) => void ctx.scheduleAt((ctx.attrs['name'] ? TIMES[ctx.attrs['name'] as string] : ctx.attrs['at']) as number, 's', 'ring') })
    .rule('cron', { select: 's:cron', action: (ctx) => void ctx.scheduleRepeat(ctx.attrs['cron'] as string, 's', 'ring') })
    .rule('ring', {
      select: 's:ring',
      action(ctx) {
        ctx.ent.set('rings', [...((ctx.ent.get('rings') as number[] | undefined) ?? []), ctx.now()]);
        if (ctx.ent.get('fail')) throw new Error('the bell is broken');
      },
    })
    .rule('break', { select: 's:break', action: (ctx) => ctx.ent.set('fail', true) })
    .share('rings', (ctx) => ctx.ent.get('rings') ?? [])
    .build();

  async function setup() {
    const t = await testHost({ rulesets: [edgy], clock: new ManualClock(T0) });
    await install(t.host, t.root.eci, 'test.edgy');
    return t;
  }
  const rings = (host: Host, eci: string) => host.query({ eci, rid: 'test.edgy', name: 'rings' });
  const dueKeys = (host: Host) => host.store.keys({ gte: 'd!', lt: 'd"' });

  it('refuse a time that is not a finite number of ms since the epoch, and a cron that is not a string', async () => {
    const { host, root } = await setup();
    for (const name of Object.keys(TIMES)) {
      expect(await rejection(host.event({ eci: root.eci, domain: 's', type: 'at', attrs: { name } }))).toMatchObject({ code: 'INVALID_SCHEDULE', status: 400 });
    }
    expect(await rejection(host.event({ eci: root.eci, domain: 's', type: 'cron', attrs: { cron: 5 } }))).toMatchObject({ code: 'INVALID_SCHEDULE' });
    await host.event({ eci: root.eci, domain: 's', type: 'at', attrs: { at: 0 } }); // the epoch itself is a time
    expect(await dueKeys(host)).toHaveLength(1);
  });

  it('fire at the whole ms of a time given with a fraction', async () => {
    const { host, root, clock } = await setup();
    await host.event({ eci: root.eci, domain: 's', type: 'at', attrs: { at: T0 + 1000.7 } });
    clock.set(T0 + 1000);
    expect(await host.runDue()).toBe(1);
    expect(await rings(host, root.eci)).toEqual([T0 + 1000]);
  });

  it('fire once however many runs overlap', async () => {
    const { host, root, clock } = await setup();
    await host.event({ eci: root.eci, domain: 's', type: 'at', attrs: { at: T0 + 1000 } });
    clock.set(T0 + 1000);
    expect(await Promise.all([host.runDue(), host.runDue()])).toEqual([1, 1]);
    expect(await rings(host, root.eci)).toEqual([T0 + 1000]);
  });

  it('a repeating schedule whose episode fails still moves on to its next time', async () => {
    const { host, root, clock } = await setup();
    await host.event({ eci: root.eci, domain: 's', type: 'cron', attrs: { cron: '* * * * *' } });
    await host.event({ eci: root.eci, domain: 's', type: 'break' });
    clock.set(T0 + 60_000);
    expect(await host.runDue()).toBe(1);
    expect(await rings(host, root.eci)).toEqual([]); // the failed episode wrote nothing
    expect((await host.episodeLog(root.eci, 1))[0]).toMatchObject({ domain: 's', type: 'ring', error: { code: 'RULE_FAILED' } });
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'schedules' })).toMatchObject([{ next: T0 + 120_000 }]);
    expect(await host.runDue()).toBe(0);
    clock.set(T0 + 120_000);
    expect(await host.runDue()).toBe(1);
  });

  it('a due key left for a schedule that is gone, or a cloud that is gone, fires nothing and is dropped', async () => {
    const { host, root, clock } = await setup();
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.edgy');
    await host.event({ eci: kid.eci, domain: 's', type: 'at', attrs: { at: T0 + 1000 } });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'kid' } });
    expect(await dueKeys(host)).toEqual([]); // the deletion took the child's due key along
    await host.event({ eci: root.eci, domain: 's', type: 'cron', attrs: { cron: '* * * * *' } });
    const [repeating] = (await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'schedules' })) as Array<{ id: string }>;
    // What a crash between versions could leave: due keys for no schedule, for another time of a
    // schedule, and for no cloud.
    await host.store.write([put(keys.due(T0 + 500, root.cloudId, 'no-such-schedule'), null), put(keys.due(T0 + 500, root.cloudId, repeating!.id), null), put(keys.due(T0 + 500, kid.id, 'gone'), null)]);
    clock.set(T0 + 1000);
    expect(await host.runDue()).toBe(0);
    expect(await dueKeys(host)).toEqual([keys.due(T0 + 60_000, root.cloudId, repeating!.id)]);
    expect(await rings(host, root.eci)).toEqual([]);
  });
});
