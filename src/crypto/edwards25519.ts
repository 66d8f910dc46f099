/**
 * The twisted Edwards curve edwards25519, -x^2 + y^2 = 1 + d x^2 y^2 (RFC 8032 section
 * 5.1), in extended coordinates (X : Y : Z : T), x = X/Z, y = Y/Z, xy = T/Z (Hisil et al.
 * 2008). Only what verification needs: strict point decoding, doubling, addition of a
 * point in "cached" form, the double-scalar multiplication [s]B - [k]A, and the identity
 * test. Operations work on preallocated objects and never allocate.
 */
import * as ds from "@devicescript/core"
import {
    Fe,
    fe,
    fadd,
    fsub,
    fmul,
    fcanon,
    fcopy,
    ZERO,
    fequal,
    funpackY,
    fpow2523,
} from "./field25519"
import { DIGIT_BIAS } from "./scalar25519"

/** A point in extended coordinates. */
export class Point {
    X: Fe
    Y: Fe
    Z: Fe
    T: Fe
    constructor() {
        this.X = fe()
        this.Y = fe()
        this.Z = fe()
        this.T = fe()
    }
}

/** A point prepared for addition: (Y + X, Y - X, 2d T, 2 Z). */
export class Cached {
    YpX: Fe
    YmX: Fe
    T2d: Fe
    Z2: Fe
    constructor() {
        this.YpX = fe()
        this.YmX = fe()
        this.T2d = fe()
        this.Z2 = fe()
    }
}

const ONE = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
// d = -121665/121666, 2d, sqrt(-1) = 2^((p-1)/4) and the base point B's x and y (RFC 8032
// section 5.1), 32 bytes little-endian each: string data costs nothing against the image's
// 64 KB code budget, where five arrays of 12 number literals cost ~400 bytes of code
const CONSTANTS = hex`
    a3785913ca4deb75abd841414d0a700098e879777940c78c73fe6f2bee6c0352
    59f1b226949bd6eb56b183829a14e00030d1f3eef2808e19e7fcdf56dcd90624
    b0a00e4a271beec478e42fad0618432fa7d7fb3d99004d2b0bdfc14f8024832b
    1ad5258f602d56c9b2a7259560c72c695cdcd6fd31e2a4c0fe536ecdd3366921
    5866666666666666666666666666666666666666666666666666666666666666`
/** The constant at index i of CONSTANTS as a field element. */
function constant(i: number): Fe {
    const o = fe()
    funpackY(o, CONSTANTS, 32 * i)
    return o
}
const D = constant(0)
const D2 = constant(1)
const SQRTM1 = constant(2)

/** Number of odd multiples kept per table (P, 3P, ..., 15P): digits up to 15. */
export const TABLE_SIZE = 8
export const MAX_DIGIT = 2 * TABLE_SIZE - 1

// scratch field elements shared by the point operations below
const t0 = fe()
const t1 = fe()
const t2 = fe()
const t3 = fe()
const t4 = fe()
const t5 = fe()
const t6 = fe()
const t7 = fe()

/**
 * Decodes a 32-byte point encoding at `b[off..]` into `o` (RFC 8032 section 5.1.3),
 * strictly: false if y >= p, if x^2 = (y^2 - 1)/(d y^2 + 1) has no root (not on the
 * curve), or if x = 0 with the sign bit set; these are exactly the encodings that
 * `@noble/curves` refuses with `zip215: false`.
 */
export async function decodePoint(o: Point, b: Buffer, off: number): Promise<boolean> {
    const y = o.Y
    const x = o.X
    const u = t0
    const v = t1
    const v3 = t2
    const vx2 = t3
    if (!funpackY(y, b, off)) return false
    fmul(u, y, y)
    fmul(v, u, D)
    fsub(u, u, ONE) // u = y^2 - 1
    fadd(v, v, ONE) // v = d y^2 + 1
    // x = u v^3 (u v^7)^((p-5)/8)
    fmul(v3, v, v)
    fmul(v3, v3, v)
    fmul(x, v3, v3)
    fmul(x, x, v)
    fmul(x, x, u)
    await fpow2523(x, x)
    fmul(x, x, v3)
    fmul(x, x, u)
    fmul(vx2, x, x)
    fmul(vx2, vx2, v)
    if (!fequal(vx2, u)) {
        // v x^2 = -u: the root is x sqrt(-1); anything else: no root, not on the curve
        fadd(vx2, vx2, u)
        if (!fequal(vx2, ZERO)) return false
        fmul(x, x, SQRTM1)
    }
    const sign = (b[off + 31] >> 7) & 1
    if (sign === 1 && fequal(x, ZERO)) return false
    fcanon(x, x)
    // the low bit of the canonical x is its sign ("negative", RFC 8032 §5.1.2)
    if ((x[0] & 1) !== sign) {
        fsub(x, ZERO, x)
        fcanon(x, x)
    }
    fcanon(y, y)
    fcopy(o.Z, ONE)
    fmul(o.T, x, y)
    return true
}

/** o = the neutral element (0 : 1 : 1 : 0). */
export function setIdentity(o: Point): void {
    fcopy(o.X, ZERO)
    fcopy(o.Y, ONE)
    fcopy(o.Z, ONE)
    fcopy(o.T, ZERO)
}

/** true if p is the neutral element: X = 0 and Y = Z (mod p). */
export function isIdentity(p: Point): boolean {
    return fequal(p.X, ZERO) && fequal(p.Y, p.Z)
}

/**
 * o = 2p ("dbl-2008-hwcd" for a = -1, signs folded so that no negation is needed);
 * o may be p. T is only computed if `withT`: a doubling followed by a doubling never
 * reads it.
 */
export function pdouble(o: Point, p: Point, withT: boolean): void {
    const A = t0
    const B = t1
    const C = t2
    const H = t3
    const E = t4
    const G = t5
    const F = t6
    fmul(A, p.X, p.X)
    fmul(B, p.Y, p.Y)
    fmul(C, p.Z, p.Z)
    fadd(C, C, C) // 2 Z^2
    fadd(H, A, B) // X^2 + Y^2
    fadd(E, p.X, p.Y)
    fmul(E, E, E)
    fsub(E, H, E) // -2XY
    fsub(G, A, B) // X^2 - Y^2
    fadd(F, C, G)
    fmul(o.X, E, F)
    fmul(o.Y, G, H)
    fmul(o.Z, F, G)
    if (withT) fmul(o.T, E, H)
}

/**
 * o = p + q (sign > 0) or p - q (sign < 0), "add-2008-hwcd-3" with q cached; o may be p.
 * T is only computed if `withT`.
 */
export function paddCached(o: Point, p: Point, q: Cached, sign: number, withT: boolean): void {
    const A = t0
    const B = t1
    const C = t2
    const D_ = t3
    const E = t4
    const F = t5
    const G = t6
    const H = t7
    fadd(A, p.Y, p.X)
    fsub(B, p.Y, p.X)
    if (sign > 0) {
        fmul(B, B, q.YmX) // (Y1 - X1)(Y2 - X2)
        fmul(A, A, q.YpX) // (Y1 + X1)(Y2 + X2)
    } else {
        fmul(B, B, q.YpX)
        fmul(A, A, q.YmX)
    }
    fmul(C, p.T, q.T2d)
    fmul(D_, p.Z, q.Z2)
    fsub(E, A, B)
    fadd(H, A, B)
    if (sign > 0) {
        fsub(F, D_, C)
        fadd(G, D_, C)
    } else {
        fadd(F, D_, C)
        fsub(G, D_, C)
    }
    fmul(o.X, E, F)
    fmul(o.Y, G, H)
    fmul(o.Z, F, G)
    if (withT) fmul(o.T, E, H)
}

/** c = p in cached form; p's T must be valid. */
export function toCached(c: Cached, p: Point): void {
    fadd(c.YpX, p.Y, p.X)
    fsub(c.YmX, p.Y, p.X)
    fmul(c.T2d, p.T, D2)
    fadd(c.Z2, p.Z, p.Z)
}

/** Allocates a table of TABLE_SIZE cached points. */
export function newTable(): Cached[] {
    const t: Cached[] = []
    for (let i = 0; i < TABLE_SIZE; i++) t.push(new Cached())
    return t
}

const tp = new Point()
const tp2 = new Point()

/** table[i] = (2i + 1) p, for i < TABLE_SIZE; p's T must be valid. */
export async function fillTable(table: Cached[], p: Point): Promise<void> {
    toCached(table[0], p)
    pdouble(tp2, p, true) // 2p
    const twoP = new Cached()
    toCached(twoP, tp2)
    fcopy(tp.X, p.X)
    fcopy(tp.Y, p.Y)
    fcopy(tp.Z, p.Z)
    fcopy(tp.T, p.T)
    for (let i = 1; i < TABLE_SIZE; i++) {
        await ds.sleep(0)
        paddCached(tp, tp, twoP, 1, true)
        toCached(table[i], tp)
    }
}

let baseTable: Cached[] = null

/** The table of odd multiples of B, computed on first use and kept. */
export async function getBaseTable(): Promise<Cached[]> {
    if (!baseTable) {
        const b = new Point()
        funpackY(b.X, CONSTANTS, 96)
        funpackY(b.Y, CONSTANTS, 128)
        fcopy(b.Z, ONE)
        fmul(b.T, b.X, b.Y)
        const t = newTable()
        await fillTable(t, b)
        baseTable = t
    }
    return baseTable
}

/**
 * o = [s]B - [k]A given the signed digits of s and k (`scalarSlide`, biased by
 * DIGIT_BIAS) and the tables of odd multiples of B and A: one shared chain of doublings
 * (Straus-Shamir), most significant digit first. o's T is valid on return. Yields every
 * two digits.
 */
export async function doubleScalarMul(o: Point, sd: Buffer, bt: Cached[], kd: Buffer, at: Cached[]): Promise<void> {
    setIdentity(o)
    let i = 255
    while (i >= 0 && sd[i] === DIGIT_BIAS && kd[i] === DIGIT_BIAS) i--
    for (; i >= 0; i--) {
        await ds.sleep(0)
        const s = sd[i] - DIGIT_BIAS
        const k = kd[i] - DIGIT_BIAS
        // T is only needed by a following addition, and by the caller after the last step
        const last = i === 0
        pdouble(o, o, s !== 0 || k !== 0 || last)
        // table entry |d| >> 1 holds |d| times the point; the digit's sign says add or subtract
        if (s !== 0) paddCached(o, o, bt[(s < 0 ? -s : s) >> 1], s, k !== 0 || last)
        // minus [k]A: a positive digit subtracts
        if (k !== 0) {
            // a field multiplication in loops costs ~3,000 VM steps: a yield between the additions
            await ds.sleep(0)
            paddCached(o, o, at[(k < 0 ? -k : k) >> 1], -k, last)
        }
    }
}
