import { LinearRegExp } from './linear-regexp.ts';
import { KrlError, invoke, type Run } from './runtime.ts';
import { KrlCallable, isList, compare, isEqual, isMap, isNull, isNumber, isPromise, toNumberOrNull, toPlain, toStr, typeOf } from './values.ts';

/**
 * KRL's operators (docs/krl.md, "Operators"): the infix ones, and those written `value.op(args)`,
 * as one table each. Coercions follow KRL's: `+` adds two numbers and otherwise joins strings, the
 * other arithmetic reads numbers (null is 0) and refuses what has none, comparisons compare numbers
 * when both sides read as numbers and strings otherwise, `/` and `%` by zero answer 0.
 */

/** An operator written `value.name(args)`; `params` name its arguments after the value, for named arguments. */
export interface Operator {
  params: readonly string[];
  fn: (run: Run, val: unknown, args: unknown[]) => unknown;
}

const num = (v: unknown, what: string): number => {
  const n = toNumberOrNull(v);
  if (n === null) throw new KrlError(`${what}: ${toStr(v)} is not a number`);
  return n;
};
const arr = (v: unknown, op: string): unknown[] => {
  if (!isList(v)) throw new KrlError(`.${op}() works on an Array, not ${typeOf(v)}`);
  return v;
};
/** A value as a regular expression: KRL's are linear-time (linear-regexp.ts); a string is compiled as one. */
export function regex(v: unknown, flags = ''): RegExp {
  if (v instanceof LinearRegExp) return v;
  try {
    return new LinearRegExp(v instanceof RegExp ? v.source : toStr(v), v instanceof RegExp ? v.flags : flags);
  } catch (err) {
    throw new KrlError(`${toStr(v)} is not a regular expression kumo can run in linear time: ${(err as Error).message}`);
  }
}

/** Made text counts as steps by the kilobyte, and is bounded in size. */
function text(run: Run, s: string): string {
  run.sized(s.length);
  if (s.length > 1024) run.charge(s.length >> 10);
  return s;
}
/** A made collection counts one step per element, and is bounded in size. */
function made<T extends unknown[] | Record<string, unknown>>(run: Run, c: T): T {
  const n = isList(c) ? c.length : Object.keys(c).length;
  run.sized(n);
  run.charge(n);
  return c;
}

export const INFIX: Readonly<Record<string, (run: Run, a: unknown, b: unknown) => unknown>> = {
  '+': (run, a, b) => (isNumber(a) && isNumber(b) ? a + b : text(run, toStr(a) + toStr(b))),
  '-': (_r, a, b) => num(a, 'subtracting') - num(b, 'subtracting'),
  '*': (_r, a, b) => num(a, 'multiplying') * num(b, 'multiplying'),
  '/': (_r, a, b) => {
    const d = num(b, 'dividing');
    return d === 0 ? 0 : num(a, 'dividing') / d;
  },
  '%': (_r, a, b) => {
    const d = num(b, 'modulo');
    return d === 0 ? 0 : num(a, 'modulo') % d;
  },
  '==': (_r, a, b) => isEqual(a, b),
  '!=': (_r, a, b) => !isEqual(a, b),
  '<': (_r, a, b) => compare(a, b) < 0,
  '>': (_r, a, b) => compare(a, b) > 0,
  '<=': (_r, a, b) => compare(a, b) <= 0,
  '>=': (_r, a, b) => compare(a, b) >= 0,
  '<=>': (_r, a, b) => compare(a, b),
  cmp: (_r, a, b) => {
    const s = toStr(a);
    const t = toStr(b);
    return s === t ? 0 : s > t ? 1 : -1;
  },
  like: (_r, a, b) => regex(b).test(toStr(a)),
  '><': (_r, a, b) => (isList(a) ? a.some((x) => isEqual(x, b)) : isMap(a) ? Object.hasOwn(a, toStr(b)) : false),
};

/** Items of a collection with their keys: an array's indexes, a map's keys. */
function entries(v: unknown, op: string): Array<[unknown, string | number]> {
  if (isList(v)) return v.map((x, i) => [x, i]);
  if (isMap(v)) return Object.keys(v).map((k) => [v[k], k]);
  throw new KrlError(`.${op}() works on an Array or a Map, not ${typeOf(v)}`);
}

/** Call a function given to an operator; it may not wait on the host (docs/krl.md). */
function callBack(run: Run, f: unknown, op: string, args: unknown[]): unknown {
  const out = invoke(run, f, args);
  if (isPromise(out)) throw new KrlError(`the function given to .${op}() waits on the host; only a rule's pre, actions and postlude may`);
  return out;
}

const identity = new KrlCallable('Function', 'identity', ['v'], ([v]) => v);
const fnOr = (f: unknown): unknown => (isNull(f) ? identity : f);

/** Read a path (a key, or an array of keys) into a value; null where it leads nowhere. */
export function getPath(v: unknown, path: unknown): unknown {
  let cur = v;
  for (const k of isList(path) ? path : [path]) {
    if (isList(cur)) cur = cur[Number(toStr(k))];
    else if (isMap(cur)) cur = Object.hasOwn(cur, toStr(k)) ? cur[toStr(k)] : null;
    else return null;
  }
  return cur ?? null;
}

/** A copy of `v` with `value` at `path` (maps made where the path leads nowhere). */
export function putPath(v: unknown, path: unknown, value: unknown): unknown {
  const keys = (isList(path) ? path : [path]).map(toStr);
  if (keys.length === 0) return isMap(v) && isMap(value) ? { ...v, ...value } : value;
  const [k, ...rest] = keys as [string, ...string[]];
  if (isList(v) && /^\d+$/.test(k) && Number(k) <= v.length) {
    const copy = [...v];
    copy[Number(k)] = putPath(v[Number(k)], rest, value);
    return copy;
  }
  const base = isMap(v) ? v : {};
  return { ...base, [k]: putPath(base[k], rest, value) };
}

/** A copy of `v` without what is at `path`. */
export function deletePath(v: unknown, path: unknown): unknown {
  const keys = (isList(path) ? path : [path]).map(toStr);
  if (keys.length === 0) return null;
  const [k, ...rest] = keys as [string, ...string[]];
  if (isList(v)) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || i >= v.length) return v;
    return rest.length === 0 ? v.filter((_, j) => j !== i) : v.map((x, j) => (j === i ? deletePath(x, rest) : x));
  }
  if (!isMap(v) || !Object.hasOwn(v, k)) return v;
  if (rest.length > 0) return { ...v, [k]: deletePath(v[k], rest) };
  const { [k]: _gone, ...others } = v;
  return others;
}

function range(run: Run, from: unknown, to: unknown): number[] {
  const a = toNumberOrNull(from);
  const b = toNumberOrNull(to);
  if (a === null || b === null) return [];
  const n = Math.floor(Math.abs(b - a)) + 1;
  run.sized(n);
  run.charge(n);
  const step = a <= b ? 1 : -1;
  return Array.from({ length: n }, (_, i) => a + i * step);
}

const op = (params: string[], fn: Operator['fn']): Operator => ({ params, fn });

export const OPERATORS: Readonly<Record<string, Operator>> = {
  // Any value
  as: op(['type'], (_r, v, [type]) => as(v, toStr(type))),
  isnull: op([], (_r, v) => isNull(v)),
  typeof: op([], (_r, v) => typeOf(v)),
  klog: op(['message'], (run, v, [m]) => {
    run.log('klog', `${isNull(m) ? 'klog' : toStr(m)} ${JSON.stringify(toPlain(v))}`);
    return v;
  }),
  defaultsTo: op(['default', 'message'], (run, v, [d, m]) => {
    if (!isNull(v)) return v;
    if (!isNull(m)) run.log('debug', `[DEFAULTSTO] ${toStr(m)}`);
    return d;
  }),
  encode: op(['indent'], (run, v, [indent]) => text(run, JSON.stringify(toPlain(v), null, Math.max(0, Math.min(10, toNumberOrNull(indent) ?? 0))))),
  decode: op([], (_r, v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  }),
  sprintf: op(['template'], (run, v, [t]) => {
    if (isNull(t)) return '';
    const spec = isNumber(v) ? '%d' : typeof v === 'string' ? '%s' : undefined;
    const tpl = toStr(t);
    return spec
      ? text(
          run,
          tpl
            .split('\\\\')
            .map((part) => part.replace(new RegExp(`(^|[^\\\\])${spec}`, 'g'), (_m, pre: string) => pre + String(v)).replaceAll(`\\${spec}`, spec))
            .join('\\'),
        )
      : tpl;
  }),
  // Numbers
  chr: op([], (_r, v) => {
    const n = toNumberOrNull(v);
    return n === null ? null : String.fromCharCode(n);
  }),
  range: op(['end'], (run, v, [end]) => range(run, v, end)),
  shiftLeft: op(['by'], (_r, v, [b]) => num(v, 'shiftLeft') << num(b, 'shiftLeft')),
  shiftRight: op(['by'], (_r, v, [b]) => num(v, 'shiftRight') >> num(b, 'shiftRight')),
  band: op(['other'], (_r, v, [b]) => num(v, 'band') & num(b, 'band')),
  bor: op(['other'], (_r, v, [b]) => num(v, 'bor') | num(b, 'bor')),
  bxor: op(['other'], (_r, v, [b]) => num(v, 'bxor') ^ num(b, 'bxor')),
  bnot: op([], (_r, v) => ~num(v, 'bnot')),
  // Strings
  capitalize: op([], (_r, v) => {
    const s = toStr(v);
    return s.slice(0, 1).toUpperCase() + s.slice(1);
  }),
  extract: op(['regex'], (_r, v, [re]) => {
    const r = regex(re);
    const m = toStr(v).match(r);
    return !m ? [] : r.global ? [...m] : m.slice(1).map((x: string | undefined) => x ?? null);
  }),
  lc: op([], (_r, v) => toStr(v).toLowerCase()),
  uc: op([], (_r, v) => toStr(v).toUpperCase()),
  match: op(['regex'], (_r, v, [re]) => (typeof re === 'string' || re instanceof RegExp ? regex(re).test(toStr(v)) : false)),
  ord: op([], (_r, v) => {
    const c = toStr(v).charCodeAt(0);
    return Number.isNaN(c) ? null : c;
  }),
  split: op(['separator'], (run, v, [sep]) => made(run, toStr(v).split(sep instanceof RegExp ? regex(sep) : toStr(sep)))),
  substr: op(['start', 'length'], (_r, v, [start, len]) => {
    const s = toStr(v);
    const from = toNumberOrNull(start);
    if (from === null || isNull(start)) return s;
    if (from > s.length) return '';
    const n = isNull(len) ? null : toNumberOrNull(len);
    return s.substring(from, n === null ? s.length : n > 0 ? from + n : s.length + n);
  }),
  trimLeading: op([], (_r, v) => toStr(v).trimStart()),
  trimTrailing: op([], (_r, v) => toStr(v).trimEnd()),
  trim: op([], (_r, v) => toStr(v).trim()),
  startsWith: op(['target'], (_r, v, [t]) => toStr(v).startsWith(toStr(t))),
  endsWith: op(['target'], (_r, v, [t]) => toStr(v).endsWith(toStr(t))),
  contains: op(['target'], (_r, v, [t]) => toStr(v).includes(toStr(t))),
  replace: op(['regex', 'replacement'], (run, v, [re, rep]) => {
    const s = toStr(v);
    const pattern = re instanceof RegExp ? regex(re) : toStr(re);
    if (rep instanceof KrlCallable) {
      const r = regex(pattern);
      return text(
        run,
        s.replace(r, (...m: unknown[]) => toStr(callBack(run, rep, 'replace', [...m.slice(0, -2).map((x) => x ?? null), m.at(-2), s]))),
      );
    }
    return text(run, s.replace(pattern, isNull(rep) ? '' : toStr(rep)));
  }),
  // Collections
  all: op(['fn'], (run, v, [f]) => entries(v, 'all').every(([x, k]) => Boolean(callBack(run, f, 'all', [x, k, v])))),
  notall: op(['fn'], (run, v, [f]) => !entries(v, 'notall').every(([x, k]) => Boolean(callBack(run, f, 'notall', [x, k, v])))),
  any: op(['fn'], (run, v, [f]) => entries(v, 'any').some(([x, k]) => Boolean(callBack(run, f, 'any', [x, k, v])))),
  none: op(['fn'], (run, v, [f]) => !entries(v, 'none').some(([x, k]) => Boolean(callBack(run, f, 'none', [x, k, v])))),
  append: op(['a', 'b', 'c', 'd', 'e'], (run, v, rest) =>
    made(
      run,
      [v, ...rest.slice(0, Math.max(1, rest.length))].flatMap((x) => (isList(x) ? x : [x])),
    ),
  ),
  collect: op(['fn'], (run, v, [f]) => {
    const out = new Map<string, unknown[]>();
    for (const [x, k] of entries(v, 'collect')) {
      const key = toStr(callBack(run, fnOr(f), 'collect', [x, k, v]));
      out.set(key, [...(out.get(key) ?? []), x]);
    }
    return Object.fromEntries(out);
  }),
  filter: op(['fn'], (run, v, [f]) => {
    const kept = entries(v, 'filter').filter(([x, k]) => Boolean(callBack(run, fnOr(f), 'filter', [x, k, v])));
    return isList(v) ? kept.map(([x]) => x) : Object.fromEntries(kept.map(([x, k]) => [k, x]));
  }),
  map: op(['fn'], (run, v, [f]) => {
    const out = entries(v, 'map').map(([x, k]) => [callBack(run, fnOr(f), 'map', [x, k, v]), k] as const);
    return isList(v) ? out.map(([x]) => x) : Object.fromEntries(out.map(([x, k]) => [k, x]));
  }),
  head: op([], (_r, v) => (isList(v) ? (v[0] ?? null) : v)),
  tail: op([], (_r, v) => (isList(v) ? v.slice(1) : [])),
  index: op(['item'], (_r, v, [x]) => arr(v, 'index').findIndex((y) => isEqual(x, y))),
  join: op(['separator'], (run, v, [sep]) => (isList(v) ? text(run, v.map(toStr).join(isNull(sep) ? ',' : toStr(sep))) : toStr(v))),
  length: op([], (_r, v) => (typeof v === 'string' || isList(v) ? v.length : isMap(v) ? Object.keys(v).length : 0)),
  isEmpty: op([], (_r, v) => (typeof v === 'string' || isList(v) ? v.length === 0 : isMap(v) ? Object.keys(v).length === 0 : true)),
  pairwise: op(['fn'], (run, v, [f]) => {
    const lists = arr(v, 'pairwise').map((x) => (isList(x) ? x : [x]));
    if (lists.length < 2) throw new KrlError('.pairwise() needs an array of at least two');
    const n = Math.max(...lists.map((l) => l.length));
    return Array.from({ length: n }, (_, i) =>
      callBack(
        run,
        f,
        'pairwise',
        lists.map((l) => l[i] ?? null),
      ),
    );
  }),
  reduce: op(['fn', 'default'], (run, v, args) => {
    const list = arr(v, 'reduce');
    const hasDefault = args.length >= 2;
    if (list.length === 0) return hasDefault ? args[1] : 0;
    let acc = hasDefault ? args[1] : list[0];
    for (let i = hasDefault ? 0 : 1; i < list.length; i++) acc = callBack(run, args[0], 'reduce', [acc, list[i], i, list]);
    return acc;
  }),
  reverse: op([], (_r, v) => [...arr(v, 'reverse')].reverse()),
  slice: op(['start', 'end'], (_r, v, args) => {
    const list = arr(v, 'slice');
    if (args.length === 0) return list;
    let a = num(args[0], 'slice');
    if (args.length === 1) return a > list.length ? [] : list.slice(0, a + 1);
    let b = num(args[1], 'slice');
    if (a > b) [a, b] = [b, a];
    return a >= 0 && b < list.length ? list.slice(a, b + 1) : [];
  }),
  splice: op(['start', 'count', 'value'], (run, v, args) => {
    const list = arr(v, 'splice');
    if (list.length === 0) return [];
    const start = Math.min(Math.max(num(args[0], 'splice'), 0), list.length - 1);
    let n = num(args[1], 'splice');
    if (n < 0 || start + n > list.length) n = list.length - start;
    const inserted = args.length < 3 ? [] : isList(args[2]) ? args[2] : [args[2]];
    return made(run, [...list.slice(0, start), ...inserted, ...list.slice(start + n)]);
  }),
  sort: op(['by'], (run, v, [by]) => {
    const list = [...arr(v, 'sort')];
    run.charge(list.length);
    if (by instanceof KrlCallable) return list.sort((a, b) => num(callBack(run, by, 'sort', [a, b]), 'sort'));
    const key = isNull(by) ? 'default' : toStr(by);
    const cmp = SORTS[key];
    if (!cmp) throw new KrlError(`.sort() takes a function, "default", "reverse", "numeric" or "ciremun", not ${JSON.stringify(key)}`);
    return list.sort(cmp);
  }),
  delete: op(['path'], (_r, v, [p]) => deletePath(v, p)),
  keys: op(['path'], (_r, v, [p]) => {
    const at = isNull(p) ? v : getPath(v, p);
    return isList(at) ? at.map((_, i) => String(i)) : isMap(at) ? Object.keys(at) : [];
  }),
  values: op(['path'], (_r, v, [p]) => {
    const at = isNull(p) ? v : getPath(v, p);
    return isList(at) ? [...at] : isMap(at) ? Object.values(at) : [];
  }),
  intersection: op(['other'], (_r, a, [b]) => list(a).filter((x) => list(b).some((y) => isEqual(x, y)))),
  union: op(['other'], (run, a, args) => (args.length === 0 ? a : made(run, unique([...list(a), ...list(args[0])])))),
  difference: op(['other'], (_r, a, args) => (args.length === 0 ? a : list(a).filter((x) => !list(args[0]).some((y) => isEqual(x, y))))),
  has: op(['other'], (_r, a, [b]) => list(b).every((x) => list(a).some((y) => isEqual(x, y)))),
  once: op([], (_r, v) => (isList(v) ? v.filter((x) => v.filter((y) => isEqual(x, y)).length === 1) : v)),
  duplicates: op([], (_r, v) => (isList(v) ? unique(v.filter((x) => v.filter((y) => isEqual(x, y)).length > 1)) : [])),
  unique: op([], (_r, v) => (isList(v) ? unique(v) : v)),
  put: op(['path', 'value'], (_r, v, args) => (args.length < 2 ? putPath(v, [], args[0]) : putPath(v, args[0], args[1]))),
  get: op(['path'], (_r, v, [p]) => getPath(v, p)),
  set: op(['path', 'value'], (_r, v, [p, x]) => putPath(v, p, x)),
};

const list = (v: unknown): unknown[] => (isList(v) ? v : [v]);
const unique = (v: unknown[]): unknown[] => v.filter((x, i) => v.findIndex((y) => isEqual(x, y)) === i);

const SORTS: Readonly<Record<string, (a: unknown, b: unknown) => number>> = {
  default: (a, b) => {
    const s = toStr(a);
    const t = toStr(b);
    return s < t ? -1 : s > t ? 1 : 0;
  },
  reverse: (a, b) => SORTS['default']!(b, a),
  numeric: (a, b) => (toNumberOrNull(a) ?? 0) - (toNumberOrNull(b) ?? 0),
  ciremun: (a, b) => (toNumberOrNull(b) ?? 0) - (toNumberOrNull(a) ?? 0),
};

/** KRL's `.as(type)`. */
function as(v: unknown, type: string): unknown {
  if (typeOf(v) === type) return v;
  switch (type) {
    case 'Boolean':
      return v === 'false' ? false : typeof v === 'number' ? v !== 0 : Boolean(v) && !isNull(v);
    case 'String':
      return toStr(v);
    case 'Number':
      return toNumberOrNull(v);
    case 'RegExp':
      return regex(v);
  }
  throw new KrlError(`cannot use .as(${JSON.stringify(type)}) on ${toStr(v)} (a ${typeOf(v)})`);
}
