// @timeout 120000
import { describe, test, expect } from "@devicescript/test"
import { ed25519Verify } from "../../src/crypto/ed25519"
import { rootKey } from "../../src/wire/keys"
import { TestMeter } from "./vectors/envelope_kit"
import { COSE_TS_STEPS, ENVELOPE_STEPS, VECTOR_ANCHOR } from "./vectors/envelope"

// The head-end's golden commands (test/vectors/envelope.json), through the real verifier
// with real Ed25519, in order on one meter: each step must get exactly its verdict. Then
// commands made by an independent COSE implementation (@ldclabs/cose-ts, payloads by
// cbor2) on a fresh meter.
describe("golden commands signed by the head-end, and by @ldclabs/cose-ts", () => {
    test("every step gets its verdict", async () => {
        const m = await TestMeter.provisioned(undefined, ed25519Verify, Buffer.from(VECTOR_ANCHOR, "hex"))
        for (const s of ENVELOPE_STEPS) {
            m.utc = s.now
            const v = await m.send(Buffer.from(s.hex, "hex"))
            if (v !== s.verdict) console.log(`step "${s.name}": verdict ${v}, expected ${s.verdict}`)
            expect(v).toBe(s.verdict)
        }
        expect(rootKey(m.handler.ring.keys).id).toBe(5)
        // the last arm cancelled the dual-signed disconnect that was still waiting for its offset
        expect(m.handler.disconnect.disconnectPending()).toBe(false)
        expect(m.board.relay.isClosed()).toBe(true)
    })
    test("commands signed by @ldclabs/cose-ts verify on the meter", async () => {
        const m = await TestMeter.provisioned(undefined, ed25519Verify, Buffer.from(VECTOR_ANCHOR, "hex"))
        m.utc = 0
        let accepted = 0
        for (const s of COSE_TS_STEPS) {
            m.utc = s.now
            const v = await m.send(Buffer.from(s.hex, "hex"))
            if (v !== s.verdict) console.log(`cose-ts step "${s.name}": verdict ${v}, expected ${s.verdict}`)
            expect(v).toBe(s.verdict)
            if (v === 0) accepted++
        }
        expect(accepted >= 4).toBe(true)
        expect(m.handler.privacyLevel()).toBe(1)
        expect(m.handler.disconnect.disconnectPending() || !m.board.relay.isClosed()).toBe(true)
    })
})
