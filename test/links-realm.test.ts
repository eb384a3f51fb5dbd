import { describe, expect, it, vi } from 'vitest';
import { post, rootEci, type ServerProcess } from './server-harness.ts';
import { startNats } from './nats-harness.ts';
import { counts, realmHost, tallyCloud } from './realm-harness.ts';

/**
 * Links between clouds on different hosts of one realm (separate `kumo serve --nats` processes):
 * the whole lifecycle, and a link that keeps working after one side's cloud moved to another host.
 */

const SUBS = 'io.picolabs.subscription';
type Bus = { Id: string; Tx: string | null; Rx: string | null; Tx_role: string | null; Tx_host: string | null };
const patient = { timeout: 20_000, interval: 100 };

const query = async (s: ServerProcess, eci: string, name: string) => (await post(`${s.url}/sky/cloud/${eci}/${SUBS}/${name}`)).body;
const ev = (s: ServerProcess, eci: string, type: string, attrs: Record<string, unknown>) => post(`${s.url}/sky/event/${eci}/l${Math.random().toString(36).slice(2)}/wrangler/${type}`, attrs);
const mark = (s: ServerProcess, eci: string, role: string, n: number) => ev(s, eci, 'send_event_on_subs', { Tx_role: role, domain: 'tally', type: 'mark', attrs: { n } });

describe('links across hosts of a realm', { timeout: 120_000 }, () => {
  it('link, send both ways, survive a move of one side, and cancel: what is cancelled answers 404 through every host', async () => {
    const nats = await startNats();
    const [a, b, c] = await Promise.all([realmHost(nats.url, 'a'), realmHost(nats.url, 'b'), realmHost(nats.url, 'c')]);
    const thermo = await tallyCloud(a.url, await rootEci(a), 'thermostat');
    const home = await tallyCloud(b.url, await rootEci(b), 'home');
    const wellKnown = ((await query(b, home, 'wellKnown_Rx')) as { id: string }).id;

    // The thermostat (on a) proposes through host c; the home (on b) approves through host a.
    const proposed = await ev(c, thermo, 'subscription', { wellKnown_Tx: wellKnown, Rx_role: 'thermostat', Tx_role: 'home' });
    expect(proposed.status).toBe(200);
    const { Id } = proposed.body.directives[0].options as Bus;
    await vi.waitFor(async () => expect((await query(c, home, 'inbound')) as Bus[]).toMatchObject([{ Id, Tx_host: null }]), patient);
    expect((await ev(a, home, 'pending_subscription_approval', { Id })).status).toBe(200);
    await vi.waitFor(async () => expect((await query(a, thermo, 'established')) as Bus[]).toHaveLength(1), patient);
    const [atThermo] = (await query(c, thermo, 'established')) as Bus[];
    const [atHome] = (await query(c, home, 'established')) as Bus[];
    expect(atThermo).toMatchObject({ Id, Tx: atHome!.Rx, Rx: atHome!.Tx, Tx_host: null });

    await mark(a, thermo, 'home', 1);
    await mark(c, home, 'thermostat', 2);
    await vi.waitFor(async () => expect([await counts(c.url, home), await counts(c.url, thermo)]).toEqual([{ '1': 1 }, { '2': 1 }]), patient);

    // The home moves from b to c; the link goes on working both ways, addressed as before.
    expect((await post(`${a.url}/c/${home}/move?to=c`)).status).toBe(200);
    await mark(a, thermo, 'home', 3);
    await mark(b, home, 'thermostat', 4);
    await vi.waitFor(
      async () =>
        expect([await counts(a.url, home), await counts(b.url, thermo)]).toEqual([
          { '1': 1, '3': 1 },
          { '2': 1, '4': 1 },
        ]),
      patient,
    );
    expect(((await query(a, thermo, 'established')) as Bus[]).map((bus) => bus.Tx_host)).toEqual([null]);

    // The thermostat cancels: both ECIs are gone, through every host.
    expect((await ev(b, thermo, 'subscription_cancellation', { Id })).status).toBe(200);
    await vi.waitFor(async () => expect(await query(c, home, 'established')).toEqual([]), patient);
    for (const s of [a, b, c]) {
      for (const eci of [atThermo!.Rx!, atHome!.Rx!]) {
        const r = await post(`${s.url}/c/${eci}/event/tally/mark`, { n: 5 });
        expect([r.status, r.body.error.code]).toEqual([404, 'UNKNOWN_ECI']);
      }
    }
    // A rejected proposal leaves no usable ECI either.
    const again = (await ev(a, thermo, 'subscription', { wellKnown_Tx: wellKnown, Rx_role: 'thermostat', Tx_role: 'home' })).body.directives[0].options as Bus;
    await vi.waitFor(async () => expect((await query(b, home, 'inbound')) as Bus[]).toMatchObject([{ Id: again.Id }]), patient);
    expect((await ev(b, home, 'inbound_rejection', { Id: again.Id })).status).toBe(200);
    await vi.waitFor(async () => expect(await query(a, thermo, 'outbound')).toEqual([]), patient);
    expect((await post(`${c.url}/c/${again.Rx}/event/tally/mark`, { n: 6 })).status).toBe(404);
    expect(a.stderr() + b.stderr() + c.stderr()).toBe('');
  });
});
