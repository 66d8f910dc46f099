import { describe, test, expect } from "@devicescript/test"
import { CommandEnvelope, HEADER_SIZE, parseEnvelope, signedMessage } from "../../src/wire/envelope"
import { Verdict } from "../../src/wire/opcodes"
import { METER, testEnvelope, testRing } from "./vectors/envelope_kit"

describe("command envelope parsing", () => {
    const ring = testRing()
    test("a well-formed envelope parses with its fields", () => {
        const raw = testEnvelope({ signer: ring[1], counter: 7, notBefore: 100, expiry: 200, opcode: 1 })
        const e = parseEnvelope(raw) as CommandEnvelope
        expect(typeof e).toBe("object")
        expect(e.signerKeyId).toBe(2)
        expect(e.counterLo).toBe(7)
        expect(e.notBefore).toBe(100)
        expect(e.expiry).toBe(200)
        expect(e.opcode).toBe(1)
        expect(e.signatureCount).toBe(1)
        expect(signedMessage(e.raw, HEADER_SIZE + e.argsLength).length).toBe(17 + 30)
    })
    test("every truncation and extension is malformed", () => {
        const raw = testEnvelope({ signer: ring[1], counter: 7, opcode: 3, args: Buffer.alloc(5) })
        for (let n = 0; n < raw.length; n++) expect(parseEnvelope(raw.slice(0, n))).toBe(Verdict.Malformed)
        expect(parseEnvelope(raw.concat(Buffer.alloc(1)))).toBe(Verdict.Malformed)
    })
    test("bounds: version, argument length, signature count, opcode, key ids, expiry", () => {
        const raw = testEnvelope({ signer: ring[1], counter: 7, notBefore: 10, expiry: 20, opcode: 1 })
        const bad = (off: number, v: number) => {
            const b = raw.slice(0)
            b[off] = v
            return parseEnvelope(b)
        }
        expect(bad(0, 2)).toBe(Verdict.BadVersion)
        expect(bad(28, 0xff)).toBe(Verdict.Malformed)
        expect(bad(29, 1)).toBe(Verdict.Malformed)
        expect(bad(27, 0)).toBe(Verdict.Malformed)
        expect(bad(27, 2)).toBe(Verdict.Malformed)
        expect(bad(26, 0)).toBe(Verdict.Malformed)
        expect(bad(26, 10)).toBe(Verdict.Malformed)
        expect(bad(26, 31)).toBe(Verdict.Malformed)
        expect(bad(9, 0)).toBe(Verdict.Malformed)
        expect(bad(9, 3)).toBe(Verdict.Malformed)
        expect(bad(25, 0)).toBe(Verdict.Malformed) // expiry 0x00000000? no: low byte 20 -> 0 gives expiry 0
        expect(bad(21, 30)).toBe(Verdict.Malformed) // not-before 30 > expiry 20
    })
    test("two signatures must come from two different keys", () => {
        const raw = testEnvelope({ signer: ring[1], cosigner: ring[2], counter: 7, opcode: 1 })
        const e = parseEnvelope(raw) as CommandEnvelope
        expect(e.signatureCount).toBe(2)
        expect(e.sigKeyIds[1]).toBe(3)
        const b = raw.slice(0)
        b[30 + 65] = 2
        expect(parseEnvelope(b)).toBe(Verdict.Malformed)
    })
    test("an oversized envelope is refused before anything else", () => {
        expect(parseEnvelope(Buffer.alloc(30 + 512 + 131))).toBe(Verdict.Malformed)
        expect(parseEnvelope(Buffer.alloc(0))).toBe(Verdict.Malformed)
    })
})
