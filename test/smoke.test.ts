import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ruleset } from '../rulesets/index.ts';
import { testHost } from './helpers.ts';

const counter = ruleset<{ count: number }>('test.counter')
  .rule('inc', {
    select: 'counter:inc',
    attrs: z.object({ by: z.coerce.number().int().default(1) }),
    action(ctx) {
      const count = (ctx.ent.get('count') ?? 0) + ctx.attrs.by;
      ctx.ent.set('count', count);
      ctx.directive('count', { count });
    },
  })
  .share('count', (ctx) => ctx.ent.get('count') ?? 0)
  .build();

describe('smoke', () => {
  it('counts', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { rid: 'test.counter' } });
    const r = await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { by: '2' } });
    expect(r.directives[0]).toMatchObject({ name: 'count', options: { count: 2 }, meta: { rid: 'test.counter', rule: 'inc' } });
    expect(await host.query({ eci: root.eci, rid: 'test.counter', name: 'count' })).toBe(2);
  });
});
