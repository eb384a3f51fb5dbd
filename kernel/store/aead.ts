import sodium from 'sodium-native';

/**
 * XChaCha20-Poly1305 (libsodium, through sodium-native), the one authenticated cipher of the store
 * and of moves (docs/encryption.md): `seal` gives `head ‖ nonce ‖ ciphertext ‖ tag`, `open` checks
 * the tag and gives the plaintext back, or null when the key, the associated data or any byte is
 * not what sealed it. Nonces are random: at 192 bits they never repeat under one key, however many
 * records it seals. Chosen over node's AES-256-GCM by measurement: 1.8 µs to seal a record and
 * 0.9 µs to open one, against 5 and 4 µs for node:crypto, whose cipher objects cost more than the
 * cipher (bench/README.md, "Issue 26").
 */

export const KEY_BYTES = 32;
const NONCE = 24;
const TAG = 16;
/** What sealing adds to a plaintext. */
export const SEAL_OVERHEAD = NONCE + TAG;

/** Random bytes drawn 12 KB at a time: libsodium's generator costs a system call (~3 µs) a draw. */
const pool = Buffer.allocUnsafe(NONCE * 512);
let used = pool.length;

/** `n` random bytes from the pool (each drawn once). */
function draw(into: Buffer, at: number, n: number): void {
  if (used + n > pool.length) {
    sodium.randombytes_buf(pool);
    used = 0;
  }
  pool.copy(into, at, used, used + n);
  used += n;
}

/** A new random key (its bytes wiped from the pool: a key is a secret, a nonce is not). */
export function newKey(): Buffer {
  const key = Buffer.allocUnsafe(KEY_BYTES);
  draw(key, 0, KEY_BYTES);
  pool.fill(0, used - KEY_BYTES, used);
  return key;
}

/** Seal `plain` (its parts, in order) under `key`, bound to `aad`; `head` is written before the nonce, unsealed. */
export function seal(key: Uint8Array, aad: Uint8Array, plain: readonly Uint8Array[], head?: Uint8Array): Buffer {
  const message = plain.length === 1 ? plain[0]! : Buffer.concat(plain);
  const at = head?.length ?? 0;
  const out = Buffer.allocUnsafe(at + NONCE + message.length + TAG);
  if (head) out.set(head, 0);
  draw(out, at, NONCE);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out.subarray(at + NONCE), message, aad, null, out.subarray(at, at + NONCE), key);
  return out;
}

/** Open what {@link seal} made (from byte `at` of `sealed`), or null when it does not authenticate. */
export function open(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array, at = 0): Buffer | null {
  if (sealed.length - at < SEAL_OVERHEAD) return null;
  const plain = Buffer.allocUnsafe(sealed.length - at - SEAL_OVERHEAD);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(plain, null, sealed.subarray(at + NONCE), aad, sealed.subarray(at, at + NONCE), key);
  } catch {
    return null;
  }
  return plain;
}

/** A keyed hash (BLAKE2b, 16 bytes) of `text` under `key`: what a sealed store keeps of a secret in a key. */
export function keyedHash(key: Uint8Array, text: string): Buffer {
  const out = Buffer.allocUnsafe(16);
  sodium.crypto_generichash(out, Buffer.from(text), key);
  return out;
}
