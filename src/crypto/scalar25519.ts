/**
 * Scalars modulo the Ed25519 group order L = 2^252 + 27742317777372353535851937790883648493
 * (RFC 8032 section 5.1): the canonical-S check, the reduction of a 64-byte hash mod L, and
 * the signed sliding-window recoding used by the double-scalar multiplication.
 */

/** L, 32 bytes little-endian. */
const L = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]

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
    for (let i = 0; i < 64; i++) x[i] = h[i]
    for (let i = 63; i >= 32; i--) {
        let carry = 0
        let j = i - 32
        const k = i - 12
        const xi = x[i]
        for (; j < k; j++) {
            x[j] += carry - 16 * xi * L[j - (i - 32)]
            carry = Math.floor((x[j] + 128) / 256)
            x[j] -= carry * 256
        }
        x[j] += carry
        x[i] = 0
    }
    let carry = 0
    for (let j = 0; j < 32; j++) {
        x[j] += carry - Math.floor(x[31] / 16) * L[j]
        carry = Math.floor(x[j] / 256)
        x[j] -= carry * 256
    }
    for (let j = 0; j < 32; j++) x[j] -= carry * L[j]
    const r = Buffer.alloc(32)
    for (let i = 0; i < 32; i++) {
        const c = Math.floor(x[i] / 256)
        x[i + 1] += c
        r[i] = x[i] - c * 256
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
            if (r[i] + v <= maxDigit) {
                r[i] += v
                r[i + b] = 0
            } else if (r[i] - v >= -maxDigit) {
                r[i] -= v
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
