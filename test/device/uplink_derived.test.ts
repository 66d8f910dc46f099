import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { nativeCrypto } from "../../src/crypto/native"
import { recordHash } from "../../src/wire/chain"
import { deriveRegisters } from "../../src/wire/derived"
import { Direction, FrameConst, decodeHeader, deriveFrameKey, sealFrame } from "../../src/wire/frame"
import { UplinkRecord, WireReport, decodeReport, encodeReport, expandRecords, rebuildRecord } from "../../src/wire/report"
import { RamStorage } from "../../src/storage/twins"
import { FakeTransport, ack, boot, downKey, open } from "./uplink_fakes"
import { derivedVectors } from "./vectors/uplink_derived"

// Derived register blocks (docs/uplink.md §4.1) in the firmware's runtime: the golden vectors
// of test/vectors/uplink_derived.json encoded and sealed byte for byte with the runtime's
// crypto, and the firmware's Uplink deciding when a block may travel derived.
const V = derivedVectors
const hex = (b: Buffer) => b.toString("hex")
const vrecs: UplinkRecord[] = []
for (const r of V.report.records) vrecs.push({ seq: r.seq, data: Buffer.from(r.data, "hex") })
const held = Buffer.from(V.report.held, "hex")

/** the wire records' length bytes: 78 full, 0xF0 + code derived */
function lengths(r: WireReport): number[] {
    const out: number[] = []
    for (const w of r.records) out.push(w.derived === undefined ? w.payload.length : 0xf0 + w.derived)
    return out
}

/** The vector meter's records 60.. as a RecordSource: `upTo` grows as the test "appends" */
class VectorSource {
    all: UplinkRecord[] = [{ seq: 60, data: held }]
    upTo = 61
    acked = 59
    constructor() {
        for (const r of vrecs) this.all.push(r)
    }
    head() {
        return { seq: this.upTo, hash: recordHash(nativeCrypto, this.all[this.upTo - 60].data) }
    }
    recordsAfter(seq: number, max: number) {
        const out: UplinkRecord[] = []
        for (const r of this.all) if (r.seq > seq && r.seq <= this.upTo && out.length < max) out.push(r)
        return out
    }
    acknowledge(seq: number, hash: Buffer) {
        this.acked = seq
        return true
    }
    acknowledged() {
        return this.acked
    }
}

describe("uplink: derived register blocks", () => {
    test("deriveRegisters vectors", () => {
        for (const c of V.blocks) expect(hex(deriveRegisters(Buffer.from(c.prev, "hex"), c.seq, Buffer.from(c.interval, "hex"), c.code))).toBe(c.derived)
    })
    test("the firmware encodes and seals the derived vector byte for byte, and rebuilds its records", () => {
        const body = encodeReport(nativeCrypto, {
            privacyLevel: 0,
            records: vrecs,
            held: held,
            checkpointSeq: V.report.checkpointSeq,
            checkpointHash: Buffer.from(V.report.checkpointHash, "hex"),
        })
        expect(hex(body)).toBe(V.frame.body)
        const meterId = Buffer.from(V.meterId, "hex")
        const key = deriveFrameKey(nativeCrypto, Buffer.from(V.secret, "hex"), meterId, Direction.Uplink, 0)
        const h = { version: FrameConst.Version, direction: Direction.Uplink, meterId: meterId, epoch: 0, counter: V.frame.counter }
        expect(hex(sealFrame(nativeCrypto, key, h, body))).toBe(V.frame.frame)
        const d = decodeReport(body)
        const ls = lengths(d)
        for (let i = 0; i < ls.length; i++) expect(ls[i]).toBe(V.lengths[i])
        // the receiver's rebuild, in this runtime: the stored bytes again
        expect(expandRecords(d.records, held)).toBe(vrecs.length)
        let prev = recordHash(nativeCrypto, held)
        for (let i = 0; i < vrecs.length; i++) {
            const data = rebuildRecord(d.records[i], prev)
            expect(hex(data)).toBe(hex(vrecs[i].data))
            prev = recordHash(nativeCrypto, data)
        }
    })
    test("the Uplink sends a block derived only from an interval in the frame or the record the head-end just acked", async () => {
        const src = new VectorSource()
        const tr = new FakeTransport()
        const u = await boot(new RamStorage(), src as any, tr)
        await u.step()
        // after a boot: the anchor, no held record; record 61 is derived from 60 in the same frame
        const r0 = decodeReport(open(tr.sent[0]))
        expect(r0.anchor.length).toBe(32)
        expect(lengths(r0).join()).toBe("78,245")
        await tr.handler(ack(1, 61, decodeHeader(tr.sent[0]).counter, downKey, 0, recordHash(nativeCrypto, vrecs[0].data)))
        // 62 crosses a tariff edge: full, though the head-end holds 61
        src.upTo = 62
        await u.step()
        const r1 = decodeReport(open(tr.sent[1]))
        expect(r1.anchor === undefined).toBe(true)
        expect(lengths(r1).join()).toBe("78")
        await tr.handler(ack(2, 62, decodeHeader(tr.sent[1]).counter, downKey, 0, recordHash(nativeCrypto, vrecs[1].data)))
        // 63 derived from the acked 62 (no energy: code 0), 64 a power-up record
        src.upTo = 64
        await u.step()
        const r2 = decodeReport(open(tr.sent[2]))
        expect(r2.anchor === undefined).toBe(true)
        expect(lengths(r2).join()).toBe("240,1")
        // no ack: the resend carries the anchor and every block in full (the head-end may hold nothing)
        await ds.sleep(10)
        await u.step()
        const r3 = decodeReport(open(tr.sent[3]))
        expect(r3.anchor.length).toBe(32)
        expect(lengths(r3).join()).toBe("78,1")
        // acked up to the power-up record 64: 65 after it goes in full (a shorter record is no base), 66 derived again
        await tr.handler(ack(3, 64, decodeHeader(tr.sent[3]).counter, downKey, 0, recordHash(nativeCrypto, vrecs[3].data)))
        src.upTo = 65
        await u.step()
        const r4 = decodeReport(open(tr.sent[4]))
        expect(r4.anchor === undefined).toBe(true)
        expect(lengths(r4).join()).toBe("78")
        await tr.handler(ack(4, 65, decodeHeader(tr.sent[4]).counter, downKey, 0, recordHash(nativeCrypto, vrecs[4].data)))
        src.upTo = 66
        await u.step()
        expect(lengths(decodeReport(open(tr.sent[5]))).join()).toBe("255")
    })
})
