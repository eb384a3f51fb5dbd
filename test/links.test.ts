import { describe, expect, it, vi } from 'vitest';
import type { Host } from '../kernel/index.ts';
import { DEFAULT_LINK_POLICY, on, ruleset } from '../rulesets/index.ts';
import { MAX_PENDING_INBOUND } from '../rulesets/links.ts';
import { install, newChild, rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';

const SUBS = 'io.picolabs.subscription';

/** Records every `wrangler` event its cloud sees (the API events), and every app event with the ECI it came through. */
const spy = ruleset('test.spy')
  .rule('wrangler', { select: on('wrangler', '*'), action: (ctx) => ctx.ent.set('wrangler', [...((ctx.ent.get('wrangler') as string[] | undefined) ?? []), ctx.event.type]) })
  .rule('app', { select: on('thermostat', '*'), action: (ctx) => ctx.ent.set('heard', [...((ctx.ent.get('heard') as unknown[] | undefined) ?? []), { type: ctx.event.type, attrs: ctx.attrs, via: ctx.eci }]) })
  .share('wrangler', (ctx) => ctx.ent.get('wrangler') ?? [])
  .share('heard', (ctx) => ctx.ent.get('heard') ?? [])
  .build();

type Bus = { Id: string; Tx: string | null; Rx: string | null; Rx_role: string | null; Tx_role: string | null; Tx_host: string | null; wellKnown_Tx?: string };

const ev = (host: Host, eci: string, type: string, attrs: Record<string, unknown> = {}) => host.event({ eci, domain: 'wrangler', type, attrs });
const list = (host: Host, eci: string, name: 'established' | 'inbound' | 'outbound') => host.query({ eci, rid: SUBS, name }) as Promise<Bus[]>;
const wellKnown = async (host: Host, eci: string) => ((await host.query({ eci, rid: SUBS, name: 'wellKnown_Rx' })) as { id: string }).id;

/** A host with two clouds, the thermostat and the home, each with the spy installed. */
async function twoClouds() {
  const t = await testHost({ rulesets: [spy] });
  const thermo = await newChild(t.host, t.root.eci, 'thermostat');
  const home = await newChild(t.host, t.root.eci, 'home');
  for (const c of [thermo, home]) await install(t.host, c.eci, 'test.spy');
  return { ...t, thermo: thermo.eci, home: home.eci };
}

/** The thermostat proposes a link to the home's well-known ECI; resolves once the home has it pending (unless `wait` is false). */
async function propose(host: Host, from: string, to: string, attrs: Record<string, unknown> = {}, wait = true): Promise<Bus> {
  const r = await ev(host, from, 'subscription', { wellKnown_Tx: await wellKnown(host, to), name: 'living room', Rx_role: 'thermostat', Tx_role: 'home', ...attrs });
  const bus = r.directives.find((d) => d.name === 'wrangler:outbound_pending_subscription_added')!.options as Bus;
  if (wait) await vi.waitFor(async () => expect((await list(host, to, 'inbound')).map((b) => b.Id)).toContain(bus.Id));
  return bus;
}

async function establish(host: Host, thermo: string, home: string): Promise<{ Id: string; thermoRx: string; homeRx: string }> {
  const { Id } = await propose(host, thermo, home);
  const approved = await ev(host, home, 'pending_subscription_approval', { Id });
  const homeRx = (approved.directives.find((d) => d.name === 'wrangler:subscription_added')!.options as Bus).Rx!;
  await vi.waitFor(async () => expect(await list(host, thermo, 'established')).toHaveLength(1));
  const [bus] = await list(host, thermo, 'established');
  return { Id, thermoRx: bus!.Rx!, homeRx };
}

describe('links on one host (pico subscriptions)', () => {
  it('every cloud has a well-known ECI from its creation, which admits only link requests', async () => {
    const { host, root, home } = await twoClouds();
    for (const eci of [root.eci, home]) {
      const w = (await host.query({ eci, rid: SUBS, name: 'wellKnown_Rx' })) as { id: string; tags: string[]; eventPolicy: unknown };
      expect(w.tags).toEqual(['wellknown_rx', 'tx_rx']);
      expect(w.eventPolicy).toEqual({
        allow: [
          { domain: 'wrangler', name: 'new_subscription_request' },
          { domain: 'wrangler', name: 'inbound_removal' },
        ],
        deny: [],
      });
      expect(await host.query({ eci: w.id, rid: SUBS, name: 'wellKnown_Rx' })).toMatchObject({ id: w.id });
      for (const [domain, type] of [
        ['wrangler', 'new_channel_request'],
        ['wrangler', 'subscription'],
        ['thermostat', 'reading'],
      ]) {
        expect(await rejection(host.event({ eci: w.id, domain: domain!, type: type! }))).toMatchObject({ code: 'POLICY_DENIED' });
      }
      expect(await rejection(host.query({ eci: w.id, rid: SUBS, name: 'established' }))).toMatchObject({ code: 'POLICY_DENIED' });
    }
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'installedRids' })).toEqual(['io.picolabs.wrangler', SUBS]);
  });

  it('proposes, approves, sends over the link by Id and by role, and raises the API events as pico does', async () => {
    const { host, thermo, home } = await twoClouds();
    const { Id, thermoRx, homeRx } = await establish(host, thermo, home);
    expect(await list(host, thermo, 'established')).toEqual([{ Id, Tx: homeRx, Rx: thermoRx, Rx_role: 'thermostat', Tx_role: 'home', Tx_host: null }]);
    expect(await list(host, home, 'established')).toEqual([{ Id, Tx: thermoRx, Rx: homeRx, Rx_role: 'home', Tx_role: 'thermostat', Tx_host: null }]);
    expect([await list(host, thermo, 'outbound'), await list(host, home, 'inbound')]).toEqual([[], []]);
    // pico's filter arguments
    expect(await host.query({ eci: home, rid: SUBS, name: 'established', args: { key: 'Tx_role', value: 'thermostat' } })).toHaveLength(1);
    expect(await host.query({ eci: home, rid: SUBS, name: 'established', args: { key: 'Tx_role', value: 'fridge' } })).toEqual([]);

    await ev(host, thermo, 'send_event_on_subs', { Tx_role: 'home', domain: 'thermostat', type: 'reading', attrs: { temperature: 21 } });
    await ev(host, thermo, 'send_event_on_subs', { subID: Id, domain: 'thermostat', type: 'reading', attrs: '{"temperature":22}' });
    const none = await ev(host, thermo, 'send_event_on_subs', { Tx_role: 'fridge', domain: 'thermostat', type: 'reading' });
    expect(none.directives[0]).toMatchObject({ name: 'wrangler:failed_to_send_event_to_sub', options: { Ids: [] } });
    await vi.waitFor(async () =>
      expect(await host.query({ eci: home, rid: 'test.spy', name: 'heard' })).toEqual([
        { type: 'reading', attrs: { temperature: 21 }, via: homeRx },
        { type: 'reading', attrs: { temperature: 22 }, via: homeRx },
      ]),
    );
    // The home answers on the link the reading came through (kumo's Rx criterion).
    await ev(host, home, 'send_event_on_subs', { Rx: homeRx, domain: 'thermostat', type: 'cool' });
    await vi.waitFor(async () => expect(await host.query({ eci: thermo, rid: 'test.spy', name: 'heard' })).toEqual([{ type: 'cool', attrs: {}, via: thermoRx }]));

    const seen = async (eci: string) => ((await host.query({ eci, rid: 'test.spy', name: 'wrangler' })) as string[]).filter((t) => !t.endsWith('_request') && !['subscription', 'send_event_on_subs', 'ruleset_installed'].includes(t));
    expect(await seen(thermo)).toEqual(['outbound_pending_subscription_added', 'outbound_pending_subscription_approved', 'subscription_added', 'failed_to_send_event_to_sub']);
    expect(await seen(home)).toEqual(['inbound_pending_subscription_added', 'pending_subscription_approval', 'inbound_pending_subscription_approved', 'subscription_added']);
  });

  it('a cancelled link, from either side, leaves no usable ECI on either', async () => {
    for (const canceller of ['thermo', 'home'] as const) {
      const { host, thermo, home } = await twoClouds();
      const { Id, thermoRx, homeRx } = await establish(host, thermo, home);
      const r = await ev(host, canceller === 'thermo' ? thermo : home, 'subscription_cancellation', { Id });
      expect(r.directives[0]).toMatchObject({ name: 'wrangler:subscription_removed', options: { Id } });
      await vi.waitFor(async () => expect([await list(host, thermo, 'established'), await list(host, home, 'established')]).toEqual([[], []]));
      for (const eci of [thermoRx, homeRx]) expect(await rejection(host.event({ eci, domain: 'thermostat', type: 'reading' }))).toMatchObject({ code: 'UNKNOWN_ECI' });
      expect(await rejection(ev(host, home, 'subscription_cancellation', { Id }))).toMatchObject({ code: 'UNKNOWN_LINK', status: 404 });
      const other = canceller === 'thermo' ? home : thermo;
      expect(await host.query({ eci: other, rid: 'test.spy', name: 'wrangler' })).toContain('subscription_removed');
    }
  });

  it('a rejected proposal, and a withdrawn one, leave no ECI and no pending entry', async () => {
    const { host, thermo, home } = await twoClouds();
    const first = await propose(host, thermo, home);
    const rejected = await ev(host, home, 'inbound_rejection', { Id: first.Id });
    expect(rejected.directives[0]).toMatchObject({ name: 'wrangler:inbound_subscription_cancelled', options: { Id: first.Id, Rx: null } });
    await vi.waitFor(async () => expect(await list(host, thermo, 'outbound')).toEqual([]));
    expect(await rejection(host.event({ eci: first.Rx!, domain: 'thermostat', type: 'reading' }))).toMatchObject({ code: 'UNKNOWN_ECI' });
    expect(await host.query({ eci: thermo, rid: 'test.spy', name: 'wrangler' })).toContain('outbound_subscription_cancelled');

    const second = await propose(host, thermo, home);
    expect(await list(host, thermo, 'outbound')).toEqual([{ ...second, Tx: null, Tx_host: null, wellKnown_Tx: await wellKnown(host, home) }]);
    expect(await list(host, home, 'inbound')).toEqual([{ Id: second.Id, Tx: second.Rx, Rx: null, Rx_role: 'home', Tx_role: 'thermostat', Tx_host: null }]);
    await ev(host, thermo, 'outbound_cancellation', { Id: second.Id });
    expect(await rejection(host.event({ eci: second.Rx!, domain: 'thermostat', type: 'reading' }))).toMatchObject({ code: 'UNKNOWN_ECI' });
    await vi.waitFor(async () => expect(await list(host, home, 'inbound')).toEqual([]));
    expect(await rejection(ev(host, home, 'pending_subscription_approval', { Id: second.Id }))).toMatchObject({ code: 'UNKNOWN_LINK' });
  });

  it('a link ECI admits app events and the link protocol, not management or the cloud’s listings', async () => {
    const { host, thermo, home } = await twoClouds();
    const { Id, homeRx } = await establish(host, thermo, home);
    const channels = (await host.query({ eci: home, rid: 'io.picolabs.wrangler', name: 'channels' })) as Array<{ id: string; eventPolicy: unknown; queryPolicy: unknown; tags: string[] }>;
    const rx = channels.find((c) => c.id === homeRx)!;
    expect(rx).toMatchObject({ tags: ['living-room', 'tx_rx'], ...DEFAULT_LINK_POLICY });
    for (const type of [
      'new_channel_request',
      'install_ruleset_request',
      'subscription',
      'pending_subscription_approval',
      'subscription_cancellation',
      'send_event_on_subs',
      'autoAcceptConfigUpdate',
      'rolePolicyUpdate',
      'subscription_added',
      'ruleset_installed',
    ]) {
      expect(await rejection(ev(host, homeRx, type, { Id }))).toMatchObject({ code: 'POLICY_DENIED' });
    }
    for (const [rid, name] of [
      [SUBS, 'established'],
      ['io.picolabs.wrangler', 'channels'],
    ]) {
      expect(await rejection(host.query({ eci: homeRx, rid: rid!, name: name! }))).toMatchObject({ code: 'POLICY_DENIED' });
    }
    await host.event({ eci: homeRx, domain: 'thermostat', type: 'reading', attrs: { temperature: 1 } });
    expect(await host.query({ eci: home, rid: 'test.spy', name: 'heard' })).toHaveLength(1);
  });

  it('the owner’s policy for a role shapes the ECIs of links made after it, which still admit the protocol', async () => {
    const { host, thermo, home } = await twoClouds();
    const set = await ev(host, home, 'rolePolicyUpdate', { Tx_role: 'thermostat', eventPolicy: { allow: [{ domain: 'thermostat', name: 'reading' }] } });
    expect(set.directives[0]!.options).toMatchObject({
      Tx_role: 'thermostat',
      policy: {
        eventPolicy: {
          allow: [
            { domain: 'thermostat', name: 'reading' },
            { domain: 'wrangler', name: 'outbound_pending_subscription_approved' },
            { domain: 'wrangler', name: 'outbound_removal' },
            { domain: 'wrangler', name: 'established_removal' },
          ],
        },
      },
    });
    const { Id, homeRx } = await establish(host, thermo, home);
    await host.event({ eci: homeRx, domain: 'thermostat', type: 'reading' });
    expect(await rejection(host.event({ eci: homeRx, domain: 'thermostat', type: 'cool' }))).toMatchObject({ code: 'POLICY_DENIED' });
    await ev(host, thermo, 'subscription_cancellation', { Id });
    await vi.waitFor(async () => expect(await list(host, home, 'established')).toEqual([]));
    expect(await rejection(ev(host, home, 'rolePolicyUpdate', { Tx_role: 'x', eventPolicy: { allow: [{ domain: '*' }], deny: [{ domain: 'wrangler' }] } }))).toMatchObject({ code: 'INVALID_ARGS' });
    await ev(host, home, 'rolePolicyUpdate', { Tx_role: 'thermostat', delete: true });
    expect(await host.query({ eci: home, rid: SUBS, name: 'rolePolicies' })).toEqual({});
  });

  it('auto-accepts proposals matching the owner’s rule, with the authority the owner gave it', async () => {
    const { host, root, thermo, home } = await twoClouds();
    const set = await ev(host, home, 'autoAcceptConfigUpdate', { configName: 'thermostats', regexMap: '{"Tx_role":["^thermostat$"]}' });
    expect(set.directives[0]!.options).toEqual({ configName: 'thermostats', config: { configName: 'thermostats', entries: { Tx_role: ['^thermostat$'] } } });
    const { Id } = await propose(host, thermo, home, {}, false);
    await vi.waitFor(async () => expect((await list(host, thermo, 'established')).map((b) => b.Id)).toEqual([Id]));
    const [bus] = await list(host, home, 'established');
    const channels = (await host.query({ eci: home, rid: 'io.picolabs.wrangler', name: 'channels' })) as Array<{ id: string; eventPolicy: unknown; tags: string[] }>;
    expect(channels.find((c) => c.id === bus!.Rx)!.eventPolicy).toEqual(DEFAULT_LINK_POLICY.eventPolicy);
    expect(await host.query({ eci: home, rid: 'test.spy', name: 'wrangler' })).toContain('auto_accepted_subscription_request');

    // A proposal the rule does not match waits for the owner.
    const fridge = await newChild(host, root.eci, 'fridge');
    const other = await propose(host, fridge.eci, home, { Rx_role: 'fridge' });
    expect((await list(host, home, 'inbound')).map((b) => b.Id)).toEqual([other.Id]);

    // Deleting the rule deletes its approver: nothing can approve in its name any more.
    const approvers = () => channels.filter((c) => c.tags.includes('auto_accept')).map((c) => c.id);
    expect(approvers()).toHaveLength(1);
    await ev(host, home, 'autoAcceptConfigUpdate', { configName: 'thermostats', delete: true });
    expect(await rejection(ev(host, approvers()[0]!, 'pending_subscription_approval', { Id: other.Id }))).toMatchObject({ code: 'UNKNOWN_ECI' });
    expect(await host.query({ eci: home, rid: SUBS, name: 'autoAcceptConfig' })).toEqual({});
    expect(await rejection(ev(host, home, 'autoAcceptConfigUpdate', { configName: 'bad', regexMap: { name: '(' } }))).toMatchObject({ code: 'INVALID_ARGS' });
  });

  it('an approval through a narrow ECI makes a link ECI with no more authority than it', async () => {
    const { host, thermo, home } = await twoClouds();
    const made = await ev(host, home, 'new_channel_request', {
      eventPolicy: {
        allow: [
          { domain: 'wrangler', name: 'pending_subscription_approval' },
          { domain: 'thermostat', name: 'reading' },
        ],
      },
    });
    const narrow = (made.directives[0]!.options as { id: string }).id;
    const { Id } = await propose(host, thermo, home);
    const approved = await ev(host, narrow, 'pending_subscription_approval', { Id });
    const { Rx } = approved.directives[0]!.options as Bus;
    const channels = (await host.query({ eci: home, rid: 'io.picolabs.wrangler', name: 'channels' })) as Array<{ id: string; eventPolicy: unknown }>;
    expect(channels.find((c) => c.id === Rx)!.eventPolicy).toMatchObject({ deny: DEFAULT_LINK_POLICY.eventPolicy.deny });
    await host.event({ eci: Rx!, domain: 'thermostat', type: 'reading' });
    for (const [domain, type] of [
      ['thermostat', 'cool'],
      ['wrangler', 'pending_subscription_approval'],
    ]) {
      expect(await rejection(host.event({ eci: Rx!, domain: domain!, type: type! }))).toMatchObject({ code: 'POLICY_DENIED' });
    }
  });

  it('protocol events count only through the link’s own ECI, and arrive twice harmlessly', async () => {
    const { host, root, thermo, home } = await twoClouds();
    const { Id, homeRx } = await establish(host, thermo, home);
    // A third cloud linked with the home tries to end the thermostat's link through its own.
    const third = await newChild(host, root.eci, 'third');
    const intruder = await establish(host, third.eci, home);
    const r = await host.event({ eci: intruder.homeRx, domain: 'wrangler', type: 'established_removal', attrs: { Id } });
    expect(r.directives).toEqual([]);
    expect((await list(host, home, 'established')).map((b) => b.Id)).toContain(Id);
    // The real removal, delivered twice: the second finds nothing to do.
    await host.event({ eci: homeRx, domain: 'wrangler', type: 'established_removal', attrs: { Id } });
    expect(await rejection(host.event({ eci: homeRx, domain: 'wrangler', type: 'established_removal', attrs: { Id } }))).toMatchObject({ code: 'UNKNOWN_ECI' });
    const again = await host.event({ eci: await wellKnown(host, home), domain: 'wrangler', type: 'new_subscription_request', attrs: { Id: intruder.Id, Tx: intruder.thermoRx } });
    expect(again.directives).toEqual([]);
    expect(await list(host, home, 'inbound')).toEqual([]);
  });

  it('treats its own URL as Tx_host as this host, and will not propose elsewhere without knowing its URL', async () => {
    const t = await testHost({ rulesets: [spy], url: 'http://kumo.example' });
    const thermo = await newChild(t.host, t.root.eci, 'thermostat');
    const home = await newChild(t.host, t.root.eci, 'home');
    const bus = await propose(t.host, thermo.eci, home.eci, { Tx_host: 'HTTP://kumo.example/' });
    expect(bus.Tx_host).toBeNull();
    expect(await list(t.host, home.eci, 'inbound')).toMatchObject([{ Id: bus.Id, Tx_host: null }]);

    const { host, thermo: other, home: otherHome } = await twoClouds();
    expect(await rejection(ev(host, other, 'subscription', { wellKnown_Tx: await wellKnown(host, otherHome), Tx_host: 'https://far.example' }))).toMatchObject({ code: 'INVALID_ARGS' });
  });

  it('keeps at most 100 proposals waiting for the owner', async () => {
    const { host, home } = await twoClouds();
    const w = await wellKnown(host, home);
    const propose = (n: number) => host.event({ eci: w, domain: 'wrangler', type: 'new_subscription_request', attrs: { Tx: `Eproposer${n}`, Id: `p${n}` } });
    for (let n = 0; n < MAX_PENDING_INBOUND; n++) await propose(n);
    expect(await rejection(propose(MAX_PENDING_INBOUND))).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { limit: 'pendingLinks' } });
    await ev(host, home, 'inbound_rejection', { Id: 'p0' });
    await propose(MAX_PENDING_INBOUND);
    expect(await list(host, home, 'inbound')).toHaveLength(MAX_PENDING_INBOUND);
  });

  it('tolerates what pico clients send: nulls, leftovers, HTTP headers', async () => {
    const { host, thermo, home } = await twoClouds();
    const r = await ev(host, thermo, 'subscription', { wellKnown_Tx: await wellKnown(host, home), Rx_role: null, Tx_role: null, name: null, channel_type: null, Tx_host: null, password: null, _headers: { 'user-agent': 'x' } });
    const bus = r.directives[0]!.options as Bus;
    expect(bus).toMatchObject({ Rx_role: null, Tx_role: null, Tx_host: null });
    await vi.waitFor(async () => expect(await list(host, home, 'inbound')).toHaveLength(1));
    const w = await wellKnown(host, home);
    const pico = {
      Id: 'ckpico1',
      Tx: 'EpicoTx',
      Rx: 'EpicoRx',
      wellKnown_Tx: w,
      Rx_role: 'home',
      Tx_role: 'pico',
      channel_name: 'from pico!',
      channel_type: 'Tx_Rx',
      name: 'from pico!',
      password: 'x',
      _headers: { host: 'localhost:3000' },
      __eid: 'e1',
      Tx_host: null,
    };
    await host.event({ eci: w, domain: 'wrangler', type: 'new_subscription_request', attrs: pico });
    const approved = await ev(host, home, 'pending_subscription_approval', { Id: 'ckpico1' });
    const channels = (await host.query({ eci: home, rid: 'io.picolabs.wrangler', name: 'channels' })) as Array<{ id: string; tags: string[] }>;
    expect(channels.find((c) => c.id === (approved.directives[0]!.options as Bus).Rx)!.tags).toEqual(['from-pico', 'tx_rx']);
    // A proposer cannot have the new link ECI tagged as the well-known one (it would be handed out in its place).
    await host.event({ eci: w, domain: 'wrangler', type: 'new_subscription_request', attrs: { ...pico, Id: 'ckpico2', Tx: 'EpicoTx2', channel_name: 'wellKnown_Rx', channel_type: 'Tx_Rx' } });
    const sneaky = (await ev(host, home, 'pending_subscription_approval', { Id: 'ckpico2' })).directives[0]!.options as Bus;
    const after = (await host.query({ eci: home, rid: 'io.picolabs.wrangler', name: 'channels' })) as Array<{ id: string; tags: string[] }>;
    expect(after.find((c) => c.id === sneaky.Rx)!.tags).toEqual(['link', 'tx_rx']);
    expect(await wellKnown(host, home)).toBe(w);
  });
});
