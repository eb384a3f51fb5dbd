import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cryptoIds, isCloudId, isEci, partitionOf, PARTITIONS, seededIds } from '../kernel/index.ts';
import { newCloudId, newEci } from '../kernel/ids.ts';

describe('ids', () => {
  it('makes URL- and NATS-subject-safe ECIs carrying their partition', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: PARTITIONS - 1 }), fc.integer({ min: 1 }), (partition, seed) => {
        const eci = newEci(seededIds(seed), partition);
        expect(isEci(eci)).toBe(true);
        expect(partitionOf(eci)).toBe(partition);
        expect(eci).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(encodeURIComponent(eci)).toBe(eci);
        const cloud = newCloudId(seededIds(seed), partition);
        expect(isCloudId(cloud)).toBe(true);
        expect(partitionOf(cloud)).toBe(partition);
      }),
    );
  });

  it('puts 128 random bits in every ECI', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const eci = newEci(cryptoIds, 7);
      expect(Buffer.from(eci.slice(5), 'base64url')).toHaveLength(16);
      seen.add(eci);
    }
    expect(seen.size).toBe(2000);
  });

  it('refuses partitions out of range and shapes that are not ids', () => {
    expect(() => newEci(cryptoIds, PARTITIONS)).toThrow(RangeError);
    expect(() => newEci(cryptoIds, -1)).toThrow(RangeError);
    expect(isEci('not-an-eci')).toBe(false);
    expect(isEci(newCloudId(cryptoIds, 1))).toBe(false);
  });

  it('gives the same ids for the same seed', () => {
    expect(newEci(seededIds(9), 3)).toBe(newEci(seededIds(9), 3));
    expect(newEci(seededIds(9), 3)).not.toBe(newEci(seededIds(10), 3));
  });
});
