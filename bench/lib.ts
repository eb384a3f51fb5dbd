/**
 * Shared pieces of the benchmark suite: the standard workload ruleset, a durable LevelDB host in a
 * temp directory, cloud creation through wrangler, percentiles and the one-JSON-line report.
 */
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLevelStore, type Host, type Store } from '../kernel/index.ts';
import { lockDir } from '../channels/dir-lock.ts';
import { ruleset } from '../rulesets/index.ts';
import { openHost } from '../channels/open-node.ts';

export const BENCH_RID = 'bench.counter';

/** The standard workload: `bench:inc` increments a counter and answers with it; `count()` reads it. */
export const benchRuleset = ruleset<{ count: number }>(BENCH_RID, { name: 'bench counter' })
  .rule('inc', {
    select: 'bench:inc',
    action(ctx) {
      const count = (ctx.ent.get('count') ?? 0) + 1;
      ctx.ent.set('count', count);
      ctx.directive('count', { count });
    },
  })
  .share('count', (ctx) => ctx.ent.get('count') ?? 0)
  .build();

/** The store of `dir` in the clear, opened as openDataDir opens a sealed one (the directory's lock held). */
async function plainStore(dir: string): Promise<Store> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const lock = await lockDir(dir);
  const store = await openLevelStore(dir);
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await lock.release();
  };
  return store;
}

/** A fresh data directory under the OS temp dir. */
export function dataDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `kumo-bench-${name}-`));
}

/** Remove a data directory, with the key file and owner ECI a host keeps beside it. */
export async function removeDir(dir: string): Promise<void> {
  await Promise.all([dir, `${dir}.key`, `${dir}.eci`].map((p) => rm(p, { recursive: true, force: true })));
}

/**
 * A host on durable LevelDB in `dir` with the bench ruleset registered: its store sealed, as a
 * host's is (docs/encryption.md), or in the clear with `KUMO_BENCH_STORE=plain` (to measure what
 * sealing costs, bench/README.md "Issue 26").
 */
export async function benchHost(dir: string, limits: Parameters<typeof openHost>[0]['limits'] = {}): Promise<Host> {
  // The same locked data directory either way, the keyring alone left out.
  const where = process.env['KUMO_BENCH_STORE'] === 'plain' ? { store: await plainStore(dir) } : { dataDir: dir };
  return openHost({ ...where, rulesets: [benchRuleset], limits: { childrenPerCloud: 100_000, ...limits } });
}

/**
 * `fill:keys {from, count}` sets entity keys k<from> … k<from+count-1> (about fifty bytes each);
 * `fill:tick {n}` records n; `get({i})` reads key k<i>, `tick()` the last n. For the move and cloud
 * file benchmarks (g), which need clouds holding many records.
 */
export const fillRuleset = ruleset('bench.fill')
  .rule('keys', {
    select: 'fill:keys',
    action(ctx) {
      const from = Number(ctx.attrs['from']);
      for (let i = from; i < from + Number(ctx.attrs['count']); i++) ctx.ent.set(`k${i}`, { i, note: 'a value of about fifty bytes in all, msgpack' });
    },
  })
  .rule('tick', { select: 'fill:tick', action: (ctx) => ctx.ent.set('tick', ctx.attrs['n']) })
  .share('get', (ctx, a) => ctx.ent.get(`k${String(a['i'])}`) ?? null)
  .share('tick', (ctx) => ctx.ent.get('tick') ?? null)
  .build();

/** Bytes used by the files under `dir`. */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? await dirBytes(p) : (await stat(p)).size;
  }
  return total;
}

export interface Latencies {
  p50: number;
  p99: number;
  max: number;
}

/** Percentiles (ms, 3 decimals) of a list of durations in ms. */
export function percentiles(ms: Float64Array | number[]): Latencies {
  const sorted = Float64Array.from(ms).sort();
  const at = (q: number): number => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
  return { p50: at(0.5), p99: at(0.99), max: round(sorted[sorted.length - 1] ?? NaN) };
}

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Print one benchmark result as one JSON line (the suite's only stdout). */
export function emit(result: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/**
 * Run `total` operations with at most `inflight` in flight; `op(i)` is timed.
 * Returns elapsed ms and each operation's latency in ms.
 */
export async function drive(total: number, inflight: number, op: (i: number) => Promise<unknown>): Promise<{ ms: number; lat: Float64Array }> {
  const lat = new Float64Array(total);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < total; i = next++) {
      const t = performance.now();
      await op(i);
      lat[i] = performance.now() - t;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(inflight, total) }, worker));
  return { ms: performance.now() - start, lat };
}

/** Wrangler: make a child of the cloud behind `parentEci` and install the bench ruleset in it; returns the child's ECI. */
export async function newBenchCloud(host: Host, parentEci: string, name: string): Promise<string> {
  // One episode per cloud: the child is created with the ruleset installed (wrangler's `rids`).
  const made = await host.event({ eci: parentEci, domain: 'wrangler', type: 'new_child_request', attrs: { name, rids: [BENCH_RID] } });
  const eci = made.directives[0]?.options.eci;
  if (typeof eci !== 'string') throw new Error(`new_child_request gave no ECI: ${JSON.stringify(made.directives)}`);
  return eci;
}

/**
 * Create `n` clouds, each with the bench ruleset and one ECI, the realistic way: wrangler events.
 * Clouds are spread over `parents` parent clouds under the root so that `parents` episodes run at
 * once (one mailbox per parent) and group commit batches them. Returns the clouds' ECIs.
 */
export async function createClouds(host: Host, n: number, parents = Math.min(100, n), onProgress?: (done: number) => void): Promise<string[]> {
  const root = await host.root();
  const parentEcis: string[] = parents === 0 ? [root.eci] : [];
  if (parents > 0) {
    await drive(parents, parents, async (i) => {
      parentEcis[i] = await newBenchCloud(host, root.eci, `p${i}`);
    });
  }
  const ecis: string[] = new Array<string>(n);
  let done = 0;
  await Promise.all(
    parentEcis.map(async (parent, p) => {
      for (let i = p; i < n; i += parentEcis.length) {
        ecis[i] = await newBenchCloud(host, parent, `c${i}`);
        if (++done % 10_000 === 0) onProgress?.(done);
      }
    }),
  );
  return ecis;
}

/** One event of the standard workload; resolves with the new count. */
export async function inc(host: Host, eci: string): Promise<number> {
  const r = await host.event({ eci, domain: 'bench', type: 'inc' });
  return r.directives[0]?.options.count as number;
}

export function count(host: Host, eci: string): Promise<unknown> {
  return host.query({ eci, rid: BENCH_RID, name: 'count' });
}

/** Load average and core count, so a reader can tell a quiet run from a busy one. */
export async function machine(): Promise<{ load1: number; cores: number }> {
  const os = await import('node:os');
  return { load1: round(os.loadavg()[0] ?? 0, 2), cores: os.availableParallelism() };
}
