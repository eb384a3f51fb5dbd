import { z } from 'zod';
import type { Host, Ruleset } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';

/** A counter: `counter:inc {by}` adds to `count`; `count()` reads it. */
export const counter = ruleset<{ count: number }>('test.counter', { version: '1.0.0' })
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
  .fn('secret', () => 'hidden')
  .build();

/** Install a ruleset into the cloud behind `eci` through wrangler. */
export async function install(host: Host, eci: string, rid: string, config?: Record<string, unknown>): Promise<void> {
  await host.event({ eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { rid, ...(config ? { config } : {}) } });
}

/** Create a child of the cloud behind `eci`; returns the parent's ECI on it. */
export async function newChild(host: Host, eci: string, name: string): Promise<{ eci: string; id: string }> {
  const r = await host.event({ eci, domain: 'wrangler', type: 'new_child_request', attrs: { name } });
  const options = r.directives.find((d) => d.name === 'wrangler:new_child_created')!.options as { eci: string; id: string };
  return options;
}

/** Expect a promise to reject with a KumoError of `code`; returns the error. */
export async function rejection(p: Promise<unknown>): Promise<{ code: string; status: number; message: string; details: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; status: number; message: string; details: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}

/** `test.slow`: its rule on `slow:wait` waits until `release()` is called, holding its cloud's mailbox. */
export function gated(): { slow: Ruleset; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = ruleset('test.slow')
    .rule('wait', { select: 'slow:wait', action: () => gate })
    .build();
  return { slow, release };
}
