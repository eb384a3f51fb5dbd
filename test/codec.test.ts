import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../kernel/store/codec.ts';

describe('codec', () => {
  it('round-trips JSON values as plain maps (as JSON does, -0 comes back as 0)', () => {
    fc.assert(
      fc.property(
        fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"')),
        (v) => {
          expect(decode(encode(v))).toEqual(JSON.parse(JSON.stringify(v)));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('decodes objects as plain objects, not Maps or records', () => {
    const v = decode(encode({ a: { b: [1, 'x'] } })) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });

  it('never lets a __proto__ key change the prototype of a decoded object', () => {
    const v = decode(encode(JSON.parse('{"__proto__": {"polluted": 1}}'))) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(v['polluted']).toBeUndefined();
  });
});
