import { encode } from './store/codec.ts';
import { InvalidArgsError, InvalidEventError, InvalidRulesetError, PayloadTooLargeError, UnstorableValueError, type KumoError } from './errors.ts';

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
export function checkEventName(e: { domain: unknown; type: unknown }): asserts e is { domain: string; type: string } {
  if (typeof e.domain !== 'string' || !NAME.test(e.domain)) throw new InvalidEventError(`event domain must be 1 to 100 characters of [A-Za-z0-9_.-], got ${describe(e.domain)}`);
  if (typeof e.type !== 'string' || !NAME.test(e.type)) throw new InvalidEventError(`event type must be 1 to 100 characters of [A-Za-z0-9_.-], got ${describe(e.type)}`);
}

// Control characters (C0, DEL, C1) and line or paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// Invisible format characters (bidi overrides and isolates, zero-width spaces, the BOM, …), but the
// zero-width joiner that emoji sequences need.
const FORMAT = /(?!\u200d)\p{Cf}/u;
// A high surrogate not followed by a low one, or a low one not after a high one.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * What is wrong with a name people read (a cloud's, a device's), if anything: it must be 1 to 100
 * characters, well-formed Unicode, with no control or invisible formatting characters (a bidi
 * override makes one name look like another), and not begin or end with a space.
 */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0 || name.length > 100) return 'must be 1 to 100 characters';
  if (LONE_SURROGATE.test(name)) return 'must be well-formed Unicode (it has a lone surrogate)';
  if (CONTROL.test(name)) return 'may not hold control characters';
  if (FORMAT.test(name)) return 'may not hold invisible formatting characters (such as a bidi override)';
  if (/^\s|\s$/u.test(name)) return 'may not begin or end with a space';
  return undefined;
}

/** The event domain only the kernel sends (the deletion of a cloud, clouds/deletions.ts). */
export const KERNEL_DOMAIN = 'kumo';

/** Check the domain and type of an event a sender (a channel's client, a rule) makes: the kernel's domain is its own. */
export function checkSentEventName(e: { domain: unknown; type: unknown }): asserts e is { domain: string; type: string } {
  checkEventName(e);
  if (e.domain === KERNEL_DOMAIN) throw new InvalidEventError(`the event domain "${KERNEL_DOMAIN}" is the kernel's own: no one else may send it`);
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

/** A list of strings only. */
export function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((item) => typeof item === 'string');
}

const RID = /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/;

/** Refuse a ruleset id that is not letters, digits, "_", "." and "-" (starting with a letter, at most 100). */
export function checkRid(rid: unknown): void {
  if (typeof rid !== 'string' || !RID.test(rid)) throw new InvalidRulesetError(`invalid rid ${JSON.stringify(rid)}: use letters, digits, "_", "." and "-"`);
}

/** `Array.isArray` that says what it knows: the items are `unknown`, not `any`. */
export function isList(v: unknown): v is readonly unknown[] {
  return Array.isArray(v);
}

/** True for a plain object (not an array, not null, not a class instance). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** How deep attrs may nest (deeper JSON would overflow recursive code further on). */
export const MAX_DEPTH = 100;

/** How deep a value a rule or function makes (entity state, a directive, an answer) may nest. */
export const VALUE_DEPTH = 256;

/** Values (with repeats: a shared object counts each time, as JSON would write it) one check walks at most. */
const MAX_NODES = 1_000_000;

/**
 * What keeps `v` from being plain data that every transport carries the same (JSON, msgpack), if
 * anything: a BigInt, function or symbol; an object that is not a plain object, an array or bytes
 * (a Uint8Array, stored as binary; a Date, a Map or a class instance are refused); nesting deeper than `maxDepth` (a value that refers to itself never
 * ends); more than a million values; a `__proto__` key (JSON.parse makes such own keys, and it
 * smells of prototype pollution). Iterative, so any depth is safe to check.
 */
export function shapeProblem(v: unknown, maxDepth = MAX_DEPTH): string | undefined {
  const top = leafProblem(v);
  if (top !== undefined || typeof v !== 'object' || v === null || v instanceof Uint8Array) return top;
  // Only objects are pushed (most values are flat: nothing to push), with their depths alongside.
  const stack: object[] = [v];
  const depths: number[] = [1];
  let nodes = 0;
  for (let value = stack.pop(), depth = depths.pop()!; value !== undefined; value = stack.pop(), depth = depths.pop()!) {
    if (depth > maxDepth) return cyclic(v, maxDepth + 1) ? 'may not refer to themselves (a cycle)' : `nest deeper than ${maxDepth} levels`;
    if (!Array.isArray(value) && Object.hasOwn(value, '__proto__')) return 'may not contain the key "__proto__"';
    for (const child of Object.values(value)) {
      if (++nodes > MAX_NODES) return `hold more than ${MAX_NODES} values`;
      if (typeof child === 'object' && child !== null) {
        const problem = leafProblem(child);
        if (problem !== undefined) return problem;
        if (child instanceof Uint8Array) continue;
        stack.push(child as object);
        depths.push(depth + 1);
      } else if (typeof child === 'bigint' || typeof child === 'function' || typeof child === 'symbol') {
        return leafProblem(child);
      }
    }
  }
  return undefined;
}

/**
 * Does `v` hold itself within `depth` levels? Only asked of values found too deep, so the recursion
 * is bounded; so is the work, by `budget` values (a value shared many ways over is not a cycle).
 */
function cyclic(v: object, depth: number, above = new Set<object>(), budget = { left: MAX_NODES }): boolean {
  if (above.has(v)) return true;
  if (depth === 0 || --budget.left < 0) return false;
  above.add(v);
  for (const child of Object.values(v)) if (typeof child === 'object' && child !== null && cyclic(child as object, depth - 1, above, budget)) return true;
  above.delete(v);
  return false;
}

/** What keeps one value (not what it holds) from being plain data. */
function leafProblem(v: unknown): string | undefined {
  switch (typeof v) {
    case 'bigint':
      return 'may not hold a BigInt (use a number, or a string of its digits)';
    case 'function':
      return 'may not hold a function';
    case 'symbol':
      return 'may not hold a symbol';
    case 'object':
      if (v === null || Array.isArray(v) || isPlainObject(v) || v instanceof Uint8Array) return undefined;
      return `may hold only plain objects and arrays, not ${v instanceof Date ? 'a Date (use a number of ms or an ISO string)' : `a ${className(v)}`}`;
    default:
      return undefined;
  }
}

/**
 * Refuse a value a rule or function made that cannot cross the wire or the store the same way
 * (see {@link shapeProblem}): UNSTORABLE_VALUE, raised where it is made, inside the episode, so
 * nothing of the episode is written. `what` names the value, made only when it is refused.
 */
export function checkValue(value: unknown, what: () => string): void {
  const problem = shapeProblem(value, VALUE_DEPTH);
  if (problem !== undefined) throw new UnstorableValueError(what(), `it must be plain data: values ${problem}`);
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

/** The name of an object's class, as far as it tells (an object may have no constructor at all). */
function className(v: object): string {
  const made: unknown = Reflect.get(v, 'constructor');
  return typeof made === 'function' && made.name !== '' ? made.name : 'class instance';
}
