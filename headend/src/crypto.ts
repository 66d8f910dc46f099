/**
 * The wire core's cryptography (src/wire/crypto.ts) on `node:crypto` (OpenSSL): the same
 * bytes as the firmware's native primitives, pinned by the golden vectors in test/vectors.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync } from "node:crypto"
import type { WireCrypto } from "../../src/wire/crypto"

export const nodeCrypto: WireCrypto = {
    sha256(parts) {
        const h = createHash("sha256")
        for (const p of parts) h.update(p)
        return h.digest()
    },
    hmacSha256(key, data) {
        return createHmac("sha256", key).update(data).digest()
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
