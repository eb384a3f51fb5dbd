import { ruleset, z } from 'kumo';

export default ruleset<{ count: number }>('app.counter', { version: '1.0.0', name: 'Counter app' })
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
