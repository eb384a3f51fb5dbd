import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { RuleContext } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';

/** A rule whose steps log themselves, each answering at once or through a promise as `asyncs` says. */
function loggingRule(guards: boolean[], asyncs: Record<string, boolean>, log: string[]) {
  const step = (name: string, value?: unknown) => (ctx: { item: unknown }) => {
    log.push(`${name} ${String(ctx.item)}`);
    return asyncs[name] ? Promise.resolve(value) : value;
  };
  return ruleset('test.steps')
    .rule('r', {
      select: 'a:b',
      foreach: () => guards.map((_, i) => i),
      if: (ctx) => step('if', guards[ctx.item as number])(ctx) as boolean,
      action: step('action'),
      fired: step('fired'),
      notfired: step('notfired'),
      always: step('always'),
    })
    .build().rules[0]!;
}

/** What the steps must do, whatever answers through a promise: per item, guard, then its branch, then always. */
function expected(guards: boolean[]): string[] {
  return guards.flatMap((g, i) => [`if ${i}`, ...(g ? [`action ${i}`, `fired ${i}`] : [`notfired ${i}`]), `always ${i}`]);
}

describe('a built rule runs its steps', () => {
  it('in order, with the same outcome, whichever steps answer through a promise', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { maxLength: 4 }), fc.record({ if: fc.boolean(), action: fc.boolean(), fired: fc.boolean(), notfired: fc.boolean(), always: fc.boolean() }), async (guards, asyncs) => {
        const log: string[] = [];
        const fired = await loggingRule(guards, asyncs, log).run({} as RuleContext);
        expect(log).toEqual(expected(guards));
        expect(fired).toBe(guards.some(Boolean));
      }),
    );
  });

  it('synchronously when no step answers a promise (no promise made)', () => {
    const log: string[] = [];
    const out = loggingRule([true, false], {}, log).run({} as RuleContext);
    expect(out).toBe(true);
    expect(log).toEqual(expected([true, false]));
  });
});
