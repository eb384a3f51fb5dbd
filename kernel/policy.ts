import { InvalidArgsError } from './errors.ts';

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
  if (!Array.isArray(value) || value.length > 100) throw new InvalidArgsError(`${where} must be an array of at most 100 entries`);
  return value.map((entry, i) => {
    if (typeof entry !== 'object' || entry === null) throw new InvalidArgsError(`${where}[${i}] must be an object`);
    const out = {} as Record<K, string>;
    for (const f of fields) {
      const v = (entry as Record<string, unknown>)[f] ?? '*';
      if (typeof v !== 'string' || !PATTERN.test(v)) throw new InvalidArgsError(`${where}[${i}].${f} must be "*" or a name`);
      out[f] = v;
    }
    return out;
  });
}

/** Validate an event policy from outside; missing means allow all. */
export function parseEventPolicy(value: unknown): EventPolicy {
  if (value === undefined || value === null) return structuredClone(ALLOW_ALL_EVENTS);
  if (typeof value !== 'object') throw new InvalidArgsError('eventPolicy must be an object {allow, deny}');
  const v = value as Record<string, unknown>;
  return { allow: rules(v['allow'], ['domain', 'name'], 'eventPolicy.allow'), deny: rules(v['deny'], ['domain', 'name'], 'eventPolicy.deny') };
}

/** Validate a query policy from outside; missing means allow all. */
export function parseQueryPolicy(value: unknown): QueryPolicy {
  if (value === undefined || value === null) return structuredClone(ALLOW_ALL_QUERIES);
  if (typeof value !== 'object') throw new InvalidArgsError('queryPolicy must be an object {allow, deny}');
  const v = value as Record<string, unknown>;
  return { allow: rules(v['allow'], ['rid', 'name'], 'queryPolicy.allow'), deny: rules(v['deny'], ['rid', 'name'], 'queryPolicy.deny') };
}
