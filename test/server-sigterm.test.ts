import { describe, expect, it } from 'vitest';
import { post, rootEci, rulesetsDir, startServerProcess, wrangler } from './server-harness.ts';

// Marks each event's `n` in entity state, so a lost event shows up as a missing mark.
const TALLY = `
import { ruleset } from RULESETS;
export default ruleset('test.tally')
  .rule('mark', {
    select: 'tally:mark',
    action(ctx) {
      const seen = (ctx.ent.get('seen') ?? {}) as Record<string, true>;
      ctx.ent.set('seen', { ...seen, [String(ctx.attrs['n'])]: true });
    },
  })
  .share('seen', (ctx) => Object.keys((ctx.ent.get('seen') ?? {}) as object))
  .build();
`;

describe('kumo serve: SIGTERM under load', () => {
  it('loses no acknowledged event', async () => {
    const dir = await rulesetsDir('tally.ts', TALLY);
    const first = await startServerProcess({ rulesetsDir: dir });
    const owner = await rootEci(first);
    const clouds: string[] = [];
    for (const name of ['a', 'b', 'c', 'd']) {
      const child = await wrangler(first.url, owner, 'new_child_request', { name }, 'wrangler:new_child_created');
      await wrangler(first.url, child.eci, 'install_ruleset_request', { rid: 'test.tally' }, 'wrangler:ruleset_installed');
      clouds.push(child.eci as string);
    }

    const TOTAL = 800;
    const CONCURRENCY = 32;
    const acked = new Map<string, Set<string>>(clouds.map((c) => [c, new Set()]));
    const refused: unknown[] = [];
    let next = 0;
    let done = 0;
    let signalled = false;
    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        const n = next++;
        const eci = clouds[n % clouds.length]!;
        try {
          const res = await post(`${first.url}/sky/event/${eci}/n${n}/tally/mark`, { n });
          if (res.status === 200) acked.get(eci)!.add(String(n));
          else refused.push(res.body?.error?.code ?? res.status);
        } catch (err) {
          refused.push((err as Error).message);
        }
        if (++done === TOTAL / 4 && !signalled) {
          signalled = true;
          first.proc.kill('SIGTERM');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(await first.stop()).toBe(0);
    const ackedCount = [...acked.values()].reduce((s, set) => s + set.size, 0);
    // The signal came mid-run: some events were acknowledged, and the rest were refused, not hung.
    expect(ackedCount).toBeGreaterThanOrEqual(TOTAL / 4);
    expect(ackedCount + refused.length).toBe(TOTAL);
    for (const r of refused) expect(['SHUTTING_DOWN', 'fetch failed']).toContain(r);

    const second = await startServerProcess({ dataDir: first.dataDir, rulesetsDir: dir });
    for (const eci of clouds) {
      const seen = new Set((await post(`${second.url}/sky/cloud/${eci}/test.tally/seen`)).body as string[]);
      const lost = [...acked.get(eci)!].filter((n) => !seen.has(n));
      expect(lost).toEqual([]);
    }
  });
});
