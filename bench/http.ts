/**
 * (e) HTTP: `/sky/event` and `/sky/cloud` of the kumo server (channels/server.ts) under 50
 * concurrent connections for 10 s each, with autocannon; and, in the same run, a bare node:http
 * server answering a fixed JSON body, as the floor. Each server runs in its own child process and
 * autocannon in this one, so every server gets the same treatment (one core for the server, the
 * other for the load generator and LevelDB's threads).
 *
 *   node bench/.data/build/bench/http.js [--duration 10] [--connections 50]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startServer } from '../channels/http/server.ts';
import { BENCH_RID, benchHost, createClouds, dataDir, emit, inc, machine, removeDir, round } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    serve: { type: 'string' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
  },
});

const CLOUDS = 1_000;
const BARE_BODY = JSON.stringify({ eid: 'bench', directives: [{ name: 'count', options: { count: 1 }, meta: { rid: BENCH_RID, rule: 'inc', eid: 'bench' } }] });

if (args.serve === 'bare') await serveBare();
else if (args.serve === 'kumo') await serveKumo();
else await main();

/** Child: a bare node:http server; prints `{"url"}` when listening. */
async function serveBare(): Promise<void> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BARE_BODY) });
    res.end(BARE_BODY);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

/** Child: a kumo host on durable LevelDB with 1,000 bench clouds behind the HTTP server; prints `{"url", "ecis"}`. */
async function serveKumo(): Promise<void> {
  const dir = await dataDir('http');
  const host = await benchHost(dir);
  const ecis = await createClouds(host, CLOUDS, 10);
  for (const eci of ecis) await inc(host, eci);
  const server = await startServer({ host, port: 0, hostname: '127.0.0.1' });
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.port}`, ecis })}\n`);
  process.on('SIGTERM', () => {
    void server
      .stop()
      .then(() => removeDir(dir))
      .then(() => process.exit(0));
  });
}

function startChild(kind: 'bare' | 'kumo'): Promise<{ child: ChildProcess; info: { url: string; ecis?: string[] } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--serve', kind], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, info: JSON.parse(out.slice(0, nl)) as { url: string; ecis?: string[] } });
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

interface Load {
  reqPerSec: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

async function load(url: string, paths: string[], method: 'GET' | 'POST'): Promise<Load> {
  let n = 0;
  const result = await autocannon({
    url,
    method,
    connections: Number(args.connections),
    duration: Number(args.duration),
    requests: [
      {
        method,
        // Spread requests over the clouds: request n goes to cloud n mod 1000.
        setupRequest: (req: autocannon.Request) => ({ ...req, path: paths[n++ % paths.length]! }),
      },
    ],
  });
  return {
    reqPerSec: round(result.requests.average, 0),
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

async function main(): Promise<void> {
  const bare = await startChild('bare');
  // The floor gets the very same load generation (a path per request, POST) as the kumo runs:
  // autocannon's setupRequest costs the load generator enough CPU on 2 cores that a floor measured
  // without it came out ~60% higher (67,804 vs 41,922 req/s back to back), an unfair comparison.
  const floorPaths = Array.from({ length: CLOUDS }, (_, i) => `/sky/event/${'E'.repeat(27)}/e${i}/bench/inc`);
  const floor = await load(bare.info.url, floorPaths, 'POST');
  await stopChild(bare.child);

  const kumo = await startChild('kumo');
  const ecis = kumo.info.ecis!;
  const events = await load(
    kumo.info.url,
    ecis.map((e, i) => `/sky/event/${e}/e${i}/bench/inc`),
    'POST',
  );
  const queries = await load(
    kumo.info.url,
    ecis.map((e) => `/sky/cloud/${e}/${BENCH_RID}/count`),
    'GET',
  );
  await stopChild(kumo.child);
  if (events.non2xx + events.errors + queries.non2xx + queries.errors + floor.non2xx + floor.errors > 0) {
    throw new Error(`failed requests: ${JSON.stringify({ floor, events, queries })}`);
  }
  emit({
    name: 'e.http',
    connections: Number(args.connections),
    durationSec: Number(args.duration),
    floorReqPerSec: floor.reqPerSec,
    floorP50: floor.p50,
    floorP99: floor.p99,
    eventReqPerSec: events.reqPerSec,
    eventP50: events.p50,
    eventP99: events.p99,
    eventPctOfFloor: round((events.reqPerSec / floor.reqPerSec) * 100, 1),
    queryReqPerSec: queries.reqPerSec,
    queryP50: queries.p50,
    queryP99: queries.p99,
    queryPctOfFloor: round((queries.reqPerSec / floor.reqPerSec) * 100, 1),
    unit: 'ms',
    ...(await machine()),
  });
}
