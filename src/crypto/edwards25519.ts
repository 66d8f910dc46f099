/**
 * The twisted Edwards curve edwards25519, -x^2 + y^2 = 1 + d x^2 y^2 (RFC 8032 section
 * 5.1), in extended coordinates (X : Y : Z : T), x = X/Z, y = Y/Z, xy = T/Z (Hisil et al.
 * 2008). Only what verification needs: strict point decoding, doubling, addition of a
 * point in "cached" form (each a field program run by `fexec`: one call a formula), the
 * double-scalar multiplication [s]B - [k]A on tables of 2^(64 c) multiples, and the
 * identity test. Operations work on preallocated points and never allocate.
 */
import * as ds from "@devicescript/core"
import { Fe, fe, fexec, fcanon, fcopy, ZERO, fequal, funpackY, fpow2523 } from "./field25519"
import { DIGIT_BIAS } from "./scalar25519"

/** A point in extended coordinates: [X, Y, Z, T]. */
export type Point = Fe[]
/** A point prepared for addition: [Y + X, Y - X, 2d T, 2 Z]. */
export type Cached = Fe[]

/** A new point (or cached point): four zero field elements. */
export function newPoint(): Fe[] {
    return [fe(), fe(), fe(), fe()]
}

const ONE = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
// d = -121665/121666, 2d, sqrt(-1) = 2^((p-1)/4) and the base point B's x, y and xy (RFC
// 8032 section 5.1), 32 bytes little-endian each: string data costs nothing against the image's
// 64 KB code budget, where five arrays of 12 number literals cost ~400 bytes of code
const CONSTANTS = hex`
    a3785913ca4deb75abd841414d0a700098e879777940c78c73fe6f2bee6c0352
    59f1b226949bd6eb56b183829a14e00030d1f3eef2808e19e7fcdf56dcd90624
    b0a00e4a271beec478e42fad0618432fa7d7fb3d99004d2b0bdfc14f8024832b
    1ad5258f602d56c9b2a7259560c72c695cdcd6fd31e2a4c0fe536ecdd3366921
    5866666666666666666666666666666666666666666666666666666666666666
    a3ddb7a5b38ade6df5525177809ff0207de3ab648e4eea6665768bd70f5f8767`
/** The constant at index i of CONSTANTS as a field element. */
function constant(i: number): Fe {
    const o = fe()
    funpackY(o, CONSTANTS, 32 * i)
    return o
}
const D = constant(0)
const D2 = constant(1)
const SQRTM1 = constant(2)

/** Number of odd multiples kept per table (P, 3P, as `fillTables` writes them): digits up to 3. */
export const TABLE_SIZE = 2
export const MAX_DIGIT = 2 * TABLE_SIZE - 1
/** A scalar is taken in CHUNKS pieces of 64 bits, each on its own table: 64 doublings for all. */
export const CHUNKS = 4

/**
 * The field program of decodePoint (`fexec`) over the registers DR: 0 y, 1 x, 2 u, 3 v,
 * 4 v^3, 5 v x^2, 6 d, 7 one, 8 zero, 9 sqrt(-1), 10 the point's T.
 * 0..36: u = y^2 - 1, v = d y^2 + 1, x = u v^7; 36..52 (after x = x^((p-5)/8)):
 * x = x v^3 u, vx2 = v x^2; 52..56: vx2 = vx2 + u; 56..60: x = x sqrt(-1); 60..64: x = -x;
 * 64..68: T = x y.
 */
const DEC = hex`
    00020000 00030206 02020207 01030307 00040303 00040403 00010404 00010103 00010102
    00010104 00010102 00050101 00050503 01050502 00010109 02010801 000a0100`
const DR: Fe[] = [null, null, fe(), fe(), fe(), fe(), D, ONE, ZERO, SQRTM1, null]

/**
 * Decodes a 32-byte point encoding at `b[off..]` into `o` (RFC 8032 section 5.1.3),
 * strictly: false if y >= p, if x^2 = (y^2 - 1)/(d y^2 + 1) has no root (not on the
 * curve), or if x = 0 with the sign bit set; these are exactly the encodings that
 * `@noble/curves` refuses with `zip215: false`.
 */
export async function decodePoint(o: Point, b: Buffer, off: number): Promise<boolean> {
    const r = DR
    const y = o[1]
    const x = o[0]
    r[0] = y
    r[1] = x
    r[10] = o[3]
    if (!funpackY(y, b, off)) return false
    // x = u v^3 (u v^7)^((p-5)/8)
    fexec(r, DEC, 0, 36)
    await fpow2523(x, x)
    fexec(r, DEC, 36, 52)
    if (!fequal(r[5], r[2])) {
        // v x^2 = -u: the root is x sqrt(-1); anything else: no root, not on the curve
        fexec(r, DEC, 52, 56)
        if (!fequal(r[5], ZERO)) return false
        fexec(r, DEC, 56, 60)
    }
    const sign = (b[off + 31] >> 7) & 1
    if (sign === 1 && fequal(x, ZERO)) return false
    fcanon(x, x)
    // the low bit of the canonical x is its sign ("negative", RFC 8032 §5.1.2)
    if ((x[0] & 1) !== sign) {
        fexec(r, DEC, 60, 64)
        fcanon(x, x)
    }
    fcanon(y, y)
    fcopy(o[2], ONE)
    fexec(r, DEC, 64, 68)
    return true
}

/** o = the neutral element (0 : 1 : 1 : 0). */
export function setIdentity(o: Point): void {
    fcopy(o[0], ZERO)
    fcopy(o[1], ONE)
    fcopy(o[2], ONE)
    fcopy(o[3], ZERO)
}

/** true if p is the neutral element: X = 0 and Y = Z (mod p). */
export function isIdentity(p: Point): boolean {
    return fequal(p[0], ZERO) && fequal(p[1], p[2])
}

/**
 * The point formulas as field programs (`fexec`, four bytes an instruction: op, d, x, y
 * with op 0 product, 1 sum, 2 difference) over the registers of `pointOp`:
 * 0..3 the result (X, Y, Z, T), 4..7 the point p, 8..11 the cached point q
 * (Y + X, Y - X, 2d T, 2 Z), 12..19 scratch, 20 the constant 2d. Each formula writes the
 * result last, so the result may be p. The last instruction of DBL, ADD and SUB computes T:
 * left out when only a doubling follows, which never reads it.
 *
 * DBL, o = 2p ("dbl-2008-hwcd" for a = -1, signs folded so that no negation is needed):
 *   A = X^2, B = Y^2, C = 2 Z^2, H = A + B, E = H - (X + Y)^2, G = A - B, F = C + G,
 *   X3 = E F, Y3 = G H, Z3 = F G, T3 = E H.
 * ADD, o = p + q ("add-2008-hwcd-3", q cached): A = (Y1 + X1)(Y2 + X2),
 *   B = (Y1 - X1)(Y2 - X2), C = T1 2d T2, D = Z1 2 Z2, E = A - B, H = A + B, F = D - C,
 *   G = D + C, then X3, Y3, Z3, T3 as above. SUB, o = p - q: the same with -q =
 *   (Y - X, Y + X, -2d T, 2 Z): the halves of q swapped, F = D + C, G = D - C.
 * TOC, q = p in cached form: Y + X, Y - X, 2d T, Z + Z.
 */
const PROG = hex`
    000c0404 000d0505 000e0606 010e0e0e 010f0c0d 01100405 00101010 02100f10 02110c0d 01120e11 00001012 0001110f 00021211 0003100f
    010c0504 020d0504 000d0d09 000c0c08 000e070a 000f060b 02100c0d 01130c0d 02110f0e 01120f0e 00001011 00011213 00021112 00031013
    010c0504 020d0504 000d0d08 000c0c09 000e070a 000f060b 02100c0d 01130c0d 01110f0e 02120f0e 00001011 00011213 00021112 00031013
    01080504 02090504 000a0714 010b0606`
/** Offsets of the programs in PROG. */
export const DBL = 0
export const ADD = 56
export const SUB = 112
export const TOC = 168

/** The registers of the point programs (see PROG). */
const R: Fe[] = []
for (let i = 0; i < 12; i++) R.push(null)
for (let i = 12; i < 20; i++) R.push(fe())
R.push(D2)

/**
 * Runs the point program at `prog` (DBL, ADD, SUB or TOC) with o, p and q in the registers:
 * DBL o = 2p (q unused: pass p), ADD o = p + q, SUB o = p - q (q cached), TOC q = p cached
 * (o unused: pass p). The T of the result is computed only `withT` (DBL, ADD, SUB: a
 * doubling that follows never reads it). One call for a whole formula.
 */
export function pointOp(o: Point, p: Point, q: Cached, prog: number, withT: boolean): void {
    for (let i = 0; i < 4; i++) {
        R[i] = o[i]
        R[i + 4] = p[i]
        R[i + 8] = q[i]
    }
    fexec(R, PROG, prog, prog + (prog === TOC ? 16 : withT ? 56 : 52))
}


/** Allocates the CHUNKS tables of TABLE_SIZE cached points for one point. */
export function newTables(): Cached[][] {
    const t: Cached[][] = []
    for (let c = 0; c < CHUNKS; c++) {
        const tc: Cached[] = []
        for (let i = 0; i < TABLE_SIZE; i++) tc.push(newPoint())
        t.push(tc)
    }
    return t
}

/**
 * tables[c] = (Q, 3Q) cached, Q = 2^(64 c) p, for c < CHUNKS (192 doublings, once per
 * point); p's T must be valid, p is not changed; tq and tp are scratch points (the
 * caller's: no heap of its own).
 */
export async function fillTables(tables: Cached[][], p: Point, tq: Point, tp: Point): Promise<void> {
    for (let i = 0; i < 4; i++) fcopy(tq[i], p[i])
    for (let c = 0; c < CHUNKS; c++) {
        for (let i = 0; c > 0 && i < 64; i++) {
            await ds.sleep(0)
            pointOp(tq, tq, tq, DBL, i === 63)
        }
        await ds.sleep(0)
        const t = tables[c]
        pointOp(tq, tq, t[0], TOC, true)
        pointOp(tp, tq, tq, DBL, true)
        pointOp(tp, tp, t[0], ADD, true)
        pointOp(tp, tp, t[1], TOC, true)
    }
}

let baseTables: Cached[][] = null

/** The tables of B (`fillTables`), computed on first use and kept; tq, tp: scratch points. */
export async function getBaseTables(tq: Point, tp: Point): Promise<Cached[][]> {
    if (!baseTables) {
        const b = newPoint()
        funpackY(b[0], CONSTANTS, 96)
        funpackY(b[1], CONSTANTS, 128)
        fcopy(b[2], ONE)
        funpackY(b[3], CONSTANTS, 160)
        const t = newTables()
        await fillTables(t, b, tq, tp)
        baseTables = t
    }
    return baseTables
}

/**
 * o = [s]B - [k]A given the signed digits of s and k (`scalarSlide`, biased by DIGIT_BIAS)
 * and the tables of B and A (`fillTables`): the digit at 64 c + j of a scalar multiplies
 * 2^j (2^(64 c) P), so one shared chain of 64 doublings serves the eight 64-bit pieces
 * (Straus-Shamir), most significant first. o's T is valid on return. Yields every doubling
 * and before every addition.
 */
export async function doubleScalarMul(o: Point, sd: Buffer, bt: Cached[][], kd: Buffer, at: Cached[][]): Promise<void> {
    setIdentity(o)
    for (let j = 63; j >= 0; j--) {
        await ds.sleep(0)
        // the additions of this step: T is needed by each but the last, and after the last step
        let n = 0
        for (let c = 0; c < 2 * CHUNKS; c++) if ((c < CHUNKS ? sd : kd)[64 * (c & 3) + j] !== DIGIT_BIAS) n++
        pointOp(o, o, o, DBL, n > 0 || j === 0)
        for (let c = 0; c < 2 * CHUNKS; c++) {
            const d = (c < CHUNKS ? sd : kd)[64 * (c & 3) + j] - DIGIT_BIAS
            if (d === 0) continue
            n--
            await ds.sleep(0)
            // table entry |d| >> 1 holds |d| times the point; plus [s]B, minus [k]A
            const t = (c < CHUNKS ? bt : at)[c & 3][(d < 0 ? -d : d) >> 1]
            pointOp(o, o, t, (d > 0) === c < CHUNKS ? ADD : SUB, n > 0 || j === 0)
        }
    }
}
