import { createHash } from 'node:crypto';
import { InvalidArgsError, isPlainObject, isStrings } from '../kernel/index.ts';

/**
 * A link as the pico engine lists it (a "bus"), from this cloud's side: `Rx` is this cloud's ECI
 * for the link (the other side sends to it), `Tx` the other side's; `Rx_role` is the role this cloud
 * plays, `Tx_role` the other side's; `Tx_host` the base URL of the other side's host when it is at
 * another provider, else null.
 */
export type Bus = {
  Id: string;
  /** Null on the proposing side until the other side approves. */
  Tx: string | null;
  /** Null on the receiving side until its owner approves: the ECI is made then (see links.ts). */
  Rx: string | null;
  Rx_role: string | null;
  Tx_role: string | null;
  Tx_host: string | null;
};

/** A link this cloud proposed, not yet approved: it remembers where the proposal went. */
export type OutboundBus = Bus & { wellKnown_Tx: string };

/** A link proposed to this cloud, not yet approved: it remembers the tags asked for its ECI. */
export type InboundBus = Bus & { channel_name: string; channel_type: string };

/** An auto-accept rule, in the pico engine's shape: attribute name → regexes (any match accepts). */
export type AutoAccept = { configName: string; entries: Record<string, string[]> };

/** The fields every listing shows (`established()`, `inbound()`, `outbound()`). */
export function busView(b: Bus & { wellKnown_Tx?: string }): Bus & { wellKnown_Tx?: string } {
  const { Id, Tx, Rx, Rx_role, Tx_role, Tx_host, wellKnown_Tx } = b;
  return { Id, Tx, Rx, Rx_role, Tx_role, Tx_host, ...(wellKnown_Tx === undefined ? {} : { wellKnown_Tx }) };
}

/**
 * The link an owner's request names, as the pico engine finds it: by `Id`, else by `Rx`, else by
 * `Tx`.
 */
export function findBus<B extends Bus>(buses: readonly B[], by: { Id?: string | null; Rx?: string | null; Tx?: string | null }): B | undefined {
  if (by.Id) return buses.find((b) => b.Id === by.Id);
  if (by.Rx) return buses.find((b) => b.Rx === by.Rx);
  if (by.Tx) return buses.find((b) => b.Tx === by.Tx);
  return undefined;
}

/**
 * The link a protocol event from the other side is about: it must come through that link's own
 * ECI, so one linked cloud cannot end or approve another's link by guessing its Id.
 */
export function busOf<B extends Bus>(buses: readonly B[], Id: string | null | undefined, via: string | undefined): B | undefined {
  return buses.find((b) => b.Rx === via && (!Id || b.Id === Id));
}

/**
 * A link's Id, from something unique to it (a new ECI of this cloud, or the proposer's): the pico
 * engine picks a random uuid, but rules here have no randomness of their own, and an ECI must not
 * be shown as an Id, so it is a hash of one.
 */
export function linkId(seed: string): string {
  return createHash('sha256').update(`kumo-link:${seed}`).digest('base64url').slice(0, 22);
}

/**
 * Tags a link's ECI may not take from the other side's names: the well-known ECI is found by its
 * tags, and a link ECI found in its place would be handed out with the link's authority.
 */
const RESERVED = new Set(['system', 'wellknown_rx', 'auto_accept']);

/** A channel tag from a name, cleaned as the pico engine cleans tags; `fallback` when nothing is left or the tag is reserved. */
export function channelTag(name: string | null | undefined, fallback: string): string {
  const t = (name ?? '')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[^a-z0-9_-]+/gi, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase()
    .slice(0, 50);
  return t === '' || RESERVED.has(t) ? fallback : t;
}

/** A base URL as links keep it: no trailing slash. */
function base(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The other side's host: null when none is given or it is this host itself (as the pico engine does). */
export function otherHost(url: string | null | undefined, own: string | undefined): string | null {
  if (!url) return null;
  return own !== undefined && base(url).toLowerCase() === base(own).toLowerCase() ? null : base(url);
}

/** Check an auto-accept rule's entries (each regex must compile); a single regex may be given as a string. */
export function autoAcceptEntries(value: unknown): Record<string, string[]> {
  if (!isPlainObject(value)) throw new InvalidArgsError('regexMap must map attribute names to regexes');
  const out: Record<string, string[]> = {};
  for (const [attr, regexes] of Object.entries(value)) {
    const list = typeof regexes === 'string' ? [regexes] : regexes;
    if (!isStrings(list) || list.length === 0 || !list.every((r) => r.length <= 500)) {
      throw new InvalidArgsError(`regexMap.${attr} must be a regex, or a list of regexes (each at most 500 characters)`);
    }
    for (const r of list) {
      try {
        new RegExp(r);
      } catch (err) {
        throw new InvalidArgsError(`regexMap.${attr}: ${(err as Error).message}`);
      }
    }
    out[attr] = [...list];
  }
  return out;
}

/** Does a proposal's attrs match an auto-accept rule (some attribute matching one of its regexes)? */
export function autoAccepts(rule: AutoAccept, attrs: Record<string, unknown>): boolean {
  return Object.entries(rule.entries).some(([attr, regexes]) => {
    const v = attrs[attr];
    if (typeof v !== 'string' && typeof v !== 'number') return false;
    return regexes.some((r) => new RegExp(r).test(String(v)));
  });
}
