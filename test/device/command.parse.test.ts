import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { CborMap, encodeCbor } from "../../src/wire/cbor"
import { CoseMessage, decodeCose, encodeCose, toBeSigned } from "../../src/wire/cose"
import { CommandEnvelope, parseEnvelope } from "../../src/wire/envelope"
import { Verdict } from "../../src/wire/opcodes"
import { METER, testEnvelope, testRing } from "./vectors/envelope_kit"

/** `raw` with its payload map re-encoded from `values` (keys 1, 2, …). */
function withPayload(raw: Buffer, values: (number | Buffer)[]): Buffer {
    const m = decodeCose(raw) as CoseMessage
    const keys: number[] = []
    for (let i = 0; i < values.length; i++) keys.push(i + 1)
    m.payload = encodeCbor(new CborMap(keys, values))
    return encodeCose(m)
}

describe("command parsing (COSE)", () => {
    const ring = testRing()
    test("a well-formed COSE_Sign1 parses with its fields and the bytes its signature signs", () => {
        const raw = testEnvelope({ signer: ring[1], counter: 7, notBefore: 100, expiry: 200, opcode: 1 })
        const e = parseEnvelope(raw) as CommandEnvelope
        expect(typeof e).toBe("object")
        expect(e.signerKeyId).toBe(2)
        expect(e.counterHi).toBe(0)
        expect(e.counterLo).toBe(7)
        expect(e.notBefore).toBe(100)
        expect(e.expiry).toBe(200)
        expect(e.opcode).toBe(1)
        expect(e.signatureCount).toBe(1)
        expect(e.meterId.toString("hex")).toBe(METER.toString("hex"))
        expect(e.args.length).toBe(0)
        // ["Signature1", h'a2012704 4102', h'', payload]: 84 6a "Signature1" 46 … 40 58 len …
        const tbs = toBeSigned(e.cose, 0)
        expect(tbs.slice(0, 12).toString("hex")).toBe("846a5369676e617475726531")
        expect(tbs.slice(12, 19).toString("hex")).toBe("46a20127044102")
        expect(tbs.length).toBe(19 + 1 + 1 + e.cose.payload.length + (e.cose.payload.length < 24 ? 0 : 1))
    })
    test("a counter above 2^32 is read in two halves", () => {
        const e = parseEnvelope(testEnvelope({ signer: ring[1], counterHi: 465661, counter: 1233977344, opcode: 2 })) as CommandEnvelope
        expect(e.counterHi).toBe(465661)
        expect(e.counterLo).toBe(1233977344)
    })
    test("every truncation and an extension are malformed", async () => {
        const raw = testEnvelope({ signer: ring[1], counter: 7, opcode: 3, args: Buffer.alloc(5) })
        for (let n = 0; n < raw.length; n++) {
            // a yield now and then: the VM aborts a fiber after 128K steps without one
            if ((n & 7) === 0) await ds.sleep(0)
            expect(parseEnvelope(raw.slice(0, n))).toBe(Verdict.Malformed)
        }
        expect(parseEnvelope(raw.concat(Buffer.alloc(1)))).toBe(Verdict.Malformed)
    })
    test("the payload map: seven keys, their types and bounds", async () => {
        const raw = testEnvelope({ signer: ring[1], counter: 7, notBefore: 10, expiry: 20, opcode: 1 })
        const ok: (number | Buffer)[] = [METER, 2, 7, 10, 20, 1, Buffer.alloc(0)]
        expect(typeof parseEnvelope(withPayload(raw, ok))).toBe("object")
        const bad = async (i: number, v: number | Buffer) => {
            await ds.sleep(0)
            const vals = ok.slice(0)
            vals[i] = v
            return parseEnvelope(withPayload(raw, vals))
        }
        expect(await bad(0, Buffer.alloc(7))).toBe(Verdict.Malformed)
        expect(await bad(0, 5)).toBe(Verdict.Malformed)
        expect(await bad(1, 3)).toBe(Verdict.Malformed) // the signer is not the kid
        expect(await bad(1, 0)).toBe(Verdict.Malformed)
        expect(await bad(2, -1)).toBe(Verdict.Malformed)
        expect(await bad(3, 21)).toBe(Verdict.Malformed) // not-before after expiry
        expect(await bad(4, 0)).toBe(Verdict.Malformed)
        expect(await bad(4, 4294967296)).toBe(Verdict.Malformed)
        expect(await bad(5, 10)).toBe(Verdict.Malformed)
        expect(await bad(5, 31)).toBe(Verdict.Malformed)
        expect(await bad(6, 5)).toBe(Verdict.Malformed)
        expect(await bad(6, Buffer.alloc(513))).toBe(Verdict.Malformed)
        await ds.sleep(0)
        expect(parseEnvelope(withPayload(raw, ok.slice(0, 6)))).toBe(Verdict.Malformed)
        const more = ok.slice(0)
        more.push(1)
        expect(parseEnvelope(withPayload(raw, more))).toBe(Verdict.Malformed)
    })
    test("dual control: a COSE_Sign with exactly two signatures from two different keys, the signer's first", async () => {
        const raw = testEnvelope({ signer: ring[1], cosigner: ring[2], counter: 7, opcode: 1 })
        const e = parseEnvelope(raw) as CommandEnvelope
        expect(e.signatureCount).toBe(2)
        expect(e.sigKeyIds[0]).toBe(2)
        expect(e.sigKeyIds[1]).toBe(3)
        expect(toBeSigned(e.cose, 1).slice(0, 11).toString("hex")).toBe("85695369676e6174757265")
        const m = decodeCose(raw) as CoseMessage
        const s = m.signatures
        await ds.sleep(0)
        m.signatures = [s[0]]
        expect(parseEnvelope(encodeCose(m))).toBe(Verdict.Malformed)
        await ds.sleep(0)
        m.signatures = [s[1], s[0]]
        expect(parseEnvelope(encodeCose(m))).toBe(Verdict.Malformed)
        m.signatures = [s[0], s[0]]
        expect(parseEnvelope(encodeCose(m))).toBe(Verdict.Malformed)
    })
    test("an oversized or empty input is refused before anything else", () => {
        expect(parseEnvelope(Buffer.alloc(1100))).toBe(Verdict.Malformed)
        expect(parseEnvelope(Buffer.alloc(0))).toBe(Verdict.Malformed)
    })
})
