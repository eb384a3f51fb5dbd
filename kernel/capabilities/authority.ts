import type { Eci } from '../ids.ts';
import { InvalidArgsError, KumoError, LimitExceededError } from '../errors.ts';
import { ALLOW_ALL_EVENTS, ALLOW_ALL_QUERIES, eventPolicyWithin, intersectEventPolicies, intersectQueryPolicies, parseEventPolicy, parseQueryPolicy, queryPolicyWithin, type EventPolicy, type QueryPolicy } from './policy.ts';
import type { EciInfo } from '../ruleset.ts';
import { isList } from '../validate.ts';

/**
 * Capabilities only shrink (docs/rulesets.md, "Capabilities"). The authority of an ECI is what its event and query
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

/** A new ECI with the cloud's full authority: its owner's (a root's) or its parent's. */
export function systemEci(id: Eci, role: 'owner' | 'parent'): EciInfo {
  // Literals, not clones of the constants: this runs for every cloud made.
  return { id, tags: [role, SYSTEM_TAG], eventPolicy: { allow: [{ domain: '*', name: '*' }], deny: [] }, queryPolicy: { allow: [{ rid: '*', name: '*' }], deny: [] } };
}

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
const ECI_LENGTH = 27;

/** What stands in a longer string where an ECI beyond the caller's authority was. */
export const WITHHELD = '[ECI withheld]';

/** How deep {@link redactEcis} walks; deeper answers are refused (they could not be sent as JSON either). */
export const MAX_ANSWER_DEPTH = 1000;

/**
 * `value`, with every ECI of this cloud (or of its children) that is beyond `caller`'s authority
 * taken out: a string that is such an ECI becomes null, one that contains it has it replaced by
 * {@link WITHHELD}, and an object entry whose key contains it is dropped. ECIs of other clouds are
 * left alone: their authority is not this cloud's to judge. Returns `value` itself when nothing
 * had to go; never changes it.
 */
export function redactEcis<T>(value: T, view: EciView, caller: Authority | undefined): T {
  if (!caller || isFull(caller)) return value;
  const hidden = (s: string): boolean => {
    if (!ECI_SHAPE.test(s)) return false;
    const info = view.eci(s);
    if (info) return !within(info, caller);
    return view.isChildEci(s);
  };
  const text = (s: string): string | null => {
    if (s.length < ECI_LENGTH) return s;
    if (s.length === ECI_LENGTH) return hidden(s) ? null : s;
    // Every place an ECI could start, overlapping ones included; then each covered stretch goes.
    const cut: Array<[number, number]> = [];
    for (let i = s.indexOf('E'); i >= 0 && i <= s.length - ECI_LENGTH; i = s.indexOf('E', i + 1)) {
      if (!hidden(s.slice(i, i + ECI_LENGTH))) continue;
      const last = cut[cut.length - 1];
      if (last && i <= last[1]) last[1] = i + ECI_LENGTH;
      else cut.push([i, i + ECI_LENGTH]);
    }
    if (cut.length === 0) return s;
    let out = '';
    let from = 0;
    for (const [a, b] of cut) {
      out += s.slice(from, a) + WITHHELD;
      from = b;
    }
    return out + s.slice(from);
  };
  // An object met twice gets the same answer (a shared one must not slip through unredacted the
  // second time); one met again inside itself (a cycle, which JSON cannot carry anyway) is cut.
  const done = new Map<object, unknown>();
  const walking = new Set<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return text(v);
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) return v;
    if (done.has(v)) return done.get(v);
    if (walking.has(v)) return null;
    if (depth > MAX_ANSWER_DEPTH) throw new LimitExceededError('answerDepth', MAX_ANSWER_DEPTH, `an answer may nest at most ${MAX_ANSWER_DEPTH} levels`);
    walking.add(v);
    const out = walkObject(v, depth);
    walking.delete(v);
    done.set(v, out);
    return out;
  };
  const walkObject = (v: object, depth: number): unknown => {
    if (isList(v)) {
      let copy: unknown[] | undefined;
      v.forEach((item, i) => {
        const next = walk(item, depth + 1);
        if (next !== item) (copy ??= [...v])[i] = next;
      });
      return copy ?? v;
    }
    let changed = false;
    const kept: Array<[string, unknown]> = [];
    for (const [k, item] of Object.entries(v)) {
      const next = walk(item, depth + 1);
      if (text(k) !== k) changed = true;
      else {
        if (next !== item) changed = true;
        kept.push([k, next]);
      }
    }
    // fromEntries defines properties, so a "__proto__" key stays a key.
    return changed ? Object.fromEntries(kept) : v;
  };
  return walk(value, 1) as T;
}

/**
 * An error as `caller` may see it: its message and details with ECIs beyond the caller's authority
 * taken out (see {@link redactEcis}). A rule or function may put anything in what it throws.
 */
export function redactError(err: unknown, view: EciView, caller: Authority | undefined): unknown {
  if (!(err instanceof KumoError) || !caller || isFull(caller)) return err;
  // A message that is nothing but an ECI comes back null.
  const redacted = redactEcis<unknown>(err.message, view, caller);
  const message = typeof redacted === 'string' ? redacted : WITHHELD;
  const details = redactEcis(err.details, view, caller);
  if (message === err.message && details === err.details) return err;
  return Reflect.construct(KumoError, [err.code, message, details, { cause: err }], err.constructor);
}
