import { expect } from 'vitest';
import { post, rulesetsDir, startServerProcess, type ServerProcess } from './server-harness.ts';

/**
 * Real `kumo serve --nats` processes for realm tests, with a ruleset that tallies what it hears:
 * `tally:mark {n}` counts n; `tally:send {to, n}` sends `tally:mark {n}` to the ECI `to` (through the
 * outbox, so across hosts through the realm's durable inbox); `tally:shout {n}` pushes to the ECI the
 * event came through; `tally:seq {n}` appends n to a list (`seq()`), to check order; `tally:later {ms}`
 * schedules a `tally:mark {n: 'rang'}`; `tally:slow {ms, n}` marks n after ms. `counts()` returns {n: times marked}.
 */
export const TALLY = `
import { ruleset } from RULESETS;
export default ruleset('test.tally')
  .rule('mark', { select: 'tally:mark', action: (ctx) => ctx.ent.set('n' + String(ctx.attrs['n']), ((ctx.ent.get('n' + String(ctx.attrs['n'])) as number | undefined) ?? 0) + 1) })
  .rule('send', { select: 'tally:send', action: (ctx) => ctx.send(String(ctx.attrs['to']), 'tally', 'mark', { n: ctx.attrs['n'] }) })
  .rule('shout', { select: 'tally:shout', action: (ctx) => ctx.push(ctx.eci!, 'shout', { n: ctx.attrs['n'] }) })
  .rule('seq', { select: 'tally:seq', action: (ctx) => ctx.ent.set('~seq', [...((ctx.ent.get('~seq') as number[] | undefined) ?? []), Number(ctx.attrs['n'])]) })
  .rule('later', { select: 'tally:later', action: (ctx) => void ctx.scheduleAt(ctx.now() + Number(ctx.attrs['ms']), 'tally', 'mark', { n: 'rang' }) })
  .rule('slow', { select: 'tally:slow', action: async (ctx) => { await new Promise((r) => setTimeout(r, Number(ctx.attrs['ms']))); ctx.ent.set('n' + String(ctx.attrs['n']), ((ctx.ent.get('n' + String(ctx.attrs['n'])) as number | undefined) ?? 0) + 1); } })
  .share('counts', (ctx) => Object.fromEntries(ctx.ent.names().filter((k) => k.startsWith('n')).map((k) => [k.slice(1), ctx.ent.get(k)])))
  .share('seq', (ctx) => ctx.ent.get('~seq') ?? [])
  .build();
`;

const dirs = new Map<string, Promise<string>>();

/** The rulesets directory of realm tests (made once per test; removed after it). */
export function tallyDir(): Promise<string> {
  const test = expect.getState().currentTestName ?? '';
  let dir = dirs.get(test);
  if (!dir) {
    dir = rulesetsDir('tally.ts', TALLY);
    dirs.set(test, dir);
  }
  return dir;
}

export interface RealmHostOptions {
  dataDir?: string;
  partitions?: number;
  args?: string[];
  env?: Record<string, string>;
}

/** Start `kumo serve` as host `name` of the realm on `nats`. */
export async function realmHost(nats: string, name: string, o: RealmHostOptions = {}): Promise<ServerProcess> {
  return startServerProcess({
    rulesetsDir: await tallyDir(),
    ...(o.dataDir ? { dataDir: o.dataDir } : {}),
    ...(o.env ? { env: o.env } : {}),
    args: ['--nats', nats, '--host-id', name, '--partitions', String(o.partitions ?? 8), ...(o.args ?? [])],
  });
}

/** Send a wrangler event and return the options of the directive it answers with. */
export async function wranglerOn(url: string, eci: string, type: string, attrs: Record<string, unknown>): Promise<Record<string, any>> {
  const r = await post(`${url}/sky/event/${eci}/w${Math.random().toString(36).slice(2)}/wrangler/${type}`, attrs);
  if (r.status !== 200) throw new Error(`wrangler ${type}: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body.directives as Array<{ options: Record<string, any> }>)[0]!.options;
}

/** A child cloud with the tally ruleset; returns its ECI. */
export async function tallyCloud(url: string, owner: string, name: string): Promise<string> {
  const kid = await wranglerOn(url, owner, 'new_child_request', { name, rids: ['test.tally'] });
  return kid['eci'] as string;
}

/** What a tally cloud has counted, through any host. */
export async function counts(url: string, eci: string): Promise<Record<string, number>> {
  const r = await post(`${url}/sky/cloud/${eci}/test.tally/counts`);
  if (r.status !== 200) throw new Error(`counts: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as Record<string, number>;
}

/** Run `total` calls of `fn(n)` with `concurrency` in flight; `at(n)` is called once `n` calls are done. */
export async function load(total: number, concurrency: number, fn: (n: number) => Promise<void>, at?: (done: number) => void): Promise<void> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const n = next++;
        await fn(n);
        at?.(++done);
      }
    }),
  );
}
