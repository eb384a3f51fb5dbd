import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';

/**
 * AES-256-GCM, the one authenticated cipher of the store (docs/encryption.md): `seal` gives
 * `nonce ‖ ciphertext ‖ tag`, `open` checks the tag and gives the plaintext back, or null when the
 * key, the associated data or any byte is not what sealed it. Nonces are random (96 bits), drawn
 * from a pool refilled 4 KB at a time: a random nonce of its own cost 2 µs a record.
 */

export const KEY_BYTES = 32;
const NONCE = 12;
const TAG = 16;
/** What sealing adds to a plaintext. */
export const SEAL_OVERHEAD = NONCE + TAG;

const pool = Buffer.alloc(NONCE * 341);
let used = pool.length;

function nonce(): Buffer {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  // A copy: the pool is refilled in place.
  const n = Buffer.from(pool.subarray(used, used + NONCE));
  used += NONCE;
  return n;
}

/** A new random key. */
export function newKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Seal `plain` (its parts, in order) under `key`, bound to `aad`; `head` is written before the nonce, unsealed. */
export function seal(key: Uint8Array, aad: Uint8Array, plain: readonly Uint8Array[], head?: Uint8Array): Buffer {
  const iv = nonce();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const parts: Uint8Array[] = head ? [head, iv] : [iv];
  for (const p of plain) parts.push(cipher.update(p));
  cipher.final();
  parts.push(cipher.getAuthTag());
  return Buffer.concat(parts);
}

/** Open what {@link seal} made (from byte `at` of `sealed`), or null when it does not authenticate. */
export function open(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array, at = 0): Buffer | null {
  if (sealed.length - at < SEAL_OVERHEAD) return null;
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(at, at + NONCE));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  const plain = decipher.update(sealed.subarray(at + NONCE, sealed.length - TAG));
  try {
    decipher.final();
  } catch {
    return null;
  }
  return plain;
}
