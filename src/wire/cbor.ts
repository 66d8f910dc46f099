/**
 * CBOR (RFC 8949) for the wire core, one codec for the firmware and the head-end: the
 * deterministic subset of §4.2.1 and nothing else. The encoder writes shortest heads,
 * definite lengths and map keys sorted bytewise by their encoding; the decoder refuses
 * every other spelling of a value, so one value has one encoding and a signature over the
 * bytes is a signature over the value.
 *
 * Supported: integers of magnitude ≤ 2^53 − 1 (doubles: no BigInt in the VM), byte
 * strings (Buffer), text strings (string; the decoder refuses ill-formed UTF-8, RFC 3629:
 * a round trip through the runtime's UTF-8 codec must give back the same bytes, and both
 * runtimes replace every ill-formed sequence, so a string is valid iff it survives),
 * arrays, maps with integer or text keys (`CborMap`), false, true, null, and tags the
 * caller allows (`CborTag`). Refused, each with its own `CborReason`: floats, other simple
 * values (undefined included), indefinite lengths, anything non-minimal or unsorted.
 *
 * The decoder is synchronous and bounded (the VM aborts a fiber after about 128K steps
 * without an await): at most CBOR_MAX_SIZE bytes in, CBOR_MAX_ITEMS items, CBOR_MAX_DEPTH
 * nested containers, and it allocates nothing before the input has shown it holds the
 * bytes a head announces. The costliest input within these bounds takes about 40% of a
 * slice (measured: docs/formats.md §1); callers await before and after a decode.
 */
import { copyBytes } from "./bytes"

/** Largest input `decodeCbor` reads (a command with a 512-byte tariff and two signatures is ~750). */
export const CBOR_MAX_SIZE = 1024
/** Most data items in one input, keys and tag contents included. */
export const CBOR_MAX_ITEMS = 128
/** Most nested arrays, maps and tags (COSE_Sign: tag, array, signatures, signature: 4). */
export const CBOR_MAX_DEPTH = 8
/** 2^53 − 1: the largest magnitude a double holds exactly. */
export const CBOR_MAX_INT = 9007199254740991

/** Why the codec refused; one code per rule (RFC 8949 section in brackets). */
export const enum CborReason {
    Ok = 0,
    /** input ends inside an item, or a head announces more than is left */
    Truncated = 1,
    /** bytes after the one top-level item [§5.1] */
    TrailingBytes = 2,
    /** additional info 31: indefinite length or break [§3.2] */
    Indefinite = 3,
    /** a head not in its shortest form [§4.2.1] */
    NonMinimal = 4,
    /** additional info 28..30 [§3] */
    Reserved = 5,
    /** an integer of magnitude above 2^53 − 1 */
    IntegerTooLarge = 6,
    /** a float (major 7, additional info 25..27), or a non-integer number to encode */
    Float = 7,
    /** a simple value other than false, true, null [§3.3] */
    Simple = 8,
    /** a tag the caller did not allow [§3.4] */
    UnknownTag = 9,
    /** containers nested beyond CBOR_MAX_DEPTH */
    TooDeep = 10,
    /** input beyond CBOR_MAX_SIZE or items beyond CBOR_MAX_ITEMS */
    TooLarge = 11,
    /** the same map key twice [§5.6] */
    DuplicateKey = 12,
    /** map keys not in bytewise order of their encodings [§4.2.1] */
    UnsortedKeys = 13,
    /** a map key that is neither an integer nor a text string */
    BadKey = 14,
    /** a text string that is not well-formed UTF-8 [§3.1, RFC 3629] */
    BadUtf8 = 15,
    /** encoder: a value outside the supported types */
    Unencodable = 16,
}

/** A decoded or to-be-encoded value; a map is a `CborMap`, a tag a `CborTag`. */
export type CborValue = number | string | boolean | null | Buffer | CborValue[] | CborMap | CborTag

/** A map as two parallel arrays (decoded: in wire order); keys are integers or strings. */
export class CborMap {
    keys: (number | string)[]
    values: CborValue[]
    constructor(keys: (number | string)[], values: CborValue[]) {
        this.keys = keys
        this.values = values
    }
    /** The value under `key`, undefined when absent. */
    get(key: number | string): CborValue | undefined {
        const i = this.keys.indexOf(key)
        return i < 0 ? undefined : this.values[i]
    }
}

/** A tagged item [§3.4]. */
export class CborTag {
    tag: number
    value: CborValue
    constructor(tag: number, value: CborValue) {
        this.tag = tag
        this.value = value
    }
}

/** A refusal: `reason` says which rule. */
export class CborError extends Error {
    reason: CborReason
    constructor(reason: CborReason) {
        super("cbor refused: " + reason)
        this.reason = reason
    }
}

/** The outcome of a decode: `reason` Ok and the value, or the refusal (value null). */
export interface CborDecoded {
    reason: CborReason
    value: CborValue
}

/**
 * Decodes exactly one deterministically encoded item filling `b` (RFC 8949 §4.2.1);
 * `tags` lists the tag numbers allowed (e.g. [18] for COSE_Sign1). Never throws for
 * any input: every refusal is a `CborReason`.
 * @example const d = decodeCbor(msg, [18]); if (d.reason !== CborReason.Ok) return d.reason
 */
export function decodeCbor(b: Buffer, tags: number[]): CborDecoded {
    rb = b
    rTags = tags
    rp = 0
    rItems = 0
    try {
        if (b.length > CBOR_MAX_SIZE) refuse(CborReason.TooLarge)
        const value = item(0)
        if (rp !== b.length) refuse(CborReason.TrailingBytes)
        return { reason: CborReason.Ok, value: value }
    } catch (e) {
        // only the decoder's own refusals become a reason; a fault in the runtime stays one
        if (!(e instanceof CborError)) throw e
        return { reason: (e as CborError).reason, value: null }
    }
}

/**
 * The deterministic encoding of `v` (RFC 8949 §4.2.1). Throws `CborError` for a value
 * outside the subset: a non-integer number (Float), magnitude above 2^53 − 1, a map key
 * that is not an integer or string or appears twice, nesting beyond CBOR_MAX_DEPTH.
 * @example encodeCbor(new CborMap([1, 4], [-8, kid]))  // a2 01 27 04 ...
 */
export function encodeCbor(v: CborValue): Buffer {
    const parts: Buffer[] = []
    put(parts, v, 0)
    let n = 0
    for (let i = 0; i < parts.length; i++) n += parts[i].length
    const out = Buffer.alloc(n)
    n = 0
    for (let i = 0; i < parts.length; i++) {
        out.set(parts[i], n)
        n += parts[i].length
    }
    return out
}

/**
 * RFC 8949 §8 diagnostic notation of `v`, for logs and tests: `1`, `-1`, `h'0102'`,
 * `"a"` (`"` and `\` escaped, controls always as `\u00XX`), `[1, 2]`, `{1: 2}`, `18([])`,
 * `true`, `null`.
 */
export function diagnose(v: CborValue): string {
    if (typeof v === "string") {
        let s = ""
        for (let i = 0; i < v.length; i++) {
            const c = v.charCodeAt(i)
            s += c < 32 ? "\\u00" + (c < 16 ? "0" : "1") + "0123456789abcdef"[c & 15] : c === 34 || c === 92 ? "\\" + v[i] : v[i]
        }
        return '"' + s + '"'
    }
    if (v instanceof Buffer) return "h'" + v.toString("hex") + "'"
    if (v instanceof CborTag) return v.tag + "(" + diagnose(v.value) + ")"
    const items: string[] = []
    if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) items.push(diagnose(v[i]))
        return "[" + items.join(", ") + "]"
    }
    if (v instanceof CborMap) {
        for (let i = 0; i < v.keys.length; i++) items.push(diagnose(v.keys[i]) + ": " + diagnose(v.values[i]))
        return "{" + items.join(", ") + "}"
    }
    if (typeof v === "number") {
        // in two halves: the VM prints 2^53 - 1 as 9007199254740990 (its number formatting
        // is inexact near 2^53; the value itself is exact)
        const a = v < 0 ? -v : v
        const hi = Math.floor(a / 100000000)
        return (v < 0 ? "-" : "") + (hi > 0 ? hi + ("" + (a - hi * 100000000 + 100000000)).slice(1) : "" + a)
    }
    return "" + v
}

/** < 0, 0, > 0 as `a` sorts before, with or after `b` bytewise, a proper prefix first (§4.2.1). */
function cmp(a: Buffer, b: Buffer): number {
    let i = 0
    while (i < a.length && i < b.length && a[i] === b[i]) i++
    return i < a.length && i < b.length ? a[i] - b[i] : a.length - b.length
}

function refuse(reason: CborReason): never {
    throw new CborError(reason)
}

// The decoder's state: module variables rather than an object (smaller bytecode in the
// VM); safe because a decode runs to its end without an await and does not re-enter.
let rb: Buffer | null = null
let rTags: number[] = []
let rp = 0
let rItems = 0

/** One item at nesting depth `d`, from `rp`. */
function item(d: number): CborValue {
    const b = rb as Buffer
    if (rp >= b.length) refuse(CborReason.Truncated)
    if (++rItems > CBOR_MAX_ITEMS) refuse(CborReason.TooLarge)
    const ib = b[rp++]
    const mt = ib >> 5 // < 256: int32 shifts are exact here
    const ai = ib & 31
    if (ai === 31) refuse(CborReason.Indefinite)
    if (ai > 27) refuse(CborReason.Reserved)
    if (mt === 7) {
        if (ai === 20) return false
        if (ai === 21) return true
        if (ai === 22) return null
        refuse(ai > 24 ? CborReason.Float : CborReason.Simple)
    }
    // the argument: ai itself, or 1, 2, 4, 8 bytes that must need their width
    let n = ai
    if (ai > 23) {
        const w = 1 << (ai - 24)
        if (rp + w > b.length) refuse(CborReason.Truncated)
        n = 0
        // exact below 2^53; at or above, the last rounding stays ≥ 2^53 and is refused
        for (let i = 0; i < w; i++) n = n * 256 + b[rp++]
        if (n < (w === 1 ? 24 : Math.pow(2, 4 * w))) refuse(CborReason.NonMinimal)
        if (n > CBOR_MAX_INT) refuse(CborReason.IntegerTooLarge)
    }
    const left = b.length - rp
    if (mt === 0) return n
    if (mt === 1) {
        if (n === CBOR_MAX_INT) refuse(CborReason.IntegerTooLarge)
        return -1 - n
    }
    if (mt === 6) {
        if (rTags.indexOf(n) < 0) refuse(CborReason.UnknownTag)
        if (d >= CBOR_MAX_DEPTH) refuse(CborReason.TooDeep)
        return new CborTag(n, item(d + 1))
    }
    // a string announces n bytes, an array n items, a map 2n items, each at least a byte
    if (n > left || (mt === 5 && 2 * n > left)) refuse(CborReason.Truncated)
    const s = rp
    if (mt === 2) {
        rp += n
        return copyBytes(b, s, s + n)
    }
    if (mt === 3) {
        rp += n
        const raw = b.slice(s, s + n)
        const t = raw.toString("utf8")
        // compared as hex strings: one native step, where a byte loop costs ~10 per byte
        if (Buffer.from(t, "utf8").toString("hex") !== raw.toString("hex")) refuse(CborReason.BadUtf8)
        return t
    }
    if (d >= CBOR_MAX_DEPTH) refuse(CborReason.TooDeep)
    if (mt === 4) {
        const a: CborValue[] = []
        for (let i = 0; i < n; i++) a.push(item(d + 1))
        return a
    }
    const m = new CborMap([], [])
    let ks = -1
    for (let i = 0; i < n; i++) {
        const k0 = rp
        const k = item(d + 1)
        if (typeof k !== "number" && typeof k !== "string") refuse(CborReason.BadKey)
        // bytewise order of the encodings (§4.2.1): the first differing byte decides, and
        // as whole items neither encoding is a proper prefix of the other
        if (ks >= 0) {
            let j = 0
            while (j < rp - k0 && b[ks + j] === b[k0 + j]) j++
            if (j === rp - k0) refuse(CborReason.DuplicateKey)
            if (b[ks + j] > b[k0 + j]) refuse(CborReason.UnsortedKeys)
        }
        ks = k0
        m.keys.push(k as number | string)
        m.values.push(item(d + 1))
    }
    return m
}

/** A head: major type `mt`, argument `n` (integer, 0 ≤ n ≤ 2^53 − 1) in its shortest form. */
export function cborHead(mt: number, n: number): Buffer {
    // width 0 (the argument in the initial byte), then 1, 2, 4, 8 bytes: additional info 24..27
    let w = 0
    let ai = n
    if (n > 23) {
        w = 1
        ai = 24
        while (n >= Math.pow(256, w)) {
            w *= 2
            ai++
        }
    }
    const h = Buffer.alloc(1 + w)
    h[0] = mt * 32 + ai
    // division, not >> or %: exact for every double integer below 2^53
    for (let i = w; i > 0; i--) {
        const q = Math.floor(n / 256)
        h[i] = n - q * 256
        n = q
    }
    return h
}

function put(parts: Buffer[], v: CborValue, d: number): void {
    if (d > CBOR_MAX_DEPTH) refuse(CborReason.TooDeep)
    if (typeof v === "number") {
        if (Math.floor(v) !== v) refuse(CborReason.Float)
        if (v > CBOR_MAX_INT || v < -CBOR_MAX_INT) refuse(CborReason.IntegerTooLarge)
        parts.push(v >= 0 ? cborHead(0, v) : cborHead(1, -1 - v))
    } else if (typeof v === "boolean" || v === null) {
        parts.push(cborHead(7, v === null ? 22 : v ? 21 : 20))
    } else if (typeof v === "string" || v instanceof Buffer) {
        const t = typeof v === "string" ? Buffer.from(v, "utf8") : v
        parts.push(cborHead(typeof v === "string" ? 3 : 2, t.length))
        parts.push(t)
    } else if (Array.isArray(v)) {
        parts.push(cborHead(4, v.length))
        for (let i = 0; i < v.length; i++) put(parts, v[i], d + 1)
    } else if (v instanceof CborMap) {
        // insertion sort of the key encodings (§4.2.1 order): linear for keys already in
        // order, quadratic at worst, so firmware keeps its maps small (docs/formats.md)
        const enc: Buffer[] = []
        const ord: number[] = []
        for (let i = 0; i < v.keys.length; i++) {
            const k = v.keys[i]
            if (typeof k !== "number" && typeof k !== "string") refuse(CborReason.BadKey)
            const e = encodeCbor(k)
            enc.push(e)
            ord.push(i)
            let j = i
            for (; j > 0; j--) {
                const c = cmp(enc[j - 1], e)
                if (c === 0) refuse(CborReason.DuplicateKey)
                if (c < 0) break
                enc[j] = enc[j - 1]
                ord[j] = ord[j - 1]
            }
            enc[j] = e
            ord[j] = i
        }
        parts.push(cborHead(5, enc.length))
        for (let i = 0; i < enc.length; i++) {
            parts.push(enc[i])
            put(parts, v.values[ord[i]], d + 1)
        }
    } else if (v instanceof CborTag) {
        if (!(v.tag >= 0 && v.tag <= CBOR_MAX_INT && Math.floor(v.tag) === v.tag)) refuse(CborReason.Unencodable)
        parts.push(cborHead(6, v.tag))
        put(parts, v.value, d + 1)
    } else refuse(CborReason.Unencodable)
}
