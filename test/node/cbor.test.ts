// The wire core's CBOR codec in Node, on the vectors the firmware checks
// (test/device/cbor.test.ts), and against cbor2, an independent implementation, both ways.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { decode, encode, Tag, cdeDecodeOptions } from "cbor2"
import { CborError, CborMap, CborReason, CborTag, CborValue, decodeCbor, diagnose, encodeCbor } from "../../src/wire/cbor"
import { cborVectors, deviceCborModule, deviceCoseModule, readWg } from "../vectors/cbor_gen.ts"

const root = new URL("../..", import.meta.url).pathname
const v = JSON.parse(readFileSync(root + "test/vectors/cbor.json", "utf8"))
const h = (s: string) => Buffer.from(s, "hex")
const TAGS = [18, 98]

/** Our value as cbor2 takes it: Map, Uint8Array, Tag. */
function toCbor2(x: CborValue): unknown {
    if (x instanceof Buffer) return new Uint8Array(x)
    if (Array.isArray(x)) return x.map(toCbor2)
    if (x instanceof CborMap) return new Map(x.keys.map((k, i) => [k, toCbor2(x.values[i])]))
    if (x instanceof CborTag) return new Tag(x.tag, toCbor2(x.value))
    return x
}

/** cbor2's value as ours (maps decoded with `preferMap`). */
function fromCbor2(x: unknown): CborValue {
    if (x instanceof Uint8Array) return Buffer.from(x)
    if (Array.isArray(x)) return x.map(fromCbor2)
    if (x instanceof Map) return new CborMap([...x.keys()].map(k => fromCbor2(k) as number | string), [...x.values()].map(fromCbor2))
    if (x instanceof Tag) return new CborTag(Number(x.tag), fromCbor2(x.contents))
    if (typeof x === "bigint") {
        if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < -BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`unsafe ${x}`)
        return Number(x)
    }
    if (x === null || typeof x === "number" || typeof x === "string" || typeof x === "boolean") return x
    throw new Error(`cbor2 value outside the profile: ${String(x)}`)
}

const cbor2Strict = { ...cdeDecodeOptions, preferMap: true, rejectDuplicateKeys: true, ignoreGlobalTags: true }
const cbor2Cde = (x: CborValue) => Buffer.from(encode(toCbor2(x), { cde: true }))

/** xorshift32: the same seed gives the same inputs on every run. */
function prng(seed: number) {
    let s = seed >>> 0 || 1
    return (n: number) => {
        s ^= s << 13
        s >>>= 0
        s ^= s >>> 17
        s ^= s << 5
        s >>>= 0
        return s % n
    }
}

function randomValue(r: (n: number) => number, depth: number): CborValue {
    const ints = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]
    const chars = ["a", "z", "0", " ", "\"", "\\", "ü", "水", "𐅑", "\u0000", "\u007f"]
    switch (r(depth > 3 ? 6 : 9)) {
        case 0: {
            const n = r(3) === 0 ? ints[r(ints.length)] : r(100000)
            return r(2) ? n : -n - 1 < -(2 ** 53 - 1) ? -n : -n - 1
        }
        case 1: return Buffer.from(Array.from({ length: r(30) }, () => r(256)))
        case 2: return Array.from({ length: r(8) }, () => chars[r(chars.length)]).join("")
        case 3: return [true, false, null][r(3)]
        case 4: return r(1000) - 500
        case 5: return "k" + r(50)
        case 6: return Array.from({ length: r(6) }, () => randomValue(r, depth + 1))
        case 7: {
            const keys: (number | string)[] = []
            for (let i = r(7); i > 0; i--) {
                const k = r(2) ? r(60) - 30 : ["a", "b", "aa", "ab", "", "ü", "k" + r(30)][r(7)]
                if (!keys.includes(k)) keys.push(k)
            }
            return new CborMap(keys, keys.map(() => randomValue(r, depth + 1)))
        }
        default: return new CborTag(TAGS[r(2)], randomValue(r, depth + 1))
    }
}

test("vectors are current (JSON and device modules)", () => {
    const fresh = cborVectors()
    assert.deepEqual(v, JSON.parse(JSON.stringify(fresh)))
    assert.equal(readFileSync(root + "test/device/vectors/cbor.ts", "utf8"), deviceCborModule(fresh))
    assert.equal(readFileSync(root + "test/device/vectors/cose.ts", "utf8"), deviceCoseModule(fresh, readWg()))
})

test("every valid vector: cbor2's diagnostic notation, and the same bytes back", () => {
    for (const x of v.valid) {
        const d = decodeCbor(h(x.hex), x.tags)
        assert.equal(d.reason, CborReason.Ok, x.hex)
        assert.equal(diagnose(d.value), x.diag)
        assert.equal(encodeCbor(d.value).toString("hex"), x.hex)
    }
})

test("every invalid vector is refused with its own reason", () => {
    for (const x of v.invalid) {
        const d = decodeCbor(h(x.hex), x.tags)
        assert.equal(d.reason, x.code, `${x.hex.slice(0, 40)} (${x.note}): ${x.reason}`)
        assert.equal(d.value, null)
    }
    // every reason the decoder has is pinned by at least one vector
    const seen = new Set(v.invalid.map((x: any) => x.code))
    for (let r = CborReason.Truncated; r <= CborReason.BadUtf8; r++) assert.ok(seen.has(r), `reason ${r} has no vector`)
})

test("cbor2 reads what we write to the same value, and writes deterministically what we write", () => {
    const r = prng(0xc0b0)
    const values: CborValue[] = v.valid.map((x: any) => decodeCbor(h(x.hex), x.tags).value)
    for (let i = 0; i < 3000; i++) values.push(randomValue(r, 0))
    for (const x of values) {
        const ours = encodeCbor(x)
        // the same bytes as cbor2's deterministic encoder, and cbor2 reads them to the value
        // (maps in key order, as both encoders sort them)
        assert.equal(cbor2Cde(x).toString("hex"), ours.toString("hex"), diagnose(x))
        const back = decodeCbor(ours, [0, 1, 23, 24, 32, ...TAGS])
        assert.ok(back.reason === CborReason.Ok || back.reason === CborReason.TooLarge, `${back.reason}`)
        if (back.reason === CborReason.Ok) assert.equal(diagnose(fromCbor2(decode(ours, cbor2Strict))), diagnose(back.value))
    }
})

test("we read what cbor2 writes deterministically (CDE) to the same value", () => {
    const r = prng(0x5eed)
    for (let i = 0; i < 3000; i++) {
        const x = randomValue(r, 0)
        const bytes = cbor2Cde(x)
        const d = decodeCbor(bytes, TAGS)
        if (bytes.length > 1024) {
            assert.equal(d.reason, CborReason.TooLarge)
            continue
        }
        assert.equal(d.reason, CborReason.Ok, bytes.toString("hex"))
        assert.equal(diagnose(d.value), diagnose(fromCbor2(decode(bytes, cbor2Strict))))
    }
})

test("inputs cbor2 accepts but this profile refuses, each with our reason", () => {
    const lenient = v.invalid.filter((x: any) => x.cbor2 === "accepts")
    const byReason = new Map<string, number>()
    for (const x of lenient) {
        assert.doesNotThrow(() => decode(h(x.hex)), x.hex)
        assert.equal(decodeCbor(h(x.hex), x.tags).reason, x.code)
        byReason.set(x.reason, (byReason.get(x.reason) ?? 0) + 1)
    }
    const cdeToo = lenient.filter((x: any) => x.cbor2cde === "accepts").map((x: any) => x.reason)
    // cbor2's deterministic mode checks form (heads, order, duplicates, streaming) but not
    // the profile: big integers, floats, simple values, tags, bounds and key types pass it
    assert.deepEqual([...new Set(cdeToo)].sort(),
        ["BadKey", "Float", "IntegerTooLarge", "Simple", "TooDeep", "TooLarge", "UnknownTag"])
    console.log(`cbor2 accepts ${lenient.length} of ${v.invalid.length} refused vectors (${cdeToo.length} even in CDE mode): ` +
        [...byReason].map(([k, n]) => `${k} ${n}`).join(", "))
})

test("differential fuzz against cbor2 (CDE): whatever we accept, cbor2 reads alike; what we refuse beyond it is the profile", () => {
    const r = prng(0xf022)
    const seeds = v.valid.map((x: any) => h(x.hex))
    const profile = new Set([CborReason.IntegerTooLarge, CborReason.Float, CborReason.Simple, CborReason.UnknownTag,
        CborReason.TooDeep, CborReason.TooLarge, CborReason.BadKey])
    let accepted = 0
    for (let i = 0; i < 20000; i++) {
        const b = Buffer.from(seeds[r(seeds.length)])
        const m = Buffer.from(b)
        const at = b.length ? r(b.length) : 0
        const input = [
            () => { if (m.length) m[at] ^= 1 << r(8); return m },
            () => m.subarray(0, r(m.length + 1)),
            () => Buffer.concat([m.subarray(0, at), seeds[r(seeds.length)].subarray(0, 1 + r(9)), m.subarray(at)]),
            () => { if (m.length) m[at] = r(256); return m },
        ][r(4)]()
        const ours = decodeCbor(input, TAGS)
        let theirs: unknown
        let theirsOk = true
        try {
            theirs = decode(input, cbor2Strict)
        } catch {
            theirsOk = false
        }
        if (ours.reason === CborReason.Ok) {
            accepted++
            assert.ok(theirsOk, `cbor2 refuses what we accept: ${input.toString("hex")}`)
            assert.equal(diagnose(fromCbor2(theirs)), diagnose(ours.value))
            assert.equal(encodeCbor(ours.value).toString("hex"), input.toString("hex"))
        } else if (theirsOk) assert.ok(profile.has(ours.reason), `${input.toString("hex")}: reason ${ours.reason}`)
    }
    assert.ok(accepted > 1000)
})

test("the encoder refuses values outside the profile with a CborError", () => {
    const reason = (x: unknown) => {
        try {
            encodeCbor(x as CborValue)
        } catch (e) {
            assert.ok(e instanceof CborError)
            return e.reason
        }
        return CborReason.Ok
    }
    assert.equal(reason(0.5), CborReason.Float)
    assert.equal(reason(2 ** 53), CborReason.IntegerTooLarge)
    assert.equal(reason(new CborMap(["a", "a"], [1, 2])), CborReason.DuplicateKey)
    assert.equal(reason(new CborMap([true as unknown as number], [1])), CborReason.BadKey)
    assert.equal(reason(new Uint8Array(2)), CborReason.Unencodable)
    assert.equal(reason({}), CborReason.Unencodable)
    assert.equal(reason(undefined), CborReason.Unencodable)
})
