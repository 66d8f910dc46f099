// @timeout 120000
import { describe, test, expect } from "@devicescript/test"
import { ed25519Verify } from "../../src/crypto/ed25519"
import { rootKey } from "../../src/wire/keys"
import { TestMeter } from "./vectors/envelope_kit"
import { ENVELOPE_STEPS, VECTOR_ANCHOR } from "./vectors/envelope"

// The head-end's golden envelopes (test/vectors/envelope.json), through the real verifier
// with real Ed25519, in order on one meter: each step must get exactly its verdict.
describe("golden envelopes signed by the head-end", () => {
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
})
