/**
 * Arithmetic in GF(p), p = 2^255 - 19, for Ed25519 verification on the DeviceScript VM.
 *
 * A field element (`Fe`) is 12 limbs of 22 bits (264 bits) in plain numbers (doubles): the
 * VM has no BigInt and no typed arrays, and twelve 24.3 x 24.3-bit products summed stay
 * below 2^53, exact in a double. (16 limbs of 16 bits work too but need 256 products per
 * multiplication instead of 144: about 30% slower here.) Limbs are kept "loose": results
 * of `fmul` have limbs of at most 2^22, sums and differences stay below 2^24.3, and
 * `fmul` accepts either; every column sum stays below 2^52, so `(v / 2^22) | 0` is an
 * exact floor. `2^264 = 2^9 * 19 = 9728 (mod p)` folds the high half of a product, after
 * the high columns are carried down to 22 bits (so the fold cannot overflow). Nothing here
 * allocates after module load; nothing is secret (this is verification only), so nothing
 * here is constant-time.
 *
 * `fmul` (which also squares: `fmul(o, a, a)`) is straight-line code over locals on
 * purpose: a loop version costs about five times more VM steps. It is written out by
 * tools/field25519-gen.ts (one expression per column of the schoolbook product) and is not
 * meant to be edited by hand.
 */
import * as ds from "@devicescript/core"

/** A field element: 12 little-endian limbs of (about) 22 bits. */
export type Fe = number[]

/** Number of limbs. */
export const LIMBS = 12
const RADIX = 4194304 // 2^22

/** A new zero field element. */
export function fe(): Fe {
    return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
}

/** o = a */
export function fcopy(o: Fe, a: Fe): void {
    for (let i = 0; i < 12; i++) o[i] = a[i]
}

/** o = n for a small non-negative integer n */
export function fsetSmall(o: Fe, n: number): void {
    o[0] = n
    for (let i = 1; i < 12; i++) o[i] = 0
}

/** o = a + b (no carry: limbs grow by one bit) */
export function fadd(o: Fe, a: Fe, b: Fe): void {
    for (let i = 0; i < 12; i++) o[i] = a[i] + b[i]
}

/**
 * o = a - b + K, K a multiple of p whose limbs (2^22 + 64 .. 2^23) exceed b's, so every
 * limb stays non-negative: b must be an `fmul` result or canonical, which is how
 * every caller uses it.
 */
export function fsub(o: Fe, a: Fe, b: Fe): void {
    o[0] = a[0] - b[0] + 0x7fd9ed
    for (let i = 1; i < 11; i++) o[i] = a[i] - b[i] + 0x7ffffe
    o[11] = a[11] - b[11] + 0x401ffe
}

/** o = -a (as K - a); a must be an `fmul` result or canonical */
export function fneg(o: Fe, a: Fe): void {
    o[0] = 0x7fd9ed - a[0]
    for (let i = 1; i < 11; i++) o[i] = 0x7ffffe - a[i]
    o[11] = 0x401ffe - a[11]
}

/**
 * o = a reduced to its canonical representative: limbs in [0, 2^22), value < p; a's limbs
 * must be non-negative and below 2^26.
 */
export function fcanon(o: Fe, a: Fe): void {
    fcopy(o, a)
    // fold the bits above 254 back in (2^255 = 19 mod p) until none are left: value < 2^255
    let top = fcarry(o, 0)
    while (top !== 0) top = fcarry(o, 19 * top)
    // value >= p exactly when value + 19 reaches 2^255, and then value + 19 - 2^255 = value - p
    if (fcarry(o, 19) === 0) fcarry(o, -19)
}

/**
 * Adds `add` to limb 0, carries every limb to 22 bits (floor division: a limb may go
 * negative, the value may not) and cuts the top limb to 13 bits (bit 254); returns what
 * was cut, in units of 2^255.
 */
function fcarry(o: Fe, add: number): number {
    o[0] += add
    for (let i = 0; i < 11; i++) {
        const q = Math.floor(o[i] / RADIX)
        o[i] -= q * RADIX
        o[i + 1] += q
    }
    const top = Math.floor(o[11] / 8192)
    o[11] -= top * 8192
    return top
}
const tmpA = fe()
const tmpB = fe()

/** true if a = 0 (mod p) */
export function fisZero(a: Fe): boolean {
    fcanon(tmpA, a)
    for (let i = 0; i < 12; i++) if (tmpA[i] !== 0) return false
    return true
}

/** true if a = b (mod p) */
export function fequal(a: Fe, b: Fe): boolean {
    fcanon(tmpA, a)
    fcanon(tmpB, b)
    for (let i = 0; i < 12; i++) if (tmpA[i] !== tmpB[i]) return false
    return true
}

/** The low bit of a's canonical representative ("negative" in RFC 8032 section 5.1.2). */
export function fisOdd(a: Fe): boolean {
    fcanon(tmpA, a)
    return (tmpA[0] & 1) === 1
}

/**
 * Reads the y coordinate of an encoded point (RFC 8032 section 5.1.3): 32 bytes
 * little-endian at `off`, the top bit (the sign of x) cleared. Returns false if
 * y >= p, the non-canonical encodings strict verification must refuse.
 */
export function funpackY(o: Fe, b: Buffer, off: number): boolean {
    for (let i = 0; i < 12; i++) {
        // limb i holds bits 22i .. 22i + 21: up to 4 bytes from byte 22i / 8
        const s = (22 * i) >> 3
        let v = b[off + s] + b[off + s + 1] * 256
        if (s + 2 < 32) v += b[off + s + 2] * 65536
        if (s + 3 < 32) v += b[off + s + 3] * 16777216
        // (no `%` here: the VM's % is wrong on values >= 2^31)
        const w = Math.floor(v / (1 << ((22 * i) & 7)))
        o[i] = w - Math.floor(w / RADIX) * RADIX
    }
    o[11] &= 0x1fff // bit 255 is the sign of x, not part of y
    // y >= p only if y = 2^255 - 19 .. 2^255 - 1: bytes ed..ff, then ff x 30, then 7f
    if ((b[off + 31] & 0x7f) !== 0x7f) return true
    for (let i = 30; i > 0; i--) if (b[off + i] !== 0xff) return true
    return b[off] < 0xed
}

/**
 * o = a^(2^k) for k >= 1; yields first and then every 16 squarings (a squaring is about
 * 1,000 VM steps, the VM aborts a fiber after 128K steps without a yield).
 */
export async function fsqn(o: Fe, a: Fe, k: number): Promise<void> {
    await ds.sleep(0)
    fmul(o, a, a)
    for (let i = 1; i < k; i++) {
        if ((i & 15) === 0) await ds.sleep(0)
        fmul(o, o, o)
    }
}

const p0 = fe()
const p1 = fe()
const p2 = fe()

/**
 * o = z^((p-5)/8) = z^(2^252 - 3), the exponent of the square root in RFC 8032 section
 * 5.1.3, by the addition chain of ref10 (251 squarings, 11 multiplications).
 */
export async function fpow2523(o: Fe, z: Fe): Promise<void> {
    const t0 = p0
    const t1 = p1
    const t2 = p2
    fmul(t0, z, z) // 2
    fmul(t1, t0, t0)
    fmul(t1, t1, t1) // 8
    fmul(t1, z, t1) // 9
    fmul(t0, t0, t1) // 11
    fmul(t0, t0, t0) // 22
    fmul(t0, t1, t0) // 2^5 - 1
    await fsqn(t1, t0, 5)
    fmul(t0, t1, t0) // 2^10 - 1
    await fsqn(t1, t0, 10)
    fmul(t1, t1, t0) // 2^20 - 1
    await fsqn(t2, t1, 20)
    fmul(t1, t2, t1) // 2^40 - 1
    await fsqn(t1, t1, 10)
    fmul(t0, t1, t0) // 2^50 - 1
    await fsqn(t1, t0, 50)
    fmul(t1, t1, t0) // 2^100 - 1
    await fsqn(t2, t1, 100)
    fmul(t1, t2, t1) // 2^200 - 1
    await fsqn(t1, t1, 50)
    fmul(t0, t1, t0) // 2^250 - 1
    await fsqn(t0, t0, 2) // 2^252 - 4
    fmul(o, t0, z) // 2^252 - 3
}

/**
 * o = a * b, and o = a^2 with 78 products instead of 144 when b is a (the same array:
 * `fmul(o, a, a)` squares); o may alias a or b. Generated by tools/field25519-gen.ts.
 */
export function fmul(o: Fe, a: Fe, b: Fe): void {
    const a0 = a[0]
    const a1 = a[1]
    const a2 = a[2]
    const a3 = a[3]
    const a4 = a[4]
    const a5 = a[5]
    const a6 = a[6]
    const a7 = a[7]
    const a8 = a[8]
    const a9 = a[9]
    const a10 = a[10]
    const a11 = a[11]
    let c0: number, c1: number, c2: number, c3: number, c4: number, c5: number, c6: number, c7: number, c8: number, c9: number, c10: number, c11: number, h12: number, h13: number, h14: number, h15: number, h16: number, h17: number, h18: number, h19: number, h20: number, h21: number, h22: number
    if (a === b) {
        const d1 = a1 + a1
        const d2 = a2 + a2
        const d3 = a3 + a3
        const d4 = a4 + a4
        const d5 = a5 + a5
        const d6 = a6 + a6
        const d7 = a7 + a7
        const d8 = a8 + a8
        const d9 = a9 + a9
        const d10 = a10 + a10
        const d11 = a11 + a11
        c0 = a0 * a0
        c1 = d1 * a0
        c2 = d2 * a0 + a1 * a1
        c3 = d3 * a0 + d2 * a1
        c4 = d4 * a0 + d3 * a1 + a2 * a2
        c5 = d5 * a0 + d4 * a1 + d3 * a2
        c6 = d6 * a0 + d5 * a1 + d4 * a2 + a3 * a3
        c7 = d7 * a0 + d6 * a1 + d5 * a2 + d4 * a3
        c8 = d8 * a0 + d7 * a1 + d6 * a2 + d5 * a3 + a4 * a4
        c9 = d9 * a0 + d8 * a1 + d7 * a2 + d6 * a3 + d5 * a4
        c10 = d10 * a0 + d9 * a1 + d8 * a2 + d7 * a3 + d6 * a4 + a5 * a5
        c11 = d11 * a0 + d10 * a1 + d9 * a2 + d8 * a3 + d7 * a4 + d6 * a5
        h12 = d11 * a1 + d10 * a2 + d9 * a3 + d8 * a4 + d7 * a5 + a6 * a6
        h13 = d11 * a2 + d10 * a3 + d9 * a4 + d8 * a5 + d7 * a6
        h14 = d11 * a3 + d10 * a4 + d9 * a5 + d8 * a6 + a7 * a7
        h15 = d11 * a4 + d10 * a5 + d9 * a6 + d8 * a7
        h16 = d11 * a5 + d10 * a6 + d9 * a7 + a8 * a8
        h17 = d11 * a6 + d10 * a7 + d9 * a8
        h18 = d11 * a7 + d10 * a8 + a9 * a9
        h19 = d11 * a8 + d10 * a9
        h20 = d11 * a9 + a10 * a10
        h21 = d11 * a10
        h22 = a11 * a11
    } else {
        const b0 = b[0]
        const b1 = b[1]
        const b2 = b[2]
        const b3 = b[3]
        const b4 = b[4]
        const b5 = b[5]
        const b6 = b[6]
        const b7 = b[7]
        const b8 = b[8]
        const b9 = b[9]
        const b10 = b[10]
        const b11 = b[11]
        c0 = a0 * b0
        c1 = a0 * b1 + a1 * b0
        c2 = a0 * b2 + a1 * b1 + a2 * b0
        c3 = a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0
        c4 = a0 * b4 + a1 * b3 + a2 * b2 + a3 * b1 + a4 * b0
        c5 = a0 * b5 + a1 * b4 + a2 * b3 + a3 * b2 + a4 * b1 + a5 * b0
        c6 = a0 * b6 + a1 * b5 + a2 * b4 + a3 * b3 + a4 * b2 + a5 * b1 + a6 * b0
        c7 = a0 * b7 + a1 * b6 + a2 * b5 + a3 * b4 + a4 * b3 + a5 * b2 + a6 * b1 + a7 * b0
        c8 = a0 * b8 + a1 * b7 + a2 * b6 + a3 * b5 + a4 * b4 + a5 * b3 + a6 * b2 + a7 * b1 + a8 * b0
        c9 = a0 * b9 + a1 * b8 + a2 * b7 + a3 * b6 + a4 * b5 + a5 * b4 + a6 * b3 + a7 * b2 + a8 * b1 + a9 * b0
        c10 = a0 * b10 + a1 * b9 + a2 * b8 + a3 * b7 + a4 * b6 + a5 * b5 + a6 * b4 + a7 * b3 + a8 * b2 + a9 * b1 + a10 * b0
        c11 = a0 * b11 + a1 * b10 + a2 * b9 + a3 * b8 + a4 * b7 + a5 * b6 + a6 * b5 + a7 * b4 + a8 * b3 + a9 * b2 + a10 * b1 + a11 * b0
        h12 = a1 * b11 + a2 * b10 + a3 * b9 + a4 * b8 + a5 * b7 + a6 * b6 + a7 * b5 + a8 * b4 + a9 * b3 + a10 * b2 + a11 * b1
        h13 = a2 * b11 + a3 * b10 + a4 * b9 + a5 * b8 + a6 * b7 + a7 * b6 + a8 * b5 + a9 * b4 + a10 * b3 + a11 * b2
        h14 = a3 * b11 + a4 * b10 + a5 * b9 + a6 * b8 + a7 * b7 + a8 * b6 + a9 * b5 + a10 * b4 + a11 * b3
        h15 = a4 * b11 + a5 * b10 + a6 * b9 + a7 * b8 + a8 * b7 + a9 * b6 + a10 * b5 + a11 * b4
        h16 = a5 * b11 + a6 * b10 + a7 * b9 + a8 * b8 + a9 * b7 + a10 * b6 + a11 * b5
        h17 = a6 * b11 + a7 * b10 + a8 * b9 + a9 * b8 + a10 * b7 + a11 * b6
        h18 = a7 * b11 + a8 * b10 + a9 * b9 + a10 * b8 + a11 * b7
        h19 = a8 * b11 + a9 * b10 + a10 * b9 + a11 * b8
        h20 = a9 * b11 + a10 * b10 + a11 * b9
        h21 = a10 * b11 + a11 * b10
        h22 = a11 * b11
    }
    let r = 4194304 // 2^22
    let f = 9728 // 2^264 = 2^9 * 19 (mod p)
    let q = 0
    q = (h12 / r) | 0
    h12 -= q * r
    h13 += q
    q = (h13 / r) | 0
    h13 -= q * r
    h14 += q
    q = (h14 / r) | 0
    h14 -= q * r
    h15 += q
    q = (h15 / r) | 0
    h15 -= q * r
    h16 += q
    q = (h16 / r) | 0
    h16 -= q * r
    h17 += q
    q = (h17 / r) | 0
    h17 -= q * r
    h18 += q
    q = (h18 / r) | 0
    h18 -= q * r
    h19 += q
    q = (h19 / r) | 0
    h19 -= q * r
    h20 += q
    q = (h20 / r) | 0
    h20 -= q * r
    h21 += q
    q = (h21 / r) | 0
    h21 -= q * r
    h22 += q
    q = (h22 / r) | 0
    h22 -= q * r
    const h23 = q
    c0 += f * h12
    c1 += f * h13
    c2 += f * h14
    c3 += f * h15
    c4 += f * h16
    c5 += f * h17
    c6 += f * h18
    c7 += f * h19
    c8 += f * h20
    c9 += f * h21
    c10 += f * h22
    c11 += f * h23
    q = (c0 / r) | 0
    c0 -= q * r
    c1 += q
    q = (c1 / r) | 0
    c1 -= q * r
    c2 += q
    q = (c2 / r) | 0
    c2 -= q * r
    c3 += q
    q = (c3 / r) | 0
    c3 -= q * r
    c4 += q
    q = (c4 / r) | 0
    c4 -= q * r
    c5 += q
    q = (c5 / r) | 0
    c5 -= q * r
    c6 += q
    q = (c6 / r) | 0
    c6 -= q * r
    c7 += q
    q = (c7 / r) | 0
    c7 -= q * r
    c8 += q
    q = (c8 / r) | 0
    c8 -= q * r
    c9 += q
    q = (c9 / r) | 0
    c9 -= q * r
    c10 += q
    q = (c10 / r) | 0
    c10 -= q * r
    c11 += q
    q = (c11 / r) | 0
    c11 -= q * r
    c0 += f * q
    q = (c0 / r) | 0
    c0 -= q * r
    c1 += q
    q = (c1 / r) | 0
    c1 -= q * r
    c2 += q
    o[0] = c0
    o[1] = c1
    o[2] = c2
    o[3] = c3
    o[4] = c4
    o[5] = c5
    o[6] = c6
    o[7] = c7
    o[8] = c8
    o[9] = c9
    o[10] = c10
    o[11] = c11
}

