import type { KumoEvent } from '../../kernel/index.ts';
import type { Captures, PrimitiveExpr } from './expr.ts';

/** A primitive's match: named captures and the positional regex groups (what aggregators read). */
export interface PrimitiveMatch {
  captures: Captures;
  groups: string[];
}

/** Whether a primitive names the event's domain and type (`*` matches anything). */
export function namesEvent(p: { domain: string; type: string }, event: { domain: string; type: string }): boolean {
  return (p.domain === '*' || p.domain === event.domain) && (p.type === '*' || p.type === event.type);
}

/** Match a primitive against one event, keeping the positional groups. */
export function matchPrimitiveGroups(p: PrimitiveExpr, event: KumoEvent): PrimitiveMatch | undefined {
  if (!namesEvent(p, event)) return undefined;
  const captures: Captures = {};
  const groups: string[] = [];
  for (const [name, re] of Object.entries(p.attrs ?? {})) {
    const raw = event.attrs[name];
    if (raw === undefined || raw === null) return undefined;
    // exec, not String#match: with the `g` flag match returns every whole match and no groups.
    // A global or sticky regex keeps `lastIndex` between calls; reset it so matching stays a pure function.
    re.lastIndex = 0;
    const m = re.exec(typeof raw === 'string' ? raw : JSON.stringify(raw));
    re.lastIndex = 0;
    if (!m) return undefined;
    groups.push(...m.slice(1).map((g) => g ?? ''));
    for (const [k, v] of Object.entries(m.groups ?? {})) if (v !== undefined) captures[k] = v;
  }
  p.setting?.forEach((name, i) => {
    if (i < groups.length) captures[name] = groups[i];
  });
  if (p.where && !p.where(captures, event)) return undefined;
  return { captures, groups };
}

/** Match a primitive against one event: the captures when it matches, else undefined. */
export function matchPrimitive(p: PrimitiveExpr, event: KumoEvent): Captures | undefined {
  return matchPrimitiveGroups(p, event)?.captures;
}
