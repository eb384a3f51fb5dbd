import type { Selector, SelectorResult } from '../../kernel/index.ts';
import { expr, type EventExpr, type ExprLike } from './expr.ts';
import { build, primitivesOf } from './machine.ts';
import type { Functions } from './where-context.ts';

/**
 * The persisted state of a compiled expression: the expression's shape fingerprint and the node
 * state. A ruleset re-registered with a different `select` finds a different fingerprint and starts
 * from nothing instead of misreading the old expression's state.
 */
export interface PersistedExprState {
  h: string;
  s: unknown;
}

const NOTHING: SelectorResult = Object.freeze({ fired: false, captures: Object.freeze({}), state: undefined });

/**
 * Compile an expression (or `"domain:type"`) into the kernel's {@link Selector}. `functions` are
 * the ruleset's, for `where` guards that call them.
 */
export function compile(e: ExprLike, functions: Functions = {}): Selector {
  const x = expr(e);
  const prims = primitivesOf(x);
  const seen = new Set<string>();
  const events: Array<{ domain: string; type: string }> = [];
  for (const { domain, type } of prims) {
    const k = `${domain}\u0000${type}`;
    if (!seen.has(k)) {
      seen.add(k);
      events.push({ domain, type });
    }
  }
  const root = build(x, functions);
  if (x.op === 'event' || (x.op === 'or' && x.args.every((a) => a.op === 'event'))) {
    // Stateless: nothing to read or persist; with no attribute test, capture or guard, it always fires.
    const bare = (p: EventExpr): boolean => p.op === 'event' && !p.attrs?.length && !p.setting?.length && p.where === undefined;
    return {
      events,
      ...((x.op === 'event' ? bare(x) : x.args.every(bare)) ? { always: true } : {}),
      match(_state, event, read) {
        const r = root.step(null, event, -Infinity, read);
        return r.fire ? { fired: true, captures: r.fire.c, state: undefined } : NOTHING;
      },
    };
  }
  const h = fingerprint(x);
  return {
    events,
    match(state, event, read) {
      const prev = isPersisted(state) && state.h === h ? state : undefined;
      const r = root.step(prev ? prev.s : null, event, -Infinity, read);
      const next = r.s === null ? undefined : prev && r.s === prev.s ? prev : { h, s: r.s };
      return { fired: r.fire !== null, captures: r.fire ? r.fire.c : {}, state: next };
    },
  };
}

function isPersisted(state: unknown): state is PersistedExprState {
  return typeof state === 'object' && state !== null && typeof (state as PersistedExprState).h === 'string' && 's' in state;
}

/** A short, stable hash of an expression's shape (operators, counts, windows, events, regexes). */
export function fingerprint(e: EventExpr): string {
  // FNV-1a, 32 bits: collisions only matter between two versions of the same rule.
  let hash = 0x811c9dc5;
  for (const ch of `v1|${shape(e)}`) {
    hash ^= ch.codePointAt(0)!;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(36);
}

function shape(e: EventExpr): string {
  switch (e.op) {
    case 'event': {
      const attrs = (e.attrs ?? []).map(([k, re]) => `${k}=${re.source}/${re.flags}`);
      return `e(${e.domain}:${e.type};${attrs.join(',')};${(e.setting ?? []).join(',')};${e.where ? 'w' : ''})`;
    }
    case 'or':
    case 'and':
    case 'before':
    case 'after':
    case 'then':
      return `${e.op}(${e.args.map(shape).join(',')})`;
    case 'any':
      return `any${e.n}(${e.args.map(shape).join(',')})`;
    case 'between':
    case 'notBetween':
      return `${e.op}(${shape(e.expr)},${shape(e.start)},${shape(e.end)})`;
    case 'count':
    case 'repeat':
      return `${e.op}${e.n}(${shape(e.expr)};${JSON.stringify(e.aggregate ?? {})})`;
    case 'within':
      return `within${e.ms}(${shape(e.expr)})`;
  }
}
