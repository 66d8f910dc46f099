/**
 * Scalars modulo the Ed25519 group order L = 2^252 + 27742317777372353535851937790883648493
 * (RFC 8032 section 5.1): the canonical-S check, the reduction of a 64-byte hash mod L, and
 * the signed sliding-window recoding used by the double-scalar multiplication.
 */

/** L, 32 bytes little-endian (string data: free against the 64 KB code budget). */
const L = hex`edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010`

/**
 * true if the 32 little-endian bytes at `b[off..]` encode an integer below L. RFC 8032
 * section 5.1.7 requires 0 <= S < L: accepting S + L would make signatures malleable.
 */
export function scalarIsCanonical(b: Buffer, off: number): boolean {
    for (let i = 31; i >= 0; i--) {
        const x = b[off + i]
        if (x < L[i]) return true
        if (x > L[i]) return false
    }
    return false // equal to L
}

// 64 working digits of the reduction (base 256, signed while reducing)
const x: number[] = []
for (let i = 0; i < 64; i++) x.push(0)

/**
 * The 64-byte little-endian integer `h` (a SHA-512 digest) reduced mod L, as 32 bytes
 * little-endian (RFC 8032 section 5.1.7 step 2). Same algorithm as TweetNaCl's modL:
 * fold each top byte down with 2^256 = -16 * (L - 2^252) (mod L), then one final
 * subtraction.
 */
export function scalarReduce64(h: Buffer): Buffer {
    // (x[j] = x[j] + ..., not x[j] += ...: the compiler spends three extra moves on the latter)
    const xs = x
    for (let i = 0; i < 64; i++) xs[i] = h[i]
    for (let i = 63; i >= 32; i--) {
        let carry = 0
        let j = i - 32
        const k = i - 12
        const xi = 16 * xs[i]
        for (; j < k; j++) {
            const v = xs[j] + carry - xi * L[j - (i - 32)]
            carry = Math.floor((v + 128) / 256)
            xs[j] = v - carry * 256
        }
        xs[j] = xs[j] + carry
        xs[i] = 0
    }
    let carry = 0
    for (let j = 0; j < 32; j++) {
        const v = xs[j] + carry - Math.floor(xs[31] / 16) * L[j]
        carry = Math.floor(v / 256)
        xs[j] = v - carry * 256
    }
    for (let j = 0; j < 32; j++) xs[j] = xs[j] - carry * L[j]
    const r = Buffer.alloc(32)
    for (let i = 0; i < 32; i++) {
        const c = Math.floor(xs[i] / 256)
        xs[i + 1] = xs[i + 1] + c
        r[i] = xs[i] - c * 256
    }
    return r
}

/** Offset added to each digit written by `scalarSlide` (digits are stored in bytes). */
export const DIGIT_BIAS = 64

/**
 * Signed sliding-window recoding (as ref10's `slide`): writes 256 digits, each 0 or odd
 * with |d| <= maxDigit, with value sum d_i 2^i = the 256-bit scalar `s[off..off+32)`, into
 * `out` as d + DIGIT_BIAS. maxDigit is 2^w - 1 (15 for 8 odd multiples in the table).
 */
export function scalarSlide(out: Buffer, s: Buffer, off: number, maxDigit: number): void {
    const r = slideDigits
    for (let i = 0; i < 256; i++) r[i] = (s[off + (i >> 3)] >> (i & 7)) & 1
    for (let i = 0; i < 256; i++) {
        if (r[i] === 0) continue
        for (let b = 1; b <= 7 && i + b < 256; b++) {
            const rb = r[i + b]
            if (rb === 0) continue
            const v = rb << b
            const ri = r[i]
            if (ri + v <= maxDigit) {
                r[i] = ri + v
                r[i + b] = 0
            } else if (ri - v >= -maxDigit) {
                r[i] = ri - v
                for (let k = i + b; k < 256; k++) {
                    if (r[k] === 0) {
                        r[k] = 1
                        break
                    }
                    r[k] = 0
                }
            } else break
        }
    }
    for (let i = 0; i < 256; i++) out[i] = r[i] + DIGIT_BIAS
}
const slideDigits: number[] = []
for (let i = 0; i < 256; i++) slideDigits.push(0)
