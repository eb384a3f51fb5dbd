/**
 * KRL's values and the coercions every operator shares (docs/krl.md, "Values"): `null` (also for
 * anything missing), Boolean, Number, String, Array, Map, RegExp, and the callables KRL makes,
 * functions and actions. Values that reach state, attributes or directives are plain JSON data.
 */

/** A KRL function or action: called with positional and named arguments, answering a value (or a promise of one). */
export class KrlCallable {
  constructor(
    readonly kind: 'Function' | 'Action',
    readonly name: string,
    readonly params: readonly string[],
    readonly invoke: (args: readonly unknown[], named: ReadonlyMap<string, unknown> | undefined) => unknown,
  ) {}
}

export type KrlType = 'Null' | 'Boolean' | 'Number' | 'String' | 'Array' | 'Map' | 'RegExp' | 'Function' | 'Action';

export const isNull = (v: unknown): v is null | undefined => v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v));
export const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RegExp) && !(v instanceof KrlCallable);
/** Array.isArray, typed for values of unknown kind (its elements are unknown, not `any`). */
export const isList = (v: unknown): v is unknown[] => Array.isArray(v);
export const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** KRL's `typeof`. */
export function typeOf(v: unknown): KrlType {
  if (isNull(v)) return 'Null';
  switch (typeof v) {
    case 'boolean':
      return 'Boolean';
    case 'number':
      return 'Number';
    case 'string':
      return 'String';
  }
  if (Array.isArray(v)) return 'Array';
  if (v instanceof RegExp) return 'RegExp';
  if (v instanceof KrlCallable) return v.kind;
  return 'Map';
}

/** KRL's string form: strings as they are, `null`, `true`, numbers, `re#…#flags`, `[Array]` and so on. */
export function toStr(v: unknown): string {
  if (typeof v === 'string') return v;
  if (isNull(v)) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof RegExp) return `re#${v.source}#${v.global ? 'g' : ''}${v.ignoreCase ? 'i' : ''}`;
  return `[${typeOf(v)}]`;
}

/** KRL's number form, or null when there is none: null is 0, booleans 0/1, numeric strings, a collection's size. */
export function toNumberOrNull(v: unknown): number | null {
  if (isNull(v)) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const t = v.trim();
    if (t === '') return 0;
    const n = Number(t);
    return Number.isFinite(n) ? n : null;
  }
  if (Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  return null;
}

/** Deep equality of KRL values (null equals anything null-like; maps by their keys, in any order). */
export function isEqual(a: unknown, b: unknown): boolean {
  if (isNull(a) || isNull(b)) return isNull(a) && isNull(b);
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => isEqual(x, b[i]));
  if (a instanceof RegExp) return b instanceof RegExp && toStr(a) === toStr(b);
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && isEqual(a[k], b[k]));
  }
  return false;
}

/** KRL's truth, as the pico engine's: JavaScript's (false, null, 0 and "" are false). */
export const truthy = (v: unknown): boolean => !isNull(v) && Boolean(v);

/** Compare as numbers when both read as numbers, else as strings (KRL's `<=>`). */
export function compare(a: unknown, b: unknown): -1 | 0 | 1 {
  const x = toNumberOrNull(a);
  const y = toNumberOrNull(b);
  if (x !== null && y !== null) return x === y ? 0 : x > y ? 1 : -1;
  const s = toStr(a);
  const t = toStr(b);
  return s === t ? 0 : s > t ? 1 : -1;
}

/**
 * A value as stored, sent or answered: JSON data. Callables and regular expressions become their
 * string form, missing values null, as the pico engine encodes them.
 */
export function toPlain(v: unknown): unknown {
  if (isNull(v)) return null;
  if (typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof RegExp || v instanceof KrlCallable) return toStr(v);
  return Object.fromEntries(Object.keys(v).map((k) => [k, toPlain((v as Record<string, unknown>)[k])]));
}

/** Whether a value may be a promise (a KRL expression that waited on the host: an HTTP request, a call). */
export const isPromise = (v: unknown): v is Promise<unknown> => v instanceof Promise;

/** Apply `f` to `v` now, or once it settles. */
export const chain = <X, T>(v: X | Promise<X>, f: (x: X) => T): T | Promise<T> => (v instanceof Promise ? v.then(f) : f(v));

/** Call `f` on each item in order; from the first that answers a promise on, the rest follow it. */
export function inOrder<T>(items: readonly T[], f: (item: T, i: number) => unknown, from = 0): void | Promise<void> {
  for (let i = from; i < items.length; i++) {
    const out = f(items[i]!, i);
    if (out instanceof Promise) return out.then(() => inOrder(items, f, i + 1));
  }
}

/** A KRL map given to the host (attributes, options, headers): plain data; nothing is an empty one. */
export function plainMap(v: unknown, what: string): Record<string, unknown> {
  if (isNull(v)) return {};
  if (!isMap(v)) throw new TypeError(`${what} must be a map, not ${toStr(v)}`);
  return toPlain(v) as Record<string, unknown>;
}

/** All of `vs`, now, or as one promise when any of them is one. */
export function all(vs: unknown[]): unknown[] | Promise<unknown[]> {
  for (const v of vs) if (v instanceof Promise) return Promise.all(vs);
  return vs;
}
