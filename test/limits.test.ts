import { describe, expect, it } from 'vitest';
import { ranges } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { install, rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';

describe('per-cloud limits count what the episode has staged', () => {
  const spam = ruleset('test.spam')
    .rule('ecis', { select: 'spam:ecis', action: (ctx) => void Array.from({ length: 20 }, () => ctx.newEci({})) })
    .rule('schedules', { select: 'spam:schedules', action: (ctx) => void Array.from({ length: 20 }, () => ctx.scheduleAt(ctx.now() + 1e9, 'a', 'b')) })
    .build();

  it('refuses an episode that would pass the ECI or schedule limit, writing nothing', async () => {
    const { host, root } = await testHost({ rulesets: [spam], limits: { ecisPerCloud: 5, schedulesPerCloud: 5 } });
    await install(host, root.eci, 'test.spam');
    const before = await host.store.keys(ranges.cloud(root.cloudId));
    for (const type of ['ecis', 'schedules']) {
      expect(await rejection(host.event({ eci: root.eci, domain: 'spam', type }))).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { rid: 'test.spam' } });
    }
    const after = (await host.store.keys(ranges.cloud(root.cloudId))).filter((k) => !k.includes('!~log!'));
    expect(after).toEqual(before.filter((k) => !k.includes('!~log!')));
  });
});
