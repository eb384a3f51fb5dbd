import type { KumoEvent, ReadContext } from '../../kernel/index.ts';
import type { Captures, PrimitiveExpr } from './expr.ts';
import { LazyWhereContext, type Functions } from './where-context.ts';

/** A primitive's match: named captures and the positional regex groups (what aggregators read). */
export interface PrimitiveMatch {
  captures: Captures;
  /** `undefined` for a group that did not take part in the match, as in KRL. */
  groups: Array<string | undefined>;
}

/** Whether a primitive names the event's domain and type (`*` matches anything). */
export function namesEvent(p: { domain: string; type: string }, event: { domain: string; type: string }): boolean {
  return (p.domain === '*' || p.domain === event.domain) && (p.type === '*' || p.type === event.type);
}

/**
 * KRL's string form of a value, which is what the pico engine tests an attribute regex against:
 * `null` → "null", numbers in decimal, booleans as "true"/"false", maps "[Map]", arrays "[Array]".
 */
function krlString(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return Number.isNaN(v) ? 'null' : Number.isFinite(v) ? String(v) : '[JSObject]';
    case 'undefined':
      return 'null';
    case 'object':
      return v === null ? 'null' : Array.isArray(v) ? '[Array]' : '[Map]';
    default:
      return '[JSObject]'; // bigint, symbol, function: not KRL values
  }
}

/**
 * Test a primitive's attributes and `where` against an event it names, keeping the positional
 * groups. The `where` passes on any truthy value, as in KRL.
 */
export function testPrimitive(p: PrimitiveExpr, event: KumoEvent, read: (() => ReadContext) | undefined, functions: Functions): PrimitiveMatch | undefined {
  const captures: Captures = {};
  const groups: Array<string | undefined> = [];
  for (const [name, re] of p.attrs ?? []) {
    const raw = event.attrs[name];
    const text = typeof raw === 'string' ? raw : raw === undefined && !Object.hasOwn(event.attrs, name) ? '' : krlString(raw);
    // exec, not String#match: with the `g` flag match returns every whole match and no groups.
    // A global or sticky regex keeps `lastIndex` between calls; reset it so matching stays a pure function.
    re.lastIndex = 0;
    const m = re.exec(text);
    re.lastIndex = 0;
    if (!m) return undefined;
    for (let i = 1; i < m.length; i++) groups.push(m[i]);
    if (m.groups) Object.assign(captures, m.groups);
  }
  p.setting?.forEach((name, i) => {
    captures[name] = groups[i];
  });
  if (p.where && !p.where(captures, event, new LazyWhereContext(read, functions))) return undefined;
  return { captures, groups };
}

/** Match a primitive against one event: the captures when it matches, else undefined. */
export function matchPrimitive(p: PrimitiveExpr, event: KumoEvent, read?: () => ReadContext, functions: Functions = {}): Captures | undefined {
  return namesEvent(p, event) ? testPrimitive(p, event, read, functions)?.captures : undefined;
}
