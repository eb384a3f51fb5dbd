/** (c) Queries: one cloud one at a time, and 1,000 clouds with 100 in flight: queries/s, p50, p99. */
import { benchHost, count, createClouds, dataDir, drive, emit, inc, machine, percentiles, removeDir, round } from './lib.ts';

const CLOUDS = 1_000;
const INFLIGHT = 100;
const N_ONE = Number(process.env.BENCH_QUERIES_ONE ?? 100_000);
const N_MANY = Number(process.env.BENCH_QUERIES_MANY ?? 300_000);

const dir = await dataDir('queries');
try {
  const host = await benchHost(dir);
  const ecis = await createClouds(host, CLOUDS, 10);
  await drive(CLOUDS, INFLIGHT, (i) => inc(host, ecis[i]!));
  const check = (v: unknown): void => {
    if (v !== 1) throw new Error(`count() gave ${String(v)}, expected 1`);
  };

  const one = ecis[0]!;
  await drive(10_000, 1, async () => check(await count(host, one)));
  const a = await drive(N_ONE, 1, async () => check(await count(host, one)));
  const m = await machine();
  emit({ name: 'c.queries-one-cloud', queries: N_ONE, queriesPerSec: round((N_ONE / a.ms) * 1000, 0), ...percentiles(a.lat), unit: 'ms', ...m });

  await drive(20_000, INFLIGHT, async (i) => check(await count(host, ecis[i % CLOUDS]!)));
  const b = await drive(N_MANY, INFLIGHT, async (i) => check(await count(host, ecis[i % CLOUDS]!)));
  emit({ name: 'c.queries-1000-clouds', clouds: CLOUDS, inflight: INFLIGHT, queries: N_MANY, queriesPerSec: round((N_MANY / b.ms) * 1000, 0), ...percentiles(b.lat), unit: 'ms', ...m });
  await host.close();
} finally {
  await removeDir(dir);
}
