import { on, ruleset, z } from '../rulesets/index.ts';

/**
 * The README's example: a counter, and a rule that raises `alert:hot` for hot readings.
 *
 *   kumo install example.counter
 *   kumo event <eci> counter:inc by=2
 *   kumo query <eci> example.counter count
 */
export default ruleset<{ count: number }>('example.counter', { version: '1.0.0', name: 'Counter' })
  .rule('inc', {
    select: 'counter:inc',
    attrs: z.object({ by: z.coerce.number().int().default(1) }),
    action(ctx) {
      const count = (ctx.ent.get('count') ?? 0) + ctx.attrs.by;
      ctx.ent.set('count', count);
      ctx.directive('count', { count });
    },
  })
  .rule('hot', {
    select: on('temp', 'reading', { attrs: { temp: /^(\d+)/ }, setting: ['degrees'], where: (c) => Number(c['degrees']) > 30 }),
    action: (ctx) => ctx.raise('alert', 'hot', { degrees: ctx.captures['degrees'] }),
  })
  .share('count', (ctx) => ctx.ent.get('count') ?? 0)
  .build();
