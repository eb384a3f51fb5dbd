import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { onCleanup, tempDir } from './helpers.ts';
import { post, rootEci, startServerProcess } from './server-harness.ts';

/**
 * Links between a kumo cloud and a pico on a real pico engine (1.x). The engine is no dependency of
 * kumo: install one outside the project and point PICO_ENGINE_DIR at its built `pico-engine`
 * package (the folder with dist/index.js). Without it these tests are skipped.
 */
const PICO = process.env['PICO_ENGINE_DIR'];
const SUBS = 'io.picolabs.subscription';
const patient = { timeout: 15_000, interval: 100 };

/** Start the pico engine on a free port; resolves to its base URL and the root pico's UI ECI. */
async function startPicoEngine(dir: string): Promise<{ url: string; ui: string }> {
  const home = await tempDir();
  const script = `require(${JSON.stringify(join(dir, 'dist/index.js'))}).startEngine({ home: ${JSON.stringify(home)}, port: 0 }).then((e) => console.log('pico-engine ' + e.base_url + ' ' + e.uiECI))`;
  const proc = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  onCleanup(async () => {
    proc.kill('SIGKILL');
    await exited;
  });
  let out = '';
  return new Promise((resolve, reject) => {
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /pico-engine (\S+) (\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, ui: m[2]! });
    });
    void exited.then(() => reject(new Error(`the pico engine exited before listening:\n${out}`)));
  });
}

async function json(url: string, body?: unknown): Promise<any> {
  const res = await fetch(url, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return text === '' ? null : JSON.parse(text);
}

describe.skipIf(!PICO)('links with a real pico engine (set PICO_ENGINE_DIR to a built pico-engine 1.x package to run)', () => {
  it('a pico proposes, kumo approves, events flow both ways, the pico cancels; then kumo proposes, the pico approves, kumo cancels', async () => {
    const pico = await startPicoEngine(PICO!);
    const kumo = await startServerProcess();
    const owner = await rootEci(kumo);
    const picoSubs = (name: string) => json(`${pico.url}/c/${pico.ui}/query/${SUBS}/${name}`);
    const picoEvent = (eci: string, type: string, attrs: Record<string, unknown>, domain = 'wrangler') => json(`${pico.url}/c/${eci}/event-wait/${domain}/${type}`, attrs);
    const kumoSubs = async (name: string) => (await post(`${kumo.url}/sky/cloud/${owner}/${SUBS}/${name}`)).body;
    const kumoEvent = async (type: string, attrs: Record<string, unknown>) => (await post(`${kumo.url}/sky/event/${owner}/i-${Math.random()}/wrangler/${type}`, attrs)).body;

    // The pico proposes to kumo's well-known ECI, as its UI does (with nulls and a password).
    const wellKnown = (await kumoSubs('wellKnown_Rx')).id;
    await picoEvent(pico.ui, 'subscription', { wellKnown_Tx: wellKnown, Tx_host: kumo.url, Rx_role: 'thermostat', Tx_role: 'home', name: 'pico thermostat', channel_type: null, password: null });
    await vi.waitFor(async () => expect(await kumoSubs('inbound')).toMatchObject([{ Tx_host: pico.url, Rx_role: 'home', Tx_role: 'thermostat', Rx: null }]), patient);
    const [pending] = await kumoSubs('inbound');
    await kumoEvent('pending_subscription_approval', { Id: pending.Id });
    await vi.waitFor(async () => expect(await picoSubs('established')).toMatchObject([{ Id: pending.Id, Tx_host: kumo.url }]), patient);
    const [atKumo] = await kumoSubs('established');

    // kumo → pico over the link; pico → kumo through a channel of the pico that may raise send_event_on_subs.
    await kumoEvent('send_event_on_subs', { subID: pending.Id, domain: 'thermostat', type: 'mode', attrs: { mode: 'cool' } });
    await vi.waitFor(async () => expect((await json(`${pico.url}/c/${pico.ui}/query/io.picolabs.pico-engine-ui/logs`)).map((g: { header: string }) => g.header)).toContain(`EVENT ${atKumo.Tx} thermostat:mode {"mode":"cool"}`), patient);
    await picoEvent(pico.ui, 'new_channel', { tags: ['kumo-test'], eventPolicy: { allow: [{ domain: 'wrangler', name: 'send_event_on_subs' }], deny: [] }, queryPolicy: { allow: [], deny: [] } }, 'engine_ui');
    const channels = (await json(`${pico.url}/c/${pico.ui}/query/io.picolabs.pico-engine-ui/pico`)).channels as Array<{ id: string; tags: string[] }>;
    const relay = channels.find((c) => c.tags.includes('kumo-test'))!.id;
    await picoEvent(relay, 'send_event_on_subs', { Tx_role: 'home', domain: 'thermostat', type: 'reading', attrs: { temperature: 26 } });
    await vi.waitFor(async () => expect((await json(`${kumo.url}/c/${owner}/logs?limit=1`)).entries[0]).toMatchObject({ domain: 'thermostat', type: 'reading' }), patient);

    // The pico cancels: kumo's ECI for the link is gone.
    await picoEvent(pico.ui, 'subscription_cancellation', { Id: pending.Id });
    await vi.waitFor(async () => expect(await kumoSubs('established')).toEqual([]), patient);
    expect((await post(`${kumo.url}/c/${atKumo.Rx}/event/thermostat/reading`)).status).toBe(404);

    // kumo proposes to the pico's well-known ECI; the pico approves; kumo cancels: the pico's ECI is gone.
    const picoWellKnown = (await picoSubs('wellKnown_Rx')).id;
    const proposed = await kumoEvent('subscription', { wellKnown_Tx: picoWellKnown, Tx_host: pico.url, Rx_role: 'home', Tx_role: 'thermostat', name: 'kumo home' });
    const Id = proposed.directives[0].options.Id;
    await vi.waitFor(async () => expect(await picoSubs('inbound')).toMatchObject([{ Id, Tx_host: kumo.url, Rx_role: 'thermostat' }]), patient);
    await picoEvent(pico.ui, 'pending_subscription_approval', { Id });
    await vi.waitFor(async () => expect(await kumoSubs('established')).toMatchObject([{ Id, Tx_host: pico.url }]), patient);
    const [atKumo2] = await kumoSubs('established');
    await kumoEvent('subscription_cancellation', { Id });
    await vi.waitFor(async () => expect(await picoSubs('established')).toEqual([]), patient);
    expect(await json(`${pico.url}/c/${atKumo2.Tx}/event/thermostat/reading`, {})).toMatchObject({ error: expect.stringContaining('ECI not found') });

    // A pico engine's error answer (HTTP 200 {"error"}) is a failure: a dead letter, not a delivery.
    await kumoEvent('subscription', { wellKnown_Tx: 'no-such-eci', Tx_host: pico.url });
    await vi.waitFor(async () => expect((await json(`${kumo.url}/c/${owner}/dead-letters`)).deadLetters).toMatchObject([{ eci: 'no-such-eci', host: pico.url, reason: { code: 'REMOTE_REFUSED' } }]), patient);
  });

  it('a pico rejects kumo’s proposal, and kumo rejects a pico’s: no ECI is left on either side', async () => {
    const pico = await startPicoEngine(PICO!);
    const kumo = await startServerProcess();
    const owner = await rootEci(kumo);
    const picoSubs = (name: string) => json(`${pico.url}/c/${pico.ui}/query/${SUBS}/${name}`);
    const kumoSubs = async (name: string) => (await post(`${kumo.url}/sky/cloud/${owner}/${SUBS}/${name}`)).body;

    const proposed = (await post(`${kumo.url}/sky/event/${owner}/r1/wrangler/subscription`, { wellKnown_Tx: (await picoSubs('wellKnown_Rx')).id, Tx_host: pico.url, Rx_role: 'a', Tx_role: 'b' })).body.directives[0].options;
    await vi.waitFor(async () => expect(await picoSubs('inbound')).toHaveLength(1), patient);
    await json(`${pico.url}/c/${pico.ui}/event-wait/wrangler/inbound_rejection`, { Id: proposed.Id });
    await vi.waitFor(async () => expect(await kumoSubs('outbound')).toEqual([]), patient);
    expect((await post(`${kumo.url}/c/${proposed.Rx}/event/a/b`)).status).toBe(404);

    await json(`${pico.url}/c/${pico.ui}/event-wait/wrangler/subscription`, { wellKnown_Tx: (await kumoSubs('wellKnown_Rx')).id, Tx_host: kumo.url, Rx_role: 'x', Tx_role: 'y', name: 'n' });
    await vi.waitFor(async () => expect(await kumoSubs('inbound')).toHaveLength(1), patient);
    const [outbound] = await picoSubs('outbound');
    await post(`${kumo.url}/sky/event/${owner}/r2/wrangler/inbound_rejection`, { Id: outbound.Id });
    await vi.waitFor(async () => expect(await picoSubs('outbound')).toEqual([]), patient);
    expect(await json(`${pico.url}/c/${outbound.Rx}/event/a/b`, {})).toMatchObject({ error: expect.stringContaining('ECI not found') });
  });
});
