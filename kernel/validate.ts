import { encode } from './codec.ts';
import { InvalidArgsError, InvalidEventError, PayloadTooLargeError, type KumoError } from './errors.ts';

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;
// Printable ASCII without "/" (eids travel in URL paths) and without "!" (they end up in keys).
const EID = /^[\x20-\x7e]{1,128}$/;

/**
 * A short, safe description of a value for an error message: strings are quoted and cut, anything
 * else is named by its type. Never serializes the value (a hostile, deeply nested value would
 * overflow the stack or fill the message).
 */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'undefined') return String(v);
  return `a ${typeof v}`;
}

/** Check an event's domain and type: 1 to 100 characters of [A-Za-z0-9_.-]. */
export function checkEventName(domain: unknown, type: unknown): asserts domain is string {
  if (typeof domain !== 'string' || !NAME.test(domain)) throw new InvalidEventError(`event domain must be 1 to 100 characters of [A-Za-z0-9_.-], got ${describe(domain)}`);
  if (typeof type !== 'string' || !NAME.test(type)) throw new InvalidEventError(`event type must be 1 to 100 characters of [A-Za-z0-9_.-], got ${describe(type)}`);
}

/** Check an event id given by a sender. */
export function checkEid(eid: unknown): asserts eid is string {
  if (typeof eid !== 'string' || !EID.test(eid) || eid.includes('/') || eid.includes('!')) {
    throw new InvalidEventError('eid must be 1 to 128 printable ASCII characters without "/" or "!"');
  }
}

/** Check an idempotency key: 1 to 128 visible ASCII characters (no spaces), e.g. a UUID. */
export function checkIdempotencyKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(key)) {
    throw new InvalidEventError(`an idempotency key must be 1 to 128 visible ASCII characters, got ${describe(key)}`);
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
export function shapeProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  // Only objects are pushed (most attrs are flat: nothing to push), with their depths alongside.
  const stack: object[] = [v];
  const depths: number[] = [1];
  for (let value = stack.pop(), depth = depths.pop()!; value !== undefined; value = stack.pop(), depth = depths.pop()!) {
    if (depth > MAX_DEPTH) return `nest deeper than ${MAX_DEPTH} levels`;
    if (!Array.isArray(value) && Object.hasOwn(value, '__proto__')) return 'may not contain the key "__proto__"';
    for (const child of Object.values(value)) {
      if (typeof child === 'object' && child !== null) {
        stack.push(child as object);
        depths.push(depth + 1);
      }
    }
  }
  return undefined;
}

function checkPayload(value: unknown, maxBytes: number, what: string, invalid: (message: string) => KumoError): asserts value is Record<string, unknown> {
  if (!isPlainObject(value)) throw invalid(`${what} must be an object`);
  if (isEmpty(value)) return; // most queries: nothing to walk or encode
  const problem = shapeProblem(value);
  if (problem) throw invalid(`${what} ${problem}`);
  let size: number;
  try {
    size = encode(value).length;
  } catch (err) {
    throw invalid(`${what} cannot be encoded: ${(err as Error).message}`);
  }
  if (size > maxBytes) throw new PayloadTooLargeError(`${what} take ${size} bytes; the limit is ${maxBytes}`, { limit: maxBytes });
}

function isEmpty(value: object): boolean {
  for (const _ in value) return false;
  return true;
}

/**
 * Check event attrs (or push data): a plain object whose encoding fits in `maxBytes`, nesting at
 * most {@link MAX_DEPTH} levels, with no `__proto__` key anywhere (the codec could not store it
 * faithfully, and it smells of prototype pollution). INVALID_EVENT or PAYLOAD_TOO_LARGE.
 */
export function checkAttrs(attrs: unknown, maxBytes: number, what = 'attrs'): asserts attrs is Record<string, unknown> {
  checkPayload(attrs, maxBytes, what, (m) => new InvalidEventError(m));
}

/** Check query args the same way as attrs; INVALID_ARGS or PAYLOAD_TOO_LARGE. */
export function checkArgs(args: unknown, maxBytes: number): asserts args is Record<string, unknown> {
  checkPayload(args, maxBytes, 'query args', (m) => new InvalidArgsError(m));
}
