import { describe, expect, it, vi } from 'vitest';
import { post, rootEci, rulesetsDir, startServerProcess, wrangler, type ServerProcess } from './server-harness.ts';

/** Two separate `kumo serve` processes (own data dirs, no realm between them) linking clouds over HTTP. */

const SUBS = 'io.picolabs.subscription';
const SPY = `import { on, ruleset } from RULESETS;
export default ruleset('test.spy')
  .rule('hear', { select: on('thermostat', '*'), action: (ctx) => ctx.ent.set('heard', [...(ctx.ent.get('heard') ?? []), { type: ctx.event.type, attrs: ctx.attrs, via: ctx.eci }]) })
  .share('heard', (ctx) => ctx.ent.get('heard') ?? [])
  .build();
`;

type Bus = { Id: string; Tx: string | null; Rx: string | null; Rx_role: string | null; Tx_role: string | null; Tx_host: string | null };
const patient = { timeout: 15_000, interval: 50 };

const ev = (s: ServerProcess, eci: string, type: string, attrs: Record<string, unknown> = {}) => post(`${s.url}/sky/event/${eci}/t-${Math.random().toString(36).slice(2)}/wrangler/${type}`, attrs);
const query = async (s: ServerProcess, eci: string, rid: string, name: string) => (await post(`${s.url}/sky/cloud/${eci}/${rid}/${name}`)).body;
const list = (s: ServerProcess, eci: string, name: 'established' | 'inbound' | 'outbound') => query(s, eci, SUBS, name) as Promise<Bus[]>;

/** A child cloud of the server's root with the spy installed. */
async function cloud(s: ServerProcess, name: string): Promise<{ eci: string; wellKnown: string }> {
  const child = await wrangler(s.url, await rootEci(s), 'new_child_request', { name, rids: ['test.spy'] }, 'wrangler:new_child_created');
  return { eci: child.eci, wellKnown: ((await query(s, child.eci, SUBS, 'wellKnown_Rx')) as { id: string }).id };
}

describe('links across providers: two kumo hosts over HTTP', () => {
  it('link, send both ways, and cancel, proposed from either side; what is cancelled or rejected answers 404 UNKNOWN_ECI', async () => {
    const dir = await rulesetsDir('spy.ts', SPY);
    const [a, b] = await Promise.all([startServerProcess({ rulesetsDir: dir }), startServerProcess({ rulesetsDir: dir })]);
    const thermo = await cloud(a, 'thermostat');
    const home = await cloud(b, 'home');

    // The thermostat (on a) proposes; the home (on b) approves.
    const proposed = await ev(a, thermo.eci, 'subscription', { wellKnown_Tx: home.wellKnown, Tx_host: `${b.url}/`, name: 'living room', Rx_role: 'thermostat', Tx_role: 'home' });
    expect(proposed.status).toBe(200);
    await vi.waitFor(async () => expect(await list(b, home.eci, 'inbound')).toMatchObject([{ Tx_role: 'thermostat', Tx_host: a.url, Rx: null }]), patient);
    const [pending] = await list(b, home.eci, 'inbound');
    expect((await ev(b, home.eci, 'pending_subscription_approval', { Id: pending!.Id })).status).toBe(200);
    await vi.waitFor(async () => expect(await list(a, thermo.eci, 'established')).toHaveLength(1), patient);
    const [atA] = await list(a, thermo.eci, 'established');
    const [atB] = await list(b, home.eci, 'established');
    expect(atA).toEqual({ Id: pending!.Id, Tx: atB!.Rx, Rx: atB!.Tx, Rx_role: 'thermostat', Tx_role: 'home', Tx_host: b.url });
    expect(atB).toMatchObject({ Rx_role: 'home', Tx_role: 'thermostat', Tx_host: a.url });

    // Events over the link, each way.
    await ev(a, thermo.eci, 'send_event_on_subs', { Tx_role: 'home', domain: 'thermostat', type: 'reading', attrs: { temperature: 27 } });
    await vi.waitFor(async () => expect(await query(b, home.eci, 'test.spy', 'heard')).toEqual([{ type: 'reading', attrs: { temperature: 27 }, via: atB!.Rx }]), patient);
    await ev(b, home.eci, 'send_event_on_subs', { Rx: atB!.Rx, domain: 'thermostat', type: 'mode', attrs: { mode: 'cool' } });
    await vi.waitFor(async () => expect(await query(a, thermo.eci, 'test.spy', 'heard')).toEqual([{ type: 'mode', attrs: { mode: 'cool' }, via: atA!.Rx }]), patient);

    // The home cancels: both ECIs are gone.
    await ev(b, home.eci, 'subscription_cancellation', { Id: atB!.Id });
    await vi.waitFor(async () => expect(await list(a, thermo.eci, 'established')).toEqual([]), patient);
    for (const [s, eci] of [
      [a, atA!.Rx!],
      [b, atB!.Rx!],
    ] as const) {
      const r = await post(`${s.url}/c/${eci}/event/thermostat/reading`, { temperature: 1 });
      expect([r.status, r.body.error.code]).toEqual([404, 'UNKNOWN_ECI']);
    }

    // The other way round: the home (on b) proposes, the thermostat (on a) approves, the home cancels.
    const again = (await ev(b, home.eci, 'subscription', { wellKnown_Tx: thermo.wellKnown, Tx_host: a.url, Rx_role: 'home', Tx_role: 'thermostat' })).body.directives[0].options as Bus;
    await vi.waitFor(async () => expect(await list(a, thermo.eci, 'inbound')).toMatchObject([{ Id: again.Id, Tx_host: b.url }]), patient);
    await ev(a, thermo.eci, 'pending_subscription_approval', { Id: again.Id });
    await vi.waitFor(async () => expect(await list(b, home.eci, 'established')).toMatchObject([{ Id: again.Id, Rx: again.Rx, Tx_host: a.url }]), patient);
    const [thermoSide] = await list(a, thermo.eci, 'established');
    await ev(b, home.eci, 'subscription_cancellation', { Id: again.Id });
    await vi.waitFor(async () => expect(await list(a, thermo.eci, 'established')).toEqual([]), patient);
    expect((await post(`${a.url}/c/${thermoSide!.Rx}/event/thermostat/reading`)).status).toBe(404);

    // The home proposes again; this time the thermostat rejects.
    const back = (await ev(b, home.eci, 'subscription', { wellKnown_Tx: thermo.wellKnown, Tx_host: a.url, Rx_role: 'home', Tx_role: 'thermostat' })).body.directives[0].options as Bus;
    await vi.waitFor(async () => expect(await list(a, thermo.eci, 'inbound')).toMatchObject([{ Id: back.Id, Tx_host: b.url }]), patient);
    await ev(a, thermo.eci, 'inbound_rejection', { Id: back.Id });
    await vi.waitFor(async () => expect(await list(b, home.eci, 'outbound')).toEqual([]), patient);
    expect((await post(`${b.url}/c/${back.Rx}/event/thermostat/reading`)).status).toBe(404);
    expect(await list(a, thermo.eci, 'inbound')).toEqual([]);
    expect(a.stderr() + b.stderr()).toBe('');
  });

  it('a host refuses destinations its operator denies, at once', async () => {
    const [a, c] = await Promise.all([startServerProcess(), startServerProcess({ args: ['--deny-hosts', 'localhost,127.0.0.1,[::1]'] })]);
    const wellKnown = ((await query(a, await rootEci(a), SUBS, 'wellKnown_Rx')) as { id: string }).id;
    const r = await ev(c, await rootEci(c), 'subscription', { wellKnown_Tx: wellKnown, Tx_host: a.url });
    expect([r.status, r.body.error.code]).toEqual([403, 'DESTINATION_DENIED']);
    expect(await list(c, await rootEci(c), 'outbound')).toEqual([]);
  });
});
