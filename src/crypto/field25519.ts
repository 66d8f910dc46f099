/**
 * Arithmetic in GF(p), p = 2^255 - 19, for Ed25519 verification on the DeviceScript VM.
 *
 * A field element (`Fe`) is 16 limbs of 16 bits in plain numbers (doubles): the VM has no
 * BigInt and no typed arrays, and a 16x16-bit product summed 16 times stays exact in a
 * double. Limbs are kept "loose": results of `fmul`/`fsq` have limbs below 2^16 + 16, sums
 * and differences below 2^18.5, and `fmul`/`fsq` accept either (every column sum stays
 * below 2^47, so `(v / 65536) | 0` is an exact floor). `2^256 = 38 (mod p)` folds the high
 * half of a product. Nothing here allocates after module load; nothing is secret (this is
 * verification only), so nothing here is constant-time.
 *
 * `fmul`/`fsq` are straight-line code over locals on purpose: a loop version costs about
 * five times more VM steps. They were written out by a generator (one expression per
 * column of the schoolbook product) and are not meant to be edited by hand.
 */
import * as ds from "@devicescript/core"

/** A field element: 16 little-endian limbs of (about) 16 bits. */
export type Fe = number[]

/** A new zero field element. */
export function fe(): Fe {
    return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
}

/** A field element from 16-bit limbs written in a hex constant (little-endian bytes). */
export function feFromHex(b: Buffer): Fe {
    const o = fe()
    for (let i = 0; i < 16; i++) o[i] = b[2 * i] | (b[2 * i + 1] << 8)
    return o
}

/** o = a */
export function fcopy(o: Fe, a: Fe): void {
    for (let i = 0; i < 16; i++) o[i] = a[i]
}

/** o = n for a small non-negative integer n */
export function fsetSmall(o: Fe, n: number): void {
    o[0] = n
    for (let i = 1; i < 16; i++) o[i] = 0
}

/** o = a + b (no carry: limbs grow by one bit) */
export function fadd(o: Fe, a: Fe, b: Fe): void {
    for (let i = 0; i < 16; i++) o[i] = a[i] + b[i]
}

/**
 * o = a - b + 4p, so every limb stays non-negative: b must be an `fmul`/`fsq` result or
 * canonical (limbs below 2^16 + 16), which is how every caller uses it.
 */
export function fsub(o: Fe, a: Fe, b: Fe): void {
    // 4p = 2^257 - 76 written as limbs 0x1ffb4, 0x1fffe x 15
    o[0] = a[0] - b[0] + 0x1ffb4
    for (let i = 1; i < 16; i++) o[i] = a[i] - b[i] + 0x1fffe
}

/** o = -a (as 4p - a); a must be an `fmul`/`fsq` result or canonical */
export function fneg(o: Fe, a: Fe): void {
    o[0] = 0x1ffb4 - a[0]
    for (let i = 1; i < 16; i++) o[i] = 0x1fffe - a[i]
}

/** o = a reduced to its canonical representative: limbs in [0, 2^16), value < p; a's limbs must be non-negative and below 2^19. */
export function fcanon(o: Fe, a: Fe): void {
    for (let i = 0; i < 16; i++) o[i] = a[i]
    // two full carry passes bring a loose value (< 2^19 per limb) below 2^256 + small
    for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < 16; i++) {
            const q = Math.floor(o[i] / 65536)
            o[i] -= q * 65536
            if (i < 15) o[i + 1] += q
            else o[0] += 38 * q
        }
    }
    // now value < 2^256; subtract p while it is >= p (at most twice: 2^256 < 3p)
    for (let k = 0; k < 2; k++) {
        // m = o - p, with p = 0x7fff ffff ... ffed
        let borrow = 0
        const m = tmpCanon
        for (let i = 0; i < 16; i++) {
            const pl = i === 0 ? 0xffed : i === 15 ? 0x7fff : 0xffff
            let v = o[i] - pl - borrow
            if (v < 0) {
                v += 65536
                borrow = 1
            } else borrow = 0
            m[i] = v
        }
        if (borrow === 0) for (let i = 0; i < 16; i++) o[i] = m[i]
    }
}
const tmpCanon = fe()
const tmpA = fe()
const tmpB = fe()

/** true if a = 0 (mod p) */
export function fisZero(a: Fe): boolean {
    fcanon(tmpA, a)
    for (let i = 0; i < 16; i++) if (tmpA[i] !== 0) return false
    return true
}

/** true if a = b (mod p) */
export function fequal(a: Fe, b: Fe): boolean {
    fcanon(tmpA, a)
    fcanon(tmpB, b)
    for (let i = 0; i < 16; i++) if (tmpA[i] !== tmpB[i]) return false
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
    for (let i = 0; i < 16; i++) o[i] = b[off + 2 * i] | (b[off + 2 * i + 1] << 8)
    o[15] &= 0x7fff
    // y >= p only if y = 2^255 - 19 .. 2^255 - 1: top limb 0x7fff, middle limbs 0xffff
    if (o[15] !== 0x7fff) return true
    for (let i = 14; i > 0; i--) if (o[i] !== 0xffff) return true
    return o[0] < 0xffed
}

/**
 * o = a^(2^k) for k >= 1; yields first and then every 16 squarings (a squaring is about
 * 1,500 VM steps, the VM aborts a fiber after 128K steps without a yield).
 */
export async function fsqn(o: Fe, a: Fe, k: number): Promise<void> {
    await ds.sleep(0)
    fsq(o, a)
    for (let i = 1; i < k; i++) {
        if ((i & 15) === 0) await ds.sleep(0)
        fsq(o, o)
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
    fsq(t0, z) // 2
    fsq(t1, t0)
    fsq(t1, t1) // 8
    fmul(t1, z, t1) // 9
    fmul(t0, t0, t1) // 11
    fsq(t0, t0) // 22
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

/** o = a * b (o may alias a or b) */
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
    const a12 = a[12]
    const a13 = a[13]
    const a14 = a[14]
    const a15 = a[15]
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
    const b12 = b[12]
    const b13 = b[13]
    const b14 = b[14]
    const b15 = b[15]
    let c0 = a0 * b0 + 38 * (a1 * b15 + a2 * b14 + a3 * b13 + a4 * b12 + a5 * b11 + a6 * b10 + a7 * b9 + a8 * b8 + a9 * b7 + a10 * b6 + a11 * b5 + a12 * b4 + a13 * b3 + a14 * b2 + a15 * b1)
    let c1 = a0 * b1 + a1 * b0 + 38 * (a2 * b15 + a3 * b14 + a4 * b13 + a5 * b12 + a6 * b11 + a7 * b10 + a8 * b9 + a9 * b8 + a10 * b7 + a11 * b6 + a12 * b5 + a13 * b4 + a14 * b3 + a15 * b2)
    let c2 = a0 * b2 + a1 * b1 + a2 * b0 + 38 * (a3 * b15 + a4 * b14 + a5 * b13 + a6 * b12 + a7 * b11 + a8 * b10 + a9 * b9 + a10 * b8 + a11 * b7 + a12 * b6 + a13 * b5 + a14 * b4 + a15 * b3)
    let c3 = a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0 + 38 * (a4 * b15 + a5 * b14 + a6 * b13 + a7 * b12 + a8 * b11 + a9 * b10 + a10 * b9 + a11 * b8 + a12 * b7 + a13 * b6 + a14 * b5 + a15 * b4)
    let c4 = a0 * b4 + a1 * b3 + a2 * b2 + a3 * b1 + a4 * b0 + 38 * (a5 * b15 + a6 * b14 + a7 * b13 + a8 * b12 + a9 * b11 + a10 * b10 + a11 * b9 + a12 * b8 + a13 * b7 + a14 * b6 + a15 * b5)
    let c5 = a0 * b5 + a1 * b4 + a2 * b3 + a3 * b2 + a4 * b1 + a5 * b0 + 38 * (a6 * b15 + a7 * b14 + a8 * b13 + a9 * b12 + a10 * b11 + a11 * b10 + a12 * b9 + a13 * b8 + a14 * b7 + a15 * b6)
    let c6 = a0 * b6 + a1 * b5 + a2 * b4 + a3 * b3 + a4 * b2 + a5 * b1 + a6 * b0 + 38 * (a7 * b15 + a8 * b14 + a9 * b13 + a10 * b12 + a11 * b11 + a12 * b10 + a13 * b9 + a14 * b8 + a15 * b7)
    let c7 = a0 * b7 + a1 * b6 + a2 * b5 + a3 * b4 + a4 * b3 + a5 * b2 + a6 * b1 + a7 * b0 + 38 * (a8 * b15 + a9 * b14 + a10 * b13 + a11 * b12 + a12 * b11 + a13 * b10 + a14 * b9 + a15 * b8)
    let c8 = a0 * b8 + a1 * b7 + a2 * b6 + a3 * b5 + a4 * b4 + a5 * b3 + a6 * b2 + a7 * b1 + a8 * b0 + 38 * (a9 * b15 + a10 * b14 + a11 * b13 + a12 * b12 + a13 * b11 + a14 * b10 + a15 * b9)
    let c9 = a0 * b9 + a1 * b8 + a2 * b7 + a3 * b6 + a4 * b5 + a5 * b4 + a6 * b3 + a7 * b2 + a8 * b1 + a9 * b0 + 38 * (a10 * b15 + a11 * b14 + a12 * b13 + a13 * b12 + a14 * b11 + a15 * b10)
    let c10 = a0 * b10 + a1 * b9 + a2 * b8 + a3 * b7 + a4 * b6 + a5 * b5 + a6 * b4 + a7 * b3 + a8 * b2 + a9 * b1 + a10 * b0 + 38 * (a11 * b15 + a12 * b14 + a13 * b13 + a14 * b12 + a15 * b11)
    let c11 = a0 * b11 + a1 * b10 + a2 * b9 + a3 * b8 + a4 * b7 + a5 * b6 + a6 * b5 + a7 * b4 + a8 * b3 + a9 * b2 + a10 * b1 + a11 * b0 + 38 * (a12 * b15 + a13 * b14 + a14 * b13 + a15 * b12)
    let c12 = a0 * b12 + a1 * b11 + a2 * b10 + a3 * b9 + a4 * b8 + a5 * b7 + a6 * b6 + a7 * b5 + a8 * b4 + a9 * b3 + a10 * b2 + a11 * b1 + a12 * b0 + 38 * (a13 * b15 + a14 * b14 + a15 * b13)
    let c13 = a0 * b13 + a1 * b12 + a2 * b11 + a3 * b10 + a4 * b9 + a5 * b8 + a6 * b7 + a7 * b6 + a8 * b5 + a9 * b4 + a10 * b3 + a11 * b2 + a12 * b1 + a13 * b0 + 38 * (a14 * b15 + a15 * b14)
    let c14 = a0 * b14 + a1 * b13 + a2 * b12 + a3 * b11 + a4 * b10 + a5 * b9 + a6 * b8 + a7 * b7 + a8 * b6 + a9 * b5 + a10 * b4 + a11 * b3 + a12 * b2 + a13 * b1 + a14 * b0 + 38 * (a15 * b15)
    let c15 = a0 * b15 + a1 * b14 + a2 * b13 + a3 * b12 + a4 * b11 + a5 * b10 + a6 * b9 + a7 * b8 + a8 * b7 + a9 * b6 + a10 * b5 + a11 * b4 + a12 * b3 + a13 * b2 + a14 * b1 + a15 * b0
    let q = 0
    q = (c0 / 65536) | 0
    c0 -= q * 65536
    c1 += q
    q = (c1 / 65536) | 0
    c1 -= q * 65536
    c2 += q
    q = (c2 / 65536) | 0
    c2 -= q * 65536
    c3 += q
    q = (c3 / 65536) | 0
    c3 -= q * 65536
    c4 += q
    q = (c4 / 65536) | 0
    c4 -= q * 65536
    c5 += q
    q = (c5 / 65536) | 0
    c5 -= q * 65536
    c6 += q
    q = (c6 / 65536) | 0
    c6 -= q * 65536
    c7 += q
    q = (c7 / 65536) | 0
    c7 -= q * 65536
    c8 += q
    q = (c8 / 65536) | 0
    c8 -= q * 65536
    c9 += q
    q = (c9 / 65536) | 0
    c9 -= q * 65536
    c10 += q
    q = (c10 / 65536) | 0
    c10 -= q * 65536
    c11 += q
    q = (c11 / 65536) | 0
    c11 -= q * 65536
    c12 += q
    q = (c12 / 65536) | 0
    c12 -= q * 65536
    c13 += q
    q = (c13 / 65536) | 0
    c13 -= q * 65536
    c14 += q
    q = (c14 / 65536) | 0
    c14 -= q * 65536
    c15 += q
    q = (c15 / 65536) | 0
    c15 -= q * 65536
    c0 += 38 * q
    q = (c0 / 65536) | 0
    c0 -= q * 65536
    c1 += q
    q = (c1 / 65536) | 0
    c1 -= q * 65536
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
    o[12] = c12
    o[13] = c13
    o[14] = c14
    o[15] = c15
}

/** o = a^2 (o may alias a) */
export function fsq(o: Fe, a: Fe): void {
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
    const a12 = a[12]
    const a13 = a[13]
    const a14 = a[14]
    const a15 = a[15]
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
    const d12 = a12 + a12
    const d13 = a13 + a13
    const d14 = a14 + a14
    const d15 = a15 + a15
    let c0 = a0 * a0 + 38 * (d15 * a1 + d14 * a2 + d13 * a3 + d12 * a4 + d11 * a5 + d10 * a6 + d9 * a7 + a8 * a8)
    let c1 = d1 * a0 + 38 * (d15 * a2 + d14 * a3 + d13 * a4 + d12 * a5 + d11 * a6 + d10 * a7 + d9 * a8)
    let c2 = d2 * a0 + a1 * a1 + 38 * (d15 * a3 + d14 * a4 + d13 * a5 + d12 * a6 + d11 * a7 + d10 * a8 + a9 * a9)
    let c3 = d3 * a0 + d2 * a1 + 38 * (d15 * a4 + d14 * a5 + d13 * a6 + d12 * a7 + d11 * a8 + d10 * a9)
    let c4 = d4 * a0 + d3 * a1 + a2 * a2 + 38 * (d15 * a5 + d14 * a6 + d13 * a7 + d12 * a8 + d11 * a9 + a10 * a10)
    let c5 = d5 * a0 + d4 * a1 + d3 * a2 + 38 * (d15 * a6 + d14 * a7 + d13 * a8 + d12 * a9 + d11 * a10)
    let c6 = d6 * a0 + d5 * a1 + d4 * a2 + a3 * a3 + 38 * (d15 * a7 + d14 * a8 + d13 * a9 + d12 * a10 + a11 * a11)
    let c7 = d7 * a0 + d6 * a1 + d5 * a2 + d4 * a3 + 38 * (d15 * a8 + d14 * a9 + d13 * a10 + d12 * a11)
    let c8 = d8 * a0 + d7 * a1 + d6 * a2 + d5 * a3 + a4 * a4 + 38 * (d15 * a9 + d14 * a10 + d13 * a11 + a12 * a12)
    let c9 = d9 * a0 + d8 * a1 + d7 * a2 + d6 * a3 + d5 * a4 + 38 * (d15 * a10 + d14 * a11 + d13 * a12)
    let c10 = d10 * a0 + d9 * a1 + d8 * a2 + d7 * a3 + d6 * a4 + a5 * a5 + 38 * (d15 * a11 + d14 * a12 + a13 * a13)
    let c11 = d11 * a0 + d10 * a1 + d9 * a2 + d8 * a3 + d7 * a4 + d6 * a5 + 38 * (d15 * a12 + d14 * a13)
    let c12 = d12 * a0 + d11 * a1 + d10 * a2 + d9 * a3 + d8 * a4 + d7 * a5 + a6 * a6 + 38 * (d15 * a13 + a14 * a14)
    let c13 = d13 * a0 + d12 * a1 + d11 * a2 + d10 * a3 + d9 * a4 + d8 * a5 + d7 * a6 + 38 * (d15 * a14)
    let c14 = d14 * a0 + d13 * a1 + d12 * a2 + d11 * a3 + d10 * a4 + d9 * a5 + d8 * a6 + a7 * a7 + 38 * (a15 * a15)
    let c15 = d15 * a0 + d14 * a1 + d13 * a2 + d12 * a3 + d11 * a4 + d10 * a5 + d9 * a6 + d8 * a7
    let q = 0
    q = (c0 / 65536) | 0
    c0 -= q * 65536
    c1 += q
    q = (c1 / 65536) | 0
    c1 -= q * 65536
    c2 += q
    q = (c2 / 65536) | 0
    c2 -= q * 65536
    c3 += q
    q = (c3 / 65536) | 0
    c3 -= q * 65536
    c4 += q
    q = (c4 / 65536) | 0
    c4 -= q * 65536
    c5 += q
    q = (c5 / 65536) | 0
    c5 -= q * 65536
    c6 += q
    q = (c6 / 65536) | 0
    c6 -= q * 65536
    c7 += q
    q = (c7 / 65536) | 0
    c7 -= q * 65536
    c8 += q
    q = (c8 / 65536) | 0
    c8 -= q * 65536
    c9 += q
    q = (c9 / 65536) | 0
    c9 -= q * 65536
    c10 += q
    q = (c10 / 65536) | 0
    c10 -= q * 65536
    c11 += q
    q = (c11 / 65536) | 0
    c11 -= q * 65536
    c12 += q
    q = (c12 / 65536) | 0
    c12 -= q * 65536
    c13 += q
    q = (c13 / 65536) | 0
    c13 -= q * 65536
    c14 += q
    q = (c14 / 65536) | 0
    c14 -= q * 65536
    c15 += q
    q = (c15 / 65536) | 0
    c15 -= q * 65536
    c0 += 38 * q
    q = (c0 / 65536) | 0
    c0 -= q * 65536
    c1 += q
    q = (c1 / 65536) | 0
    c1 -= q * 65536
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
    o[12] = c12
    o[13] = c13
    o[14] = c14
    o[15] = c15
}
