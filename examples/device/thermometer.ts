/**
 * An example device: a thermometer that owns a cloud, written with the client library `kumo/client`.
 * (A folder of its own, so `kumo serve --rulesets examples` does not load it as a ruleset.)
 *
 *   npx kumo device add thermo --rids example.temperature     # prints a claim code
 *   npx tsx examples/device/thermometer.ts --code XXXX-XXXX-XXXX
 *
 * On its first run it trades the claim code for its ECI and keeps the ECI in `--eci-file` (default
 * ./thermometer.eci); later runs need no code. Then it sends a `sensor:reading` every `--every` ms
 * (default 2000), `--count` times (default: until Ctrl-C), prints each answer and the alerts its
 * cloud pushes. Stop the host for a while: readings wait in the client's queue and go out, each
 * applied once, when the host is back.
 *
 * Options: --url (default $KUMO_URL or http://localhost:3000), --code, --eci-file, --every, --count.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { claim, connect, KumoClientError, type EventResult } from 'kumo/client';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env['KUMO_URL'] || 'http://localhost:3000' },
    code: { type: 'string' },
    'eci-file': { type: 'string', default: 'thermometer.eci' },
    every: { type: 'string', default: '2000' },
    count: { type: 'string' },
  },
});
const url = values.url;
const file = values['eci-file'];
const every = Number(values.every);
const count = values.count === undefined ? Infinity : Number(values.count);

/** The device's ECI: kept from an earlier run, or claimed now with the owner's one-time code. */
async function myEci(): Promise<string> {
  const kept = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (kept) return kept;
  if (!values.code) throw new Error('no ECI yet: give the claim code printed by `kumo device add` (--code)');
  const { eci } = await claim(url, values.code);
  await writeFile(file, `${eci}\n`, { mode: 0o600 });
  console.log(`claimed ECI ${eci} (kept in ${file})`);
  return eci;
}

let eci: string;
try {
  eci = await myEci();
} catch (err) {
  console.error(`thermometer: ${err instanceof KumoClientError ? `${err.code}: ` : ''}${(err as Error).message}`);
  process.exit(1);
}

const kumo = connect(url, eci);
kumo.onState((state) => console.log(`connection ${state}`));
kumo.on('alert', (data) => console.log(`alert pushed: ${JSON.stringify(data)}`));

let temperature = 20;
const sent: Array<Promise<void>> = [];
const show = (t: number, r: EventResult): void => console.log(`reading ${t} → ${r.directives.map((d) => d.name).join(', ') || '(no directives)'}${r.replay ? ' (replayed)' : ''}`);

/** One reading: a random walk. Not awaited here, so readings keep coming (and queue) while the host is away. */
function read(): void {
  const t = (temperature = Math.round((temperature + (Math.random() - 0.5) * 4) * 10) / 10);
  sent.push(
    kumo.event('sensor', 'reading', { temperature: t }).then(
      (r) => show(t, r),
      (err: KumoClientError) => console.error(`reading ${t} failed: ${err.code}: ${err.message}`),
    ),
  );
}

let taken = 0;
const timer = setInterval(() => {
  if (taken++ < count) read();
  if (taken >= count) void stop();
}, every);

async function stop(): Promise<void> {
  clearInterval(timer);
  await Promise.all(sent);
  kumo.close();
}
process.once('SIGINT', () => void stop());
