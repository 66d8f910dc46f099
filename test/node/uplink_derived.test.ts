// Derived register blocks on the uplink (issue 14, docs/uplink.md §4.1 "Derived registers"):
// an interval record's 62-byte register block travels as a 4-bit code when the head-end can
// rebuild it exactly from the previous interval record it holds. The attacks: a derived
// record that would hide a register edit, a forged TOU code, truncated and oversized derived
// forms, a replay after a head-end restart, a head-end that cannot rebuild (never a wedge),
// duplicates. On the code before (no derived form) every frame here that carries one is
// `bad-body` (a length byte above 128 was "field too long"), so the tests that expect a
// store, a `bad-chain` at the derived record or a derived frame's size fail there.
import { test } from "node:test"
import assert from "node:assert/strict"
import * as F from "../../src/wire/frame"
import * as U from "../../src/wire/report"
import { deriveRegisters } from "../../src/wire/derived"
import { encodeInterval } from "../../src/wire/interval"
import { encodeRegisters } from "../../src/wire/registers"
import { TamperReason } from "../../src/wire/record"
import { nodeCrypto as C } from "../../headend/src/crypto.ts"
import { evolveKey, recordHash, sealRecord, verifyChain } from "../../headend/src/chain.ts"
import { chainKey0 } from "../fixtures/chain_k0.ts"
import { HeadEnd, CloneAlert } from "../../headend/src/ingest.ts"
import { generate as generateVectors, JSON_FILE } from "../vectors/uplink_derived_gen.ts"
import { readFileSync } from "node:fs"
import { addMeter, chainKeyOf, createKeystore } from "../../headend/src/keystore.ts"
import { anchorRing } from "../../headend/src/provision.ts"
import { signOpcode } from "../../headend/src/operations.ts"
import { parseAck } from "../../headend/src/commands.ts"
import { Opcode, Verdict } from "../../src/wire/opcodes"
import { privacyArgs, timeSyncArgs } from "../../src/wire/envelope"
import { readHeader } from "../../src/wire/frame"
import { ProtocolMeter, provisionedImage } from "../../sim/src/protocol/meter.ts"

const secret = Buffer.alloc(32, 0x2d)
const idHex = "7e570000000000d2"
const meterId = Buffer.from(idHex, "hex")
const T0 = 1_764_000_000
const key0 = () => chainKey0(secret, meterId)
const upKey = F.deriveFrameKey(C, secret, meterId, 1, 0)

type Regs = { importMWh: number; exportMWh: number; touImportMWh: number[]; touExportMWh: number[] }

/** A meter in Node whose interval records carry the registers at their close, and its frames (compact as the firmware's Uplink sends them). */
function meter() {
    let key = chainKey0(secret, meterId)
    let prev: Uint8Array = new Uint8Array(32)
    const records: Buffer[] = []
    const regs: Regs = { importMWh: 0, exportMWh: 0, touImportMWh: [0, 0, 0, 0], touExportMWh: [0, 0, 0, 0] }
    let counter = 0
    const seal = (kind: number, time: number, payload: Buffer) => {
        const r = Buffer.from(sealRecord(key, kind, records.length, time, payload, prev))
        key = evolveKey(key)
        prev = recordHash(r)
        records.push(r)
    }
    seal(1, 0, meterId)
    return {
        records,
        regs,
        /** an interval: energy into TOU `band` (import and export), or split over two import bands */
        interval(imp: number, exp: number, band = 0, split?: number) {
            const start = T0 + records.length * 1800
            regs.importMWh += imp
            regs.exportMWh += exp
            if (split === undefined) regs.touImportMWh[band] += imp
            else {
                regs.touImportMWh[band] += imp - split
                regs.touImportMWh[(band + 1) % 4] += split
            }
            regs.touExportMWh[band] += exp
            const iv = encodeInterval({ start, lengthMin: 30, status: 0, coveredS: 1800, importMWh: imp, exportMWh: exp })
            seal(0x10, start, Buffer.concat([iv, encodeRegisters(regs)]))
        },
        event(kind: number, payload = Buffer.alloc(0)) {
            seal(kind, T0, payload)
        },
        /** the report of records from..to, as Uplink.step builds it: derived blocks, the held record unless an anchor goes */
        report(from: number, to: number, o: { anchor?: boolean; compact?: boolean } = {}): U.Report {
            const recs = records.slice(from, to + 1).map((data, i) => ({ seq: from + i, data }))
            const last = records.length - 1
            const anchor = o.anchor ?? false
            return {
                privacyLevel: 0,
                records: recs,
                checkpointSeq: last,
                checkpointHash: Buffer.from(recordHash(records[last])),
                anchor,
                // as Uplink.step: the record before the first (or the first); used only without an anchor
                held: o.compact === false ? undefined : records[Math.max(from - 1, 0)],
            }
        },
        seal(body: Buffer, c = ++counter) {
            return F.sealFrame(C, upKey, { version: F.FrameConst.Version, direction: 1, meterId, epoch: 0, counter: c }, body)
        },
        frame(from: number, to: number, o: { anchor?: boolean; compact?: boolean } = {}) {
            return this.seal(U.encodeReport(C, this.report(from, to, o)))
        },
    }
}

function headEnd() {
    const clones: CloneAlert[] = []
    const he = new HeadEnd({ secretOf: id => (id === idHex ? secret : undefined), chainKeyOf: id => (id === idHex ? key0() : undefined), onClone: a => clones.push(a) })
    return { he, clones }
}

const bodyOf = (frame: Buffer) => F.openFrame(C, upKey, frame, 1)
/** the wire records' length bytes of a frame: 0xF0 + code for a derived block */
const lengths = (frame: Buffer) => {
    const b = bodyOf(frame)
    const d = U.decodeReport(b)
    return (d.records ?? []).map(r => (r.derived === undefined ? r.payload.length : 0xf0 + r.derived))
}

test("steady state: each interval's block travels derived (62 bytes less), the head-end stores the meter's exact records", () => {
    const m = meter()
    const { he } = headEnd()
    m.interval(1200, 0)
    let r = he.ingest(m.frame(0, 1))
    assert.ok(r.ok && r.stored === 2)
    for (let i = 0; i < 6; i++) {
        m.interval(300 + i, i % 2 ? 40 : 0, i % 4)
        const s = m.records.length - 1
        const f = m.frame(s, s)
        const full = m.frame(s, s, { compact: false })
        assert.equal(full.length - f.length, 62, "the register block is not on the wire")
        // code: import TOU × 4 + export TOU; the meter's metrology books both in one band
        assert.deepEqual(lengths(f), [0xf0 + 5 * (i % 4)])
        r = he.ingest(f)
        assert.ok(r.ok && r.stored === 1, JSON.stringify(r))
        assert.ok(r.ok && r.ack)
    }
    // what the head-end stored is the meter's store byte for byte, and it verifies from K_0
    assert.deepEqual(he.readings(idHex).map(x => x.data), m.records)
    assert.equal(verifyChain(m.records, key0()).ok, true)
})

test("full blocks where a rebuild would not be exact or the base is not the record before: no base, a tariff edge, after StoreFull, after another record", () => {
    const m = meter()
    m.interval(1000, 0)
    // the first interval of a frame with an anchor: the head-end may hold nothing before it
    assert.deepEqual(lengths(m.frame(1, 1, { anchor: true })), [78])
    m.interval(500, 0, 1)
    m.interval(600, 0, 0, 250) // across a tariff edge: two import registers moved
    m.interval(0, 0) // no energy: code 0
    m.event(0x34, Buffer.alloc(8)) // StoreFull: intervals were not stored
    m.regs.importMWh += 900
    m.regs.touImportMWh[2] += 900
    m.interval(100, 0, 2)
    m.interval(100, 0, 2)
    m.interval(7, 3, 3)
    m.event(0x21) // a power-up record between two intervals: only the record right before serves
    m.interval(7, 3, 3)
    assert.deepEqual(lengths(m.frame(1, m.records.length - 1, { anchor: true })), [78, 0xf5, 78, 0xf0, 8, 78, 0xfa, 0xff, 0, 78])
    const { he } = headEnd()
    const r = he.ingest(m.frame(0, m.records.length - 1))
    assert.ok(r.ok && r.stored === m.records.length, JSON.stringify(r))
    assert.deepEqual(he.readings(idHex).map(x => x.data), m.records)
})

test("a derived record that would hide a register edit is refused: the tag covers the meter's block, the chain rule still runs", () => {
    // the attacker holds the meter's flash (its chain key going forward) and writes records
    // whose registers were edited, tagged validly; sent derived, the head-end rebuilds the
    // block that continuity implies, which is not the tagged one
    const m = meter()
    m.interval(2000, 0)
    m.interval(2000, 0)
    const { he } = headEnd()
    assert.ok(he.ingest(m.frame(0, 2)).ok)
    m.regs.importMWh -= 1500
    m.regs.touImportMWh[0] -= 1500
    m.interval(800, 0) // registers lowered: fraud
    const s = m.records.length - 1
    // the edited block, forced into the derived form (the meter's derivedCode would refuse it)
    const body = U.encodeReport(C, m.report(s, s, { compact: false }))
    const forced = forceDerived(body, 0)
    const r = he.ingest(m.seal(forced))
    assert.ok(!r.ok && r.reason === "bad-chain", JSON.stringify(r))
    assert.equal(r.brokenAt, s)
    assert.equal(r.brokenReason, TamperReason.BadTag)
    assert.equal(he.readings(idHex).length, 3, "nothing stored from the edited record on")
    // sent in full (as the meter does, derivedCode: -1), the continuity rule refuses it
    assert.deepEqual(lengths(m.frame(s, s)), [78])
    const full = he.ingest(m.frame(s, s))
    assert.ok(!full.ok && full.reason === "bad-chain" && full.brokenReason === TamperReason.Registers, JSON.stringify(full))
    // an edited base sent in full and a derived record after it in one frame: the base is refused first
    const m2 = meter()
    m2.interval(2000, 0)
    const { he: he2 } = headEnd()
    assert.ok(he2.ingest(m2.frame(0, 1)).ok)
    m2.regs.importMWh += 5000
    m2.regs.touImportMWh[0] += 5000
    m2.interval(100, 0)
    m2.interval(100, 0)
    assert.deepEqual(lengths(m2.frame(2, 3)), [78, 0xf0])
    const r2 = he2.ingest(m2.frame(2, 3))
    assert.ok(!r2.ok && r2.reason === "bad-chain" && r2.brokenAt === 2 && r2.brokenReason === TamperReason.Registers, JSON.stringify(r2))
})

test("a forged derived form with another TOU code fails the record's tag", () => {
    const m = meter()
    m.interval(1000, 10)
    m.interval(400, 20, 1)
    const { he, clones } = headEnd()
    assert.ok(he.ingest(m.frame(0, 1)).ok)
    const body = U.encodeReport(C, m.report(2, 2))
    assert.deepEqual(lengths(m.seal(body)), [0xf5])
    for (const code of [0, 4, 1, 15]) {
        const r = he.ingest(m.seal(forceDerived(body, code)))
        assert.ok(!r.ok && r.reason === "bad-chain" && r.brokenAt === 2 && r.brokenReason === TamperReason.BadTag, `code ${code}: ${JSON.stringify(r)}`)
    }
    assert.equal(clones.length, 0)
    // the genuine code still goes through
    const ok = he.ingest(m.seal(body))
    assert.ok(ok.ok && ok.stored === 1, JSON.stringify(ok))
})

test("truncated, oversized and misplaced derived forms are malformed bodies", () => {
    const m = meter()
    m.interval(1000, 0)
    m.interval(1000, 0)
    const body = U.encodeReport(C, m.report(2, 2))
    assert.equal(body[8], 0xf0)
    const at = 8 // type, flags, level, count, u32 first seq: the record's length byte
    // truncated: the 16-byte interval or the tag cut short
    for (const cut of [1, 10, 20, 37]) assert.throws(() => U.decodeReport(body.subarray(0, at + cut)), /truncated/)
    // oversized: the full block after a derived length byte is trailing bytes
    const over = Buffer.concat([body.subarray(0, at + 22), m.records[2].subarray(27, 89), body.subarray(at + 22)])
    assert.throws(() => U.decodeReport(over), /trailing|truncated/)
    // length bytes 129..239 are neither a payload length nor a derived form
    for (const n of [129, 0xa0, 0xef]) {
        const b = Buffer.from(body)
        b[at] = n
        assert.throws(() => U.decodeReport(b), /too long/)
    }
    // a derived form of a record that is no interval
    const k = Buffer.from(body)
    k[at + 1] = 0x21
    assert.throws(() => U.decodeReport(k), /no interval/)
    // a derived record that was not rebuilt never becomes a stored record
    assert.throws(() => U.rebuildRecord(U.decodeReport(body).records![0], Buffer.alloc(32)), /not rebuilt/)
    // through the head-end: bad-body, nothing stored
    const { he } = headEnd()
    assert.ok(he.ingest(m.frame(0, 1)).ok)
    const b = Buffer.from(body)
    b[at] = 0xc0
    const r = he.ingest(m.seal(b))
    assert.ok(!r.ok && r.reason === "bad-body", JSON.stringify(r))
})

test("a head-end that cannot rebuild a derived block stores nothing and stays silent; the meter's resend (anchor, full) goes through", () => {
    const m = meter()
    m.interval(1000, 0)
    m.interval(1000, 0)
    const { he } = headEnd()
    // it never received record 1 (the meter believes it did: e.g. an ack of another head-end, a lost database)
    assert.ok(he.ingest(m.frame(0, 0)).ok)
    const r = he.ingest(m.frame(2, 2))
    assert.ok(r.ok && r.stored === 0 && r.ack === undefined && r.ackBody === undefined, JSON.stringify(r))
    // the meter's ack timeout: the resend carries the anchor and therefore no held record (Uplink.step)
    const resend = m.frame(1, 2, { anchor: true })
    assert.deepEqual(lengths(resend), [78, 0xf0])
    const r2 = he.ingest(resend)
    assert.ok(r2.ok && r2.stored === 2 && r2.ack, JSON.stringify(r2))
    assert.deepEqual(he.readings(idHex).map(x => x.data), m.records)
    // a derived first record with an anchor is never rebuilt from a held record (the meter assumed none)
    m.interval(5, 0)
    const withAnchor = U.encodeReport(C, m.report(3, 3, { anchor: true }))
    assert.equal(withAnchor[40], 78, "the meter never derives the first interval of a frame with an anchor")
    const r3 = he.ingest(m.seal(forceDerived(withAnchor, 0, 40)))
    assert.ok(r3.ok && r3.stored === 0 && r3.ack === undefined, JSON.stringify(r3))
})

test("replay after a head-end restart: refused; the next derived frame is rebuilt from the restored records", () => {
    const m = meter()
    m.interval(1000, 0)
    const { he } = headEnd()
    assert.ok(he.ingest(m.frame(0, 1)).ok)
    m.interval(300, 0, 1)
    const f2 = m.frame(2, 2)
    assert.deepEqual(lengths(f2), [0xf5])
    assert.ok(he.ingest(f2).ok)
    // a restart: a new head-end resumed from what the database holds (the newest records, the counters)
    const st = he.meters.get(idHex)!
    const { he: he2, clones } = headEnd()
    let k = Buffer.from(key0())
    for (let i = 0; i < 3; i++) k = Buffer.from(evolveKey(k))
    he2.restore({
        meterId: idHex,
        epoch: 0,
        lastCounter: st.lastCounter,
        recent: new Map([...st.recent.entries()].map(([c, t]) => [c, Buffer.from(t, "latin1")])),
        records: he.readings(idHex),
        chainKey: k,
        aggregatedUpTo: -1,
        cloneSuspected: false,
    })
    const replay = he2.ingest(f2)
    assert.ok(!replay.ok && replay.reason === "replay", JSON.stringify(replay))
    // the ack was lost: the meter sends record 2 again, derived (held = record 1): a duplicate
    const again = he2.ingest(m.frame(2, 2))
    assert.ok(again.ok && again.duplicates === 1 && again.stored === 0 && again.ack, JSON.stringify(again))
    m.interval(50, 9, 1)
    const f3 = m.frame(3, 3)
    assert.deepEqual(lengths(f3), [0xf5])
    const r = he2.ingest(f3)
    assert.ok(r.ok && r.stored === 1, JSON.stringify(r))
    assert.deepEqual(he2.readings(idHex).map(x => x.data), m.records)
    assert.equal(clones.length, 0)
})

test("duplicates: a resent derived record equal to the stored one is a duplicate; another TOU code is another record (forked-chain)", () => {
    const m = meter()
    m.interval(1000, 0)
    m.interval(200, 0, 2)
    m.interval(200, 0, 2)
    const { he, clones } = headEnd()
    assert.ok(he.ingest(m.frame(0, 3)).ok)
    const body = U.encodeReport(C, m.report(2, 3))
    assert.deepEqual(lengths(m.seal(body)), [0xfa, 0xfa])
    const r = he.ingest(m.seal(body))
    assert.ok(r.ok && r.duplicates === 2 && r.stored === 0, JSON.stringify(r))
    const r2 = he.ingest(m.seal(forceDerived(body, 0)))
    assert.ok(!r2.ok && r2.reason === "clone" && r2.evidence?.kind === "forked-chain" && r2.evidence.atSeq === 2, JSON.stringify(r2))
    assert.equal(clones.length, 1)
})

test("deriveRegisters: the totals and the coded TOU registers grow by the interval's energy, u48 little-endian, from the record right before", () => {
    const regs: Regs = { importMWh: 2 ** 40 + 5, exportMWh: 7, touImportMWh: [1, 2 ** 40, 2, 2], touExportMWh: [0, 0, 7, 0] }
    const m = meter()
    m.interval(0, 0)
    const prev = Buffer.concat([m.records[1].subarray(0, 27), encodeRegisters(regs), m.records[1].subarray(89)])
    const iv = encodeInterval({ start: T0, lengthMin: 30, status: 0, coveredS: 1800, importMWh: 4_000_000_000, exportMWh: 3 })
    const d = deriveRegisters(prev, 2, iv, 1 * 4 + 2)!
    assert.deepEqual(d, encodeRegisters({ importMWh: 2 ** 40 + 4_000_000_005, exportMWh: 10, touImportMWh: [1, 2 ** 40 + 4_000_000_000, 2, 2], touExportMWh: [0, 0, 10, 0] }))
    assert.deepEqual(prev.subarray(27, 89), encodeRegisters(regs), "the previous record is not changed")
    // only from record seq − 1, and a record long enough to hold a block
    assert.equal(deriveRegisters(prev, 3, iv, 6), undefined)
    assert.equal(deriveRegisters(prev, 1, iv, 6), undefined)
    // a record shorter than an interval record never serves (DeviceScript's slice would not clamp)
    assert.equal(deriveRegisters(prev.subarray(0, 88), 2, iv, 6), undefined)
    // the meter's choice (encodeReport): import and export in one band (codes 0, 5, 10, 15);
    // import TOU 1 with export TOU 2 goes in full, though the head-end would rebuild code 6
    const rec = (blk: Buffer) => Buffer.concat([Buffer.from("011000000002000000004e", "hex"), iv, blk, Buffer.alloc(48)])
    const wire = (blk: Buffer) => U.decodeReport(U.encodeReport(C, { privacyLevel: 0, records: [{ seq: 2, data: rec(blk) }], held: prev })).records![0]
    assert.equal(wire(d).derived, undefined)
    assert.equal(wire(deriveRegisters(prev, 2, iv, 10)!).derived, 10)
    assert.equal(wire(prev.subarray(27, 89)).derived, undefined)
    const w = wire(deriveRegisters(prev, 2, iv, 15)!)
    assert.equal(w.derived, 15)
    assert.equal(U.expandRecords([w], prev), 1)
    assert.deepEqual(w.payload, rec(deriveRegisters(prev, 2, iv, 15)!).subarray(11, 89))
})

test("golden vectors of the derived form are current (test/vectors/uplink_derived.json) and rebuild the stored records", () => {
    const v = generateVectors()
    assert.deepEqual(JSON.parse(readFileSync(JSON_FILE, "utf8")), JSON.parse(JSON.stringify(v)), "stale: run npx tsx test/vectors/uplink_derived_gen.ts")
    for (const c of v.blocks) assert.equal(deriveRegisters(Buffer.from(c.prev, "hex"), c.seq, Buffer.from(c.interval, "hex"), c.code)!.toString("hex"), c.derived)
    const recs = v.report.records.map(r => ({ seq: r.seq, data: Buffer.from(r.data, "hex") }))
    const body = U.encodeReport(C, { privacyLevel: 0, records: recs, held: Buffer.from(v.report.held, "hex"), checkpointSeq: v.report.checkpointSeq, checkpointHash: Buffer.from(v.report.checkpointHash, "hex") })
    assert.equal(body.toString("hex"), v.frame.body)
    const sealed = F.sealFrame(C, F.deriveFrameKey(C, Buffer.from(v.secret, "hex"), Buffer.from(v.meterId, "hex"), 1, 0), { version: 2, direction: 1, meterId: Buffer.from(v.meterId, "hex"), epoch: 0, counter: v.frame.counter }, body)
    assert.equal(sealed.toString("hex"), v.frame.frame)
    // the receiver's side: decode, rebuild the blocks from the held record, relink: the stored bytes
    const d = U.decodeReport(body)
    assert.equal(U.expandRecords(d.records!, Buffer.from(v.report.held, "hex")), d.records!.length)
    let prev = Buffer.from(recordHash(Buffer.from(v.report.held, "hex")))
    for (const [i, w] of d.records!.entries()) {
        const data = U.rebuildRecord(w, prev)
        assert.deepEqual(data, recs[i].data)
        prev = Buffer.from(recordHash(data))
    }
    // without the held record the first derived block cannot be rebuilt
    assert.equal(U.expandRecords(U.decodeReport(body).records!, undefined), 0)
})

/** A report body with its first record's length byte set to the derived form `code` (and the register block dropped if it was full). */
function forceDerived(body: Buffer, code: number, at = 8): Buffer {
    if (body[at] === 78) return Buffer.concat([Buffer.from([...body.subarray(0, at), 0xf0 + code]), body.subarray(at + 1, at + 22), body.subarray(at + 22 + 62)])
    const b = Buffer.from(body)
    b[at] = 0xf0 + code
    return b
}

test("privacy level switches with derived blocks, protocol meter and head-end: derived at half-hourly, never a frame the head-end cannot rebuild, nothing stuck", async () => {
    // the fleet's protocol meter (sim/src/protocol/meter.ts: the firmware's Uplink rule) against
    // the head-end's ingestion, half-hourly → daily → half-hourly → monthly → half-hourly
    const ks = createKeystore()
    const entry = addMeter(ks, "meter-d")
    const secretB = Buffer.from(entry.secret, "hex")
    const idB = Buffer.from(entry.meterId, "hex")
    const he = new HeadEnd({ secretOf: id => (id === entry.meterId ? secretB : undefined), chainKeyOf: id => (id === entry.meterId ? chainKeyOf(entry) : undefined) })
    const inbox: Buffer[] = []
    let derived = 0
    let full = 0
    let silent = 0
    const refused: string[] = []
    const link = {
        connected: () => true,
        publish: (f: Buffer) => {
            const body = F.openFrame(C, F.deriveFrameKey(C, secretB, idB, 1, readHeader(f).epoch), f, 1)
            const recs = U.decodeReport(body).records ?? []
            for (const w of recs) if (w.kind === 0x10 && w.derived !== undefined) derived++
            else if (w.kind === 0x10) full++
            const r = he.ingest(f)
            if (!r.ok) refused.push(r.reason)
            // a frame with records that stored nothing new and is not acked: the head-end could not rebuild it
            if (recs.length && r.ok && !r.ack && r.stored === 0 && r.duplicates === 0) silent++
            if (r.ok && r.ack) inbox.push(r.ack)
            return true
        },
        reconnect: () => {},
    }
    const meter = new ProtocolMeter(provisionedImage(entry, anchorRing(ks), 1), link, { ackTimeoutMs: 20000 })
    let sim = Date.UTC(2026, 10, 25, 9, 0, 0)
    let real = 1_000_000
    let n = 0
    const run = async (minutes: number) => {
        for (let i = 0; i < minutes; i++) {
            sim += 60_000
            real += 1000
            meter.tick(sim, real)
            while (inbox.length) await meter.onDownlink(inbox.shift()!)
        }
    }
    const command = async (opcode: number, args: Buffer, role: "supplier" | "networkOperator") => {
        const t = Math.floor(sim / 1000)
        const env = signOpcode(ks, entry, opcode, args, { role, now: t, validSeconds: 3600, counter: BigInt(t) * 1_000_000n + BigInt(++n) })
        await meter.onDownlink(he.commandFrame(entry.meterId, env))
        meter.tick(sim, real)
        while (inbox.length) await meter.onDownlink(inbox.shift()!)
        assert.equal(parseAck(meter.answers[meter.answers.length - 1]).verdict, Verdict.Accepted)
    }
    meter.boot(sim, real)
    await run(1)
    await command(Opcode.TimeSync, timeSyncArgs(Math.floor(sim / 1000)), "networkOperator")
    const phases: [number, number][] = [[0, 6 * 60], [1, 26 * 60], [0, 6 * 60], [2, 26 * 60], [0, 6 * 60]]
    const derivedAt: number[] = []
    for (const [level, minutes] of phases) {
        if (level || derivedAt.length) await command(Opcode.SetPrivacy, privacyArgs(level), "supplier")
        const before = derived
        await run(minutes)
        derivedAt.push(derived - before)
    }
    assert.equal(silent, 0, "every frame's derived blocks were rebuilt")
    assert.deepEqual(refused, [], "no frame refused")
    // derived blocks in each half-hourly phase (a phase's first interval after a switch goes in full), none at daily and monthly
    assert.deepEqual(derivedAt.map(x => x > 0), [true, false, true, false, true], JSON.stringify(derivedAt))
    assert.ok(derived > 3 * full, `${derived} derived, ${full} full`)
    // nothing stuck: the store drained, the head-end holds (or covered by reads and passages) up to the meter's head
    const cs = meter.chainState()
    assert.equal(cs.acked, cs.head)
    const st = he.meters.get(entry.meterId)!
    assert.equal(Math.max(st.contiguous, st.aggregatedUpTo), cs.head)
})
