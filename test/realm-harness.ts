import { expect } from 'vitest';
import { post, rulesetsDir, startServerProcess, type ServerProcess } from './server-harness.ts';
import { TALLY } from './tally-ruleset.ts';

/** Real `kumo serve --nats` processes for realm tests, with the tally ruleset (tally-ruleset.ts). */

export { TALLY } from './tally-ruleset.ts';

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
