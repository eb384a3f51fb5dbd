import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real nats-server processes, without vitest (the test harness and the chaos run both use them):
 * one server or a three-node cluster with JetStream, on free loopback ports, each with a store
 * directory of its own.
 */

/** Fails at once with the one-line instruction when nats-server is not installed. */
export function requireNatsServer(): void {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('nats-server is not installed: run `apt-get install -y nats-server` (Debian package, 2.9)');
}

/** A port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Can a server listen on `port` of loopback right now? */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive ports free on loopback, for a command that takes a base port and uses the
 * ones after it (`kumo realm up --port`). Drawn below Linux's range of ephemeral ports (32768 and up),
 * where the suite's own servers on port 0 and its outgoing connections take theirs, so that none of
 * them takes one of these between this check and their use.
 */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count));
    const free = await Promise.all(Array.from({ length: count }, (_, i) => bindable(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no run of ${count} free ports found between 20000 and 32000`);
}

export interface NatsNode {
  readonly name: string;
  readonly url: string;
  readonly running: boolean;
  /** Kill the process (SIGKILL by default) and wait for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start it again, same ports and store. */
  start(): Promise<void>;
}

export interface NatsSystem {
  nodes: NatsNode[];
  /** Every node's URL, comma-separated (what `--nats` takes). */
  url: string;
  /** URLs with the credentials in them, when the system has a user. */
  urls: string[];
}

export interface NatsOptions {
  /** 1 (default) or 3 for a cluster. */
  nodes?: number;
  /** Require this user and password from clients. */
  user?: string;
  password?: string;
  /** Extra configuration text for every node (e.g. an mqtt block). */
  extra?: (node: number) => string;
}

/**
 * Start nats-server (or a cluster of them) with JetStream on free ports. `cleanup` is handed what
 * kills them and removes their store (the test harness runs it after the test).
 */
export async function startNatsSystem(opts: NatsOptions, cleanup: (fn: () => Promise<void>) => void): Promise<NatsSystem> {
  requireNatsServer();
  const count = opts.nodes ?? 1;
  const dir = await mkdtemp(join(tmpdir(), 'kumo-nats-'));
  const ports = await Promise.all(Array.from({ length: count }, async () => ({ client: await freePort(), cluster: await freePort() })));
  const auth = opts.user ? `authorization { user: "${opts.user}", password: "${opts.password ?? ''}" }\n` : '';
  const nodes: NatsNode[] = [];
  for (let i = 0; i < count; i++) {
    const name = `n${i + 1}`;
    const routes = ports.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p.cluster}`);
    const cluster = count > 1 ? `cluster { name: "kumo-test", listen: "127.0.0.1:${ports[i]!.cluster}", routes: [${routes.map((r) => `"${r}"`).join(', ')}] }\n` : '';
    const conf = join(dir, `${name}.conf`);
    await writeFile(conf, `server_name: ${name}\nlisten: "127.0.0.1:${ports[i]!.client}"\njetstream { store_dir: "${join(dir, name)}" }\n${cluster}${auth}${opts.extra?.(i) ?? ''}`);
    nodes.push(node(name, conf, ports[i]!.client));
  }
  await Promise.all(nodes.map((n) => n.start()));
  cleanup(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await rm(dir, { recursive: true, force: true });
  });
  const cred = opts.user ? `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.password ?? '')}@` : '';
  const urls = ports.map((p) => `nats://${cred}127.0.0.1:${p.client}`);
  return { nodes, url: urls.join(','), urls };
}

function node(name: string, conf: string, port: number): NatsNode {
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  return {
    name,
    url: `nats://127.0.0.1:${port}`,
    get running() {
      return proc !== null;
    },
    async start() {
      const p = spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc = p;
      exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
      let log = '';
      await new Promise<void>((resolve, reject) => {
        p.stderr.setEncoding('utf8').on('data', (d: string) => {
          log += d;
          if (log.includes('Server is ready')) resolve();
        });
        void exited.then(() => reject(new Error(`nats-server ${name} exited before it was ready:\n${log}`)));
      });
      p.stderr.resume();
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!proc) return;
      proc.kill(signal);
      await exited;
      proc = null;
    },
  };
}
