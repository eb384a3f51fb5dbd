/** (a) Events one after another into one cloud: events/s, p50, p99. */
import { benchHost, count, dataDir, drive, emit, inc, machine, newBenchCloud, percentiles, removeDir, round } from './lib.ts';

const N = Number(process.env.BENCH_EVENTS ?? 20_000);
const WARMUP = 2_000;

const dir = await dataDir('events-one');
try {
  const host = await benchHost(dir);
  const root = await host.root();
  const eci = await newBenchCloud(host, root.eci, 'one');
  await drive(WARMUP, 1, () => inc(host, eci));
  const { ms, lat } = await drive(N, 1, () => inc(host, eci));
  const final = await count(host, eci);
  if (final !== N + WARMUP) throw new Error(`count is ${String(final)}, expected ${N + WARMUP}`);
  await host.close();
  emit({ name: 'a.events-one-cloud', events: N, eventsPerSec: round((N / ms) * 1000, 0), ...percentiles(lat), unit: 'ms', ...(await machine()) });
} finally {
  await removeDir(dir);
}
