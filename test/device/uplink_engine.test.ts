import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { RamStorage } from "../../src/storage/twins"
import { decodeHeader } from "../../src/wire/frame"
import { AlertKind, decodeReport } from "../../src/wire/report"
import { FrameCounter } from "../../src/comms/counter"
import { Uplink } from "../../src/comms/uplink"
import { PrivacyLevel } from "../../src/wire/opcodes"
import { FakeSource, FakeTransport, ack, boot, downKey, filled, open } from "./uplink_fakes"

describe("uplink engine", () => {
    test("frame counters never repeat across simulated reboots and power cuts", async () => {
        const storage = new RamStorage()
        let last = 0
        for (let boot = 0; boot < 6; boot++) {
            const c = new FrameCounter(storage, "up.fc", 4)
            await c.open(0)
            // a power cut after 0..6 frames
            for (let i = 0; i < boot + 1; i++) {
                const v = await c.next()
                expect(v > last).toBe(true)
                last = v
            }
        }
        // a new epoch starts again at 1
        const c = new FrameCounter(storage, "up.fc", 4)
        await c.open(1)
        expect(await c.next()).toBe(1)
    })
    test("backlog goes in bounded frames; an authentic ack frees records", async () => {
        const src = new FakeSource()
        src.add(10)
        const tr = new FakeTransport()
        const storage = new RamStorage()
        const u = await boot(storage, src, tr)
        expect(await u.step()).toBe(true)
        const r = decodeReport(open(tr.sent[0]))
        expect(r.records.length).toBe(4)
        await tr.handler(ack(1, 3, decodeHeader(tr.sent[0]).counter, downKey))
        expect(u.ackedSeq()).toBe(3)
        expect(src.acked).toBe(3)
        expect(await u.step()).toBe(true)
        const r1 = decodeReport(open(tr.sent[1]))
        expect(r1.records[0].seq).toBe(4)
        // the head-end just acked record 3: record 4 goes without its prev hash
        expect(r1.anchor === undefined).toBe(true)
        expect(r1.records[0].payload[0]).toBe(4)
    })
    test("forged, replayed and inflated acks never make the meter forget data", async () => {
        const src = new FakeSource()
        src.add(6)
        const tr = new FakeTransport()
        const storage = new RamStorage()
        const u = await boot(storage, src, tr)
        await u.step()
        const c0 = decodeHeader(tr.sent[0]).counter
        // forged: wrong key
        await tr.handler(ack(1, 3, c0, filled(32, 5)))
        expect(u.ackedSeq()).toBe(-1)
        // inflated: beyond what was sent (records 0..3 only)
        await tr.handler(ack(2, 5, c0, downKey))
        expect(u.ackedSeq()).toBe(-1)
        // authentic
        const good = ack(3, 1, c0, downKey)
        await tr.handler(good)
        expect(u.ackedSeq()).toBe(1)
        // replay of an older authentic ack, and of the same one
        await tr.handler(ack(2, 3, c0, downKey))
        await tr.handler(good)
        expect(u.ackedSeq()).toBe(1)
        expect(src.acked).toBe(1)
        // garbage
        await tr.handler(Buffer.alloc(0))
        await tr.handler(filled(100, 7))
        // forged, two replays and two garbage frames (the inflated ack authenticates but is ignored)
        expect(u.stats.downlinkRejected).toBe(5)
    })
    test("after a reboot unacked records are resent with fresh counters", async () => {
        const src = new FakeSource()
        src.add(3)
        const tr = new FakeTransport()
        const storage = new RamStorage()
        const u = await boot(storage, src, tr)
        await u.step()
        const c0 = decodeHeader(tr.sent[0]).counter
        // power cut before any ack
        const tr2 = new FakeTransport()
        const u2 = await boot(storage, src, tr2)
        await u2.step()
        const c1 = decodeHeader(tr2.sent[0]).counter
        expect(c1 > c0).toBe(true)
        expect(decodeReport(open(tr2.sent[0])).records[0].seq).toBe(0)
        // no ack: resent after the timeout, again with a new counter
        await ds.sleep(10)
        await u2.step()
        expect(tr2.sent.length).toBe(2)
        expect(decodeHeader(tr2.sent[1]).counter > c1).toBe(true)
    })
})
