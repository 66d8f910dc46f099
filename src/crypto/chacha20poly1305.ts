/**
 * ChaCha20-Poly1305 AEAD (RFC 8439 section 2.8) in DeviceScript bytecode.
 *
 * Measured, not shipped: COSE_Encrypt0 (RFC 9052 section 5.3) binds its protected header
 * and the external data as associated data, and the runtime's only AEAD, AES-256-CCM, takes
 * none (docs/uplink.md section 2.2). This is COSE algorithm 24 (RFC 9053 section 4.3), the
 * AEAD the independent COSE library in the head-end's dependencies (`@ldclabs/cose-ts`)
 * also implements. No firmware entry imports it; `bench/device/aead.bench.ts` times it and
 * `bench/node/aead_code.bench.ts` sizes it (docs/uplink.md section 16).
 *
 * ChaCha20 is additions, xors and rotations of 32-bit words: the VM's int32 operators
 * (`| 0` wraps a sum, `>>>` exists) map onto it one to one. Poly1305 needs products of
 * 130-bit numbers, held here as 6 limbs of 22 bits in plain numbers: with 26-bit limbs
 * (the C code's choice) a column of five products times 5 reaches 2^57 and a double is
 * exact only to 2^53; with 22 bits every column stays below 2^52 (bounds at `polyBlocks`).
 *
 * Not constant-time in any strict sense (no VM is), but nothing branches on a secret: the
 * final reduction selects with a mask and the tag is compared with an accumulated xor.
 * Not reentrant: the state lives in module variables across the yields, so calls must not
 * overlap (one sealing fiber, as the uplink has).
 */
import * as ds from "@devicescript/core"

/**
 * Seals `plaintext` under a 32-byte `key` and 12-byte `nonce` with associated data `aad`
 * (RFC 8439 section 2.8): ciphertext ‖ 16-byte tag. Yields every few blocks, so any length
 * is safe from the VM's step limit; throws on a wrong key or nonce length.
 * @example const sealed = await chacha20Poly1305Seal(key, nonce, encStructure, body)
 */
export async function chacha20Poly1305Seal(key: Buffer, nonce: Buffer, aad: Buffer, plaintext: Buffer): Promise<Buffer> {
    const n = plaintext.length
    const m = await macInput(key, nonce, aad, n)
    const at = pad16(aad.length)
    await chacha20Xor(plaintext, m, at)
    const out = Buffer.alloc(n + 16)
    out.blitAt(0, m, at, n)
    await poly1305(m, out, n)
    return out
}

/**
 * Opens what `chacha20Poly1305Seal` made: the plaintext, or `null` when the tag does not
 * verify (the plaintext is then never computed). Throws on a wrong key or nonce length.
 */
export async function chacha20Poly1305Open(key: Buffer, nonce: Buffer, aad: Buffer, sealed: Buffer): Promise<Buffer | null> {
    const n = sealed.length - 16
    if (n < 0) return null
    const m = await macInput(key, nonce, aad, n)
    m.blitAt(pad16(aad.length), sealed, 0, n)
    const tag = Buffer.alloc(16)
    await poly1305(m, tag, 0)
    let diff = 0
    for (let i = 0; i < 16; i++) diff |= tag[i] ^ sealed[n + i]
    if (diff !== 0) return null
    const out = Buffer.alloc(n)
    await chacha20Xor(sealed, out, 0)
    return out
}

/**
 * Poly1305 (RFC 8439 section 2.5) of `m` under the one-time key r ‖ s (32 bytes), for
 * `m` of whole 16-byte blocks only (every Poly1305 input of the AEAD is); for tests.
 */
export async function poly1305Tag(key: Buffer, m: Buffer): Promise<Buffer> {
    if (key.length !== 32 || (m.length & 15) !== 0) throw new RangeError("poly1305: key 32 bytes, whole blocks")
    polyKey(key)
    const tag = Buffer.alloc(16)
    await poly1305(m, tag, 0)
    return tag
}

// ---- the construction (RFC 8439 section 2.8) ----

const pad16 = (n: number) => (n + 15) & ~15

/**
 * Loads the key and nonce into the ChaCha20 state, derives the one-time Poly1305 key from
 * block 0 (section 2.6) and returns the MAC input with `aad` in place: aad ‖ pad ‖ (room
 * for the ciphertext) ‖ pad ‖ u64le(|aad|) ‖ u64le(n). Every Poly1305 block of the AEAD is
 * then a full 16-byte block.
 */
async function macInput(key: Buffer, nonce: Buffer, aad: Buffer, n: number): Promise<Buffer> {
    if (key.length !== 32 || nonce.length !== 12) throw new RangeError("chacha20poly1305: key 32, nonce 12 bytes")
    for (let i = 0; i < 8; i++) st[4 + i] = key.getAt(4 * i, "u32")
    for (let i = 0; i < 3; i++) st[13 + i] = nonce.getAt(4 * i, "u32")
    st[12] = 0
    block()
    polyKey(ks)
    const a = pad16(aad.length)
    const len = a + pad16(n) + 16
    const m = Buffer.alloc(len)
    m.blitAt(0, aad, 0, aad.length)
    m.setAt(len - 16, "u32", aad.length)
    m.setAt(len - 8, "u32", n)
    return m
}

/** dst[at..] = src[0..n) xor the key stream from block counter 1 (section 2.4). */
async function chacha20Xor(src: Buffer, dst: Buffer, at: number) {
    const len = Math.min(src.length, dst.length - at)
    for (let o = 0; o < len; o += 64) {
        // ~6,000 VM steps a block: a yield every 8 stays far below the 128K-step abort
        if ((o & 511) === 0) await ds.sleep(0)
        st[12] = (o >> 6) + 1
        block()
        const end = len - o < 64 ? len - o : 64
        let j = 0
        for (; j + 4 <= end; j += 4) dst.setAt(at + o + j, "i32", src.getAt(o + j, "i32") ^ ks.getAt(j, "i32"))
        for (; j < end; j++) dst[at + o + j] = src[o + j] ^ ks[j]
    }
}

// ---- ChaCha20 (RFC 8439 section 2.3) ----

// the state: "expand 32-byte k", key, block counter, nonce (section 2.3), as int32/u32
const st: number[] = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
// the block function's output, 64 bytes of key stream
const ks = Buffer.alloc(64)

/** The ChaCha20 block function of `st` into `ks`: 20 rounds over locals, straight line. */
function block() {
    let x0 = st[0], x1 = st[1], x2 = st[2], x3 = st[3], x4 = st[4], x5 = st[5], x6 = st[6], x7 = st[7]
    let x8 = st[8], x9 = st[9], x10 = st[10], x11 = st[11], x12 = st[12], x13 = st[13], x14 = st[14], x15 = st[15]
    for (let r = 0; r < 10; r++) {
        // columns
        x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16)
        x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20)
        x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24)
        x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25)
        x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16)
        x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20)
        x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24)
        x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25)
        x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16)
        x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20)
        x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24)
        x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25)
        x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16)
        x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20)
        x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24)
        x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25)
        // diagonals
        x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16)
        x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20)
        x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24)
        x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25)
        x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16)
        x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20)
        x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24)
        x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25)
        x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16)
        x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20)
        x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24)
        x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25)
        x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16)
        x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20)
        x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24)
        x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25)
    }
    ks.setAt(0, "i32", (x0 + st[0]) | 0)
    ks.setAt(4, "i32", (x1 + st[1]) | 0)
    ks.setAt(8, "i32", (x2 + st[2]) | 0)
    ks.setAt(12, "i32", (x3 + st[3]) | 0)
    ks.setAt(16, "i32", (x4 + st[4]) | 0)
    ks.setAt(20, "i32", (x5 + st[5]) | 0)
    ks.setAt(24, "i32", (x6 + st[6]) | 0)
    ks.setAt(28, "i32", (x7 + st[7]) | 0)
    ks.setAt(32, "i32", (x8 + st[8]) | 0)
    ks.setAt(36, "i32", (x9 + st[9]) | 0)
    ks.setAt(40, "i32", (x10 + st[10]) | 0)
    ks.setAt(44, "i32", (x11 + st[11]) | 0)
    ks.setAt(48, "i32", (x12 + st[12]) | 0)
    ks.setAt(52, "i32", (x13 + st[13]) | 0)
    ks.setAt(56, "i32", (x14 + st[14]) | 0)
    ks.setAt(60, "i32", (x15 + st[15]) | 0)
}

// ---- Poly1305 (RFC 8439 section 2.5) ----

const M22 = 0x3fffff
const R22 = 4194304 // 2^22
// r (6 limbs), 20·r[1..5] (5), s (4 words): 2^132 ≡ 4·5 = 20 (mod 2^130 − 5) folds the
// columns above limb 5 back into the low ones
const pk: number[] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]

/** r = clamp(ks[0..16)) as 22-bit limbs, s = ks[16..32) (section 2.5, 2.6). */
function polyKey(k: Buffer) {
    const w0 = k.getAt(0, "u32") & 0x0fffffff
    const w1 = k.getAt(4, "u32") & 0x0ffffffc
    const w2 = k.getAt(8, "u32") & 0x0ffffffc
    const w3 = k.getAt(12, "u32") & 0x0ffffffc
    pk[0] = w0 & M22
    pk[1] = (w0 >>> 22) | ((w1 & 0xfff) << 10)
    pk[2] = (w1 >>> 12) | ((w2 & 3) << 20)
    pk[3] = (w2 >>> 2) & M22
    pk[4] = (w2 >>> 24) | ((w3 & 0x3fff) << 8)
    pk[5] = w3 >>> 14
    for (let i = 1; i < 6; i++) pk[5 + i] = 20 * pk[i]
    for (let i = 0; i < 4; i++) pk[11 + i] = k.getAt(16 + 4 * i, "u32")
}

/** Poly1305 of `m` (a multiple of 16 bytes) under `pk`, the 16-byte tag into `out[at..]`. */
async function poly1305(m: Buffer, out: Buffer, at: number) {
    const h = [0, 0, 0, 0, 0, 0]
    for (let o = 0; o < m.length; o += 512) {
        await ds.sleep(0)
        polyBlocks(h, m, o, Math.min(o + 512, m.length))
    }
    // full carry twice: limbs canonical and h < 2^130 (bits 130.. of limb 5 fold as ·5)
    let h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3], h4 = h[4], h5 = h[5], c = 0
    for (let pass = 0; pass < 2; pass++) {
        c = h0 >>> 22; h0 &= M22; h1 += c
        c = h1 >>> 22; h1 &= M22; h2 += c
        c = h2 >>> 22; h2 &= M22; h3 += c
        c = h3 >>> 22; h3 &= M22; h4 += c
        c = h4 >>> 22; h4 &= M22; h5 += c
        c = h5 >>> 20; h5 &= 0xfffff; h0 += 5 * c
    }
    // h mod p: g = h + 5 − 2^130 replaces h when it does not go negative (a mask, no branch)
    let g0 = h0 + 5
    c = g0 >>> 22; g0 &= M22
    let g1 = h1 + c
    c = g1 >>> 22; g1 &= M22
    let g2 = h2 + c
    c = g2 >>> 22; g2 &= M22
    let g3 = h3 + c
    c = g3 >>> 22; g3 &= M22
    let g4 = h4 + c
    c = g4 >>> 22; g4 &= M22
    let g5 = h5 + c
    const take = -(g5 >>> 20)
    const keep = ~take
    g5 &= 0xfffff
    h0 = (h0 & keep) | (g0 & take)
    h1 = (h1 & keep) | (g1 & take)
    h2 = (h2 & keep) | (g2 & take)
    h3 = (h3 & keep) | (g3 & take)
    h4 = (h4 & keep) | (g4 & take)
    h5 = (h5 & keep) | (g5 & take)
    // tag = (h + s) mod 2^128, little-endian (section 2.5.1)
    const w = [
        (h0 | (h1 << 22)) >>> 0,
        ((h1 >>> 10) | (h2 << 12)) >>> 0,
        ((h2 >>> 20) | (h3 << 2) | (h4 << 24)) >>> 0,
        ((h4 >>> 8) | (h5 << 14)) >>> 0,
    ]
    c = 0
    for (let i = 0; i < 4; i++) {
        const t = w[i] + pk[11 + i] + c
        c = Math.floor(t / 4294967296)
        out.setAt(at + 4 * i, "u32", t - c * 4294967296)
    }
}

/**
 * h = (h + block) · r mod 2^130 − 5 over the 16-byte blocks of m[from..to), each with its
 * 2^128 bit. Bounds: h's limbs enter below 2^22 + 2^13 and the block's below 2^22, so
 * h_i < 2^23; r_i < 2^22 and 20·r_i < 2^26.4 (the clamp keeps r < 2^124, r5 < 2^14): a
 * product is below 2^49.4 and a column of six below 2^52, exact in a double, and a column
 * / 2^22 fits the int32 that `| 0` makes of it.
 */
function polyBlocks(h: number[], m: Buffer, from: number, to: number) {
    let h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3], h4 = h[4], h5 = h[5]
    const r0 = pk[0], r1 = pk[1], r2 = pk[2], r3 = pk[3], r4 = pk[4], r5 = pk[5]
    const s1 = pk[6], s2 = pk[7], s3 = pk[8], s4 = pk[9], s5 = pk[10]
    for (let o = from; o < to; o += 16) {
        const w0 = m.getAt(o, "u32"), w1 = m.getAt(o + 4, "u32"), w2 = m.getAt(o + 8, "u32"), w3 = m.getAt(o + 12, "u32")
        h0 += w0 & M22
        h1 += (w0 >>> 22) | ((w1 & 0xfff) << 10)
        h2 += (w1 >>> 12) | ((w2 & 3) << 20)
        h3 += (w2 >>> 2) & M22
        h4 += (w2 >>> 24) | ((w3 & 0x3fff) << 8)
        h5 += (w3 >>> 14) | 0x40000
        let d0 = h0 * r0 + h1 * s5 + h2 * s4 + h3 * s3 + h4 * s2 + h5 * s1
        let d1 = h0 * r1 + h1 * r0 + h2 * s5 + h3 * s4 + h4 * s3 + h5 * s2
        let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s5 + h4 * s4 + h5 * s3
        let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s5 + h5 * s4
        let d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * s5
        let d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0
        let c = (d0 / R22) | 0
        h0 = d0 - c * R22
        d1 += c
        c = (d1 / R22) | 0
        h1 = d1 - c * R22
        d2 += c
        c = (d2 / R22) | 0
        h2 = d2 - c * R22
        d3 += c
        c = (d3 / R22) | 0
        h3 = d3 - c * R22
        d4 += c
        c = (d4 / R22) | 0
        h4 = d4 - c * R22
        d5 += c
        c = (d5 / R22) | 0
        h5 = d5 - c * R22
        h0 += 20 * c
        c = (h0 / R22) | 0
        h0 -= c * R22
        h1 += c
    }
    h[0] = h0
    h[1] = h1
    h[2] = h2
    h[3] = h3
    h[4] = h4
    h[5] = h5
}
