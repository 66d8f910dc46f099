/**
 * The wire core's cryptography (src/wire/crypto.ts) on `node:crypto` (OpenSSL): the same
 * bytes as the firmware's native primitives, pinned by the golden vectors in test/vectors.
 */
import { createCipheriv, createDecipheriv, createHmac, hash, hkdfSync } from "node:crypto"
import type { WireCrypto } from "../../src/wire/crypto"

/** One-shot SHA-256: no Hash object per call (the head-end hashes three times per record, docs/uplink.md §12). */
const sha = (b: Uint8Array) => hash("sha256", b, "buffer") as unknown as Buffer

export const nodeCrypto: WireCrypto = {
    sha256(parts) {
        return sha(parts.length === 1 ? parts[0] : Buffer.concat(parts))
    },
    hmacSha256(key, data) {
        // RFC 2104 on one-shot hashes for the keys the wire uses (32 bytes); an Hmac object
        // per call cost more than the two hashes
        if (key.length > 64) return createHmac("sha256", key).update(data).digest()
        const inner = Buffer.allocUnsafe(64 + data.length)
        const outer = Buffer.allocUnsafe(64 + 32)
        for (let i = 0; i < 64; i++) {
            const k = i < key.length ? key[i] : 0
            inner[i] = k ^ 0x36
            outer[i] = k ^ 0x5c
        }
        inner.set(data, 64)
        outer.set(sha(inner), 64)
        return sha(outer)
    },
    hkdfSha256(ikm, salt, info) {
        return Buffer.from(hkdfSync("sha256", ikm, salt, info, 32))
    },
    ccmSeal(key, nonce, plaintext) {
        const c = createCipheriv("aes-256-ccm", key, nonce, { authTagLength: 16 })
        const ct = c.update(plaintext)
        c.final()
        return Buffer.concat([ct, c.getAuthTag()])
    },
    ccmOpen(key, nonce, sealed) {
        if (sealed.length < 16) throw new RangeError("ccm: truncated")
        const d = createDecipheriv("aes-256-ccm", key, nonce, { authTagLength: 16 })
        d.setAuthTag(sealed.subarray(sealed.length - 16))
        try {
            const pt = d.update(sealed.subarray(0, sealed.length - 16))
            d.final()
            return pt
        } catch {
            throw new RangeError("ccm: bad tag")
        }
    },
}
