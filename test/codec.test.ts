import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../kernel/codec.ts';

describe('codec', () => {
  it('round-trips JSON-like values as plain maps', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(decode(encode(v))).toEqual(v);
      }),
    );
  });

  it('decodes objects as plain objects, not Maps or records', () => {
    const v = decode(encode({ a: { b: [1, 'x'] } })) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });
});
