import { encode } from './codec.ts';
import { InvalidEventError, KumoError } from './errors.ts';

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;
// Printable ASCII without "/" (eids travel in URL paths) and without "!" (they end up in keys).
const EID = /^[\x20-\x7e]{1,128}$/;

/** Check an event's domain and type: 1 to 100 characters of [A-Za-z0-9_.-]. */
export function checkEventName(domain: unknown, type: unknown): asserts domain is string {
  if (typeof domain !== 'string' || !NAME.test(domain)) throw new InvalidEventError(`event domain must be 1 to 100 characters of [A-Za-z0-9_.-], got ${JSON.stringify(domain)}`);
  if (typeof type !== 'string' || !NAME.test(type)) throw new InvalidEventError(`event type must be 1 to 100 characters of [A-Za-z0-9_.-], got ${JSON.stringify(type)}`);
}

/** Check an event id given by a sender. */
export function checkEid(eid: unknown): asserts eid is string {
  if (typeof eid !== 'string' || !EID.test(eid) || eid.includes('/') || eid.includes('!')) {
    throw new InvalidEventError('eid must be 1 to 128 printable ASCII characters without "/" or "!"');
  }
}

/** True for a plain object (not an array, not null, not a class instance). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** How deep attrs may nest (deeper JSON would overflow recursive code further on). */
export const MAX_DEPTH = 100;

/**
 * What is wrong with the shape of `v`, if anything: nesting deeper than {@link MAX_DEPTH}, or a
 * `__proto__` key (JSON.parse makes such own keys). Iterative, so any depth is safe to check.
 */
function shapeProblem(v: unknown): string | undefined {
  const stack: Array<[unknown, number]> = [[v, 1]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [value, depth] = item;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_DEPTH) return `nest deeper than ${MAX_DEPTH} levels`;
    if (!Array.isArray(value) && Object.hasOwn(value, '__proto__')) return 'may not contain the key "__proto__"';
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return undefined;
}

/**
 * Check event attrs (or query args): a plain object whose encoding fits in `maxBytes`, nesting at
 * most {@link MAX_DEPTH} levels, with no `__proto__` key anywhere (the codec could not store it
 * faithfully, and it smells of prototype pollution).
 */
export function checkAttrs(attrs: unknown, maxBytes: number, what = 'attrs'): asserts attrs is Record<string, unknown> {
  if (!isPlainObject(attrs)) throw new InvalidEventError(`${what} must be an object`);
  const problem = shapeProblem(attrs);
  if (problem) throw new InvalidEventError(`${what} ${problem}`);
  let size: number;
  try {
    size = encode(attrs).length;
  } catch (err) {
    throw new InvalidEventError(`${what} cannot be encoded: ${(err as Error).message}`);
  }
  if (size > maxBytes) throw new KumoError('PAYLOAD_TOO_LARGE', `${what} take ${size} bytes; the limit is ${maxBytes}`, { limit: maxBytes });
}
