import { InvalidArgsError, LimitExceededError, UnknownEciError, UnknownLinkError } from '../kernel/index.ts';
import { ruleset, z, type QueryCtx, type RuleCtx } from './builder.ts';
import { LINKS_RID, linkDefaults, rolePolicy, WELL_KNOWN_ECI, type LinkPolicy } from './link-policies.ts';
import { autoAcceptEntries, autoAccepts, busOf, busView, channelTag, findBus, linkId, otherHost, type AutoAccept, type Bus, type InboundBus, type OutboundBus } from './link-records.ts';
import { jsonish, wrangler } from './wrangler.ts';

/**
 * The built-in links ruleset: the pico engine's subscriptions (`io.picolabs.subscription`), with
 * its event names, attribute names and shared functions, so a pico developer recognises it and a
 * pico on a pico engine can link with a kumo cloud. Written for kumo, not copied.
 *
 * A link is a pair of ECIs: each side's `Rx`, which the other side holds as its `Tx`.
 *
 *   A (proposer)                                   B (owner of the well-known ECI)
 *   wrangler:subscription ──new_subscription_request──▶ well-known ECI: pending inbound
 *   pending outbound, Rx made      ◀──outbound_pending_subscription_approved── wrangler:pending_subscription_approval
 *   established                                    Rx made, established
 *   either side: wrangler:subscription_cancellation ──established_removal──▶ the other's Rx
 *   B: wrangler:inbound_rejection ──outbound_removal──▶ A's Rx;  A: wrangler:outbound_cancellation ──inbound_removal──▶ B's well-known
 *
 * Where kumo differs from the pico engine, and why (capabilities only shrink): a proposal arrives
 * through the well-known ECI, which admits nothing but proposals, so an ECI made while handling it
 * could admit nothing more. B therefore makes its Rx when its owner approves, through the owner's
 * ECI; a pending inbound link has no Rx yet (`Rx: null`). An auto-accept rule approves in the name
 * of whoever set it: setting it makes an approver ECI through that ECI, and a matching proposal is
 * approved by an event sent through it. Protocol events from the other side count only when they
 * come through the link's own Rx.
 */

type LinkState = {
  established: Bus[];
  inbound: InboundBus[];
  outbound: OutboundBus[];
  autoAcceptConfig: Record<string, AutoAccept>;
  /** The approver ECI of each auto-accept rule, by rule name. */
  approvers: Record<string, string>;
  rolePolicies: Record<string, LinkPolicy>;
};

/**
 * Proposals waiting for the owner. Anyone who has the well-known ECI may propose, and a pending
 * proposal has no ECI to count against the cloud's limit, so they are bounded here.
 */
export const MAX_PENDING_INBOUND = 100;

type Ctx = Pick<RuleCtx<LinkState, unknown>, 'ent' | 'event' | 'eci' | 'hostUrl' | 'send' | 'raise' | 'directive' | 'newEci' | 'deleteEci'>;

// Pico clients send null (or "") for what they leave out.
const text = z.preprocess((v) => (v === '' ? null : v), z.string().max(1000).nullish());
const flag = z
  .unknown()
  .optional()
  .transform((v) => !(v === undefined || v === null || v === false || v === 0 || v === '' || v === 'false' || v === '0'));
const busIds = { Id: text, Rx: text, Tx: text };

const own = <T>(map: Record<string, T> | undefined, key: string | null | undefined): T | undefined => (map && key != null && Object.hasOwn(map, key) ? map[key] : undefined);

/** A name used as a key of the ruleset's state (a role, an auto-accept rule). */
function stateKey(name: string, what: string): string {
  if (name === '__proto__' || name.length > 100) throw new InvalidArgsError(`${what} must be 1 to 100 characters, not "__proto__"`);
  return name;
}

/** What a request carried, passed on to the other side as the pico engine passes `event:attrs` on; not its HTTP leftovers. */
function passOn(ctx: Ctx): Record<string, unknown> {
  const { _headers, __eid, ...rest } = ctx.event.attrs;
  return rest;
}

function sendTo(ctx: Ctx, eci: string, host: string | null, domain: string, type: string, attrs: Record<string, unknown>): void {
  if (host === null) ctx.send(eci, domain, type, attrs);
  else ctx.send(eci, domain, type, attrs, host);
}

/** Tell the cloud's other rulesets (the pico engine's API event) and the sender (a directive of the same name). */
function announce(ctx: Ctx, type: string, attrs: Record<string, unknown>, directive?: Record<string, unknown>): void {
  ctx.raise('wrangler', type, attrs);
  if (directive) ctx.directive(`wrangler:${type}`, directive);
}

/** Delete a link's ECI, so the other side can no longer reach this cloud (it may already be gone). */
function dropRx(ctx: Ctx, rx: string | null): void {
  if (rx === null) return;
  try {
    ctx.deleteEci(rx);
  } catch (err) {
    if (!(err instanceof UnknownEciError)) throw err;
  }
}

/** A new ECI for a link with the other side in `role`: the owner's policy for the role, else the default; never more than the caller's authority. */
function newRx(ctx: Ctx, name: string | null, type: string | null, role: string | null): string {
  const policy = own(ctx.ent.get('rolePolicies'), role) ?? defaults.link;
  return ctx.newEci({ tags: [channelTag(name, 'link'), channelTag(type, 'tx_rx')], ...policy }).id;
}

function known(ctx: Ctx, Id: string): boolean {
  return (['established', 'inbound', 'outbound'] as const).some((k) => (ctx.ent.get(k) ?? []).some((b) => b.Id === Id));
}

type Lists = Pick<LinkState, 'established' | 'inbound' | 'outbound'>;
type Names = { Id?: string | null; Rx?: string | null; Tx?: string | null };

/** The link an owner's request names (by `Id`, `Rx` or `Tx`, as pico finds it); UNKNOWN_LINK when there is none. */
function named<K extends keyof Lists>(ctx: Ctx & { attrs: Names }, list: K): Lists[K][number] {
  const bus = findBus(ctx.ent.get(list) ?? [], ctx.attrs) as Lists[K][number] | undefined;
  if (!bus) throw new UnknownLinkError(`${list} link ${JSON.stringify(ctx.attrs.Id ?? ctx.attrs.Rx ?? ctx.attrs.Tx ?? null)}`);
  return bus;
}

/** The link a protocol event from the other side is about: by its `Id`, through that link's own ECI. */
function arriving<K extends keyof Lists>(ctx: Ctx & { attrs: { Id?: string | null } }, list: K): Lists[K][number] | undefined {
  return busOf(ctx.ent.get(list) ?? [], ctx.attrs.Id, ctx.eci);
}

const without = <B extends Bus>(buses: readonly B[] | undefined, Id: string): B[] => (buses ?? []).filter((b) => b.Id !== Id);

/** The pico engine's filter of a listing: `key` and `value` together pick the links whose `key` is `value`. */
function listing(buses: readonly Bus[] | undefined, args: Record<string, unknown>): Bus[] {
  const all = (buses ?? []).map(busView);
  const { key, value } = args;
  return typeof key === 'string' && key !== '' && value !== undefined && value !== null && value !== '' ? all.filter((b) => (b as Record<string, unknown>)[key] === value) : all;
}

const builder = ruleset<LinkState>(LINKS_RID, {
  version: '1.0.0',
  name: 'subscription',
  description: 'Links between clouds (pico subscriptions): propose, approve, reject, cancel, send over them.',
  ecis: [WELL_KNOWN_ECI],
})
  // ---- the proposing side ----
  .rule('createRxBus', {
    select: 'wrangler:subscription',
    attrs: z.object({ wellKnown_Tx: z.string().min(1), name: text, channel_type: text, Rx_role: text, Tx_role: text, Tx_host: text, Rx_host: text, Id: text }),
    action(ctx) {
      const a = ctx.attrs;
      const host = otherHost(a.Tx_host, ctx.hostUrl);
      // The other side answers at the host this one announces (pico: Rx_host, else meta:host); one
      // reached without a host (this host or its realm) reaches this cloud the same way.
      const myHost = a.Rx_host === 'localhost' ? null : (a.Rx_host ?? (host === null ? null : (ctx.hostUrl ?? null)));
      if (host !== null && myHost === null) throw new InvalidArgsError('this host does not know its own URL, so a cloud at another provider could not answer (kumo serve --public-url)');
      const channel_name = a.name ?? 'link';
      const channel_type = a.channel_type ?? 'Tx_Rx';
      const Rx = newRx(ctx, channel_name, channel_type, a.Tx_role ?? null);
      const Id = a.Id ?? linkId(Rx);
      if (known(ctx, Id)) throw new InvalidArgsError(`a link with Id ${Id} exists`);
      const bus: OutboundBus = { Id, Tx: null, Rx, Rx_role: a.Rx_role ?? null, Tx_role: a.Tx_role ?? null, Tx_host: host, wellKnown_Tx: a.wellKnown_Tx };
      ctx.ent.set('outbound', [...(ctx.ent.get('outbound') ?? []), bus]);
      // From the other side's point of view: its roles are ours swapped, and our Rx is its Tx.
      sendTo(ctx, a.wellKnown_Tx, host, 'wrangler', 'new_subscription_request', {
        ...passOn(ctx),
        Id,
        name: channel_name,
        channel_name,
        channel_type,
        Rx_role: bus.Tx_role,
        Tx_role: bus.Rx_role,
        Tx: Rx,
        Tx_host: myHost,
      });
      announce(ctx, 'outbound_pending_subscription_added', { ...passOn(ctx), ...bus, channel_name, channel_type }, busView(bus));
    },
  })
  .rule('addOutboundSubscription', {
    select: 'wrangler:outbound_pending_subscription_approved',
    attrs: z.object({ Id: text, Tx: z.string().min(1) }),
    if: (ctx) => arriving(ctx, 'outbound') !== undefined,
    action(ctx) {
      const { wellKnown_Tx: _, ...pending } = arriving(ctx, 'outbound')!;
      const bus: Bus = { ...pending, Tx: ctx.attrs.Tx };
      ctx.ent.set('outbound', without(ctx.ent.get('outbound'), bus.Id));
      ctx.ent.set('established', [...(ctx.ent.get('established') ?? []), bus]);
      announce(ctx, 'subscription_added', { ...passOn(ctx), Id: bus.Id, bus });
    },
  })
  .rule('cancelOutbound', {
    select: 'wrangler:outbound_cancellation',
    attrs: z.object(busIds),
    action(ctx) {
      const bus = named(ctx, 'outbound');
      sendTo(ctx, bus.wellKnown_Tx, bus.Tx_host, 'wrangler', 'inbound_removal', { ...passOn(ctx), Id: bus.Id, Tx: bus.Rx });
      removeOutbound(ctx, bus);
    },
  })
  .rule('removeOutbound', {
    select: 'wrangler:outbound_removal',
    attrs: z.object({ Id: text }),
    if: (ctx) => arriving(ctx, 'outbound') !== undefined,
    action: (ctx) => removeOutbound(ctx, arriving(ctx, 'outbound')!),
  })
  // ---- the receiving side ----
  .rule('addInboundPendingSubscription', {
    select: 'wrangler:new_subscription_request',
    attrs: z.object({ Tx: z.string().min(1), Id: text, Rx_role: text, Tx_role: text, Tx_host: text, name: text, channel_name: text, channel_type: text }),
    // The same proposal delivered twice (at least once, over HTTP) is one proposal.
    if: (ctx) => !known(ctx, ctx.attrs.Id ?? linkId(ctx.attrs.Tx)),
    action(ctx) {
      const a = ctx.attrs;
      const inbound = ctx.ent.get('inbound') ?? [];
      if (inbound.length >= MAX_PENDING_INBOUND) {
        throw new LimitExceededError('pendingLinks', MAX_PENDING_INBOUND, `a cloud may have at most ${MAX_PENDING_INBOUND} proposals waiting for its owner`);
      }
      const bus: InboundBus = {
        Id: a.Id ?? linkId(a.Tx),
        Tx: a.Tx,
        Rx: null,
        Rx_role: a.Rx_role ?? null,
        Tx_role: a.Tx_role ?? null,
        Tx_host: otherHost(a.Tx_host, ctx.hostUrl),
        channel_name: a.channel_name ?? a.name ?? 'link',
        channel_type: a.channel_type ?? 'Tx_Rx',
      };
      ctx.ent.set('inbound', [...inbound, bus]);
      announce(ctx, 'inbound_pending_subscription_added', { ...ctx.event.attrs, ...busView(bus) });
      const rules = Object.values(ctx.ent.get('autoAcceptConfig') ?? {}).sort((x, y) => (x.configName < y.configName ? -1 : 1));
      const rule = rules.find((r) => autoAccepts(r, ctx.event.attrs));
      const approver = own(ctx.ent.get('approvers'), rule?.configName);
      if (rule && approver) {
        ctx.send(approver, 'wrangler', 'pending_subscription_approval', { Id: bus.Id });
        announce(ctx, 'auto_accepted_subscription_request', { ...ctx.event.attrs, Id: bus.Id, configName: rule.configName });
      }
    },
  })
  .rule('approveInboundPendingSubscription', {
    select: 'wrangler:pending_subscription_approval',
    attrs: z.object(busIds),
    action(ctx) {
      const pending = named(ctx, 'inbound');
      const Rx = newRx(ctx, pending.channel_name, pending.channel_type, pending.Tx_role);
      const bus: Bus = { Id: pending.Id, Tx: pending.Tx, Rx, Rx_role: pending.Rx_role, Tx_role: pending.Tx_role, Tx_host: pending.Tx_host };
      sendTo(ctx, bus.Tx!, bus.Tx_host, 'wrangler', 'outbound_pending_subscription_approved', { ...passOn(ctx), Id: bus.Id, Tx: Rx });
      ctx.ent.set('inbound', without(ctx.ent.get('inbound'), bus.Id));
      ctx.ent.set('established', [...(ctx.ent.get('established') ?? []), bus]);
      ctx.raise('wrangler', 'inbound_pending_subscription_approved', { ...passOn(ctx), Id: bus.Id, bus });
      announce(ctx, 'subscription_added', { ...passOn(ctx), Id: bus.Id, bus }, bus);
    },
  })
  .rule('cancelInbound', {
    select: 'wrangler:inbound_rejection',
    attrs: z.object(busIds),
    action(ctx) {
      const bus = named(ctx, 'inbound');
      sendTo(ctx, bus.Tx!, bus.Tx_host, 'wrangler', 'outbound_removal', { ...passOn(ctx), Id: bus.Id });
      removeInbound(ctx, bus);
    },
  })
  .rule('removeInbound', {
    select: 'wrangler:inbound_removal',
    attrs: z.object({ Id: z.string().min(1), Tx: text }),
    if: (ctx) => inboundOf(ctx) !== undefined,
    action: (ctx) => removeInbound(ctx, inboundOf(ctx)!),
  })
  // ---- established links, either side ----
  .rule('cancelEstablished', {
    select: 'wrangler:subscription_cancellation',
    attrs: z.object(busIds),
    action(ctx) {
      const bus = named(ctx, 'established');
      // The other side's view of the link: its Rx is our Tx.
      sendTo(ctx, bus.Tx!, bus.Tx_host, 'wrangler', 'established_removal', { ...passOn(ctx), Id: bus.Id, Rx: bus.Tx, Tx: bus.Rx });
      removeEstablished(ctx, bus);
    },
  })
  .rule('removeEstablished', {
    select: 'wrangler:established_removal',
    attrs: z.object({ Id: text }),
    if: (ctx) => arriving(ctx, 'established') !== undefined,
    action: (ctx) => removeEstablished(ctx, arriving(ctx, 'established')!),
  })
  .rule('sendEventToSubs', {
    select: 'wrangler:send_event_on_subs',
    attrs: z.object({ subID: text, Tx_role: text, Rx_role: text, Rx: text, domain: z.string().min(1), type: z.string().min(1), attrs: jsonish(z.record(z.string(), z.unknown())).nullish() }),
    action(ctx) {
      const a = ctx.attrs;
      // Any link matching any criterion given (pico: by Id, Tx_role, Rx_role; kumo also by Rx, to answer on the link an event came through).
      const subs = (ctx.ent.get('established') ?? []).filter((b) => (a.subID && b.Id === a.subID) || (a.Tx_role && b.Tx_role === a.Tx_role) || (a.Rx_role && b.Rx_role === a.Rx_role) || (a.Rx && b.Rx === a.Rx));
      if (subs.length === 0) {
        announce(ctx, 'failed_to_send_event_to_sub', { ...passOn(ctx), foundSubsToSendTo: false, domainGiven: true, typeGiven: true }, { Ids: [] });
        return;
      }
      for (const b of subs) sendTo(ctx, b.Tx!, b.Tx_host, a.domain, a.type, a.attrs ?? {});
      ctx.directive('wrangler:sent_event_on_subs', { Ids: subs.map((b) => b.Id) });
    },
  })
  // ---- clouds that moved (raised by the kernel in this cloud: through no ECI, so no one else can redirect a link) ----
  .rule('followMovedEci', {
    select: 'wrangler:eci_moved',
    attrs: z.object({ eci: z.string().min(1), host: text }),
    if: (ctx) => ctx.eci === undefined,
    // Events to the other side's ECI followed its forwarding address: its links go there directly now.
    action: (ctx) => rehost(ctx, (b) => b.Tx === ctx.attrs.eci || b.wellKnown_Tx === ctx.attrs.eci, otherHost(ctx.attrs.host, ctx.hostUrl)),
  })
  .rule('cloudImported', {
    select: 'wrangler:cloud_imported',
    attrs: z.object({ from: z.string().min(1) }),
    if: (ctx) => ctx.eci === undefined && otherHost(ctx.attrs.from, ctx.hostUrl) !== null,
    // Links to clouds of the host this cloud left were local there; from here they go to that host
    // (one that came along answers 410 there, and is followed back here).
    action: (ctx) => rehost(ctx, (b) => b.Tx_host === null, otherHost(ctx.attrs.from, ctx.hostUrl)),
  })
  // ---- the owner's settings ----
  .rule('autoAcceptConfigUpdate', {
    select: 'wrangler:autoAcceptConfigUpdate',
    attrs: z.object({
      configName: text,
      regexMap: jsonish(z.unknown()).optional(),
      config: jsonish(z.object({ configName: z.string().min(1), entries: z.unknown() })).nullish(),
      delete: flag,
    }),
    action(ctx) {
      const a = ctx.attrs;
      const name = a.config?.configName ?? a.configName;
      if (!name) throw new InvalidArgsError('an auto-accept rule needs a configName');
      const configName = stateKey(name, 'configName');
      const configs = { ...ctx.ent.get('autoAcceptConfig') };
      const approvers = { ...ctx.ent.get('approvers') };
      if (a.delete) {
        delete configs[configName];
        const approver = own(approvers, configName);
        if (approver !== undefined) dropRx(ctx, approver);
        delete approvers[configName];
      } else {
        configs[configName] = { configName, entries: autoAcceptEntries(a.config ? a.config.entries : a.regexMap) };
        // The rule approves with the authority of whoever set it: its approver is made through their ECI.
        approvers[configName] ??= ctx.newEci({ tags: ['auto_accept'], ...defaults.approver }).id;
      }
      ctx.ent.set('autoAcceptConfig', configs);
      ctx.ent.set('approvers', approvers);
      announce(ctx, 'auto_accept_config_updated', { ...passOn(ctx), configName }, { configName, config: configs[configName] ?? null });
    },
  })
  .rule('rolePolicyUpdate', {
    select: 'wrangler:rolePolicyUpdate',
    attrs: z.object({ Tx_role: z.string().min(1), eventPolicy: jsonish(z.unknown()).optional(), queryPolicy: jsonish(z.unknown()).optional(), delete: flag }),
    action(ctx) {
      const role = stateKey(ctx.attrs.Tx_role, 'Tx_role');
      const policies = { ...ctx.ent.get('rolePolicies') };
      if (ctx.attrs.delete) delete policies[role];
      else policies[role] = rolePolicy(ctx.attrs, defaults.link);
      ctx.ent.set('rolePolicies', policies);
      announce(ctx, 'role_policy_updated', { Tx_role: role }, { Tx_role: role, policy: policies[role] ?? null });
    },
  })
  .share('established', (ctx, args) => listing(ctx.ent.get('established'), args))
  .share('inbound', (ctx, args) => listing(ctx.ent.get('inbound'), args))
  .share('outbound', (ctx, args) => listing(ctx.ent.get('outbound'), args))
  .share('wellKnown_Rx', (ctx) => wellKnown(ctx))
  .share('autoAcceptConfig', (ctx) => ctx.ent.get('autoAcceptConfig') ?? {})
  .share('rolePolicies', (ctx) => ctx.ent.get('rolePolicies') ?? {});

/** Point every link that `pick` picks at `host` (its `Tx_host`; null: this host). */
function rehost(ctx: Ctx, pick: (b: Bus & { wellKnown_Tx?: string }) => boolean, host: string | null): void {
  for (const list of ['established', 'outbound', 'inbound'] as const) {
    const buses: Array<Bus & { wellKnown_Tx?: string }> = ctx.ent.get(list) ?? [];
    if (buses.some(pick))
      ctx.ent.set(
        list,
        buses.map((b) => (pick(b) ? { ...b, Tx_host: host } : b)),
      );
  }
}

function removeOutbound(ctx: Ctx, bus: OutboundBus): void {
  dropRx(ctx, bus.Rx);
  ctx.ent.set('outbound', without(ctx.ent.get('outbound'), bus.Id));
  announce(ctx, 'outbound_subscription_cancelled', { ...passOn(ctx), Id: bus.Id, bus: busView(bus) }, busView(bus));
}

function removeInbound(ctx: Ctx, bus: InboundBus): void {
  dropRx(ctx, bus.Rx);
  ctx.ent.set('inbound', without(ctx.ent.get('inbound'), bus.Id));
  announce(ctx, 'inbound_subscription_cancelled', { ...passOn(ctx), Id: bus.Id, bus: busView(bus) }, busView(bus));
}

function removeEstablished(ctx: Ctx, bus: Bus): void {
  dropRx(ctx, bus.Rx);
  ctx.ent.set('established', without(ctx.ent.get('established'), bus.Id));
  announce(ctx, 'subscription_removed', { ...passOn(ctx), Id: bus.Id, bus }, bus);
}

/** The pending inbound link a withdrawal names: by its Id, and by the proposer's ECI when given. */
function inboundOf(ctx: Pick<Ctx, 'ent'> & { attrs: { Id: string; Tx?: string | null | undefined } }): InboundBus | undefined {
  return (ctx.ent.get('inbound') ?? []).find((b) => b.Id === ctx.attrs.Id && (!ctx.attrs.Tx || b.Tx === ctx.attrs.Tx));
}

/** The well-known ECI, as the pico engine shows a channel (`id` is the ECI to propose to). */
function wellKnown(ctx: QueryCtx<LinkState>): { id: string; tags: string[]; eventPolicy: unknown; queryPolicy: unknown } | null {
  // As in pico: the ECI with exactly these tags.
  const tags = [...WELL_KNOWN_ECI.tags].sort().join(',');
  const eci = ctx.ecis().find((e) => [...e.tags].sort().join(',') === tags);
  return eci ? { id: eci.id, tags: eci.tags, eventPolicy: eci.eventPolicy, queryPolicy: eci.queryPolicy } : null;
}

/** The links ruleset, installed in every cloud. */
export const links = builder.build();

/** The policies of link ECIs and approvers, from the built-ins' rules (see link-policies.ts). */
const defaults = linkDefaults([wrangler, links]);

/** The event and query policies a link's ECI gets when its role has none of its own. */
export const DEFAULT_LINK_POLICY: LinkPolicy = structuredClone(defaults.link);
