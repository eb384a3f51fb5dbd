import type { Rule, Ruleset } from './ruleset.ts';

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
  const lists = [ix.exact.get(`${domain}\u0000${type}`), ix.anyDomain.get(type), ix.anyType.get(domain), ix.any].filter(
    (l): l is Rule[] => l !== undefined && l.length > 0,
  );
  if (lists.length === 0) return NONE;
  if (lists.length === 1) return lists[0]!;
  const order = ix.order;
  return [...new Set(lists.flat())].sort((a, b) => order.get(a)! - order.get(b)!);
}
