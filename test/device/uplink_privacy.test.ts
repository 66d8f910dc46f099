import { describe, test, expect } from "@devicescript/test"
import { nativeCrypto } from "../../src/crypto/native"
import { RamStorage } from "../../src/storage/twins"
import { concatBytes, equalBytes, getUintLE, setUintLE } from "../../src/wire/bytes"
import { recordHash } from "../../src/wire/chain"
import { decodeHeader } from "../../src/wire/frame"
import { NO_READ, UplinkRecord, WireReport, decodeReport } from "../../src/wire/report"
import { RecordKind, encodeBody } from "../../src/wire/record"
import { Opcode, PrivacyLevel } from "../../src/wire/opcodes"
import { ChainHead, Uplink } from "../../src/comms/uplink"
import { FakeTransport, ack, downKey, meterId, open, secret } from "./uplink_fakes"

// Privacy levels on the firmware's uplink (docs/uplink.md §8, issue 14): the meter's own
// Uplink over a store of real v1 records (interval records with their register block at the
// close, the chain's SetPrivacy records), against a head-end that acks as it likes.
// On the old uplink (totals over the records after the acknowledged one) the first test
// received sums over a sliding window, the second received the records taken under the
// daily level as half-hourly records.

/** 2026-11-25 00:00 UTC */
const DAY0 = 1795564800

/** A store of real records: intervals of 30 min from DAY0 (import 1000 + seq Wh each), and level changes. */
class Chain {
    recs: UplinkRecord[] = []
    acked = -1
    importMWh = 0
    slot = 0
    interval() {
        const p = Buffer.alloc(78)
        const e = (1000 + this.recs.length) * 1000
        this.importMWh += e
        setUintLE(p, 0, 4, DAY0 + 1800 * this.slot)
        p[4] = 30
        setUintLE(p, 6, 2, 1800)
        setUintLE(p, 8, 4, e)
        p[16] = 1
        p[17] = 4
        setUintLE(p, 18, 6, this.importMWh)
        setUintLE(p, 30, 6, this.importMWh)
        this.add(RecordKind.IntervalClose, DAY0 + 1800 * this.slot, p)
        this.slot++
    }
    /** the chain's record of an accepted SetPrivacy: detail = old × 256 + new */
    setPrivacy(old: number, level: number) {
        const p = Buffer.alloc(14)
        p[0] = Opcode.SetPrivacy
        p[12] = old
        p[13] = level
        this.add(RecordKind.CommandAccepted, DAY0 + 1800 * this.slot, p)
    }
    add(kind: number, time: number, payload: Buffer) {
        const seq = this.recs.length
        const prev = seq ? recordHash(nativeCrypto, this.recs[seq - 1].data) : Buffer.alloc(32)
        const tag = Buffer.alloc(16)
        tag[0] = seq
        this.recs.push({ seq: seq, data: concatBytes(encodeBody(kind, seq, time, payload, prev), tag) })
    }
    head(): ChainHead {
        const n = this.recs.length
        return { seq: n - 1, hash: n ? recordHash(nativeCrypto, this.recs[n - 1].data) : Buffer.alloc(32) }
    }
    recordsAfter(seq: number, max: number) {
        return this.recs.slice(seq + 1, seq + 1 + max)
    }
    acknowledge(seq: number, hash: Buffer) {
        const r = this.recs[seq]
        if (!r || !equalBytes(hash, recordHash(nativeCrypto, r.data).slice(0, hash.length))) return false
        this.acked = seq
        return true
    }
    acknowledged() {
        return this.acked
    }
    /** the import register (Wh) at the close of record `seq` */
    importWh(seq: number) {
        return Math.floor(getUintLE(this.recs[seq].data, 11 + 18, 6) / 1000)
    }
}

async function meter(chain: Chain, tr: FakeTransport, level: number) {
    const u = new Uplink({
        meterId: meterId,
        secret: secret,
        storage: new RamStorage(),
        source: chain,
        transport: tr,
        ackTimeoutMs: 1,
        privacyLevel: () => level,
        maxAggregateRecords: 18,
    })
    await u.start(false)
    return u
}

/** Steps the uplink once, returns the report it sent (or undefined) */
async function send(u: Uplink, tr: FakeTransport): Promise<WireReport> {
    const n = tr.sent.length
    await u.step()
    return tr.sent.length > n ? decodeReport(open(tr.sent[tr.sent.length - 1])) : undefined
}

let dl = 0
async function ackSeq(tr: FakeTransport, chain: Chain, seq: number) {
    await tr.handler(ack(++dl, seq, decodeHeader(tr.sent[tr.sent.length - 1]).counter, downKey, 0, recordHash(nativeCrypto, chain.recs[seq].data)))
}

describe("uplink privacy: fixed periods, whatever the head-end acks", () => {
    test("daily: a head-end that acks one record at a time gets only the registers at each UTC day's close", async () => {
        const chain = new Chain()
        const tr = new FakeTransport()
        const u = await meter(chain, tr, PrivacyLevel.Daily)
        // the last interval record of day 0 and of day 1: seq 47 and 95
        const reads: number[] = []
        let frames = 0
        for (let i = 0; i < 100; i++) {
            chain.interval()
            // the head-end acks every frame with the next record only
            for (let k = 0; k < 3; k++) {
                const r = await send(u, tr)
                if (!r) break
                frames++
                expect(r.records === undefined).toBe(true)
                for (const g of r.aggregates) {
                    if (g.importWh === NO_READ) continue
                    // a read: the day's last record, its register at the close, whatever the cursor
                    expect(g.lastSeq === 47 || g.lastSeq === 95).toBe(true)
                    expect(g.importWh).toBe(chain.importWh(g.lastSeq))
                    reads.push(g.lastSeq)
                }
                if (r.registers) expect(getUintLE(r.registers, 2, 6)).toBe(chain.importWh(reads[reads.length - 1]) * 1000)
                const next = chain.acked + 1
                if (next <= chain.head().seq) await ackSeq(tr, chain, next)
            }
        }
        expect(frames > 10).toBe(true)
        expect(reads.indexOf(47) >= 0 && reads.indexOf(95) >= 0).toBe(true)
    })

    test("records taken under the daily level never leave as records once the level is half-hourly again", async () => {
        const chain = new Chain()
        const tr = new FakeTransport()
        const u = await meter(chain, tr, PrivacyLevel.HalfHourly)
        chain.interval()
        let r = await send(u, tr)
        expect(r.records.length).toBe(1)
        await ackSeq(tr, chain, 0)
        chain.setPrivacy(0, 1)
        const daily = chain.recs.length
        for (let i = 0; i < 6; i++) chain.interval()
        chain.setPrivacy(1, 0)
        const back = chain.recs.length - 1
        chain.interval()
        for (let k = 0; k < 6; k++) {
            r = await send(u, tr)
            if (!r) break
            if (r.records) for (const w of r.records) expect(w.seq >= back).toBe(true)
            // what covers the daily records: a passage (no values)
            if (r.aggregates) for (const g of r.aggregates) expect(g.importWh).toBe(NO_READ)
            const last = r.records ? r.records[r.records.length - 1].seq : r.aggregates ? r.aggregates[r.aggregates.length - 1].lastSeq : -1
            if (last >= 0) await ackSeq(tr, chain, last)
        }
        expect(chain.acked).toBe(chain.head().seq)
        expect(daily > 0).toBe(true)
    })

    test("daily → half-hourly → daily: frames keep coming, every ack frees records, the store drains", async () => {
        const chain = new Chain()
        const tr = new FakeTransport()
        const u = await meter(chain, tr, PrivacyLevel.Daily)
        let level = 1
        for (let i = 0; i < 150; i++) {
            chain.interval()
            if (i === 40 || i === 90) {
                chain.setPrivacy(level, 1 - level)
                level = 1 - level
            }
            for (let k = 0; k < 3; k++) {
                const r = await send(u, tr)
                if (!r) break
                const last = r.records ? r.records[r.records.length - 1].seq : r.aggregates ? r.aggregates[r.aggregates.length - 1].lastSeq : -1
                if (r.records) expect(level).toBe(0)
                if (last >= 0) await ackSeq(tr, chain, last)
            }
            // never more waiting than a passage's worth (18) and a few
            expect(chain.head().seq - chain.acked <= 20).toBe(true)
        }
    })
})
