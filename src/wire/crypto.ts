/**
 * The cryptography the wire core needs, passed in rather than imported, the way noble's
 * `hkdf(hash, ...)` takes its hash: the firmware passes `@devicescript/crypto`
 * (src/crypto/native.ts), the head-end passes `node:crypto` (headend/src/crypto.ts). Both
 * produce the same bytes, pinned by the golden vectors in test/vectors.
 */
export interface WireCrypto {
    /** SHA-256 (FIPS 180-4) of the concatenation of `parts`. */
    sha256(parts: Buffer[]): Buffer
    /** HMAC-SHA-256 (RFC 2104) of `data` under `key`, all 32 bytes. */
    hmacSha256(key: Buffer, data: Buffer): Buffer
    /** HKDF-SHA-256 (RFC 5869) with `salt` and `info`, 32 bytes of output. */
    hkdfSha256(ikm: Buffer, salt: Buffer, info: Buffer): Buffer
    /** AES-256-CCM (RFC 3610), 13-byte nonce, no associated data: ciphertext ‖ 16-byte tag. */
    ccmSeal(key: Buffer, nonce: Buffer, plaintext: Buffer): Buffer
    /** Opens what `ccmSeal` made; throws when the tag does not verify. */
    ccmOpen(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer
}
