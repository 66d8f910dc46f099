import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { RamStorage } from "../../src/storage/twins"
import { decodeHeader } from "../../src/wire/frame"
import { AlertKind, decodeReport } from "../../src/wire/report"
import { FrameCounter } from "../../src/comms/counter"
import { Uplink } from "../../src/comms/uplink"
import { PrivacyLevel } from "../../src/wire/opcodes"
import { FakeSource, FakeTransport, ack, boot, downKey, filled, open } from "./uplink_fakes"

describe("uplink engine: anchors and alerts across reboots and timeouts", () => {
    test("the anchor goes with the first frame after a boot and after an ack timeout, not in steady state", async () => {
        const src = new FakeSource()
        src.add(3)
        src.acked = 0
        const storage = new RamStorage()
        const tr = new FakeTransport()
        const u = await boot(storage, src, tr)
        await u.step()
        // after a boot the head-end may not hold record 0: the anchor is record 1's prev hash
        const r0 = decodeReport(open(tr.sent[0]))
        expect(r0.records[0].seq).toBe(1)
        expect(r0.anchor[0]).toBe(1)
        await tr.handler(ack(1, 1, decodeHeader(tr.sent[0]).counter, downKey))
        src.add(1)
        await u.step()
        expect(decodeReport(open(tr.sent[1])).anchor === undefined).toBe(true)
        // no ack: the resend carries the anchor again (the head-end may have lost its state)
        await ds.sleep(10)
        await u.step()
        const r2 = decodeReport(open(tr.sent[2]))
        expect(r2.records[0].seq).toBe(2)
        expect(r2.anchor[0]).toBe(2)
    })
    test("pending alerts survive a reboot until an ack clears them; a flood costs one flash write", async () => {
        const src = new FakeSource()
        // the genesis record: an ack names a record the meter holds (docs/uplink.md §4.2)
        src.add(1)
        const storage = new RamStorage()
        const tr = new FakeTransport()
        const u = await boot(storage, src, tr)
        u.raiseAlert(AlertKind.Tamper)
        u.raiseAlert(AlertKind.Tamper)
        const w0 = storage.writes
        for (let i = 0; i < 50; i++) u.raiseAlert(AlertKind.BadDownlink)
        await u.step()
        // one write for the new kinds, not one per alert
        expect(storage.writes - w0 <= 3).toBe(true)
        const c0 = decodeHeader(tr.sent[0]).counter
        expect(decodeReport(open(tr.sent[0])).alerts.length).toBe(2)
        // power cut before the ack: the next boot still owes both alerts
        const tr2 = new FakeTransport()
        const u2 = await boot(storage, src, tr2)
        await u2.step()
        const r = decodeReport(open(tr2.sent[0]))
        let tamper = 0
        for (const a of r.alerts) if (a.kind === AlertKind.Tamper) tamper = a.count
        expect(tamper).toBe(2)
        // acked: cleared, also in flash
        await tr2.handler(ack(1, 0, decodeHeader(tr2.sent[0]).counter, downKey))
        await u2.step()
        const u3 = await boot(storage, src, new FakeTransport())
        expect(await u3.step()).toBe(false)
        expect(c0 > 0).toBe(true)
    })
})
