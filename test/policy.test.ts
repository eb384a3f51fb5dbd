import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventAllowed, eventPolicyWithin, intersectEventPolicies, intersectQueryPolicies, queryAllowed, queryPolicyWithin } from '../kernel/index.ts';
import { parseEventPolicy, parseQueryPolicy } from '../kernel/capabilities/policy.ts';

describe('ECI policies', () => {
  const policy = parseEventPolicy({
    allow: [
      { domain: 'door', name: '*' },
      { domain: '*', name: 'ping' },
    ],
    deny: [{ domain: 'door', name: 'unlock' }],
  });

  it('allows by rule, with * as wildcard', () => {
    expect(eventAllowed(policy, 'door', 'opened')).toBe(true);
    expect(eventAllowed(policy, 'anything', 'ping')).toBe(true);
    expect(eventAllowed(policy, 'window', 'opened')).toBe(false);
  });

  it('checks deny first', () => {
    expect(eventAllowed(policy, 'door', 'unlock')).toBe(false);
  });

  it('treats a missing policy as allow-all and an empty allow list as deny-all', () => {
    expect(eventAllowed(parseEventPolicy(undefined), 'x', 'y')).toBe(true);
    expect(eventAllowed(parseEventPolicy({ allow: [] }), 'x', 'y')).toBe(false);
    expect(queryAllowed(parseQueryPolicy(undefined), 'r', 'f')).toBe(true);
    expect(queryAllowed(parseQueryPolicy({ allow: [{ rid: 'r' }] }), 'r', 'any')).toBe(true);
  });

  it('a deny of */* beats any allow', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (d, t) => {
        const p = {
          allow: [
            { domain: '*', name: '*' },
            { domain: d, name: t },
          ],
          deny: [{ domain: '*', name: '*' }],
        };
        expect(eventAllowed(p, d, t)).toBe(false);
      }),
    );
  });

  it('rejects malformed policies with INVALID_ARGS', () => {
    for (const bad of ['x', { allow: 'all' }, { allow: [{ domain: 'a b' }] }, { deny: [null] }, { allow: [{ domain: 5 }] }]) {
      expect(() => parseEventPolicy(bad)).toThrowError(expect.objectContaining({ code: 'INVALID_ARGS' }));
    }
    expect(() => parseQueryPolicy({ allow: [{ rid: '../x' }] })).toThrowError(expect.objectContaining({ code: 'INVALID_ARGS' }));
  });
});

describe('the algebra of policies', () => {
  // A small world, so a brute-force check over every name is exact: policies name a, b, c or *;
  // the universe adds d, a name no policy mentions.
  const NAMES = ['a', 'b', 'c'];
  const UNIVERSE = ['a', 'b', 'c', 'd'];
  const pattern = fc.constantFrom('*', ...NAMES);
  const rules = fc.array(fc.record({ domain: pattern, name: pattern }), { maxLength: 4 });
  const policies = fc.record({ allow: rules, deny: rules });
  const every = (p: (d: string, t: string) => boolean): boolean => UNIVERSE.every((d) => UNIVERSE.every((t) => p(d, t)));

  it('an intersection allows exactly what both allow', () => {
    fc.assert(
      fc.property(policies, policies, (a, b) => {
        const both = intersectEventPolicies(a, b);
        return every((d, t) => eventAllowed(both, d, t) === (eventAllowed(a, d, t) && eventAllowed(b, d, t)));
      }),
    );
  });

  it('within holds exactly when everything the inner allows, the outer allows too', () => {
    fc.assert(fc.property(policies, policies, (a, b) => eventPolicyWithin(a, b) === every((d, t) => !eventAllowed(a, d, t) || eventAllowed(b, d, t))));
  });

  it('the same for query policies, and an intersection is always within both', () => {
    const q = fc.record({ allow: fc.array(fc.record({ rid: pattern, name: pattern }), { maxLength: 4 }), deny: fc.array(fc.record({ rid: pattern, name: pattern }), { maxLength: 4 }) });
    fc.assert(
      fc.property(q, q, (a, b) => {
        const both = intersectQueryPolicies(a, b);
        return queryPolicyWithin(both, a) && queryPolicyWithin(both, b) && every((r, n) => queryAllowed(both, r, n) === (queryAllowed(a, r, n) && queryAllowed(b, r, n)));
      }),
    );
  });
});
