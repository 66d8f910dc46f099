import { describe, test, expect } from "@devicescript/test"
import { RamStorage } from "../../src/storage/twins"
import { decodeHeader } from "../../src/wire/frame"
import { AlertKind, decodeReport } from "../../src/wire/report"
import { FrameCounter } from "../../src/comms/counter"
import { Uplink } from "../../src/comms/uplink"
import { PrivacyLevel } from "../../src/wire/opcodes"
import { FakeSource, FakeTransport, ack, downKey, meterId, open, secret } from "./uplink_fakes"

// Privacy levels (docs/uplink.md §8): below half-hourly only whole-period totals leave the
// meter, with registers and checkpoint only in those frames; interval records stay local.
async function daily(src: FakeSource, tr: FakeTransport, storage: RamStorage, maxAggregateRecords?: number) {
    const u = new Uplink({
        meterId: meterId,
        secret: secret,
        storage: storage,
        source: src,
        transport: tr,
        ackTimeoutMs: 1,
        privacyLevel: () => PrivacyLevel.Daily,
        intervalsPerDay: 4,
        maxAggregateRecords: maxAggregateRecords,
        registers: () => Buffer.from("0102", "hex"),
        // the fake record's payload byte 0 is its seq: import = seq Wh, export = 1 Wh
        energy: { importWh: (d: Buffer) => d[11], exportWh: (d: Buffer) => 1 },
    })
    await u.start(false)
    return u
}

describe("uplink privacy: daily level", () => {
    test("no frame until a whole day is stored, then one aggregate per day and no records", async () => {
        const src = new FakeSource()
        const tr = new FakeTransport()
        const storage = new RamStorage()
        const u = await daily(src, tr, storage)
        src.add(3) // seqs 0..2: less than a day, and nothing per interval
        expect(await u.step()).toBe(false)
        expect(tr.sent.length).toBe(0)
        src.add(6) // seqs 0..8: two whole days (0..3, 4..7) and one interval of the third
        expect(await u.step()).toBe(true)
        const r = decodeReport(open(tr.sent[0]))
        expect(r.privacyLevel).toBe(1)
        expect(r.records === undefined).toBe(true)
        expect(r.aggregates.length).toBe(2)
        expect(r.aggregates[0].firstSeq).toBe(0)
        expect(r.aggregates[0].lastSeq).toBe(3)
        expect(r.aggregates[0].importWh).toBe(0 + 1 + 2 + 3)
        expect(r.aggregates[0].exportWh).toBe(4)
        expect(r.aggregates[1].firstSeq).toBe(4)
        expect(r.aggregates[1].lastSeq).toBe(7)
        expect(r.aggregates[1].importWh).toBe(4 + 5 + 6 + 7)
        // registers and the checkpoint only with the totals
        expect(r.registers.length).toBe(2)
        expect(r.checkpointSeq).toBe(8)
        // the head-end acks the last aggregated seq: the next frame waits for the next day
        await tr.handler(ack(1, 7, decodeHeader(tr.sent[0]).counter, downKey))
        expect(u.ackedSeq()).toBe(7)
        expect(await u.step()).toBe(false)
        src.add(3) // seqs up to 11: day 8..11 complete
        expect(await u.step()).toBe(true)
        const r2 = decodeReport(open(tr.sent[1]))
        expect(r2.aggregates.length).toBe(1)
        expect(r2.aggregates[0].firstSeq).toBe(8)
        expect(r2.aggregates[0].importWh).toBe(8 + 9 + 10 + 11)
        expect(r2.records === undefined).toBe(true)
    })
    test("a day longer than the store can hold is aggregated in store-sized parts, so the store never jams", async () => {
        const src = new FakeSource()
        const tr = new FakeTransport()
        const u = await daily(src, tr, new RamStorage(), 3)
        src.add(2) // seqs 0..1: fewer than the cap
        expect(await u.step()).toBe(false)
        src.add(5) // seqs 0..6: two parts of 3 (0..2, 3..5), the day (4) never waited for
        expect(await u.step()).toBe(true)
        const r = decodeReport(open(tr.sent[0]))
        expect(r.records === undefined).toBe(true)
        expect(r.aggregates.length).toBe(2)
        expect(r.aggregates[0].lastSeq).toBe(2)
        expect(r.aggregates[0].importWh).toBe(0 + 1 + 2)
        expect(r.aggregates[1].firstSeq).toBe(3)
        expect(r.aggregates[1].lastSeq).toBe(5)
        await tr.handler(ack(1, 5, decodeHeader(tr.sent[0]).counter, downKey))
        expect(u.ackedSeq()).toBe(5)
    })
})
