/**
 * Ed25519 signature verification (RFC 8032 section 5.1.7) for the meter, in DeviceScript:
 * the runtime has no signatures, no BigInt and no typed arrays. Strict ("RFC 8032 /
 * FIPS 186-5") rules, the same as `ed25519.verify(sig, msg, pub, { zip215: false })` of
 * `@noble/curves` 2.x:
 * - public key 32 bytes, signature 64 bytes, else false;
 * - S < L (no malleable S + L);
 * - A and R canonical (y < p), on the curve, and not x = 0 with the sign bit set;
 * - A not of small order ([8]A = identity is refused);
 * - the cofactored equation [8][S]B = [8]R + [8][k]A, k = SHA-512(R || A || M) mod L.
 * Details and figures: docs/ed25519.md.
 */
import * as ds from "@devicescript/core"
import { equalBytes } from "../wire/bytes"
import { sha512 } from "./sha512"
import { scalarIsCanonical, scalarReduce64, scalarSlide } from "./scalar25519"
import {
    Point,
    Cached,
    MAX_DIGIT,
    DBL,
    SUB,
    TOC,
    decodePoint,
    doubleScalarMul,
    fillTables,
    getBaseTables,
    isIdentity,
    newPoint,
    newTables,
    pointOp,
} from "./edwards25519"

/**
 * true if `signature` (R || S, 64 bytes) is a valid Ed25519 signature of `message` by
 * `publicKey` (32 bytes) under strict RFC 8032 rules; false for every invalid or
 * malformed input, never throws. Yields to other fibers while it works (about 0.13 s in
 * the simulator when the last key signs again, 0.25 s for another: docs/ed25519.md);
 * calls are serialised, so concurrent callers wait their turn.
 * @example if (await ed25519Verify(rootKey, body, sig)) execute(body)
 */
export async function ed25519Verify(publicKey: Buffer, message: Buffer, signature: Buffer): Promise<boolean> {
    // the scratch state below is shared: one verification at a time
    while (busy) await ds.sleep(1)
    busy = true
    try {
        return await verifyStrict(publicKey, message, signature)
    } catch (e) {
        return false
    } finally {
        busy = false
    }
}

let busy = false
let A: Point = null
let R: Point = null
let P: Point = null
let Rc: Cached = null
/** the tables (`fillTables`) of the last public key A, and that key (null: none valid) */
let aTables: Cached[][] = null
let tableKey: Buffer = null
let sDigits: Buffer = null
let kDigits: Buffer = null

/** o = [8]p, yielding before each doubling (a doubling is ~8 field multiplications). */
async function times8(o: Point, p: Point): Promise<void> {
    for (let i = 0; i < 3; i++) {
        await ds.sleep(0)
        pointOp(o, i === 0 ? p : o, o, DBL, false)
    }
}

async function verifyStrict(publicKey: Buffer, message: Buffer, signature: Buffer): Promise<boolean> {
    if (!publicKey || !message || !signature) return false
    if (publicKey.length !== 32 || signature.length !== 64) return false
    if (!scalarIsCanonical(signature, 32)) return false
    if (!A) {
        A = newPoint()
        R = newPoint()
        P = newPoint()
        Rc = newPoint()
        aTables = newTables()
        sDigits = Buffer.alloc(256)
        kDigits = Buffer.alloc(256)
    }
    await ds.sleep(0)
    if (!equalBytes(tableKey, publicKey)) {
        // a new signer: decode A and build its tables (about half the work of a new key's
        // verification, skipped when the same key signs again). One key only: a second
        // key's tables are ~4.5 KB of heap, and the firmware's 64 KB heap has no room
        tableKey = null
        if (!(await decodePoint(A, publicKey, 0))) return false
        // a small-order public key verifies signatures on many messages (noble's strict
        // mode and libsodium refuse it); [8]A = identity
        await times8(P, A)
        if (isIdentity(P)) return false
        await fillTables(aTables, A, P, Rc)
        tableKey = publicKey.slice(0)
    }
    await ds.sleep(0)
    if (!(await decodePoint(R, signature, 0))) return false
    // k = SHA-512(R || A || M) mod L over the bytes as received
    const h = await sha512(Buffer.concat(signature.slice(0, 32), publicKey, message))
    const k = scalarReduce64(h)
    await ds.sleep(0)
    scalarSlide(sDigits, signature, 32, MAX_DIGIT)
    await ds.sleep(0)
    scalarSlide(kDigits, k, 0, MAX_DIGIT)
    const bt = await getBaseTables(P, Rc)
    await ds.sleep(0)
    await doubleScalarMul(P, sDigits, bt, kDigits, aTables)
    await ds.sleep(0)
    // cofactored check: [8]([S]B - [k]A - R) = identity
    pointOp(R, R, Rc, TOC, true)
    pointOp(P, P, Rc, SUB, false)
    await times8(P, P)
    return isIdentity(P)
}
