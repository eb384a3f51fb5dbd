/**
 * (d) Scale: create N clouds (default 100,000; `--clouds 1000000` for the big case), each with the
 * bench ruleset and one ECI, through wrangler events; then restart the host on that data in a fresh
 * process and measure time to ready, RSS after start, disk size, and the latency of an event to a
 * random cloud (cold activation) and to a recently used one.
 *
 *   node bench/.data/build/bench/scale.js [--clouds N] [--parents P]
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { subscribe } from '../kernel/index.ts';
import { benchHost, createClouds, dataDir, dirBytes, drive, emit, inc, machine, percentiles, removeDir, round } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    clouds: { type: 'string', default: '100000' },
    parents: { type: 'string' },
    phase: { type: 'string', default: 'create' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

const SAMPLE = 2_000;
const COLD = 1_000;
const WARM_CLOUDS = 100;
const WARM_EVENTS = 5_000;
const MB = 1024 * 1024;

if (args.phase === 'restart') await restart(args.dir!);
else await create();

async function create(): Promise<void> {
  const n = Number(args.clouds);
  // Parents run their new_child episodes concurrently; 1,000 children per parent keeps each
  // parent's children map (and its duplicate-name check) small.
  const parents = Number(args.parents ?? Math.max(1, Math.min(1_000, Math.ceil(n / 1_000))));
  const dir = await dataDir(`scale-${n}`);
  const db = join(dir, 'db');
  try {
    const host = await benchHost(db);
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    const ecis = await createClouds(host, n, parents, (done) => {
      if (n >= 1_000_000) process.stderr.write(`  created ${done} clouds in ${round((performance.now() - start) / 1000, 1)} s\n`);
    });
    const createMs = performance.now() - start;
    const cpu = process.cpuUsage(cpu0);
    await host.close();
    const createRssMB = process.memoryUsage().rss / MB;
    // A random sample of ECIs for the restarted host to send to (it must not read all N).
    const sample: string[] = [];
    for (let i = 0; i < SAMPLE; i++) sample.push(ecis[Math.floor(Math.random() * n)]!);
    await writeFile(join(dir, 'sample.json'), JSON.stringify(sample));
    ecis.length = 0;
    const diskBytes = await dirBytes(db);

    const restarted = await child(dir);
    const diskAfterBytes = await dirBytes(db);
    emit({
      name: `d.scale-${n}`,
      clouds: n,
      parents,
      createSec: round(createMs / 1000, 2),
      cloudsPerSec: round((n / createMs) * 1000, 0),
      // CPU seconds of this process while creating: less sensitive than wall time to other load.
      createCpuSec: round((cpu.user + cpu.system) / 1e6, 2),
      createRssMB: round(createRssMB, 1),
      diskMB: round(diskBytes / MB, 1),
      diskAfterRestartMB: round(diskAfterBytes / MB, 1),
      ...restarted,
      ...(await machine()),
    });
  } finally {
    if (!args.keep) await removeDir(dir);
  }
}

/** Run the restart phase in a fresh process, so RSS and start-up are those of a new host. */
function child(dir: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--phase', 'restart', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`restart phase exited with ${code}`));
      try {
        resolve(JSON.parse(out) as Record<string, unknown>);
      } catch (err) {
        reject(err);
      }
    });
  });
}

async function restart(dir: string): Promise<void> {
  const rssBeforeMB = process.memoryUsage().rss / MB;
  const t0 = performance.now();
  const host = await benchHost(join(dir, 'db'));
  await host.root();
  const readyMs = performance.now() - t0;
  const processReadyMs = performance.now(); // since this process started (includes node and module loading)
  const rssMB = process.memoryUsage().rss / MB;
  const heapMB = process.memoryUsage().heapUsed / MB;

  const sample = JSON.parse(await readFile(join(dir, 'sample.json'), 'utf8')) as string[];
  const activations: number[] = [];
  const stop = subscribe('activate', (m) => activations.push(m.ms));
  // Cold: each event goes to a cloud not yet active (the sample may repeat a cloud; skip repeats).
  const cold = [...new Set(sample)].slice(0, COLD);
  const c = await drive(cold.length, 1, (i) => inc(host, cold[i]!));
  stop();
  // Recently used: the last clouds touched, again and again.
  const recent = cold.slice(-WARM_CLOUDS);
  const w = await drive(WARM_EVENTS, 1, (i) => inc(host, recent[i % recent.length]!));
  const rssAfterMB = process.memoryUsage().rss / MB;
  const heapAfterMB = process.memoryUsage().heapUsed / MB;
  await host.close();
  const cp = percentiles(c.lat);
  const wp = percentiles(w.lat);
  const ap = percentiles(activations);
  process.stdout.write(
    JSON.stringify({
      readyMs: round(readyMs, 1),
      processReadyMs: round(processReadyMs, 1),
      rssBeforeOpenMB: round(rssBeforeMB, 1),
      rssAfterStartMB: round(rssMB, 1),
      heapAfterStartMB: round(heapMB, 1),
      coldEvents: cold.length,
      coldP50: cp.p50,
      coldP99: cp.p99,
      activateP50: ap.p50,
      activateP99: ap.p99,
      warmP50: wp.p50,
      warmP99: wp.p99,
      rssAfterEventsMB: round(rssAfterMB, 1),
      heapAfterEventsMB: round(heapAfterMB, 1),
      unit: 'ms',
    }),
  );
}
