// @timeout 240000
import { describe, test, expect } from "@devicescript/test"
import { ed25519Verify } from "../../src/crypto/ed25519"
import { CounterStore } from "../../src/crypto/counters"
import { findKey } from "../../src/wire/keys"
import { Storage } from "../../src/storage/storage"
import { RamStorage } from "../../src/storage/twins"
import { TestMeter } from "./vectors/envelope_kit"
import { ScenarioStep, STOLEN_NETOP, STOLEN_SUPPLIER, VECTOR_ANCHOR } from "./vectors/envelope"

// The stolen-key property (docs/commands.md §2, "A stolen key"): compromise one non-root
// key, sign everything it can (test/vectors/envelope_gen.ts builds each scenario with the
// head-end's Ed25519), remove it with the root, and the meter works as before under the
// root, with no lasting damage to time, uplink epoch, firmware sequence or counters.
// Real verifier, real Ed25519, RamStorage; a reboot is a new meter over the same flash.
const T0 = 2200000000

/** Runs `steps` in order; returns the meter after the last one. Every verdict and every Ed25519 verification as the generator says. */
async function run(steps: ScenarioStep[]): Promise<TestMeter> {
    const flash: Storage = new RamStorage()
    const verifies = [0]
    const check = async (p: Buffer, msg: Buffer, sig: Buffer) => {
        verifies[0]++
        return await ed25519Verify(p, msg, sig)
    }
    let m = await TestMeter.provisioned(flash, check, Buffer.from(VECTOR_ANCHOR, "hex"))
    let expected = 0
    for (const s of steps) {
        if (s.reboot === 1) m = await TestMeter.provisioned(flash, check, Buffer.from(VECTOR_ANCHOR, "hex"))
        if (s.now >= 0) m.utc = s.now
        m.millis += s.uptimeMs
        const v = await m.send(Buffer.from(s.hex, "hex"))
        expected += s.verifies
        if (v !== s.verdict || verifies[0] !== expected) console.log(`step "${s.name}": verdict ${v}, expected ${s.verdict}; verifications ${verifies[0]}, expected ${expected}`)
        expect(v).toBe(s.verdict)
        expect(verifies[0]).toBe(expected)
    }
    return m
}

async function counterOf(m: TestMeter, id: number): Promise<number> {
    const last = await new CounterStore(m.storage).last(findKey(m.handler.ring.keys, id))
    expect(last[0]).toBe(0)
    return last[1]
}

describe("a stolen non-root key, removed by the root, leaves no lasting damage", () => {
    test("network operator: time syncs, epochs, manifests, counters, a disconnect; the root removes it", async () => {
        const m = await run(STOLEN_NETOP)
        const p = m.handler.policy
        // time: the real time, and the floor with it (not the 7 days the stolen key pushed)
        expect(m.utc).toBe(T0 + 7200)
        expect(p.timeFloor).toBe(T0 + 7200)
        // epoch and sequence: each moved by at most 16 / 1024 a command, and still counting
        expect(m.handler.uplinkEpoch()).toBe(49)
        expect(p.firmwareSequence).toBe(1025)
        // the stolen key is gone; the new one counts from 1; root and supplier untouched
        expect(findKey(m.handler.ring.keys, 3) === undefined).toBe(true)
        expect(m.handler.ring.keys.length).toBe(3)
        expect(await counterOf(m, 6)).toBe(4)
        expect(await counterOf(m, 1)).toBe(3)
        expect(await counterOf(m, 2)).toBe(4)
        // no disconnect by the stolen key; the supplier's was armed again
        expect(m.handler.disconnect.disconnectPending()).toBe(false)
    })
    test("supplier: disconnects, privacy, tariff, counters; the root replaces it", async () => {
        const m = await run(STOLEN_SUPPLIER)
        expect(m.utc).toBe(T0 + 86400)
        expect(m.handler.privacyLevel()).toBe(0)
        // the replaced key id 2 counts from 1 again: the stolen key's far counter did not stay
        expect(await counterOf(m, 2)).toBe(5)
        expect(await counterOf(m, 1)).toBe(1)
        expect(m.handler.disconnect.disconnectPending()).toBe(false)
        expect(m.handler.policy.dualControl).toBe(false)
        expect(m.handler.policy.maxDisconnectsPerDay).toBe(2)
        expect(m.handler.ring.keys.length).toBe(3)
    })
})
