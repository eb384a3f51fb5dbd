import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rootEciFile } from '../serve.ts';
import { operatorSetup, type OperatorSetup } from '../realm/nats-jwt.ts';

/**
 * `kumo realm up`: a whole realm on one machine for trying kumo out: nats-server with JetStream,
 * and N hosts joined to it, each on its own port and data directory under one folder. It stays in
 * the foreground; Ctrl-C stops the hosts gracefully, then nats-server. With MQTT, nats-server runs
 * in operator mode (made once, kept in the folder) with its MQTT listener, and the hosts apply
 * devices' events and hand out their credentials.
 */

export interface RealmUpOptions {
  hosts: number;
  /** Folder for nats-server's store and the hosts' data directories. */
  dir: string;
  /** Port of host 1; host i listens on port + i − 1 (0: each host on a free port). */
  port: number;
  /** nats-server's client port. */
  natsPort: number;
  rulesetsDir?: string;
  /** nats-server's MQTT port, for MQTT devices. */
  mqttPort?: number;
  log(line: string): void;
}

export interface RunningRealm {
  urls: string[];
  stop(): Promise<void>;
}

const KUMO_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'kumo.js');

/** Start nats-server and the hosts; resolves once every host listens. */
export async function realmUp(o: RealmUpOptions): Promise<RunningRealm> {
  if (spawnSync('nats-server', ['--version']).status !== 0) throw new Error('nats-server is not installed: run `apt-get install -y nats-server` (Debian package) or see https://docs.nats.io');
  const dir = resolve(o.dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const conf = join(dir, 'nats.conf');
  const mqtt = o.mqttPort === undefined ? '' : `mqtt { listen: "127.0.0.1:${o.mqttPort}" }\n${(await mqttSetup(dir)).config}`;
  await writeFile(conf, `server_name: kumo-realm\nlisten: "127.0.0.1:${o.natsPort}"\njetstream { store_dir: "${join(dir, 'nats')}" }\n${mqtt}`, { mode: 0o600 });
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const c of children.slice(1).reverse()) c.kill('SIGTERM');
    await Promise.all(children.slice(1).map(exited));
    children[0]?.kill('SIGTERM');
    if (children[0]) await exited(children[0]);
  };
  try {
    const nats = spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(nats);
    await waitFor(nats, 'stderr', /Server is ready/, 'nats-server');
    o.log(`kumo realm: nats-server with JetStream on nats://127.0.0.1:${o.natsPort} (store ${join(dir, 'nats')})${o.mqttPort === undefined ? '' : `, MQTT on mqtt://127.0.0.1:${o.mqttPort}`}`);
    const mqttArgs = o.mqttPort === undefined ? [] : ['--nats-creds', join(dir, 'hosts.creds'), '--mqtt-key', join(dir, 'devices.nk'), '--mqtt-account', (await mqttSetup(dir)).account, '--mqtt-url', `mqtt://127.0.0.1:${o.mqttPort}`];
    const urls = await Promise.all(
      Array.from({ length: o.hosts }, async (_, i) => {
        const name = `host-${i + 1}`;
        const args = [KUMO_BIN, 'serve', '--port', String(o.port === 0 ? 0 : o.port + i), '--data', join(dir, name), '--nats', `nats://127.0.0.1:${o.natsPort}`, '--host-id', name, ...mqttArgs];
        if (o.rulesetsDir) args.push('--rulesets', o.rulesetsDir);
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        child.stderr.on('data', (d: Buffer) => o.log(`[${name}] ${d.toString().trimEnd()}`));
        const line = await waitFor(child, 'stdout', /kumo listening on (\S+)/, name);
        return { name, url: line[1]!, dataDir: join(dir, name) };
      }),
    );
    for (const h of urls) o.log(`kumo realm: ${h.name} on ${h.url}, data ${h.dataDir}, owner ECI in ${rootEciFile(h.dataDir)}`);
    return { urls: urls.map((h) => h.url), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** Wait for a line matching `re` on a child's stream; fails if the child exits first. */
function waitFor(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp, name: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const source = child[stream]!;
    const onData = (d: Buffer): void => {
      seen += d.toString();
      const m = re.exec(seen);
      if (m) {
        source.off('data', onData);
        source.resume();
        resolve(m);
      }
    };
    source.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready:\n${seen}`)));
  });
}

/**
 * The realm's operator setup (operator, accounts, the hosts' credentials, the device signing key):
 * made on the first start and kept in the folder, since nats-server's store belongs to its accounts.
 */
async function mqttSetup(dir: string): Promise<OperatorSetup> {
  const file = join(dir, 'operator.json');
  const kept = await readFile(file, 'utf8').catch(() => null);
  if (kept) return JSON.parse(kept) as OperatorSetup;
  const setup = operatorSetup();
  await writeFile(file, JSON.stringify(setup), { mode: 0o600 });
  await writeFile(join(dir, 'hosts.creds'), setup.hostCreds, { mode: 0o600 });
  await writeFile(join(dir, 'devices.nk'), `${setup.deviceKeySeed}\n`, { mode: 0o600 });
  return setup;
}
