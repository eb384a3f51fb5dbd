import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { ManualClock } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { install, rejection } from './fixtures.ts';
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
