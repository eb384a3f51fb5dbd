import { randomBytes } from 'node:crypto';

/**
 * Identifiers. Every cloud id and ECI carries a realm tag and a partition number (docs/realm.md), so a
 * host can route an ECI it does not know to the partition's owner without any lookup table.
 *
 *   ECI:      "E" realm(1) partition(3 hex) random(22 base64url = 128 bits)   → 27 characters
 *   cloud id: "C" realm(1) partition(3 hex) random(16 base64url =  96 bits)   → 21 characters
 *
 * base64url uses only [A-Za-z0-9_-], so ids are safe in URL paths and NATS subject tokens.
 */

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type Eci = Brand<string, 'Eci'>;
export type CloudId = Brand<string, 'CloudId'>;

/** Number of partitions in a realm. Fixed: changing it would re-home every cloud. */
export const PARTITIONS = 4096;
/** The realm tag used until realms are configured (reserved character in every id). */
export const DEFAULT_REALM = '0';

/** Source of randomness; injected so tests are deterministic. */
export interface IdGenerator {
  bytes(n: number): Uint8Array;
}

/**
 * Cryptographically random ids; what a host uses unless told otherwise. Bytes are cut from a 4 KiB
 * pool that is never written again once handed out (a fresh pool replaces it): one randomBytes call
 * per id was 11% of CPU under load.
 */
export const cryptoIds: IdGenerator = (() => {
  const POOL = 4096;
  let pool = randomBytes(POOL);
  let at = 0;
  return {
    bytes(n: number): Uint8Array {
      if (n > POOL) return randomBytes(n);
      if (at + n > POOL) {
        pool = randomBytes(POOL);
        at = 0;
      }
      at += n;
      return pool.subarray(at - n, at);
    },
  };
})();

/** A deterministic generator for tests: a xorshift stream from a seed. Never use it for real ECIs. */
export function seededIds(seed = 1): IdGenerator {
  let s = seed >>> 0 || 1;
  return {
    bytes(n) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        s ^= s << 13;
        s >>>= 0;
        s ^= s >>> 17;
        s ^= s << 5;
        s >>>= 0;
        out[i] = s & 0xff;
      }
      return out;
    },
  };
}

const ECI_RE = /^E[0-9a-z][0-9a-f]{3}[A-Za-z0-9_-]{22}$/;
const CLOUD_RE = /^C[0-9a-z][0-9a-f]{3}[A-Za-z0-9_-]{16}$/;

function partitionHex(partition: number): string {
  if (!Number.isInteger(partition) || partition < 0 || partition >= PARTITIONS) {
    throw new RangeError(`partition must be an integer in [0, ${PARTITIONS})`);
  }
  return partition.toString(16).padStart(3, '0');
}

/** Bytes in base64url, read in place (`Buffer.from` of a Uint8Array would copy them first). */
function base64url(b: Uint8Array): string {
  return (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString('base64url');
}

/** A new ECI in the given partition, with 128 random bits. */
export function newEci(gen: IdGenerator, partition: number, realm = DEFAULT_REALM): Eci {
  return `E${realm}${partitionHex(partition)}${base64url(gen.bytes(16))}` as Eci;
}

/** A new cloud id in the given partition. */
export function newCloudId(gen: IdGenerator, partition: number, realm = DEFAULT_REALM): CloudId {
  return `C${realm}${partitionHex(partition)}${base64url(gen.bytes(12))}` as CloudId;
}

/** A new event id (for events whose sender gave none, and for outbox events). */
export function newEid(gen: IdGenerator): string {
  return base64url(gen.bytes(12));
}

/** True when `s` has the shape of an ECI (says nothing about whether it exists). */
export function isEci(s: string): s is Eci {
  return ECI_RE.test(s);
}

/** True when `s` has the shape of a cloud id. */
export function isCloudId(s: string): s is CloudId {
  return CLOUD_RE.test(s);
}

/** The partition an ECI or cloud id belongs to. */
export function partitionOf(id: Eci | CloudId): number {
  return parseInt(id.slice(2, 5), 16);
}
