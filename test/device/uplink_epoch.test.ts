import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { PowerCutStorage, RamStorage } from "../../src/storage/twins"
import { FakeSource, FakeTransport, GatedStorage, boot, firstRepeat, nonces } from "./uplink_fakes"

// An epoch roll and a counter reservation never interleave (docs/uplink.md §5): a (key,
// nonce) pair, i.e. (epoch, counter), is never used twice, whatever lands during a flash
// write and wherever the power goes.

describe("uplink epoch roll vs counter reservation", () => {
    test("a roll that lands while a reservation waits on flash does not inherit the old limit", async () => {
        const ram = new RamStorage()
        const gate = new GatedStorage(ram)
        const src = new FakeSource()
        src.add(2)
        const tr = new FakeTransport()
        const u = await boot(gate, src, tr, 0, 4)
        // the first frame's reservation (epoch 0, limit 4) is stuck in flash
        gate.closed = true
        let done = false
        setTimeout(async () => {
            try {
                await u.step()
            } catch (e) {}
            done = true
        }, 0)
        while (gate.waiting === 0) await ds.sleep(1)
        // the policy has persisted epoch 1 and announces it now
        let rolled = false
        setTimeout(async () => {
            await u.rollEpoch(1)
            rolled = true
        }, 0)
        await ds.sleep(5)
        gate.closed = false
        while (!done || !rolled) await ds.sleep(1)
        src.add(2)
        for (let i = 0; i < 3; i++) {
            src.acked = -1
            await u.step()
        }
        // power cut, reboot: the policy says epoch 1
        const tr2 = new FakeTransport()
        const u2 = await boot(ram, src, tr2, 1, 4)
        for (let i = 0; i < 3; i++) await u2.step()
        const all = nonces(tr.sent, tr2.sent)
        expect(firstRepeat(all) === undefined).toBe(true)
    })
    test("power cut at every write of a roll and the sends around it: no (epoch, counter) twice", async () => {
        for (let n = 0; n < 8; n++) {
            const ram = new RamStorage()
            const cut = new PowerCutStorage(ram)
            const src = new FakeSource()
            src.add(1)
            const tr = new FakeTransport()
            const u = await boot(cut, src, tr, 0, 2)
            await u.step()
            await u.step()
            cut.cutAfter(n)
            let epoch = 0
            try {
                // the policy persists the new epoch (a write of its own), then the roll
                await cut.set("cv.pol", Buffer.from([1]))
                epoch = 1
                await u.rollEpoch(1)
                for (let i = 0; i < 5; i++) await u.step()
            } catch (e) {}
            cut.restore()
            const tr2 = new FakeTransport()
            const u2 = await boot(ram, src, tr2, epoch, 2)
            for (let i = 0; i < 3; i++) await u2.step()
            const all = nonces(tr.sent, tr2.sent)
            const rep = firstRepeat(all)
            if (rep !== undefined) console.log(`cut after ${n}: ${rep} twice in ${all.join(" ")}`)
            expect(rep === undefined).toBe(true)
        }
    })
})
