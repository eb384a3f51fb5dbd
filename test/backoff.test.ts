import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffMs, retrying } from '../kernel/index.ts';

describe('the one back-off', () => {
  it('doubles from the first wait to the last, each at most a jitter share longer', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, { firstMs: 100, maxMs: 1000 }))).toEqual([100, 200, 400, 800, 1000, 1000]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (attempt, r) => {
        const plain = backoffMs(attempt, { firstMs: 50, maxMs: 5000 });
        const jittered = backoffMs(attempt, { firstMs: 50, maxMs: 5000, jitter: 0.25 }, () => r);
        expect(plain).toBeGreaterThanOrEqual(50);
        expect(plain).toBeLessThanOrEqual(5000);
        expect(jittered).toBeGreaterThanOrEqual(plain);
        expect(jittered).toBeLessThanOrEqual(plain * 1.25);
      }),
    );
  });

  it('retries until it succeeds, never past a failure for good or its deadline', async () => {
    let n = 0;
    expect(await retrying(async () => (++n < 3 ? Promise.reject(new Error('not yet')) : n), { firstMs: 1, maxMs: 2 })).toBe(3);
    n = 0;
    await expect(retrying(async () => Promise.reject(new Error(`final ${++n}`)), { firstMs: 1, maxMs: 2, final: () => true })).rejects.toThrow('final 1');
    n = 0;
    await expect(retrying(async () => Promise.reject(new Error(`late ${++n}`)), { firstMs: 50, maxMs: 50, deadline: Date.now() + 120 })).rejects.toThrow(/late [23]/);
  });
});
