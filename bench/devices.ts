/**
 * (h) Devices: a host in a child process, this process as the devices.
 *
 *   (h1) `--devices` (10,000) devices, each its own cloud and holding a WebSocket to the one host on
 *        its device's ECI, each sending a reading (`bench:inc`) every second, spread evenly over the
 *        second: latency from sending the frame to its answer (p50, p99), readings/s answered, and
 *        the host's RSS and CPU (one core = 100%) over the measured window.
 *   (h2) MQTT QoS 1 readings into clouds end to end: nats-server (operator mode, MQTT listener), a
 *        host of the realm with the device gateway, `--mqtt-devices` devices each publishing
 *        `--mqtt-readings` readings with mosquitto_pub (QoS 1): readings/s from the first publish
 *        until every reading has been applied in its cloud, and until the last PUBACK.
 *
 *   node bench/.data/build/bench/devices.js [--part h1,h2] [--devices 10000] [--seconds 30]
 *        [--mqtt-devices 20] [--mqtt-readings 1000]
 *
 * 10,000 sockets need the open-file limit to allow them, in this process and in the host's: the
 * host is started under `ulimit -n 65536` (or the hard limit, if lower) with --max-connections set
 * above the device count; run this under a limit of more than the device count too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { openNode } from '../channels/open-node.ts';
import { operatorSetup } from '../channels/realm/nats-jwt.ts';
import type { MqttCredentials } from '../channels/realm/device-gateway.ts';
import { startServer } from '../channels/http/server.ts';
import { benchRuleset, BENCH_RID, createClouds, dataDir, emit, machine, percentiles, removeDir, round } from './lib.ts';
import { freePort, startNats } from './nats.ts';
import { wsText } from '../channels/http/websocket.ts';

const { values: args } = parseArgs({
  options: {
    part: { type: 'string', default: 'h1,h2' },
    devices: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '30' },
    'mqtt-devices': { type: 'string', default: '20' },
    'mqtt-readings': { type: 'string', default: '1000' },
    child: { type: 'string' },
    nats: { type: 'string' },
    creds: { type: 'string' },
    key: { type: 'string' },
    account: { type: 'string' },
    mqtt: { type: 'string' },
  },
});

const MB = 1024 * 1024;
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

// ---- child processes: the host ----

/** A host alone with `--devices` clouds, serving HTTP and WebSocket; prints `{url, ecis}`. */
async function wsHost(): Promise<void> {
  const n = Number(args.devices);
  const dir = await dataDir('devices');
  // Every device's cloud stays active: the default of 10,000 active clouds would evict and reload them in turn.
  const { host } = await openNode({ dataDir: dir, rulesets: [benchRuleset], limits: { childrenPerCloud: 100_000, activeClouds: n + 1_000 } });
  host.start();
  const ecis = await createClouds(host, n, Math.min(100, n));
  const server = await startServer({ host, port: 0, hostname: '127.0.0.1', limits: { connections: n + 100 } });
  if (server.connections.cap < n + 100) throw new Error(`the open-file limit allows only ${server.connections.cap} connections: raise ulimit -n`);
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.port}`, ecis })}\n`);
  stopOnSigterm(server, dir);
}

/** A host of an MQTT realm with `--mqtt-devices` devices; prints `{url, devices: [{eci, creds}]}`. */
async function mqttHost(): Promise<void> {
  const n = Number(args['mqtt-devices']);
  const dir = await dataDir('devices-mqtt');
  const { host, realm } = await openNode({
    dataDir: dir,
    rulesets: [benchRuleset],
    hostId: 'h2',
    realm: { servers: [args.nats!], creds: readFileSync(args.creds!), partitions: 64, mqtt: { key: readFileSync(args.key!, 'utf8'), account: args.account!, url: args.mqtt! } },
  });
  host.start();
  const server = await startServer({ host, realm, port: 0, hostname: '127.0.0.1' });
  const root = await host.root();
  const devices: Array<{ eci: string; creds: MqttCredentials }> = [];
  for (let i = 0; i < n; i++) {
    const made = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_device_request', attrs: { name: `d${i}`, rids: [BENCH_RID] } });
    const { claim } = made.directives[0]!.options as { claim: { code: string } };
    const { eci } = await host.claim(claim.code);
    devices.push({ eci, creds: await realm!.devices!.credentials(eci) });
  }
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.port}`, devices })}\n`);
  stopOnSigterm(server, dir);
}

// ---- the benchmark ----

async function main(): Promise<void> {
  const parts = args.part.split(',');
  if (parts.includes('h1')) await h1();
  if (parts.includes('h2')) await h2();
}

async function h1(): Promise<void> {
  const n = Number(args.devices);
  const seconds = Number(args.seconds);
  const { child, info } = await host(['--child', 'ws-host', '--devices', String(n)]);
  const { url, ecis } = info as { url: string; ecis: string[] };
  const sockets = await openSockets(url.replace('http', 'ws'), ecis);
  // Each device sends a reading every second, device i at i/n of the second; the first 5 s warm up.
  const warmup = 5_000;
  const lat: number[] = [];
  let answered = 0;
  let failed = 0;
  let measuring = false;
  const sent = sockets.map(() => new Map<number, number>());
  sockets.forEach((ws, i) =>
    ws.on('message', (d) => {
      const f = JSON.parse(wsText(d)) as { id?: number; ok?: boolean };
      const t0 = f.id === undefined ? undefined : sent[i]!.get(f.id);
      if (t0 === undefined) return;
      sent[i]!.delete(f.id!);
      if (!measuring) return;
      if (f.ok) {
        lat.push(performance.now() - t0);
        answered++;
      } else failed++;
    }),
  );
  let seq = 0;
  const timers = sockets.map((ws, i) =>
    setTimeout(
      () => {
        const send = (): void => {
          const id = ++seq;
          sent[i]!.set(id, performance.now());
          ws.send(JSON.stringify({ id, op: 'event', domain: 'bench', type: 'inc' }));
        };
        send();
        timers[i] = setInterval(send, 1000);
      },
      (i / n) * 1000,
    ),
  );
  await sleep(warmup);
  const before = usage(child.pid!);
  const gen = process.cpuUsage();
  const t = performance.now();
  measuring = true;
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - t) / 1000;
  const after = usage(child.pid!);
  const genCpu = process.cpuUsage(gen);
  for (const timer of timers) clearInterval(timer);
  for (const ws of sockets) ws.close();
  await stop(child);
  const l = percentiles(lat);
  emit({
    name: `h1.websocket-devices-${n}`,
    devices: n,
    seconds,
    offeredPerSec: n,
    readingsPerSec: round(answered / elapsed, 0),
    failed,
    p50: l.p50,
    p99: l.p99,
    max: l.max,
    unit: 'ms',
    hostRssMB: round(after.rss / MB, 1),
    hostCpuPct: round(((after.cpuTicks - before.cpuTicks) / TICKS / elapsed) * 100, 1),
    generatorCpuPct: round(((genCpu.user + genCpu.system) / 1e6 / elapsed) * 100, 1),
    ...(await machine()),
  });
}

async function h2(): Promise<void> {
  if (spawnSync('mosquitto_pub', ['--help']).error) throw new Error('bench (h2) needs mosquitto-clients: apt-get install -y mosquitto-clients');
  const m = Number(args['mqtt-devices']);
  const k = Number(args['mqtt-readings']);
  const nats = await startMqttNats();
  try {
    const { child, info } = await host(['--child', 'mqtt-host', '--mqtt-devices', String(m), '--nats', nats.url, '--creds', nats.creds, '--key', nats.key, '--account', nats.account, '--mqtt', nats.mqtt]);
    const { url, devices } = info as { url: string; devices: Array<{ eci: string; creds: MqttCredentials }> };
    const total = m * k;
    const t0 = performance.now();
    const acked = Promise.all(
      devices.map(({ creds }) => {
        const { hostname, port } = new URL(creds.url!);
        const topic = creds.events.replace('{domain}/{type}', 'bench/inc');
        const p = spawn('mosquitto_pub', ['-h', hostname, '-p', port, '-u', creds.username, '-P', creds.password, '-q', '1', '-t', topic, '-l'], { stdio: ['pipe', 'ignore', 'inherit'] });
        p.stdin.end('{}\n'.repeat(k));
        return new Promise<number>((resolve, reject) => p.once('exit', (code) => (code === 0 ? resolve(performance.now()) : reject(new Error(`mosquitto_pub exited with ${code}`)))));
      }),
    );
    let applied = 0;
    for (let tries = 0; applied < total; tries++) {
      if (tries > 1200) throw new Error(`only ${applied} of ${total} readings were applied`);
      await sleep(250);
      const counts = await Promise.all(devices.map(async ({ eci }) => (await (await fetch(`${url}/sky/cloud/${eci}/${BENCH_RID}/count`)).json()) as number));
      applied = counts.reduce((s, c) => s + c, 0);
    }
    const tApplied = performance.now();
    const tAcked = Math.max(...(await acked));
    await stop(child);
    emit({
      name: 'h2.mqtt-qos1',
      devices: m,
      readings: total,
      readingsPerSec: round(total / ((tApplied - t0) / 1000), 0),
      pubackedPerSec: round(total / ((tAcked - t0) / 1000), 0),
      ...(await machine()),
    });
  } finally {
    nats.stop();
  }
}

// ---- plumbing ----

const TICKS = 100; // clock ticks per second (USER_HZ) in /proc/<pid>/stat

/** A process's CPU time (ticks) and RSS (bytes), from /proc (Linux). */
function usage(pid: number): { cpuTicks: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return { cpuTicks: Number(fields[11]) + Number(fields[12]), rss: rssKb * 1024 };
}

/** Open a WebSocket per ECI, 500 at a time, each ready (attached) before it counts. */
async function openSockets(base: string, ecis: string[]): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < ecis.length; i += 500) {
    sockets.push(
      ...(await Promise.all(
        ecis.slice(i, i + 500).map(
          (eci) =>
            new Promise<WebSocket>((resolve, reject) => {
              const ws = new WebSocket(`${base}/ws/${eci}`);
              ws.once('message', () => resolve(ws)); // {op: 'ready'}
              ws.once('error', reject);
            }),
        ),
      )),
    );
  }
  return sockets;
}

/** The host child, under a raised open-file limit; resolves with its first line. */
function host(argv: string[]): Promise<{ child: ChildProcess; info: unknown }> {
  const script = `ulimit -n $(ulimit -Hn | awk '{print ($1 == "unlimited" || $1 > 65536) ? 65536 : $1}') && exec "$0" "$@"`;
  const child = spawn('/bin/sh', ['-c', script, process.execPath, fileURLToPath(import.meta.url), ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, info: JSON.parse(out.slice(0, nl)) });
    });
    child.once('exit', (code) => reject(new Error(`the host exited with ${code}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** nats-server in operator mode with JetStream and its MQTT listener, on free ports. */
async function startMqttNats(): Promise<{ url: string; mqtt: string; creds: string; key: string; account: string; stop(): void }> {
  const mqttPort = await freePort();
  const setup = operatorSetup();
  const nats = await startNats(async (dir) => {
    await writeFile(join(dir, 'hosts.creds'), setup.hostCreds);
    await writeFile(join(dir, 'devices.nk'), setup.deviceKeySeed);
    return `mqtt { listen: "127.0.0.1:${mqttPort}" }\n${setup.config}`;
  });
  return { url: nats.url, mqtt: `mqtt://127.0.0.1:${mqttPort}`, creds: join(nats.dir, 'hosts.creds'), key: join(nats.dir, 'devices.nk'), account: setup.account, stop: () => nats.stop() };
}

// Last: every declaration above is initialized by now.
if (args.child === 'ws-host') await wsHost();
else if (args.child === 'mqtt-host') await mqttHost();
else await main();

/** The bench's parent stops a host with SIGTERM: stop serving, remove its data directory, exit. */
function stopOnSigterm(server: { stop(): Promise<unknown> }, dir: string): void {
  process.on(
    'SIGTERM',
    () =>
      void server
        .stop()
        .then(() => removeDir(dir))
        .then(() => process.exit(0)),
  );
}
