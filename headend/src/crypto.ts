/**
 * The wire core's cryptography (src/wire/crypto.ts) on `node:crypto` (OpenSSL): the same
 * bytes as the firmware's native primitives, pinned by the golden vectors in test/vectors
 * and, for CCM, by test/node/headend_crypto.test.ts against Node's own `aes-256-ccm`.
 */
import { Cipher, createCipheriv, createDecipheriv, createHmac, hash, hkdfSync } from "node:crypto"
import type { WireCrypto } from "../../src/wire/crypto"

/**
 * One-shot SHA-256: no Hash object per call (the head-end hashes three times per record,
 * docs/uplink.md §12). The digest comes back as a latin1 ("binary") string and goes into a Buffer cut
 * from Node's pool: a digest as a "buffer" is an ArrayBuffer with a backing store of its
 * own (malloc'd, then swept and freed on background threads), which cost more than the
 * hash (profiled: 1.7–2.1 µs against 0.8–1.0 µs a 138-byte hash, CPU of all threads).
 */
const shaLatin1 = (b: Uint8Array) => hash("sha256", b, "binary")
const sha = (b: Uint8Array) => Buffer.from(shaLatin1(b), "latin1")

/**
 * AES-256-CCM (RFC 3610, NIST SP 800-38C) with a 13-byte nonce, a 16-byte tag and no
 * associated data, on AES contexts kept per key. Node's `aes-256-ccm` needs a new cipher
 * per nonce: a key schedule and an OpenSSL context for every frame, about a third of the
 * head-end's ingestion (profiled, docs/headend-storage.md §8). A frame key is used for
 * many frames (one per meter, direction and epoch), so its AES contexts are made once:
 * - CBC-MAC on a CBC context with a zero IV, reused: the context keeps the last ciphertext
 *   block C as its chaining value, so the first block goes in as B_0 ⊕ C, which makes
 *   its output E(B_0) as under a fresh zero IV; the MAC is the last output block;
 * - CTR on an ECB context: the key stream blocks E(A_0), E(A_1), ... in one call.
 * Only what CCM defines is computed; a tag is compared in constant time and nothing of
 * the plaintext is returned before it verifies. A key seen for the first time goes
 * through Node's `aes-256-ccm` (a one-off key is not worth two contexts); from its second
 * use on it gets contexts, which live as long as the key's Buffer (a WeakMap: the head-end
 * holds a meter's frame keys in its state, so a fleet of any size keeps them all, about
 * 1 KB a key, and a key dropped with its meter or epoch takes its contexts along). The key's
 * bytes are kept too and compared on each use: a Buffer changed in place gets new contexts.
 */
/** L = 2 (15 − 13-byte nonce): messages below 2^16 bytes; flags of B_0 (M = 16, no AAD) and of A_i */
const B0_FLAGS = 8 * ((16 - 2) / 2) + (2 - 1)
const A_FLAGS = 2 - 1

interface CcmKey {
    cbc: Cipher
    ecb: Cipher
    /** the CBC context's chaining value (its last output block) */
    chain: Buffer
    /** the key the contexts were made with */
    bytes: Buffer
    /** the key stream made ahead for `aheadNonce` (`keyStream`), `aheadLen` bytes of it; none: undefined */
    ahead?: Buffer
    aheadNonce: Buffer
    aheadLen: number
}
const seen = new WeakSet<Buffer>()
const contexts = new WeakMap<Buffer, CcmKey>()

function sameKey(a: Buffer, b: Buffer): boolean {
    for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false
    return true
}

function ccmKey(key: Buffer): CcmKey | undefined {
    let k = contexts.get(key)
    if (k && sameKey(k.bytes, key)) return k
    if (!k && !seen.has(key)) {
        seen.add(key)
        return undefined
    }
    const cbc = createCipheriv("aes-256-cbc", key, Buffer.alloc(16))
    cbc.setAutoPadding(false)
    const ecb = createCipheriv("aes-256-ecb", key, null)
    ecb.setAutoPadding(false)
    k = { cbc, ecb, chain: Buffer.alloc(16), bytes: Buffer.from(key), aheadNonce: Buffer.alloc(13), aheadLen: 0 }
    contexts.set(key, k)
    return k
}

/**
 * Input blocks are built in one scratch buffer (`update` copies its input into OpenSSL
 * before it returns), through a view kept per length: no buffer of our own per frame.
 */
const SCRATCH = 16 + 0x10000 + 16
const scratch = Buffer.alloc(SCRATCH)
const views: Buffer[] = []
const view = (n: number) => views[n] ?? (views[n] = scratch.subarray(0, n))

/**
 * The CBC-MAC T of `msg` under `nonce` (B_0 ‖ msg zero-padded): left in `k.chain` (the
 * context's chaining value is its last output block, which is T), no buffer of its own.
 */
function cbcMac(k: CcmKey, nonce: Buffer, msg: Buffer): Buffer {
    const n = msg.length
    const len = 16 + Math.ceil(n / 16) * 16
    const b = scratch
    const c = k.chain
    b[0] = B0_FLAGS ^ c[0]
    for (let i = 0; i < 13; i++) b[1 + i] = nonce[i] ^ c[1 + i]
    b[14] = (n >>> 8) ^ c[14]
    b[15] = (n & 0xff) ^ c[15]
    b.set(msg, 16)
    b.fill(0, 16 + n, len)
    k.cbc.update(view(len)).copy(c, 0, len - 16)
    return c
}

/**
 * The key stream S_0 ‖ S_1 ‖ ... for `n` bytes of message (S_0 encrypts the tag): E(A_i),
 * A_i = flags ‖ nonce ‖ i. Made one nonce ahead: the frames of a key carry counters that
 * go up by one (a meter's uplink, the acks from a downlink counter block), and the nonce
 * is the meter id ‖ u32 counter ‖ version/direction (src/wire/frame.ts frameNonce), so each
 * call that makes a stream also makes the one for this nonce with the counter plus one, in
 * the same OpenSSL call, and the next call under the key uses it when its nonce is exactly
 * that one and it is long enough (and makes none ahead itself): in steady state every
 * second CCM operation under a key needs one AES call instead of two, 1.5 on average. The
 * stream made ahead is AES under the key, kept with the key's contexts (a few hundred bytes
 * more a key, until its next frame), never used for another nonce; a guess that misses
 * costs the few blocks made in vain.
 */
function keyStream(k: CcmKey, nonce: Buffer, n: number): Buffer {
    const count = 1 + Math.ceil(n / 16)
    const len = count * 16
    const ahead = k.ahead
    if (ahead !== undefined && k.aheadLen >= len && sameNonce(k.aheadNonce, nonce)) {
        k.ahead = undefined
        return ahead
    }
    const b = scratch
    fillCounterBlocks(b, 0, nonce, count)
    // the next nonce: the u32 counter at bytes 8..11 plus one (none past 2^32 − 1)
    const counter = nonce.length === 13 ? nonce.readUInt32BE(8) : 0xffff_ffff
    const guess = counter < 0xffff_ffff && 2 * len <= SCRATCH
    if (!guess) {
        k.ahead = undefined
        return k.ecb.update(view(len))
    }
    const next = k.aheadNonce
    nonce.copy(next, 0, 0, 13)
    next.writeUInt32BE(counter + 1, 8)
    fillCounterBlocks(b, len, next, count)
    const out = k.ecb.update(view(2 * len))
    k.ahead = out.subarray(len)
    k.aheadLen = len
    return out
}

/** A_0 … A_{count−1} of `nonce` into `b` at `at`. */
function fillCounterBlocks(b: Buffer, at: number, nonce: Buffer, count: number) {
    for (let i = 0; i < count; i++) {
        const o = at + i * 16
        b[o] = A_FLAGS
        for (let j = 0; j < 13; j++) b[o + 1 + j] = nonce[j]
        b[o + 14] = i >>> 8
        b[o + 15] = i & 0xff
    }
}

function sameNonce(a: Buffer, b: Buffer): boolean {
    if (b.length !== 13) return false
    for (let i = 0; i < 13; i++) if (a[i] !== b[i]) return false
    return true
}

function checkCcm(nonce: Buffer, n: number) {
    if (nonce.length !== 13) throw new RangeError("ccm: nonce must be 13 bytes")
    if (n >= 0x10000) throw new RangeError("ccm: message too long")
}

/** SHA-256 of parts laid out back to back in the scratch (no concatenated copy of our own). */
function shaParts(parts: Buffer[]): Buffer {
    let at = 0
    for (const p of parts) {
        if (at + p.length > SCRATCH) return sha(Buffer.concat(parts))
        scratch.set(p, at)
        at += p.length
    }
    return sha(view(at))
}

export const nodeCrypto: WireCrypto = {
    sha256(parts) {
        return parts.length === 1 ? sha(parts[0]) : shaParts(parts)
    },
    hmacSha256(key, data) {
        // RFC 2104 on one-shot hashes for the keys the wire uses (32 bytes); an Hmac object
        // per call cost more than the two hashes. The padded key and the inner hash are laid
        // out in the scratch: (K ⊕ ipad) ‖ data, then (K ⊕ opad) ‖ H(inner)
        if (key.length > 64 || 64 + data.length > SCRATCH) return createHmac("sha256", key).update(data).digest()
        const b = scratch
        for (let i = 0; i < 64; i++) b[i] = (i < key.length ? key[i] : 0) ^ 0x36
        b.set(data, 64)
        const inner = shaLatin1(view(64 + data.length))
        for (let i = 0; i < 64; i++) b[i] = (i < key.length ? key[i] : 0) ^ 0x5c
        b.write(inner, 64, 32, "latin1")
        return sha(view(96))
    },
    hkdfSha256(ikm, salt, info) {
        return Buffer.from(hkdfSync("sha256", ikm, salt, info, 32))
    },
    ccmSeal(key, nonce, plaintext) {
        const k = key.length === 32 ? ccmKey(key) : undefined
        if (!k) {
            const c = createCipheriv("aes-256-ccm", key, nonce, { authTagLength: 16 })
            const ct = c.update(plaintext)
            c.final()
            return Buffer.concat([ct, c.getAuthTag()])
        }
        const n = plaintext.length
        checkCcm(nonce, n)
        const s = keyStream(k, nonce, n)
        const t = cbcMac(k, nonce, plaintext)
        const out = Buffer.allocUnsafe(n + 16)
        for (let i = 0; i < n; i++) out[i] = plaintext[i] ^ s[16 + i]
        for (let i = 0; i < 16; i++) out[n + i] = t[i] ^ s[i]
        return out
    },
    ccmOpen(key, nonce, sealed) {
        if (sealed.length < 16) throw new RangeError("ccm: truncated")
        const k = key.length === 32 ? ccmKey(key) : undefined
        if (!k) {
            const d = createDecipheriv("aes-256-ccm", key, nonce, { authTagLength: 16 })
            d.setAuthTag(sealed.subarray(sealed.length - 16))
            try {
                const pt = d.update(sealed.subarray(0, sealed.length - 16))
                d.final()
                return pt
            } catch {
                throw new RangeError("ccm: bad tag")
            }
        }
        const n = sealed.length - 16
        checkCcm(nonce, n)
        const s = keyStream(k, nonce, n)
        const pt = Buffer.allocUnsafe(n)
        for (let i = 0; i < n; i++) pt[i] = sealed[i] ^ s[16 + i]
        const t = cbcMac(k, nonce, pt)
        // constant time: every byte of the tag is looked at whatever the others are
        let diff = 0
        for (let i = 0; i < 16; i++) diff |= t[i] ^ s[i] ^ sealed[n + i]
        if (diff !== 0) {
            pt.fill(0)
            throw new RangeError("ccm: bad tag")
        }
        return pt
    },
}
