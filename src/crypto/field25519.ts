/**
 * Arithmetic in GF(p), p = 2^255 - 19, for Ed25519 verification on the DeviceScript VM.
 *
 * A field element (`Fe`) is 12 limbs of 22 bits (264 bits) in plain numbers (doubles): the
 * VM has no BigInt and no typed arrays, and twelve 24.3 x 24.3-bit products summed stay
 * below 2^53, exact in a double. (16 limbs of 16 bits work too but need 256 products per
 * multiplication instead of 144: about 30% slower here.) Limbs are kept "loose": results
 * of `fmul` have limbs of at most 2^22, sums and differences stay below 2^24.3, and
 * `fmul` accepts either; every column sum stays below 2^52, so a floor division by 2^22 is
 * exact. `2^264 = 2^9 * 19 = 9728 (mod p)` folds the high half of a product, each high
 * column carried down to 22 bits before it is folded (so the fold cannot overflow). Nothing here
 * allocates after module load; nothing is secret (this is verification only), so nothing
 * here is constant-time.
 *
 * `fmul` (which also squares: `fmul(o, a, a)`) sums nine calls of a 4 x 4-limb straight-line
 * kernel, both written by tools/field25519-gen.ts: straight-line code for the whole product
 * costs fewer VM steps but ~1.9 KB more of the firmware's 64 KB code budget (docs/ed25519.md).
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
    o[0] = o[0] + add
    fcols(o, 0, 11)
    const top = Math.floor(o[11] / 8192)
    o[11] = o[11] - top * 8192
    return top
}
const tmpA = fe()
const tmpB = fe()

/** The zero element (never written). */
export const ZERO = fe()


/** true if a = b (mod p) */
export function fequal(a: Fe, b: Fe): boolean {
    fcanon(tmpA, a)
    fcanon(tmpB, b)
    for (let i = 0; i < 12; i++) if (tmpA[i] !== tmpB[i]) return false
    return true
}


/**
 * Reads the y coordinate of an encoded point (RFC 8032 section 5.1.3): 32 bytes
 * little-endian at `off`, the top bit (the sign of x) cleared. Returns false if
 * y >= p, the non-canonical encodings strict verification must refuse.
 */
export function funpackY(o: Fe, b: Buffer, off: number): boolean {
    // bit by bit (255 bits, twice a verification): small code, and fast enough
    for (let i = 0; i < 12; i++) o[i] = 0
    for (let i = 0; i < 255; i++) if (((b[off + (i >> 3)] >> (i & 7)) & 1) !== 0) {
        const l = Math.floor(i / 22)
        o[l] = o[l] + (1 << (i - 22 * l))
    }
    // y >= p only if y = 2^255 - 19 .. 2^255 - 1: bytes ed..ff, then ff x 30, then 7f
    if ((b[off + 31] & 0x7f) !== 0x7f) return true
    for (let i = 30; i > 0; i--) if (b[off + i] !== 0xff) return true
    return b[off] < 0xed
}

/**
 * o = a^(2^k) for k >= 1; yields first and then every 16 squarings (a squaring is about
 * 2,500 VM steps, the VM aborts a fiber after 128K steps without a yield).
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
 * The rest of the addition chain of `fpow2523`, four bytes a step: D = S^(2^n) * M, as
 * S, n, M, D indices into [z, t0, t1, o] (string data: free against the 64 KB code budget).
 */
const CHAIN = hex`01050101 010a0102 02140202 020a0101 01320102 02640202 02320101 01020003`

/**
 * o = z^((p-5)/8) = z^(2^252 - 3), the exponent of the square root in RFC 8032 section
 * 5.1.3, by the addition chain of ref10 (251 squarings, 11 multiplications): z^(2^5 - 1)
 * written out, then CHAIN: 2^10 - 1, 2^20 - 1, 2^40 - 1, 2^50 - 1, 2^100 - 1, 2^200 - 1,
 * 2^250 - 1, and (2^250 - 1) 2^2 + 1 = 2^252 - 3.
 */
export async function fpow2523(o: Fe, z: Fe): Promise<void> {
    const t0 = p0
    const t1 = p1
    fmul(t0, z, z) // 2
    fmul(t1, t0, t0)
    fmul(t1, t1, t1) // 8
    fmul(t1, z, t1) // 9
    fmul(t0, t0, t1) // 11
    fmul(t0, t0, t0) // 22
    fmul(t0, t1, t0) // 2^5 - 1
    const r = [z, t0, t1, o]
    for (let i = 0; i < 32; i += 4) {
        // squarings into p2, never an operand: S and M may be the same register as D
        await fsqn(p2, r[CHAIN[i]], CHAIN[i + 1])
        fmul(r[CHAIN[i + 3]], p2, r[CHAIN[i + 2]])
    }
}

/** The 23 columns of a product and the carry out of the top one (module scope: nothing allocates per call). */
const T: number[] = []
for (let i = 0; i < 24; i++) T.push(0)

/**
 * o = a * b (also squares: `fmul(o, a, a)`); o may alias a or b. The schoolbook product in
 * 4 x 4-limb blocks (`fmul4`) into 23 columns (each below 12 x 2^48.6 < 2^52.2: exact),
 * the high columns carried to 22 bits and folded in with 2^264 = 9728 (mod p) in one pass,
 * then one carry pass over the low columns and a second fold. Generated by tools/field25519-gen.ts.
 */
export function fmul(o: Fe, a: Fe, b: Fe): void {
    const t = T
    for (let k = 0; k < 24; k++) t[k] = 0
    for (let i = 0; i < 12; i += 4) for (let j = 0; j < 12; j += 4) fmul4(t, a, i, b, j)
    // the high columns 12..22: each carried to 22 bits into the next, its rest folded into
    // column k - 12 with 2^264 = 9728 (mod p): below 2^52.2 + 2^35.3, still exact
    let q = 0
    let v = 0
    for (let k = 12; k < 23; k++) {
        v = t[k] + q
        q = Math.floor(v / RADIX)
        t[k - 12] = t[k - 12] + 9728 * (v - q * RADIX)
    }
    // column 23 (below 2^27) folds into column 11; then the low columns into o, the carry out
    // of column 11 folded into limb 0 and carried two limbs on
    t[11] = t[11] + 9728 * q
    q = 0
    for (let k = 0; k < 12; k++) {
        v = t[k] + q
        q = Math.floor(v / RADIX)
        o[k] = v - q * RADIX
    }
    o[0] = o[0] + 9728 * q
    fcols(o, 0, 2)
}

/** t[i + j ..] += a[i .. i + 4) * b[j .. j + 4), straight-line over locals. Generated by tools/field25519-gen.ts. */
function fmul4(t: number[], a: Fe, i: number, b: Fe, j: number): void {
    const a0 = a[i]
    const a1 = a[i + 1]
    const a2 = a[i + 2]
    const a3 = a[i + 3]
    const b0 = b[j]
    const b1 = b[j + 1]
    const b2 = b[j + 2]
    const b3 = b[j + 3]
    const k = i + j
    t[k] = t[k] + a0 * b0
    t[k + 1] = t[k + 1] + a0 * b1 + a1 * b0
    t[k + 2] = t[k + 2] + a0 * b2 + a1 * b1 + a2 * b0
    t[k + 3] = t[k + 3] + a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0
    t[k + 4] = t[k + 4] + a1 * b3 + a2 * b2 + a3 * b1
    t[k + 5] = t[k + 5] + a2 * b3 + a3 * b2
    t[k + 6] = t[k + 6] + a3 * b3
}

/** Carries columns `from` .. `to` − 1 of `t` (each below 2^53 in magnitude) to 22 bits, each into the next (floor division). */
function fcols(t: number[], from: number, to: number): void {
    for (let k = from; k < to; k++) {
        const q = Math.floor(t[k] / RADIX)
        t[k] = t[k] - q * RADIX
        t[k + 1] = t[k + 1] + q
    }
}

