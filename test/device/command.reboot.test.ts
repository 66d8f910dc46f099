import { describe, test, expect } from "@devicescript/test"
import { Role, Verdict } from "../../src/wire/opcodes"
import { encodeRing, rootKey } from "../../src/wire/keys"
import { Storage } from "../../src/storage/storage"
import { settingsStorage } from "../../src/storage/settings"
import { PowerCutStorage, RamStorage } from "../../src/storage/twins"
import { KeyRingStore, rootRotate } from "../../src/crypto/keyring"
import { entryArgs, ROOT_MASK, TestMeter, testEnvelope, testKey, testRing } from "./vectors/envelope_kit"

// Replay after a reboot: the counter is persisted before the command acts, so a new boot
// (a new TestMeter over the same flash) refuses the envelope it accepted before.
async function replayAcrossReboot(flash: Storage) {
    const supplier = testRing()[1]
    const env = testEnvelope({ signer: supplier, counter: 1000, opcode: 2 })
    const m = await TestMeter.provisioned(flash)
    expect(await m.send(env)).toBe(Verdict.Accepted)
    const rebooted = await TestMeter.provisioned(flash)
    expect(await rebooted.send(env)).toBe(Verdict.Replay)
    expect(await rebooted.send(testEnvelope({ signer: supplier, counter: 999, opcode: 2 }))).toBe(Verdict.Replay)
    expect(await rebooted.send(testEnvelope({ signer: supplier, counter: 1001, opcode: 2 }))).toBe(Verdict.Accepted)
}

describe("anti-replay across a reboot", () => {
    test("in-memory flash twin", async () => {
        await replayAcrossReboot(new RamStorage())
    })
    test("the real settings flash", async () => {
        const f = settingsStorage
        // start from a blank meter: earlier runs may have left state in the simulator's flash
        for (const k of ["ringa", "ringb", "anchor", "c2a", "c2b", "pola", "polb", "disca", "discb"]) await f.delete("cv." + k)
        await replayAcrossReboot(f)
        const stored = await f.get("cv.c2a")
        expect(stored.length).toBe(4 + 16 + 8)
    })
    test("a root rotation cut short in the real settings flash leaves the old root in force", async () => {
        const f = settingsStorage
        for (const k of ["ringa", "ringb"]) await f.delete("cv." + k)
        await f.set("cv.anchor", encodeRing(testRing()))
        const cut = new PowerCutStorage(f)
        const s = new KeyRingStore(cut)
        expect(await s.load()).toBe(true)
        cut.cutAfter(0, 30)
        let threw = false
        try {
            await s.commit(rootRotate(s.keys, entryArgs(testKey(7, Role.Root, ROOT_MASK, "root2"))).keys)
        } catch (e) {
            threw = true
        }
        expect(threw).toBe(true)
        const after = new KeyRingStore(f)
        expect(await after.load()).toBe(true)
        expect(rootKey(after.keys).id).toBe(1)
        for (const k of ["ringa", "ringb"]) await f.delete("cv." + k)
    })
})
