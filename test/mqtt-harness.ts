import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { operatorSetup } from '../channels/realm/nats-jwt.ts';
import { onCleanup, tempDir } from './helpers.ts';
import { freePort, startNats, type NatsSystem } from './nats-harness.ts';
import { realmHost, type RealmHostOptions } from './realm-harness.ts';
import { post, wrangler, type ServerProcess } from './server-harness.ts';

/**
 * A realm with MQTT for tests: nats-server in operator mode (the realm's account with JetStream, a
 * signing key for device credentials) with its MQTT listener, real `kumo serve --mqtt-key` hosts,
 * and real MQTT clients: Eclipse Mosquitto's mosquitto_pub and mosquitto_sub.
 */

export interface MqttRealm {
  nats: NatsSystem;
  mqttPort: number;
  /** Options of `kumo serve` for a host of this realm. */
  args: string[];
}

/** What `POST /c/:eci/mqtt` answers. */
export interface Credentials {
  url: string;
  username: string;
  password: string;
  events: string;
  pushes: string;
}

export function requireMosquitto(): void {
  if (spawnSync('mosquitto_pub', ['--help']).error) throw new Error('mosquitto-clients is not installed: run `apt-get install -y mosquitto-clients`');
}

export async function startMqttRealm(): Promise<MqttRealm> {
  requireMosquitto();
  const setup = operatorSetup();
  const mqttPort = await freePort();
  const nats = await startNats({ extra: () => `mqtt { listen: "127.0.0.1:${mqttPort}" }\n${setup.config}` });
  const dir = await tempDir();
  await writeFile(join(dir, 'hosts.creds'), setup.hostCreds, { mode: 0o600 });
  await writeFile(join(dir, 'devices.nk'), setup.deviceKeySeed, { mode: 0o600 });
  const args = ['--nats-creds', join(dir, 'hosts.creds'), '--mqtt-key', join(dir, 'devices.nk'), '--mqtt-account', setup.account, '--mqtt-url', `mqtt://127.0.0.1:${mqttPort}`];
  return { nats, mqttPort, args };
}

/** `kumo serve` as host `name` of the realm, with MQTT. */
export function mqttHost(realm: MqttRealm, name: string, o: RealmHostOptions = {}): Promise<ServerProcess> {
  return realmHost(realm.nats.url, name, { ...o, args: [...realm.args, ...(o.args ?? [])] });
}

/** A device of the tally ruleset: made by the owner, claimed, and given its MQTT credentials. */
export async function mqttDevice(url: string, owner: string, name: string): Promise<{ eci: string; creds: Credentials }> {
  const made = await wrangler(url, owner, 'new_device_request', { name, rids: ['test.tally'] }, 'wrangler:new_device_created');
  const claimed = await post(`${url}/claim`, { code: made['claim'].code });
  const eci = claimed.body.eci as string;
  const r = await post(`${url}/c/${eci}/mqtt`);
  if (r.status !== 200) throw new Error(`mqtt credentials: ${r.status} ${JSON.stringify(r.body)}`);
  return { eci, creds: r.body as Credentials };
}

/** The topic of an event of the device. */
export const eventTopic = (creds: Credentials, domain: string, type: string): string => creds.events.replace('{domain}/{type}', `${domain}/${type}`);

const connection = (creds: Credentials): string[] => {
  const { hostname, port } = new URL(creds.url);
  return ['-h', hostname, '-p', port, '-u', creds.username, '-P', creds.password];
};

/**
 * Publish each payload with QoS 1 (mosquitto_pub -l: one line, one message). Resolves with its exit
 * code: 0 once every PUBACK came back.
 */
export function publish(creds: Credentials, topic: string, payloads: unknown[]): Promise<number | null> {
  const p = spawn('mosquitto_pub', [...connection(creds), '-q', '1', '-t', topic, '-l'], { stdio: ['pipe', 'ignore', 'inherit'] });
  onCleanup(() => p.exitCode === null && p.kill('SIGKILL')); // one still waiting for a PUBACK when the test ends
  p.stdin.end(payloads.map((x) => JSON.stringify(x)).join('\n') + '\n');
  return new Promise((resolve) => p.once('exit', (code) => resolve(code)));
}

export interface Subscriber {
  /** What the broker granted each topic, in order (128: refused). */
  granted: Promise<number[]>;
  /** `topic payload` of each message received so far. */
  messages(): string[];
}

/** mosquitto_sub on `topics` (QoS 1), until the test ends. */
export function subscribe(creds: Credentials, topics: string[]): Subscriber {
  // Line-buffered (stdbuf): into a pipe, mosquitto_sub's stdout would wait for a full buffer.
  const p = spawn('stdbuf', ['-oL', 'mosquitto_sub', ...connection(creds), '-q', '1', '-v', '-d', ...topics.flatMap((t) => ['-t', t])], { stdio: ['ignore', 'pipe', 'inherit'] });
  onCleanup(async () => {
    if (p.exitCode === null) {
      p.kill();
      await new Promise((r) => p.once('exit', r));
    }
  });
  const lines: string[] = [];
  let rest = '';
  let grant!: (codes: number[]) => void;
  const granted = new Promise<number[]>((r) => (grant = r));
  p.stdout.setEncoding('utf8').on('data', (d: string) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop()!;
    for (const line of parts) {
      const m = /^Subscribed \(mid: \d+\): (.*)$/.exec(line);
      if (m) grant(m[1]!.split(', ').map(Number));
      else if (!line.startsWith('Client ') && line !== 'All subscription requests were denied.') lines.push(line);
    }
  });
  return { granted, messages: () => [...lines] };
}
