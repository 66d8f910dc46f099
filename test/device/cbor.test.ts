// @timeout 120000
import { describe, test, expect } from "@devicescript/test"
import * as ds from "@devicescript/core"
import { CborError, CborMap, CborReason, CborTag, CborValue, decodeCbor, diagnose, encodeCbor } from "../../src/wire/cbor"
import { CBOR_INVALID, CBOR_VALID } from "./vectors/cbor"

const hexb = (s: string) => Buffer.from(s, "hex")

function encodeRefusal(v: CborValue): number {
    try {
        encodeCbor(v)
    } catch (e) {
        if (e instanceof CborError) return (e as CborError).reason
        throw e
    }
    return CborReason.Ok
}

/** A map of `n` text keys of `w` bytes sharing all but the last two: the costliest keys to order. */
function longKeyMap(w: number, n: number): Buffer {
    const b = Buffer.alloc(2 + n * (w + 2))
    b[0] = 0xb8
    b[1] = n
    let p = 2
    for (let i = 0; i < n; i++) {
        b[p++] = 0x60 + w
        for (let j = 0; j < w - 2; j++) b[p++] = 0x61
        b[p++] = 0x21 + Math.floor(i / 64)
        b[p++] = 0x21 + (i & 63)
        b[p++] = 0x40
    }
    return b
}

function filled(head: string, item: string, n: number): Buffer {
    let s = head
    for (let i = 0; i < n; i++) s += item
    return hexb(s)
}

describe("cbor: golden vectors (test/vectors/cbor.json)", () => {
    test("every valid item decodes to cbor2's diagnostic notation and re-encodes to the same bytes", async () => {
        for (let i = 0; i < CBOR_VALID.length; i++) {
            const diag = CBOR_VALID[i][0] as string
            const hx = CBOR_VALID[i][1] as string
            const d = decodeCbor(hexb(hx), CBOR_VALID[i][2] as number[])
            if (d.reason !== CborReason.Ok) console.log(`refused ${hx.slice(0, 40)}: ${d.reason}`)
            expect(d.reason).toBe(CborReason.Ok)
            expect(diagnose(d.value)).toBe(diag)
            expect(encodeCbor(d.value).toString("hex")).toBe(hx)
            await ds.sleep(0)
        }
    })
    test("every invalid input is refused with its own reason", async () => {
        for (let i = 0; i < CBOR_INVALID.length; i++) {
            const hx = CBOR_INVALID[i][0] as string
            const d = decodeCbor(hexb(hx), CBOR_INVALID[i][2] as number[])
            if (d.reason !== CBOR_INVALID[i][1]) console.log(`${hx.slice(0, 40)}: expected ${CBOR_INVALID[i][1]}, got ${d.reason}`)
            expect(d.reason).toBe(CBOR_INVALID[i][1] as number)
            expect(d.value).toBe(null)
            await ds.sleep(0)
        }
    })
})

describe("cbor: values in the VM", () => {
    test("integers at the 2^31, 2^32 and 2^53 edges keep their value and sign", () => {
        const edges = [2147483647, 2147483648, 4294967295, 4294967296, 9007199254740991, -2147483649, -4294967296, -9007199254740991]
        for (let i = 0; i < edges.length; i++) {
            const d = decodeCbor(encodeCbor(edges[i]), [])
            expect(d.reason).toBe(CborReason.Ok)
            expect(d.value === edges[i]).toBe(true)
        }
        expect(encodeCbor(4294967296).toString("hex")).toBe("1b0000000100000000")
        expect(encodeCbor(-4294967297).toString("hex")).toBe("3b0000000100000000")
    })
    test("maps: lookup by integer and text key, keys sorted by their encoding", () => {
        const m = new CborMap(["aa", "b", -1, 24, 1], [1, 2, 3, 4, 5])
        const b = encodeCbor(m)
        expect(b.toString("hex")).toBe("a5" + "0105" + "181804" + "2003" + "616202" + "62616101")
        const d = decodeCbor(b, []).value as CborMap
        expect(d.get(1)).toBe(5)
        expect(d.get(-1)).toBe(3)
        expect(d.get("aa")).toBe(1)
        expect(d.get(2) === undefined).toBe(true)
        expect(new CborMap([1], [null]).get(1) === null).toBe(true)
    })
    test("text: UTF-8 both ways, NUL included", () => {
        const s = "z\u0000ü水𐅑"
        const b = encodeCbor(s)
        expect(b.toString("hex")).toBe("6b7a00c3bce6b0b4f0908591")
        expect(decodeCbor(b, []).value).toBe(s)
    })
    test("the decoded bytes are copies", () => {
        const input = hexb("420102")
        const v = decodeCbor(input, []).value as Buffer
        v[0] = 9
        expect(input[1]).toBe(1)
    })
    test("the encoder refuses what it cannot write deterministically", () => {
        expect(encodeRefusal(1.5)).toBe(CborReason.Float)
        expect(encodeRefusal(NaN)).toBe(CborReason.Float)
        expect(encodeRefusal(9007199254740992)).toBe(CborReason.IntegerTooLarge)
        expect(encodeRefusal(-9007199254740992)).toBe(CborReason.IntegerTooLarge)
        expect(encodeRefusal(new CborMap([1, 1], [2, 3]))).toBe(CborReason.DuplicateKey)
        expect(encodeRefusal(new CborMap([hexb("01") as any], [2]))).toBe(CborReason.BadKey)
        expect(encodeRefusal(new CborTag(1.5, 0))).toBe(CborReason.Unencodable)
        expect(encodeRefusal(undefined)).toBe(CborReason.Unencodable)
        let deep: CborValue = 0
        for (let i = 0; i < 10; i++) deep = [deep]
        expect(encodeRefusal(deep)).toBe(CborReason.TooDeep)
    })
})

describe("cbor: bounded work (the VM aborts a fiber after ~128K steps without a yield)", () => {
    test("each worst case within the bounds decodes twice in one VM slice", async () => {
        const worst = [
            longKeyMap(14, 63), // 1010 bytes: key order compares 13 bytes per key
            filled("9871", "1b001fffffffffffff", 113), // 1019 bytes of 9-byte integers
            filled("987f", "40", 127), // 127 byte strings: an allocation each
            filled("987f", "60", 127), // 127 text strings: a UTF-8 check each
        ]
        for (let i = 0; i < worst.length; i++) {
            await ds.sleep(0)
            const r1 = decodeCbor(worst[i], []).reason
            const r2 = decodeCbor(worst[i], []).reason
            expect(r1).toBe(CborReason.Ok)
            expect(r2).toBe(r1)
        }
    })
})
