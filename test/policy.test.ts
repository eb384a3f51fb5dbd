import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventAllowed, queryAllowed } from '../kernel/index.ts';
import { parseEventPolicy, parseQueryPolicy } from '../kernel/policy.ts';

describe('ECI policies', () => {
  const policy = parseEventPolicy({ allow: [{ domain: 'door', name: '*' }, { domain: '*', name: 'ping' }], deny: [{ domain: 'door', name: 'unlock' }] });

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
        const p = { allow: [{ domain: '*', name: '*' }, { domain: d, name: t }], deny: [{ domain: '*', name: '*' }] };
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
