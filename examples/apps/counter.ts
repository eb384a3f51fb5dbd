/**
 * An app: a ruleset a cloud's owner installs by URL, which runs in a sandbox (docs/apps.md).
 * Serve this folder and install it:
 *   python3 -m http.server -d examples/apps 8000
 *   npx kumo install --from http://127.0.0.1:8000/counter.ts
 * It asks for no permission beyond its own state, so it needs no consent.
 */
import { ruleset, z } from 'kumo';

export default ruleset<{ count: number }>('example.app-counter', { version: '1.0.0', name: 'Counter app', description: 'Counts counter:inc events' })
  .rule('inc', {
    select: 'counter:inc',
    attrs: z.object({ by: z.coerce.number().int().min(1).max(1000).default(1) }),
    action(ctx) {
      const count = (ctx.ent.get('count') ?? 0) + ctx.attrs.by;
      ctx.ent.set('count', count);
      ctx.directive('count', { count });
    },
  })
  .share('count', (ctx) => ctx.ent.get('count') ?? 0)
  .build();
