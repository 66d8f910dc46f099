// The golden vectors (test/vectors/chain.json, generated independently with @noble/hashes)
// against the one chain implementation, src/wire, as the firmware runs it (the runtime's
// crypto); test/node/chain_vectors.test.ts checks the same vectors against it in Node.
import { describe, test, expect } from "@devicescript/test"
import { nativeCrypto } from "../../src/crypto/native"
import { verifySegment } from "../../src/store/chain"
import { getU32BE, setU32BE } from "../../src/wire/bytes"
import {
    checkNext,
    checkpointDigest,
    evolveKey,
    genesisState,
    recordHash,
    seal,
    tagValid,
    GENESIS_PREV,
} from "../../src/wire/chain"
import { TamperReason, decodeRecord, encodeBody, MAX_PAYLOAD } from "../../src/wire/record"
import {
    CHAIN_CHECKPOINT_DIGEST,
    CHAIN_HEAD_HASH,
    CHAIN_HEAD_SEQ,
    CHAIN_KEY0,
    CHAIN_METER_ID,
    CHAIN_RECORDS,
    CHAIN_TAMPER,
} from "./vectors/chain"

const hexb = (s: string) => Buffer.from(s, "hex")
const head = { seq: CHAIN_HEAD_SEQ, hash: hexb(CHAIN_HEAD_HASH) }
const genesisAnchor = { seq: -1, hash: GENESIS_PREV }

describe("index chain: golden vectors (test/vectors/chain.json)", () => {
    test("sealing the vector records gives the same bytes, hashes and keys", () => {
        let st = genesisState(hexb(CHAIN_KEY0))
        for (let i = 0; i < CHAIN_RECORDS.length; i++) {
            const v = CHAIN_RECORDS[i]
            expect(st.key.toString("hex")).toBe(v[3])
            const s = seal(nativeCrypto, st, parseInt(v[0]), parseInt(v[1]), hexb(v[2]))
            expect(s.record.encoded.toString("hex")).toBe(v[4])
            expect(s.state.head.hash.toString("hex")).toBe(v[5])
            expect(recordHash(nativeCrypto, s.record.encoded).toString("hex")).toBe(v[5])
            expect(tagValid(nativeCrypto, hexb(v[3]), s.record.encoded)).toBe(true)
            st = s.state
        }
        expect(st.head.seq).toBe(CHAIN_HEAD_SEQ)
        expect(checkpointDigest(nativeCrypto, hexb(CHAIN_METER_ID), head).toString("hex")).toBe(CHAIN_CHECKPOINT_DIGEST)
    })
    test("the golden chain verifies against its checkpoint", async () => {
        const recs = CHAIN_RECORDS.map(v => hexb(v[4]))
        const r = await verifySegment(recs, genesisAnchor, head)
        expect(r.reason).toBe(TamperReason.None)
        expect(r.head.hash.toString("hex")).toBe(CHAIN_HEAD_HASH)
    })
    test("every tamper case is detected where the vectors say", async () => {
        for (let i = 0; i < CHAIN_TAMPER.length; i++) {
            const c = CHAIN_TAMPER[i]
            const recs = c.slice(3).map(h => hexb(h))
            const r = await verifySegment(recs, genesisAnchor, head)
            if (r.reason !== parseInt(c[1]) || r.at !== parseInt(c[2])) console.log(`${c[0]}: got ${r.reason} ${r.at}, want ${c[1]} ${c[2]}`)
            expect(r.reason).toBe(parseInt(c[1]))
            expect(r.at).toBe(parseInt(c[2]))
        }
    })
    test("a tag under the next key is rejected (keys evolve)", () => {
        const enc = hexb(CHAIN_RECORDS[1][4])
        expect(tagValid(nativeCrypto, hexb(CHAIN_RECORDS[1][3]), enc)).toBe(true)
        expect(tagValid(nativeCrypto, evolveKey(nativeCrypto, hexb(CHAIN_RECORDS[1][3])), enc)).toBe(false)
        expect(tagValid(nativeCrypto, hexb(CHAIN_RECORDS[0][3]), enc)).toBe(false)
    })
    test("the step with a key checks the tag too (what the head-end and a resumed append do)", () => {
        const after0 = { seq: 0, hash: hexb(CHAIN_RECORDS[0][5]) }
        const rec1 = hexb(CHAIN_RECORDS[1][4])
        expect(checkNext(nativeCrypto, after0, rec1, hexb(CHAIN_RECORDS[1][3]))).toBe(TamperReason.None)
        expect(checkNext(nativeCrypto, after0, rec1, hexb(CHAIN_RECORDS[0][3]))).toBe(TamperReason.BadTag)
        expect(checkNext(nativeCrypto, after0, rec1)).toBe(TamperReason.None)
        expect(checkNext(nativeCrypto, after0, undefined)).toBe(TamperReason.Gap)
        expect(checkNext(nativeCrypto, { seq: 1, hash: after0.hash }, rec1)).toBe(TamperReason.Gap)
    })
})

describe("record codec", () => {
    test("u32 big-endian round trip across 2^31 and 2^32-1", () => {
        const b = Buffer.alloc(4)
        const vals = [0, 1, 255, 65536, 2147483647, 2147483648, 4294967295]
        for (let i = 0; i < vals.length; i++) {
            setU32BE(b, 0, vals[i])
            expect(getU32BE(b, 0)).toBe(vals[i])
        }
        setU32BE(b, 0, 4294967295)
        expect(b.toString("hex")).toBe("ffffffff")
    })
    test("malformed records decode to undefined, never throw", () => {
        const good = hexb(CHAIN_RECORDS[1][4])
        expect(decodeRecord(good).seq).toBe(1)
        expect(decodeRecord(good.slice(0, good.length - 1))).toBe(undefined)
        expect(decodeRecord(good.concat(hexb("00")))).toBe(undefined)
        expect(decodeRecord(Buffer.alloc(0))).toBe(undefined)
        const v2 = good.slice(0)
        v2[0] = 2
        expect(decodeRecord(v2)).toBe(undefined)
        const k0 = good.slice(0)
        k0[1] = 0
        expect(decodeRecord(k0)).toBe(undefined)
    })
    test("payloads above the bound are refused", () => {
        let threw = false
        try {
            encodeBody(0x10, 1, 0, Buffer.alloc(MAX_PAYLOAD + 1), GENESIS_PREV)
        } catch (e) {
            threw = true
        }
        expect(threw).toBe(true)
        expect(encodeBody(0x10, 1, 0, Buffer.alloc(MAX_PAYLOAD), GENESIS_PREV).length).toBe(11 + MAX_PAYLOAD + 32)
    })
    test("record hash and checkpoint digest are domain-separated", () => {
        const h = hexb(CHAIN_HEAD_HASH)
        expect(recordHash(nativeCrypto, h).toString("hex") === checkpointDigest(nativeCrypto, hexb(CHAIN_METER_ID), head).toString("hex")).toBe(false)
    })
})
