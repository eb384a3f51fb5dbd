/**
 * The fleet example (README, "Example: a fleet of thermometers"): a realm of two hosts on this
 * machine (nats-server with MQTT, started here), an owner's home cloud, and N simulated thermometers,
 * each owning its cloud: made by the owner with a claim code, claimed by the device, linked to the
 * home. Half speak WebSocket (`kumo/client`), half MQTT (Eclipse Mosquitto's mosquitto_pub, one per
 * device, with the device's own credentials). Every thermometer sends a reading each second; the
 * home shows the house's temperatures.
 *
 *   npx tsx examples/fleet/fleet.ts [--thermometers 6] [--seconds N] [--dir ./kumo-fleet]
 *                                   [--port 3101] [--nats-port 4334] [--mqtt-port 1884]
 *
 * Needs nats-server and mosquitto-clients (Debian: apt-get install -y nats-server mosquitto-clients).
 * Runs until Ctrl-C, or for --seconds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { claim, connect, type KumoClient } from 'kumo/client';
import { realmUp } from '../../channels/cli/realm-up.ts';

const { values } = parseArgs({
  options: {
    thermometers: { type: 'string', default: '6' },
    seconds: { type: 'string' },
    dir: { type: 'string', default: './kumo-fleet' },
    port: { type: 'string', default: '3101' },
    'nats-port': { type: 'string', default: '4334' },
    'mqtt-port': { type: 'string', default: '1884' },
  },
});
const N = Number(values.thermometers);
const dir = resolve(values.dir);

// A fresh realm each run: a folder left by an earlier run is replaced, anything else is not touched.
const left = await readdir(dir).catch((): string[] => []);
if (left.length > 0 && !left.includes('operator.json')) throw new Error(`${dir} is not empty and not an earlier fleet's: choose another --dir`);
await rm(dir, { recursive: true, force: true });
const realm = await realmUp({
  hosts: 2,
  dir,
  port: Number(values.port),
  natsPort: Number(values['nats-port']),
  mqttPort: Number(values['mqtt-port']),
  rulesetsDir: resolve(import.meta.dirname, '..'),
  log: () => undefined,
});
const [url1, url2] = realm.urls as [string, string];
console.log(`realm: hosts ${url1} ${url2}, MQTT on mqtt://127.0.0.1:${values['mqtt-port']}`);

/** The owner's side: a wrangler event over the sky API; the options of its first directive. */
async function wrangler(url: string, eci: string, type: string, attrs: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/sky/event/${eci}/none/wrangler/${type}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(attrs) });
  const body = (await res.json()) as { directives: Array<{ options: Record<string, unknown> }> };
  if (!res.ok) throw new Error(`wrangler:${type}: ${JSON.stringify(body)}`);
  return body.directives[0]?.options ?? {};
}
const query = async (url: string, eci: string, rid: string, name: string): Promise<unknown> => (await fetch(`${url}/sky/cloud/${eci}/${rid}/${name}`)).json();

const owner = (await readFile(`${join(dir, 'host-1')}.eci`, 'utf8')).trim();
const home = (await wrangler(url1, owner, 'new_child_request', { name: 'home', rids: ['example.home'] }))['eci'] as string;
await wrangler(url1, home, 'autoAcceptConfigUpdate', { configName: 'thermometers', regexMap: { Tx_role: ['^thermostat$'] } });
const wellKnown = ((await query(url1, home, 'io.picolabs.subscription', 'wellKnown_Rx')) as { id: string }).id;

interface Thermometer {
  name: string;
  via: 'websocket' | 'mqtt';
  read(temperature: number): void;
  stop(): Promise<void>;
}

/** The device's side: a claim code in, its ECI out; then readings, over WebSocket or MQTT. */
async function thermometer(i: number): Promise<Thermometer> {
  const name = `thermometer-${i}`;
  const made = (await wrangler(url1, owner, 'new_device_request', { name, rids: ['example.thermostat'] })) as { eci: string; claim: { code: string } };
  await wrangler(url1, made.eci, 'subscription', { wellKnown_Tx: wellKnown, name, Rx_role: 'thermostat', Tx_role: 'home' });
  const url = i % 2 === 0 ? url1 : url2; // any host is a front door
  const { eci } = await claim(url, made.claim.code);
  if (i % 2 === 0) {
    const kumo: KumoClient = connect(url, eci);
    return { name, via: 'websocket', read: (t) => void kumo.event('thermostat', 'reading', { temperature: t }).catch(() => undefined), stop: () => Promise.resolve(kumo.close()) };
  }
  const creds = (await (await fetch(`${url}/c/${eci}/mqtt`, { method: 'POST' })).json()) as { url: string; username: string; password: string; events: string };
  const { hostname, port } = new URL(creds.url);
  const topic = creds.events.replace('{domain}/{type}', 'thermostat/reading');
  const pub: ChildProcess = spawn('mosquitto_pub', ['-h', hostname, '-p', port, '-u', creds.username, '-P', creds.password, '-q', '1', '-t', topic, '-l'], { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise<void>((r) => pub.once('exit', () => r()));
  return { name, via: 'mqtt', read: (t) => pub.stdin!.write(`${JSON.stringify({ temperature: t })}\n`), stop: async () => (pub.stdin!.end(), await exited) };
}

const fleet = await Promise.all(Array.from({ length: N }, (_, i) => thermometer(i + 1)));
console.log(`${N} thermometers: ${fleet.filter((t) => t.via === 'websocket').length} over WebSocket, ${fleet.filter((t) => t.via === 'mqtt').length} over MQTT, linked to the home`);

const temperatures = fleet.map((_, i) => 19 + i * 0.5);
const tick = setInterval(() => {
  fleet.forEach((t, i) => t.read((temperatures[i] = Math.round((temperatures[i]! + (Math.random() - 0.5)) * 10) / 10)));
}, 1000);

/** The house's temperatures, as the home cloud has them (asked through host 2). */
async function show(): Promise<void> {
  const rooms = (await query(url2, home, 'example.home', 'temperatures')) as Record<string, { temperature: number; mode: string; time: number }>;
  const lines = fleet.map((t) => `  ${t.name.padEnd(16)} ${t.via.padEnd(10)} ${rooms[t.name] ? `${rooms[t.name]!.temperature.toFixed(1)} °C  ${rooms[t.name]!.mode}` : '—'}`);
  console.log(`home, ${new Date().toISOString()}:\n${lines.join('\n')}`);
}
const shower = setInterval(() => void show().catch((err: unknown) => console.error(`home: ${String(err)}`)), 3000);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(tick);
  clearInterval(shower);
  await Promise.all(fleet.map((t) => t.stop()));
  await new Promise((r) => setTimeout(r, 1500)); // the last readings reach the home
  await show();
  await realm.stop();
  process.exit(0);
}
process.once('SIGINT', () => void stop());
if (values.seconds !== undefined) setTimeout(() => void stop(), Number(values.seconds) * 1000);
