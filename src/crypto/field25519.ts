/**
 * Arithmetic in GF(p), p = 2^255 - 19, for Ed25519 verification on the DeviceScript VM.
 *
 * A field element (`Fe`) is 12 limbs of 22 bits (264 bits) in plain numbers (doubles): the
 * VM has no BigInt and no typed arrays, and twelve 24.3 x 24.3-bit products summed stay
 * below 2^53, exact in a double. (16 limbs of 16 bits work too but need 256 products per
 * multiplication instead of 144: about 30% slower here.) Limbs are signed and "loose":
 * |limb| <= 2^21 + 1 after a product (carries round to the nearest), sums and differences
 * of those stay below 2^24.3, and a product accepts either. `2^264 = 2^9 * 19 = 9728
 * (mod p)` folds the high half of a product. Only comparisons canonicalise (`fcanon`).
 * Nothing here allocates after module load; nothing is secret (this is verification only),
 * so nothing here is constant-time.
 *
 * The arithmetic runs as field programs (`fexec`): a string of 4-byte instructions (product,
 * sum, difference, run of squarings) over an array of registers, so that a whole point
 * doubling or addition, a square-root chain step or a decoding step is one function call.
 * Under the test VM's GC stress a call costs about as much as 100 arithmetic steps, and the
 * programs are string data, free against the firmware's 64 KB code budget (docs/ed25519.md).
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

/**
 * o = a reduced to its canonical representative: limbs in [0, 2^22), value < p; a's limbs
 * may be negative, |limb| < 2^26. (A negative value: the carries fold -19 per 2^255 until
 * the value is back in [0, 2^255).)
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
 * The addition chain of `fpow2523` as a field program (`fexec`) over the registers
 * 0 z, 1 t0, 2 t1, 3 o, 4 p2: z^(2^5 - 1) written out, then 2^10 - 1, 2^20 - 1, 2^40 - 1,
 * 2^50 - 1, 2^100 - 1, 2^200 - 1, 2^250 - 1 and (2^250 - 1) 2^2 + 1 = 2^252 - 3, each a run
 * of squarings into p2 (at most 16 an instruction: a squaring is about 2,000 VM steps and
 * the VM aborts a fiber after 128K steps without a yield) times an earlier power. z is
 * read last by the last instruction, which writes o: z may be o.
 */
const POW = hex`
    00010000 00020101 00020202 00020002 00010102 00010101 00010201
    03040105 00010401
    0304010a 00020401
    03040210 03040404 00020402
    0304020a 00010401
    03040110 03040410 03040410 03040402 00020401
    03040210 03040410 03040410 03040410 03040410 03040410 03040404 00020402
    03040210 03040410 03040410 03040402 00010401
    03040102 00030400`
const PR: Fe[] = [null, fe(), fe(), null, fe()]

/**
 * o = z^((p-5)/8) = z^(2^252 - 3), the exponent of the square root in RFC 8032 section
 * 5.1.3, by the addition chain of ref10 (251 squarings, 11 multiplications; POW), yielding
 * before each of its 36 instructions. o may be z.
 */
export async function fpow2523(o: Fe, z: Fe): Promise<void> {
    PR[0] = z
    PR[3] = o
    for (let pc = 0; pc < 144; pc += 4) {
        await ds.sleep(0)
        fexec(PR, POW, pc, pc + 4)
    }
}

/** The 23 columns of a product and the carry out of the top one (module scope: nothing allocates per call). */
const T: number[] = []
for (let i = 0; i < 24; i++) T.push(0)

/** 1.5 * 2^52: (x + ROUND) - ROUND is x rounded to the nearest integer, for |x| < 2^51 */
const ROUND = 6755399441055744
/** 2^-22 */
const INV_RADIX = 2.384185791015625e-7

/**
 * Runs the field program `prog[from .. to)` on the registers `r` (field elements), four
 * bytes an instruction (op, d, x, y):
 * - op 0: r[d] = r[x] * r[y]
 * - op 1: r[d] = r[x] + r[y]; op 2: r[d] = r[x] - r[y] (limb by limb, no carry)
 * - op 3: r[d] = r[x]^(2^y), y squarings (y >= 1)
 * r[d] may be r[x] or r[y]: a product reads its operands before it writes. The point
 * formulas of edwards25519.ts are such programs (string data): a whole doubling or addition
 * is one call, where a function call costs about 100 arithmetic steps under the test VM's
 * GC stress, and the programs cost nothing against the 64 KB code budget.
 *
 * A product is the schoolbook product in nine 4 x 4-limb blocks (six for a square: the
 * blocks above the diagonal doubled), each straight-line code over locals (the block's code
 * is written by tools/field25519-gen.ts), into 23 columns (each below 12 x 2^48.6 < 2^52.2
 * for limbs below 2^24.3: exact); the high columns carried to 22 bits and folded in with
 * 2^264 = 9728 (mod p) in one pass, then one carry pass over the low columns and a second
 * fold. Each carry rounds to the nearest, q = round(v / 2^22) computed as
 * v 2^-22 + 1.5 * 2^52 - 1.5 * 2^52 (no Math.floor call): limbs are signed,
 * |limb| <= 2^21 + 1 in a product.
 */
export function fexec(r: Fe[], prog: Buffer, from: number, to: number): void {
    const t = T
    for (let pc = from; pc < to; pc += 4) {
        const op = prog[pc]
        const o = r[prog[pc + 1]]
        let a = r[prog[pc + 2]]
        if (op === 1 || op === 2) {
            const b = r[prog[pc + 3]]
            const s = op === 1 ? 1 : -1
            for (let i = 0; i < 12; i++) o[i] = a[i] + s * b[i]
            continue
        }
        let b = op === 3 ? a : r[prog[pc + 3]]
        for (let n = op === 3 ? prog[pc + 3] : 1; n > 0; n--) {
            for (let k = 0; k < 24; k++) t[k] = 0
            // block (i, j): t[i + j ..] += a[i .. i + 4) * b[j .. j + 4); a square (a = b)
            // takes the blocks j >= i only, those with j > i twice (b doubled)
            const sq = a === b
            for (let i = 0; i < 12; i += 4)
                for (let j = sq ? i : 0; j < 12; j += 4) {
                    const f = sq && j > i ? 2 : 1
                    // generated by tools/field25519-gen.ts: begin
                    const a0 = a[i]
                    const a1 = a[i + 1]
                    const a2 = a[i + 2]
                    const a3 = a[i + 3]
                    const b0 = f * b[j]
                    const b1 = f * b[j + 1]
                    const b2 = f * b[j + 2]
                    const b3 = f * b[j + 3]
                    const k = i + j
                    t[k] = t[k] + a0 * b0
                    t[k + 1] = t[k + 1] + a0 * b1 + a1 * b0
                    t[k + 2] = t[k + 2] + a0 * b2 + a1 * b1 + a2 * b0
                    t[k + 3] = t[k + 3] + a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0
                    t[k + 4] = t[k + 4] + a1 * b3 + a2 * b2 + a3 * b1
                    t[k + 5] = t[k + 5] + a2 * b3 + a3 * b2
                    t[k + 6] = t[k + 6] + a3 * b3
                    // generated by tools/field25519-gen.ts: end
                }
            // the high columns 12..22: each carried to 22 bits into the next, its rest
            // (|rest| <= 2^21) folded into column k - 12 with 2^264 = 9728 (mod p): still exact
            let q = 0
            let v = 0
            for (let k = 12; k < 23; k++) {
                v = t[k] + q
                q = v * INV_RADIX + ROUND - ROUND
                t[k - 12] = t[k - 12] + 9728 * (v - q * RADIX)
            }
            // the carry out of column 22 folds into column 11; then the low columns are carried
            // into o, the carry out of limb 11 (below 2^31) folded into limb 0 and carried two limbs on
            t[11] = t[11] + 9728 * q
            q = 0
            for (let k = 0; k < 12; k++) {
                v = t[k] + q
                q = v * INV_RADIX + ROUND - ROUND
                o[k] = v - q * RADIX
            }
            o[0] = o[0] + 9728 * q
            for (let k = 0; k < 2; k++) {
                v = o[k]
                q = v * INV_RADIX + ROUND - ROUND
                o[k] = v - q * RADIX
                o[k + 1] = o[k + 1] + q
            }
            a = o
            b = o
        }
    }
}

/** Carries columns `from` .. `to` − 1 of `t` (each below 2^53 in magnitude) to 22 bits, each into the next (floor division). */
function fcols(t: number[], from: number, to: number): void {
    for (let k = from; k < to; k++) {
        const q = Math.floor(t[k] / RADIX)
        t[k] = t[k] - q * RADIX
        t[k + 1] = t[k + 1] + q
    }
}

