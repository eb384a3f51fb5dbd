/** The part of sodium-native (libsodium) that store/aead.ts uses; the package ships no types. */
declare module 'sodium-native' {
  interface Sodium {
    randombytes_buf(buf: Uint8Array): void;
    crypto_aead_xchacha20poly1305_ietf_encrypt(ciphertext: Uint8Array, message: Uint8Array, additionalData: Uint8Array | null, nsec: null, nonce: Uint8Array, key: Uint8Array): number;
    /** Throws when the ciphertext does not authenticate. */
    crypto_aead_xchacha20poly1305_ietf_decrypt(message: Uint8Array, nsec: null, ciphertext: Uint8Array, additionalData: Uint8Array | null, nonce: Uint8Array, key: Uint8Array): number;
    crypto_generichash(output: Uint8Array, input: Uint8Array, key?: Uint8Array): void;
  }
  const sodium: Sodium;
  export default sodium;
}
