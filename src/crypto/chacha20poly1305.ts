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
 * Written for size, not speed: the image's code budget is what decides (a frame costs about
 * a millisecond against a budget of 50). The 20 rounds are one loop over a table of the 32
 * steps of a double round (string data, free against the 64 KB code limit), where straight
 * line code over 16 locals was 4x faster and 1 KB larger; Poly1305's product is a loop of
 * 6 x 6 limb products, where straight line was 0.5 KB larger.
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
    for (let i = 0; i < 4; i++) st[i] = SIGMA.getAt(4 * i, "u32")
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
        // ~11,000 VM steps a block: a yield every 4 stays far below the 128K-step abort
        if ((o & 255) === 0) await ds.sleep(0)
        st[12] = (o >> 6) + 1
        block()
        const end = len - o < 64 ? len - o : 64
        let j = 0
        for (; j + 4 <= end; j += 4) dst.setAt(at + o + j, "i32", src.getAt(o + j, "i32") ^ ks.getAt(j, "i32"))
        for (; j < end; j++) dst[at + o + j] = src[o + j] ^ ks[j]
    }
}

// ---- ChaCha20 (RFC 8439 section 2.3) ----

// the state (section 2.3): constants, key, block counter, nonce, as int32/u32 words; the
// working copy; the block function's output, 64 bytes of key stream
const st: number[] = []
const x: number[] = []
const ks = Buffer.alloc(64)
for (let i = 0; i < 16; i++) {
    st.push(0)
    x.push(0)
}
const SIGMA = hex`657870616e642033322d62797465206b` // "expand 32-byte k"
// a double round (sections 2.1, 2.3) as 32 steps (a, b, d, n): a += b; d ^= a; d <<<= n.
// A quarter round (a, b, c, d) is (a, b, d, 16) (c, d, b, 12) (a, b, d, 8) (c, d, b, 7);
// the four on the columns, then the four on the diagonals
const STEPS = hex`
    00040c10 080c040c 00040c08 080c0407 01050d10 090d050c 01050d08 090d0507
    02060e10 0a0e060c 02060e08 0a0e0607 03070f10 0b0f070c 03070f08 0b0f0707
    00050f10 0a0f050c 00050f08 0a0f0507 01060c10 0b0c060c 01060c08 0b0c0607
    02070d10 080d070c 02070d08 080d0707 03040e10 090e040c 03040e08 090e0407`

/** The ChaCha20 block function of `st` into `ks`: 10 double rounds. */
function block() {
    for (let i = 0; i < 16; i++) x[i] = st[i]
    for (let r = 0; r < 10; r++)
        for (let s = 0; s < 128; s += 4) {
            const a = STEPS[s], d = STEPS[s + 2], n = STEPS[s + 3]
            const v = (x[a] + x[STEPS[s + 1]]) | 0
            x[a] = v
            const t = x[d] ^ v
            x[d] = (t << n) | (t >>> (32 - n))
        }
    for (let i = 0; i < 16; i++) ks.setAt(4 * i, "i32", (x[i] + st[i]) | 0)
}

// ---- Poly1305 (RFC 8439 section 2.5) ----

const M22 = 0x3fffff
const R22 = 4194304 // 2^22
// r (6 limbs), then 20·r (pk[6 + i] = 20·r[i]): 2^132 ≡ 4·5 = 20 (mod 2^130 − 5) folds
// the columns above limb 5 back into the low ones
const pk: number[] = []
// a product's columns
const d: number[] = []
for (let i = 0; i < 12; i++) {
    pk.push(0)
    d.push(0)
}
// s, the key's second half
const ps = Buffer.alloc(16)
// section 2.5's clamp: r &= 0x0ffffffc0ffffffc0ffffffc0fffffff, as bytes; a block's mask
const CLAMP = hex`ffffff0ffcffff0ffcffff0ffcffff0f`
const ALL = hex`ffffffffffffffffffffffffffffffff`

/** r = clamp(k[0..16)) as 22-bit limbs, s = k[16..32) (sections 2.5, 2.6). */
function polyKey(k: Buffer) {
    for (let i = 0; i < 6; i++) pk[i] = 0
    addLimbs(pk, k, 0, CLAMP)
    for (let i = 0; i < 6; i++) pk[6 + i] = 20 * pk[i]
    ps.blitAt(0, k, 16, 16)
}

/** dst += (b[off..off+16) & mask) as 22-bit limbs, little-endian; the last limb gets 18 bits. */
function addLimbs(dst: number[], b: Buffer, off: number, mask: Buffer) {
    let acc = 0, nb = 0, i = 0
    for (let o = 0; o < 16; o++) {
        acc |= (b[off + o] & mask[o]) << nb
        nb += 8
        if (nb >= 22) {
            dst[i++] += acc & M22
            acc >>>= 22
            nb -= 22
        }
    }
    dst[5] += acc
}

/** Poly1305 of `m` (a multiple of 16 bytes) under `pk`, the 16-byte tag into `out[at..]`. */
async function poly1305(m: Buffer, out: Buffer, at: number) {
    const h = [0, 0, 0, 0, 0, 0]
    for (let o = 0; o < m.length; o += 512) {
        await ds.sleep(0)
        polyBlocks(h, m, o, Math.min(o + 512, m.length))
    }
    // full carry twice: limbs canonical and h < 2^130 (the bits from 130 up fold in as ·5)
    let c = 0, i = 0
    for (let pass = 0; pass < 2; pass++) {
        for (i = 0; i < 5; i++) {
            h[i + 1] += h[i] >>> 22
            h[i] &= M22
        }
        c = h[5] >>> 20
        h[5] &= 0xfffff
        h[0] += 5 * c
    }
    // h mod p: g = h + 5 − 2^130 replaces h when it is not negative, by a mask, not a branch
    const g = [0, 0, 0, 0, 0, 0]
    c = 5
    for (i = 0; i < 6; i++) {
        g[i] = h[i] + c
        c = g[i] >>> 22
        g[i] &= M22
    }
    const take = -(g[5] >>> 20)
    g[5] &= 0xfffff
    // tag = (h + s) mod 2^128, little-endian (section 2.5.1), a byte at a time
    let acc = 0, nb = 0, o = 0
    c = 0
    for (i = 0; i < 6; i++) {
        acc |= ((h[i] & ~take) | (g[i] & take)) << nb
        nb += 22
        for (; nb >= 8 && o < 16; o++) {
            c += (acc & 255) + ps[o]
            out[at + o] = c & 255
            c >>= 8
            acc >>>= 8
            nb -= 8
        }
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
    for (let o = from; o < to; o += 16) {
        addLimbs(h, m, o, ALL)
        h[5] += 0x40000
        for (let k = 0; k < 6; k++) {
            let s = 0
            for (let i = 0; i < 6; i++) s += h[i] * pk[i <= k ? k - i : 12 + k - i]
            d[k] = s
        }
        let c = 0
        for (let k = 0; k < 6; k++) {
            const s = d[k] + c
            c = (s / R22) | 0
            h[k] = s - c * R22
        }
        h[0] += 20 * c
        c = (h[0] / R22) | 0
        h[0] -= c * R22
        h[1] += c
    }
}
