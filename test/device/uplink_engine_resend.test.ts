import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { Direction, FrameConst, deriveFrameKey, decodeHeader, openFrame, sealFrame } from "../../src/comms/frame"
import { AlertKind, decodeReport, encodeAck } from "../../src/comms/report"
import { FrameCounter } from "../../src/comms/counter"
import { MemoryFlash } from "../../src/comms/flash"
import { ChainHead, Uplink, UplinkTransport } from "../../src/comms/uplink"
import { UplinkRecord } from "../../src/comms/report"
import { FakeSource, FakeTransport, ack, boot, downKey, filled, upKey } from "./uplink_fakes"

describe("uplink engine: anchors and alerts across reboots and timeouts", () => {
    test("the anchor goes with the first frame after a boot and after an ack timeout, not in steady state", async () => {
        const src = new FakeSource()
        src.add(3)
        src.acked = 0
        const flash = new MemoryFlash()
        await flash.write("up.ack", 0)
        const tr = new FakeTransport()
        const u = await boot(flash, src, tr)
        await u.step()
        // after a boot the head-end may not hold record 0: the anchor is record 1's prev hash
        const r0 = decodeReport(openFrame(upKey, tr.sent[0], Direction.Uplink))
        expect(r0.records[0].seq).toBe(1)
        expect(r0.anchor[0]).toBe(1)
        await tr.handler(ack(1, 1, decodeHeader(tr.sent[0]).counter, downKey))
        src.add(1)
        await u.step()
        expect(decodeReport(openFrame(upKey, tr.sent[1], Direction.Uplink)).anchor === undefined).toBe(true)
        // no ack: the resend carries the anchor again (the head-end may have lost its state)
        await ds.sleep(10)
        await u.step()
        const r2 = decodeReport(openFrame(upKey, tr.sent[2], Direction.Uplink))
        expect(r2.records[0].seq).toBe(2)
        expect(r2.anchor[0]).toBe(2)
    })
    test("pending alerts survive a reboot until an ack clears them; a flood costs one flash write", async () => {
        const src = new FakeSource()
        const flash = new MemoryFlash()
        const tr = new FakeTransport()
        const u = await boot(flash, src, tr)
        u.raiseAlert(AlertKind.Tamper)
        u.raiseAlert(AlertKind.Tamper)
        const w0 = flash.writes
        for (let i = 0; i < 50; i++) u.raiseAlert(AlertKind.BadDownlink)
        await u.step()
        // one write for the new kinds, not one per alert
        expect(flash.writes - w0 <= 3).toBe(true)
        const c0 = decodeHeader(tr.sent[0]).counter
        expect(decodeReport(openFrame(upKey, tr.sent[0], Direction.Uplink)).alerts.length).toBe(2)
        // power cut before the ack: the next boot still owes both alerts
        const tr2 = new FakeTransport()
        const u2 = await boot(flash, src, tr2)
        await u2.step()
        const r = decodeReport(openFrame(upKey, tr2.sent[0], Direction.Uplink))
        let tamper = 0
        for (const a of r.alerts) if (a.kind === AlertKind.Tamper) tamper = a.count
        expect(tamper).toBe(2)
        // acked: cleared, also in flash
        await tr2.handler(ack(1, 0, decodeHeader(tr2.sent[0]).counter, downKey))
        await u2.step()
        const u3 = await boot(flash, src, new FakeTransport())
        expect(await u3.step()).toBe(false)
        expect(c0 > 0).toBe(true)
    })
})
