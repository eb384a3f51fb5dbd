/**
 * (f) A realm of hosts over NATS: separate host processes on one nats-server (JetStream), this
 * process as the load generator.
 *
 *   (f1) `bench:inc` over HTTP to 1,000 clouds on host b, 100 connections for 10 s: straight to b,
 *        then through host a as the front door (a asks b over NATS). Ratio and added latency.
 *   (f2) `ctx.send` from 1,000 clouds on host a to 1,000 clouds on host b through b's durable inbox
 *        (a JetStream work queue): events/s end to end and latency from the sending event to the
 *        receiving episode (both hosts on this machine's clock).
 *   (f3) `--only f3`: three hosts create 1,000,000 clouds in all, then one restarts in a fresh process:
 *        time to ready (joining the realm included) and its RSS; then the same host on the same data
 *        without joining the realm, in the same setup (the single-host figure to compare with).
 *   (g1) `--only g`: a cloud holding 10,000 entity keys moved from host a to host b while this
 *        process sends it 1,000 events/s over HTTP through host c: how long the move takes, the
 *        latency of the events sent during it (the pause a sender sees) against those before, and
 *        how soon after it the queue it built up has drained; `afterP99`: from 1 s after the move.
 *
 *   node bench/.data/build/bench/realm.js [--part f1,f2,g1] [--events 50000] [--clouds 1000000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type autocannonType from 'autocannon';
import { ruleset } from '../rulesets/index.ts';
import { openNode } from '../channels/open-node.ts';
import { subscribe } from '../kernel/index.ts';
import { startServer } from '../channels/http/server.ts';
import { benchRuleset, createClouds, dataDir, drive, emit, fillRuleset, machine, percentiles, removeDir, round } from './lib.ts';
import { startNats } from './nats.ts';

const { values: args } = parseArgs({
  options: {
    part: { type: 'string', default: 'f1,f2' },
    events: { type: 'string', default: '50000' },
    clouds: { type: 'string', default: '1000000' },
    child: { type: 'string' },
    nats: { type: 'string' },
    name: { type: 'string' },
    make: { type: 'string', default: '0' },
    dir: { type: 'string' },
    alone: { type: 'boolean', default: false },
  },
});

const MB = 1024 * 1024;
const CLOUDS = 1_000;

/** `relay:send {to, t0}` sends `relay:hear {t0}` to `to`; `relay:hear` records its latency. */
const relay = ruleset('bench.relay')
  .rule('send', { select: 'relay:send', action: (ctx) => ctx.send(String(ctx.attrs['to']), 'relay', 'hear', { t0: ctx.attrs['t0'] }) })
  .rule('hear', {
    select: 'relay:hear',
    action(ctx) {
      ctx.ent.set('lat', [...((ctx.ent.get('lat') as number[] | undefined) ?? []), Date.now() - Number(ctx.attrs['t0'])]);
    },
  })
  .share('heard', (ctx) => ({ lat: ctx.ent.get('lat') ?? [] }))
  .build();

/** Children still running, stopped if the benchmark fails. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

if (args.child === 'host') await childHost();
else if (args.child === 'ready') await childReady();
else await main();

// ---- child processes ----

/**
 * A host of the realm with `--make` clouds (bench ruleset and relay), served over HTTP. Prints
 * `{url, ecis}`, then takes commands on stdin: `{"drive": n, "to": [...]}` runs n `relay:send` events
 * over its clouds, 100 in flight, and prints `{start, cpuMs}` (epoch ms; CPU spent) once its outbox
 * is empty; `{"expect": n}` prints `{at, cpuMs}` when the n-th `relay:hear` episode has run here.
 * `--make` with no server
 * (`--dir` given) creates the clouds and exits, for (f3).
 */
async function childHost(): Promise<void> {
  const dir = args.dir ?? (await dataDir(`realm-${args.name}`));
  const node = await openNode({ dataDir: dir, rulesets: [benchRuleset, relay, fillRuleset], hostId: args.name!, realm: { servers: [args.nats!], partitions: 64 }, limits: { childrenPerCloud: 100_000 } });
  const { host, realm } = node;
  host.start();
  const make = Number(args.make);
  const start = performance.now();
  const ecis = make > 0 ? await createClouds(host, make, Math.max(1, Math.min(1_000, Math.ceil(make / 1_000)))) : [];
  if (args.dir) {
    const createSec = (performance.now() - start) / 1000;
    await realm!.stop();
    await host.close();
    await realm!.close();
    process.stdout.write(`${JSON.stringify({ createSec })}\n`);
    return;
  }
  for (const eci of ecis) await host.event({ eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { rid: 'bench.relay' } });
  const server = await startServer({ host, realm, port: 0, hostname: '127.0.0.1' });
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.port}`, ecis, root: (await host.root()).eci })}\n`);
  // Episodes of `relay:hear` applied here, counted without asking the host (polling would load it).
  let heard = 0;
  let expect = Infinity;
  let cpu0 = 0;
  const cpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  subscribe('episode', (e) => {
    if (e.type === 'hear' && ++heard === expect) process.stdout.write(`${JSON.stringify({ heard, at: Date.now(), cpuMs: cpuMs() - cpu0 })}\n`);
  });
  let input = '';
  process.stdin.on('data', (d: Buffer) => {
    input += d.toString();
    for (let nl = input.indexOf('\n'); nl >= 0; nl = input.indexOf('\n')) {
      const cmd = JSON.parse(input.slice(0, nl)) as { drive?: number; to?: string[]; expect?: number };
      input = input.slice(nl + 1);
      cpu0 = cpuMs();
      if (cmd.expect !== undefined) {
        expect = cmd.expect;
        continue;
      }
      const t0 = Date.now();
      const to = cmd.to!;
      void (async () => {
        await drive(cmd.drive!, 100, (i) => host.event({ eci: ecis[i % ecis.length]!, domain: 'relay', type: 'send', attrs: { to: to[i % to.length], t0: Date.now() } }));
        while (host.stats().outbox > 0) await new Promise((r) => setTimeout(r, 5));
        process.stdout.write(`${JSON.stringify({ start: t0, cpuMs: cpuMs() - cpu0 })}\n`);
      })();
    }
  });
  process.on('SIGTERM', () => {
    void server
      .stop()
      .then(() => removeDir(dir))
      .then(() => process.exit(0));
  });
}

/**
 * (f3) Restart a host of the realm on its data: time to ready (join, open, root) and RSS. With
 * `--alone`, the same host on the same data without joining the realm: the single-host figure in
 * the same process setup (this script loads more than bench/scale.ts, so (d)'s figures differ).
 */
async function childReady(): Promise<void> {
  const rssBeforeOpenMB = process.memoryUsage().rss / MB;
  const t = performance.now();
  const realm = args.alone ? undefined : { servers: [args.nats!], partitions: 64 };
  const node = await openNode({ dataDir: args.dir!, rulesets: [benchRuleset, relay], hostId: args.name!, ...(realm ? { realm } : {}) });
  await node.host.root();
  const readyMs = performance.now() - t;
  const rssAfterStartMB = process.memoryUsage().rss / MB;
  // A host restarting in its realm is ready (serves its own clouds) before it has joined (channels/realm/rejoin.ts).
  const joined = node.realm?.joined.then(() => performance.now() - t);
  // Again a second later: LevelDB compacts in the background after a restart, and a start that
  // takes longer has more of that in its RSS at ready.
  await new Promise((r) => setTimeout(r, 1_000));
  const rssSettledMB = process.memoryUsage().rss / MB;
  const joinedMs = (await joined) ?? readyMs;
  await node.realm?.stop();
  await node.host.close();
  await node.realm?.close();
  process.stdout.write(`${JSON.stringify({ readyMs, joinedMs, rssBeforeOpenMB, rssAfterStartMB, rssSettledMB })}\n`);
}

// ---- the benchmark ----

async function main(): Promise<void> {
  const parts = args.part.split(',');
  const nats = await startNats();
  try {
    if (parts.includes('f1')) await f1(nats.url);
    if (parts.includes('f2')) await f2(nats.url, nats.pid);
    if (parts.includes('f3')) await f3(nats.url);
    if (parts.includes('g1')) await g1(nats.url);
  } finally {
    nats.stop();
  }
}

async function f1(nats: string): Promise<void> {
  const b = await host(nats, 'f1b', CLOUDS);
  const a = await host(nats, 'f1a', 0);
  const paths = b.info.ecis.map((e, i) => `/sky/event/${e}/e${i}/bench/inc`);
  const direct = await load(b.info.url, paths);
  const front = await load(a.info.url, paths);
  await Promise.all([stop(a.child), stop(b.child)]);
  emit({
    name: 'f1.front-door',
    connections: 100,
    directReqPerSec: direct.reqPerSec,
    frontReqPerSec: front.reqPerSec,
    frontPctOfDirect: round((front.reqPerSec / direct.reqPerSec) * 100, 1),
    directP50: direct.p50,
    directP99: direct.p99,
    frontP50: front.p50,
    frontP99: front.p99,
    addedP50: front.p50 - direct.p50,
    addedP99: front.p99 - direct.p99,
    unit: 'ms',
    ...(await machine()),
  });
}

async function f2(nats: string, natsPid: number): Promise<void> {
  const n = Number(args.events);
  const b = await host(nats, 'f2b', CLOUDS);
  const a = await host(nats, 'f2a', CLOUDS);
  const nats0 = cpuMsOf(natsPid);
  b.child.stdin!.write(`${JSON.stringify({ expect: n })}\n`);
  a.child.stdin!.write(`${JSON.stringify({ drive: n, to: b.info.ecis })}\n`);
  const { start, cpuMs: cpuA } = (await a.next()) as { start: number; cpuMs: number };
  const { at: end, cpuMs: cpuB } = (await b.next()) as { at: number; cpuMs: number };
  const cpuNats = cpuMsOf(natsPid) - nats0;
  // Then read how late each came.
  const got = await Promise.all(b.info.ecis.map(async (eci) => (await (await fetch(`${b.info.url}/sky/cloud/${eci}/bench.relay/heard`)).json()) as { lat: number[] }));
  const lat = got.flatMap((h) => h.lat);
  await Promise.all([stop(a.child), stop(b.child)]);
  const l = percentiles(lat);
  emit({
    name: 'f2.send-across',
    events: n,
    clouds: CLOUDS,
    eventsPerSec: Math.round(n / ((end - start) / 1000)),
    cpuUsPerEventA: round((cpuA * 1000) / n, 0),
    cpuUsPerEventB: round((cpuB * 1000) / n, 0),
    cpuUsPerEventNats: round((cpuNats * 1000) / n, 0),
    p50: l.p50,
    p99: l.p99,
    max: l.max,
    unit: 'ms',
    ...(await machine()),
  });
}

async function f3(nats: string): Promise<void> {
  const total = Number(args.clouds);
  const root = await mkdtemp(join(tmpdir(), 'kumo-bench-f3-'));
  try {
    const names = ['f3a', 'f3b', 'f3c'];
    const made = await Promise.all(names.map((name, i) => once(['--child', 'host', '--nats', nats, '--name', name, '--dir', join(root, name), '--make', String(Math.floor(total / 3) + (i < total % 3 ? 1 : 0))])));
    type Ready = { readyMs: number; joinedMs: number; rssBeforeOpenMB: number; rssAfterStartMB: number; rssSettledMB: number };
    // Three restarts of f3a in the realm and three of the same host alone, alternating, each on a
    // fresh copy of the data as it was when the hosts closed (LevelDB compacts in the background
    // after a restart, and what it has read counts in the RSS).
    const realm: Ready[] = [];
    const alone: Ready[] = [];
    for (let i = 0; i < 3; i++) {
      for (const [list, extra] of [
        [realm, ['--nats', nats]],
        [alone, ['--alone']],
      ] as const) {
        const dir = join(root, `restart-${i}`);
        await cp(join(root, 'f3a'), dir, { recursive: true });
        list.push((await once(['--child', 'ready', ...extra, '--name', 'f3a', '--dir', dir])) as Ready);
        await removeDir(dir);
      }
    }
    const med = (list: Ready[], k: keyof Ready): number => round(percentiles(list.map((r) => r[k])).p50, 1);
    const runs = (list: Ready[], k: keyof Ready): string => list.map((r) => round(r[k], 1)).join(' / ');
    emit({
      name: `f3.realm-${total}`,
      clouds: total,
      hosts: 3,
      createSec: round(Math.max(...made.map((m) => (m as { createSec: number }).createSec)), 1),
      readyMs: med(realm, 'readyMs'),
      joinedMs: med(realm, 'joinedMs'),
      rssBeforeOpenMB: med(realm, 'rssBeforeOpenMB'),
      rssAfterStartMB: med(realm, 'rssAfterStartMB'),
      rssSettledMB: med(realm, 'rssSettledMB'),
      // The same host on the same data, not joining the realm.
      aloneReadyMs: med(alone, 'readyMs'),
      aloneRssBeforeOpenMB: med(alone, 'rssBeforeOpenMB'),
      aloneRssAfterStartMB: med(alone, 'rssAfterStartMB'),
      aloneRssSettledMB: med(alone, 'rssSettledMB'),
      runs: {
        readyMs: runs(realm, 'readyMs'),
        joinedMs: runs(realm, 'joinedMs'),
        aloneReadyMs: runs(alone, 'readyMs'),
        rssAfterStartMB: runs(realm, 'rssAfterStartMB'),
        aloneRssAfterStartMB: runs(alone, 'rssAfterStartMB'),
        rssSettledMB: runs(realm, 'rssSettledMB'),
        aloneRssSettledMB: runs(alone, 'rssSettledMB'),
      },
      ...(await machine()),
    });
  } finally {
    await removeDir(root);
  }
}

async function g1(nats: string): Promise<void> {
  const KEYS = 10_000;
  const RATE = 1_000; // events per second
  const WARM_MS = 2_000; // connections opened and code warmed before anything is measured
  const MOVE_AT_MS = 3_000;
  const [a, b, c] = await Promise.all([host(nats, 'g1a', 0), host(nats, 'g1b', 0), host(nats, 'g1c', 0)]);
  const post = async <T = unknown>(url: string, body: unknown = {}): Promise<T> => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${url}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const made = await post<{ directives: Array<{ options: { eci: string } }> }>(`${a.info.url}/sky/event/${a.info.root}/mk/wrangler/new_child_request`, { name: 'big', rids: ['bench.fill'] });
  const eci = made.directives[0]!.options.eci;
  for (let from = 0; from < KEYS; from += 1_000) await post(`${a.info.url}/sky/event/${eci}/f${from}/fill/keys`, { from, count: 1_000 });
  // Events at RATE through c, each timed; the move starts at MOVE_AT_MS; the load goes on 2 s after it ends.
  const sent: Array<{ at: number; ms: number }> = [];
  // node:http with kept-alive connections: fetch would cost this process most of a core at this rate.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const tick = (url: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  const done: { move?: { start: number; end: number; result: { records: number } } } = {};
  const t0 = performance.now();
  const inflight = new Set<Promise<void>>();
  let refused = 0;
  for (let n = 0; done.move === undefined || performance.now() < done.move.end + 2_000; n++) {
    const due = t0 + (n * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const at = performance.now();
    // A sender retries what is refused for now (503: a full mailbox while the cloud is held), as a client would.
    const p = (async () => {
      for (;;) {
        const status = await tick(`${c.info.url}/sky/event/${eci}/t${n}/fill/tick?n=${n}`);
        if (status === 200) break;
        if (status !== 503) throw new Error(`tick ${n}: ${status}`);
        refused++;
        await new Promise((r) => setTimeout(r, 10));
      }
      sent.push({ at, ms: performance.now() - at });
    })();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (n === (MOVE_AT_MS * RATE) / 1000) {
      const start = performance.now();
      void post<{ records: number }>(`${a.info.url}/c/${eci}/move?to=g1b`).then((result) => (done.move = { start, end: performance.now(), result }));
    }
    if (n > 60 * RATE) throw new Error('the move did not finish within a minute');
  }
  await Promise.all(inflight);
  agent.destroy();
  const m = done.move;
  const during = sent.filter((s) => s.at >= m.start && s.at <= m.end).map((s) => s.ms);
  const before = sent.filter((s) => s.at >= t0 + WARM_MS && s.at < m.start).map((s) => s.ms);
  // Events sent after the move, and when the queue it built up had drained (latency back under 10 ms).
  const after = sent.filter((s) => s.at > m.end).sort((p, q) => p.at - q.at);
  const drained = after.find((s) => s.ms < 10);
  const lastTick = await post(`${b.info.url}/sky/cloud/${eci}/bench.fill/tick`);
  await Promise.all([stop(a.child), stop(b.child), stop(c.child)]);
  const [pb, pd, pa] = [percentiles(before), percentiles(during), percentiles(after.filter((s) => s.at > m.end + 1_000).map((s) => s.ms))];
  emit({
    name: 'g1.move-under-load',
    keys: KEYS,
    records: m.result.records,
    eventsPerSec: RATE,
    moveMs: round(m.end - m.start, 1),
    eventsDuringMove: during.length,
    beforeP50: pb.p50,
    beforeP99: pb.p99,
    duringP50: pd.p50,
    duringP99: pd.p99,
    duringMax: pd.max,
    drainedMsAfterMove: drained ? round(drained.at - m.end, 0) : null,
    afterP99: pa.p99,
    refusedThenRetried: refused,
    lastTick,
    sent: sent.length,
    unit: 'ms',
    ...(await machine()),
  });
}

// ---- plumbing ----

interface Child {
  child: ChildProcess;
  info: { url: string; ecis: string[]; root: string };
  next(): Promise<unknown>;
}

/** A host child process; resolves with its first line (`{url, ecis}`) and a reader of the lines after. */
function host(nats: string, name: string, make: number): Promise<Child> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', 'host', '--nats', nats, '--name', name, '--make', String(make)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const next = (): Promise<unknown> => new Promise((resolve) => (lines.length > 0 ? resolve(JSON.parse(lines.shift()!)) : waiting.push((l) => resolve(JSON.parse(l)))));
  return next().then((info) => ({ child, info: info as Child['info'], next }));
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (100/s)
}

/** Run a child to completion and return the JSON line it printed. */
function once(argv: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`${argv.join(' ')} exited with ${code}`))));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function load(url: string, paths: string[]): Promise<{ reqPerSec: number; p50: number; p99: number }> {
  let n = 0;
  // Loaded here, not at the top: the (f3) child measures RSS and should carry only what a host loads.
  const { default: autocannon } = await import('autocannon');
  const result = await autocannon({
    url,
    method: 'POST',
    connections: 100,
    duration: 10,
    requests: [{ method: 'POST', setupRequest: (req: autocannonType.Request) => ({ ...req, path: paths[n++ % paths.length]! }) }],
  });
  if (result.non2xx + result.errors > 0) throw new Error(`failed requests: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { reqPerSec: round(result.requests.average, 0), p50: result.latency.p50, p99: result.latency.p99 };
}
