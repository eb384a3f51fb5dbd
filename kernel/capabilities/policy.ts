import { InvalidArgsError } from '../errors.ts';
import { isList, isPlainObject } from '../validate.ts';

/** Event policy of an ECI, in the pico engine's shape. `*` matches anything; deny is checked first. */
export interface EventPolicy {
  allow: Array<{ domain: string; name: string }>;
  deny: Array<{ domain: string; name: string }>;
}

/** Query policy of an ECI: which (rid, function name) pairs it may call. */
export interface QueryPolicy {
  allow: Array<{ rid: string; name: string }>;
  deny: Array<{ rid: string; name: string }>;
}

export const ALLOW_ALL_EVENTS: EventPolicy = { allow: [{ domain: '*', name: '*' }], deny: [] };
export const ALLOW_ALL_QUERIES: QueryPolicy = { allow: [{ rid: '*', name: '*' }], deny: [] };

const hit = (pattern: string, value: string): boolean => pattern === '*' || pattern === value;

/** May an ECI with this policy receive event `domain:type`? */
export function eventAllowed(policy: EventPolicy, domain: string, type: string): boolean {
  if (policy.deny.some((r) => hit(r.domain, domain) && hit(r.name, type))) return false;
  return policy.allow.some((r) => hit(r.domain, domain) && hit(r.name, type));
}

/** May an ECI with this policy call function `rid/name`? */
export function queryAllowed(policy: QueryPolicy, rid: string, name: string): boolean {
  if (policy.deny.some((r) => hit(r.rid, rid) && hit(r.name, name))) return false;
  return policy.allow.some((r) => hit(r.rid, rid) && hit(r.name, name));
}

const PATTERN = /^(\*|[A-Za-z0-9_.:-]{1,100})$/;

function rules<K extends string>(value: unknown, fields: [K, K], where: string): Array<Record<K, string>> {
  if (value === undefined) return [];
  if (!isList(value) || value.length > 100) throw new InvalidArgsError(`${where} must be an array of at most 100 entries`);
  return value.map((entry, i) => {
    if (!isPlainObject(entry)) throw new InvalidArgsError(`${where}[${i}] must be an object`);
    const out = {} as Record<K, string>;
    for (const f of fields) {
      const v = entry[f] ?? '*';
      if (typeof v !== 'string' || !PATTERN.test(v)) throw new InvalidArgsError(`${where}[${i}].${f} must be "*" or a name`);
      out[f] = v;
    }
    return out;
  });
}

/** Validate an event policy from outside; missing means allow all. */
export function parseEventPolicy(value: unknown): EventPolicy {
  if (value === undefined || value === null) return structuredClone(ALLOW_ALL_EVENTS);
  if (!isPlainObject(value)) throw new InvalidArgsError('eventPolicy must be an object {allow, deny}');
  return { allow: rules(value['allow'], ['domain', 'name'], 'eventPolicy.allow'), deny: rules(value['deny'], ['domain', 'name'], 'eventPolicy.deny') };
}

/** Validate a query policy from outside; missing means allow all. */
export function parseQueryPolicy(value: unknown): QueryPolicy {
  if (value === undefined || value === null) return structuredClone(ALLOW_ALL_QUERIES);
  if (!isPlainObject(value)) throw new InvalidArgsError('queryPolicy must be an object {allow, deny}');
  return { allow: rules(value['allow'], ['rid', 'name'], 'queryPolicy.allow'), deny: rules(value['deny'], ['rid', 'name'], 'queryPolicy.deny') };
}

// ---- the algebra of authority: intersection and inclusion ----

/** The names a pattern can stand for, as far as a finite check needs: `*` stands for "any other name". */
const OTHER = '\u0000other';

/** Both patterns at once: the narrower, or nothing when they name different things. */
function meet(a: string, b: string): string | null {
  if (a === '*') return b;
  if (b === '*' || a === b) return a;
  return null;
}

function intersectRules<K extends string>(a: Array<Record<K, string>>, b: Array<Record<K, string>>, fields: [K, K]): Array<Record<K, string>> {
  const out = new Map<string, Record<K, string>>();
  for (const x of a) {
    for (const y of b) {
      const m0 = meet(x[fields[0]], y[fields[0]]);
      const m1 = meet(x[fields[1]], y[fields[1]]);
      if (m0 === null || m1 === null) continue;
      const r = { [fields[0]]: m0, [fields[1]]: m1 } as Record<K, string>;
      out.set(`${m0}\u0000${m1}`, r);
    }
  }
  return [...out.values()];
}

function unionRules<K extends string>(a: Array<Record<K, string>>, b: Array<Record<K, string>>, fields: [K, K]): Array<Record<K, string>> {
  const out = new Map<string, Record<K, string>>();
  for (const r of [...a, ...b]) out.set(`${r[fields[0]]}\u0000${r[fields[1]]}`, { ...r });
  return [...out.values()];
}

/** The event policy allowing exactly what both allow. */
export function intersectEventPolicies(a: EventPolicy, b: EventPolicy): EventPolicy {
  return { allow: intersectRules(a.allow, b.allow, ['domain', 'name']), deny: unionRules(a.deny, b.deny, ['domain', 'name']) };
}

/** The query policy allowing exactly what both allow. */
export function intersectQueryPolicies(a: QueryPolicy, b: QueryPolicy): QueryPolicy {
  return { allow: intersectRules(a.allow, b.allow, ['rid', 'name']), deny: unionRules(a.deny, b.deny, ['rid', 'name']) };
}

/**
 * Does everything `inner` allows pass `outer` too? Patterns are `*` or one name, so a finite check
 * decides it: every name either policy mentions, plus one name neither does (it stands for all the
 * others, which every rule treats alike).
 */
function included(mentioned: Array<Record<string, string>>, fields: [string, string], inner: (x: string, y: string) => boolean, outer: (x: string, y: string) => boolean): boolean {
  const names = (field: string): string[] => [OTHER, ...new Set(mentioned.map((r) => r[field]!).filter((n) => n !== '*'))];
  const ys = names(fields[1]);
  for (const x of names(fields[0])) for (const y of ys) if (inner(x, y) && !outer(x, y)) return false;
  return true;
}

/** Is everything `inner` allows also allowed by `outer`? */
export function eventPolicyWithin(inner: EventPolicy, outer: EventPolicy): boolean {
  const mentioned = [...inner.allow, ...inner.deny, ...outer.allow, ...outer.deny];
  return included(
    mentioned,
    ['domain', 'name'],
    (d, t) => eventAllowed(inner, d, t),
    (d, t) => eventAllowed(outer, d, t),
  );
}

/** Is every query `inner` allows also allowed by `outer`? */
export function queryPolicyWithin(inner: QueryPolicy, outer: QueryPolicy): boolean {
  const mentioned = [...inner.allow, ...inner.deny, ...outer.allow, ...outer.deny];
  return included(
    mentioned,
    ['rid', 'name'],
    (r, n) => queryAllowed(inner, r, n),
    (r, n) => queryAllowed(outer, r, n),
  );
}
