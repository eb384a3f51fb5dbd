import type { KumoEvent, Selector, SelectorResult } from '../kernel/index.ts';

/**
 * Event expressions as data (DESIGN §5): the kernel indexes a rule by the primitive events an
 * expression names and persists the state `match` returns, so a partly matched expression
 * survives restarts and eviction.
 */

/** Captured values, by name. */
export type Captures = Record<string, unknown>;

/** A primitive event: `domain type` with optional attribute matches, captures and a guard. */
export interface PrimitiveExpr {
  op: 'event';
  domain: string;
  type: string;
  /** Attribute name → regex its string value must match. Capture groups feed `setting`. */
  attrs?: Record<string, RegExp>;
  /** Names for the capture groups of the attribute regexes, in order. */
  setting?: string[];
  /** Guard over the captures and the event; the primitive matches only when it returns true. */
  where?: (captures: Captures, event: KumoEvent) => boolean;
}

export interface OrExpr {
  op: 'or';
  args: EventExpr[];
}

export type EventExpr = PrimitiveExpr | OrExpr;

/** Options of a primitive event. */
export type PrimitiveOptions = Omit<PrimitiveExpr, 'op' | 'domain' | 'type'>;

/**
 * A primitive event expression. `domain` may be `"domain:type"` shorthand; either part may be `*`.
 *
 * @example on('door', 'opened', { attrs: { room: /^(\w+)$/ }, setting: ['room'] })
 */
export function on(domain: string, type?: string | PrimitiveOptions, options: PrimitiveOptions = {}): PrimitiveExpr {
  if (typeof type !== 'string') {
    const [d, t] = splitName(domain);
    return { op: 'event', domain: d, type: t, ...(type ?? {}) };
  }
  return { op: 'event', domain, type, ...options };
}

/** Fires when any of its parts matches. */
export function or(...args: EventExpr[]): OrExpr {
  if (args.length < 2) throw new TypeError('or() needs at least two expressions');
  return { op: 'or', args };
}

function splitName(name: string): [string, string] {
  const i = name.indexOf(':');
  if (i <= 0 || i === name.length - 1) throw new TypeError(`expected "domain:type", got ${JSON.stringify(name)}`);
  return [name.slice(0, i), name.slice(i + 1)];
}

/** Match a primitive against one event: the captures when it matches, else undefined. */
export function matchPrimitive(p: PrimitiveExpr, event: KumoEvent): Captures | undefined {
  if ((p.domain !== '*' && p.domain !== event.domain) || (p.type !== '*' && p.type !== event.type)) return undefined;
  const captures: Captures = {};
  const groups: string[] = [];
  for (const [name, re] of Object.entries(p.attrs ?? {})) {
    const raw = event.attrs[name];
    if (raw === undefined || raw === null) return undefined;
    const m = (typeof raw === 'string' ? raw : JSON.stringify(raw)).match(re);
    if (!m) return undefined;
    groups.push(...m.slice(1).map((g) => g ?? ''));
    Object.assign(captures, m.groups ?? {});
  }
  p.setting?.forEach((name, i) => {
    if (i < groups.length) captures[name] = groups[i];
  });
  if (p.where && !p.where(captures, event)) return undefined;
  return captures;
}

function primitives(expr: EventExpr): PrimitiveExpr[] {
  return expr.op === 'event' ? [expr] : expr.args.flatMap(primitives);
}

const NOTHING: SelectorResult = { fired: false, captures: {}, state: undefined };

function evaluate(expr: EventExpr, event: KumoEvent): Captures | undefined {
  if (expr.op === 'event') return matchPrimitive(expr, event);
  for (const arg of expr.args) {
    const c = evaluate(arg, event);
    if (c) return c;
  }
  return undefined;
}

/** Compile an expression (or `"domain:type"`) into the kernel's {@link Selector}. */
export function compile(expr: EventExpr | string): Selector {
  const e = typeof expr === 'string' ? on(expr) : expr;
  const events = primitives(e).map(({ domain, type }) => ({ domain, type }));
  return {
    events,
    match(_state, event) {
      const captures = evaluate(e, event);
      return captures ? { fired: true, captures, state: undefined } : NOTHING;
    },
  };
}
