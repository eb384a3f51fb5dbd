import type { Rule, Ruleset } from '../ruleset.ts';

/**
 * Rule selection by (domain, type): each ruleset's rules are indexed once by the primitive events
 * their selectors name, so choosing the candidate rules for an event costs a few map lookups, not
 * a pass over every rule. `*` in a selector's domain or type is honoured.
 */
interface Index {
  exact: Map<string, Rule[]>;
  anyDomain: Map<string, Rule[]>;
  anyType: Map<string, Rule[]>;
  any: Rule[];
  order: Map<Rule, number>;
}

const indexes = new WeakMap<Ruleset, Index>();
const NONE: Rule[] = [];

function add(map: Map<string, Rule[]>, key: string, rule: Rule): void {
  const list = map.get(key);
  if (!list) map.set(key, [rule]);
  else if (list[list.length - 1] !== rule) list.push(rule);
}

function build(ruleset: Ruleset): Index {
  const ix: Index = { exact: new Map(), anyDomain: new Map(), anyType: new Map(), any: [], order: new Map() };
  ruleset.rules.forEach((rule, i) => {
    ix.order.set(rule, i);
    for (const { domain, type } of rule.select.events) {
      if (domain === '*' && type === '*') {
        if (ix.any[ix.any.length - 1] !== rule) ix.any.push(rule);
      } else if (domain === '*') add(ix.anyDomain, type, rule);
      else if (type === '*') add(ix.anyType, domain, rule);
      else add(ix.exact, `${domain}\u0000${type}`, rule);
    }
  });
  return ix;
}

/** The rules of `ruleset` that listen to `domain:type`, in declaration order. */
export function rulesFor(ruleset: Ruleset, domain: string, type: string): Rule[] {
  let ix = indexes.get(ruleset);
  if (!ix) {
    ix = build(ruleset);
    indexes.set(ruleset, ix);
  }
  // No array is built for the common case: one list, or none, names the event.
  const exact = ix.exact.get(`${domain}\u0000${type}`);
  const anyDomain = ix.anyDomain.get(type);
  const anyType = ix.anyType.get(domain);
  const any = ix.any.length > 0 ? ix.any : undefined;
  const found = (exact ? 1 : 0) + (anyDomain ? 1 : 0) + (anyType ? 1 : 0) + (any ? 1 : 0);
  if (found === 0) return NONE;
  if (found === 1) return exact ?? anyDomain ?? anyType ?? any!;
  const order = ix.order;
  return [...new Set([exact, anyDomain, anyType, any].flatMap((l) => l ?? []))].sort((a, b) => order.get(a)! - order.get(b)!);
}
