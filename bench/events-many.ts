/** (b) Events spread over 1,000 clouds, 100 in flight: events/s, p50, p99. */
import { benchHost, count, createClouds, dataDir, drive, emit, inc, machine, percentiles, removeDir, round } from './lib.ts';

const CLOUDS = 1_000;
const INFLIGHT = 100;
const N = Number(process.env.BENCH_EVENTS ?? 100_000);
const WARMUP = 5_000;

const dir = await dataDir('events-many');
try {
  const host = await benchHost(dir);
  const ecis = await createClouds(host, CLOUDS, 10);
  // Event i goes to cloud i mod 1000: 100 consecutive events are 100 different clouds.
  const pick = (i: number): string => ecis[i % CLOUDS]!;
  await drive(WARMUP, INFLIGHT, (i) => inc(host, pick(i)));
  const { ms, lat } = await drive(N, INFLIGHT, (i) => inc(host, pick(i)));
  let sum = 0;
  for (const eci of ecis) sum += (await count(host, eci)) as number;
  if (sum !== N + WARMUP) throw new Error(`counts sum to ${sum}, expected ${N + WARMUP}`);
  await host.close();
  emit({ name: 'b.events-1000-clouds', clouds: CLOUDS, inflight: INFLIGHT, events: N, eventsPerSec: round((N / ms) * 1000, 0), ...percentiles(lat), unit: 'ms', ...(await machine()) });
} finally {
  await removeDir(dir);
}
