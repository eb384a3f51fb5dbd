import type { Eci } from './ids.ts';
import { InvalidArgsError } from './errors.ts';
import {
  ALLOW_ALL_EVENTS,
  ALLOW_ALL_QUERIES,
  eventPolicyWithin,
  intersectEventPolicies,
  intersectQueryPolicies,
  parseEventPolicy,
  parseQueryPolicy,
  queryPolicyWithin,
  type EventPolicy,
  type QueryPolicy,
} from './policy.ts';
import type { EciInfo } from './ruleset.ts';

/**
 * Capabilities only shrink (DESIGN §3.8). The authority of an ECI is what its event and query
 * policies allow, plus the `system` tag (reading the cloud's log). No ECI can obtain an ECI with
 * more authority than its own: one made through it gets at most its policies, and what comes back
 * through it (query results, directives, listings) holds only ECIs within its authority.
 *
 * The ECI an event or query came through is the caller. Scheduled events have none: they are the
 * cloud acting on its own, with the cloud's full authority.
 */

/** The tag on ECIs that may read the cloud's log, and cannot be deleted through wrangler (owner and parent channels). */
export const SYSTEM_TAG = 'system';

/** What an ECI may do. */
export type Authority = Pick<EciInfo, 'tags' | 'eventPolicy' | 'queryPolicy'> & { id?: string };

const FULL: Authority = { tags: [SYSTEM_TAG], eventPolicy: ALLOW_ALL_EVENTS, queryPolicy: ALLOW_ALL_QUERIES };

/** Is everything `inner` may do also allowed to `outer`? */
export function within(inner: Authority, outer: Authority): boolean {
  if (inner.tags.includes(SYSTEM_TAG) && !outer.tags.includes(SYSTEM_TAG)) return false;
  return eventPolicyWithin(inner.eventPolicy, outer.eventPolicy) && queryPolicyWithin(inner.queryPolicy, outer.queryPolicy);
}

// ECI records are replaced, never changed, when their policies change: the answer can be kept.
const fullness = new WeakMap<Authority, boolean>();

/** Does `a` have the cloud's full authority (every event, every query, the log)? The owner's ECI does. */
export function isFull(a: Authority): boolean {
  let full = fullness.get(a);
  if (full === undefined) {
    full = within(FULL, a);
    fullness.set(a, full);
  }
  return full;
}

const MAX_RULES = 100;

/**
 * The policies of a new ECI made through `creator`: what was asked for, cut down to what the creator
 * may do; when nothing was asked for, the creator's own (never allow-all). Without a creator (the
 * cloud itself), what was asked for, allow-all by default.
 */
export function attenuate(asked: { eventPolicy?: unknown; queryPolicy?: unknown }, creator: Authority | undefined): { eventPolicy: EventPolicy; queryPolicy: QueryPolicy } {
  const given = (v: unknown): boolean => v !== undefined && v !== null;
  const eventPolicy = parseEventPolicy(asked.eventPolicy);
  const queryPolicy = parseQueryPolicy(asked.queryPolicy);
  if (!creator) return { eventPolicy, queryPolicy };
  const out = {
    eventPolicy: given(asked.eventPolicy) ? intersectEventPolicies(eventPolicy, creator.eventPolicy) : structuredClone(creator.eventPolicy),
    queryPolicy: given(asked.queryPolicy) ? intersectQueryPolicies(queryPolicy, creator.queryPolicy) : structuredClone(creator.queryPolicy),
  };
  for (const p of [out.eventPolicy, out.queryPolicy]) {
    if (p.allow.length > MAX_RULES || p.deny.length > MAX_RULES) throw new InvalidArgsError(`the policy, cut down to the creating ECI's, would need more than ${MAX_RULES} rules; ask for a simpler one`);
  }
  return out;
}

/** What a cloud knows of the ECIs that may turn up in what it returns. */
export interface EciView {
  /** An ECI of the cloud. */
  eci(id: string): Authority | undefined;
  /** Is `id` the parent's ECI on one of the cloud's children (full authority over that child)? */
  isChildEci(id: string): boolean;
}

/** The view of a cloud: its ECIs by `eci`, its children's parent ECIs (indexed on first use). */
export function eciView(eci: (id: string) => Authority | undefined, children: () => Iterable<{ eci: string }>): EciView {
  let kids: Set<string> | undefined;
  return { eci, isChildEci: (id) => (kids ??= new Set([...children()].map((c) => c.eci))).has(id) };
}

const ECI_SHAPE = /^E[0-9a-z][0-9a-f]{3}[A-Za-z0-9_-]{22}$/;

/**
 * `value`, with every ECI of this cloud (or of its children) that is beyond `caller`'s authority
 * replaced by null. ECIs of other clouds are left alone: their authority is not this cloud's to
 * judge. Returns `value` itself when nothing had to go; never changes it.
 */
export function redactEcis<T>(value: T, view: EciView, caller: Authority | undefined): T {
  if (!caller || isFull(caller)) return value;
  const hidden = (s: string): boolean => {
    if (s.length !== 27 || !ECI_SHAPE.test(s)) return false;
    const info = view.eci(s as Eci);
    if (info) return !within(info, caller);
    return view.isChildEci(s);
  };
  const seen = new WeakSet<object>();
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return hidden(v) ? null : v;
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v) || seen.has(v)) return v;
    seen.add(v);
    let copy: Record<string, unknown> | unknown[] | undefined;
    const entries = Array.isArray(v) ? v.entries() : Object.entries(v);
    for (const [k, item] of entries) {
      const next = walk(item);
      if (next !== item) {
        copy ??= Array.isArray(v) ? [...v] : { ...(v as Record<string, unknown>) };
        (copy as Record<string | number, unknown>)[k] = next;
      }
    }
    return copy ?? v;
  };
  return walk(value) as T;
}
