import { test } from "node:test"
import assert from "node:assert/strict"
import * as F from "../../src/wire/frame"
import * as U from "../../src/wire/report"
import { nodeCrypto as C } from "../../headend/src/crypto.ts"
import { evolveKey, recordHash, sealRecord, verifyChain } from "../../headend/src/chain.ts"
import { chainKey0 } from "../fixtures/chain_k0.ts"
import { HeadEnd, CloneAlert } from "../../headend/src/ingest.ts"

const secret = Buffer.alloc(32, 7)
const idHex = "7e57000000000042"
const meterId = Buffer.from(idHex, "hex")

/** A meter in Node: real index-chain records and real frames. */
function meter() {
    let key = chainKey0(secret, meterId)
    let prev: Uint8Array = new Uint8Array(32)
    const records: Buffer[] = []
    let counter = 0
    return {
        records,
        append(n = 1) {
            for (let i = 0; i < n; i++) {
                const seq = records.length
                const r = Buffer.from(sealRecord(key, 1, seq, 1000 + seq, Buffer.from([seq & 255, 1, 2, 3]), prev))
                key = evolveKey(key)
                prev = recordHash(r)
                records.push(r)
            }
        },
        frame(fromSeq: number, toSeq: number, opts: { counter?: number; epoch?: number; anchor?: boolean; extra?: Partial<U.Report> } = {}) {
            const c = opts.counter ?? ++counter
            const epoch = opts.epoch ?? 0
            const recs = records.slice(fromSeq, toSeq + 1).map((data, i) => ({ seq: fromSeq + i, data }))
            const last = records.length - 1
            const rep: U.Report = {
                privacyLevel: 0,
                records: recs,
                checkpointSeq: last,
                checkpointHash: Buffer.from(recordHash(records[last])),
                anchor: opts.anchor,
                ...opts.extra,
            }
            return F.sealFrame(C, F.deriveFrameKey(C, secret, meterId, 1, epoch), { version: F.FrameConst.Version, direction: 1, meterId, epoch, counter: c }, U.encodeReport(C, rep))
        },
    }
}

function headEnd() {
    const clones: CloneAlert[] = []
    const he = new HeadEnd({ secretOf: id => (id === idHex ? secret : undefined), chainKeyOf: id => (id === idHex ? chainKey0(secret, meterId) : undefined), onClone: a => clones.push(a) })
    return { he, clones }
}

function ackOf(frame: Buffer | undefined, epoch = 0) {
    assert.ok(frame, "an ack was sent")
    return U.decodeDownlink(F.openFrame(C, F.deriveFrameKey(C, secret, meterId, 2, epoch), frame, 2))
}

test("records are stored once, acked by the highest contiguous seq, and the ack opens with the downlink key", () => {
    const m = meter()
    const { he } = headEnd()
    m.append(5)
    const r = he.ingest(m.frame(0, 2))
    assert.ok(r.ok)
    assert.equal(r.ok && r.stored, 3)
    // the ack names record 2 by the first 16 bytes of its record hash (docs/uplink.md §4.2)
    assert.deepEqual(ackOf(r.ok ? r.ack : undefined), { type: U.BodyType.Ack, ackSeq: 2, upCounter: 1, ackHash: Buffer.from(recordHash(m.records[2])).subarray(0, 16) })
    // the meter resends 0..4 (its ack was lost): 0..2 are duplicates, 3..4 new
    const r2 = he.ingest(m.frame(0, 4))
    assert.ok(r2.ok && r2.stored === 2 && r2.duplicates === 3)
    assert.deepEqual(he.readings(idHex).map(x => x.seq), [0, 1, 2, 3, 4])
    // the head-end's incremental chain check agrees with the store's verifier
    const v = verifyChain(m.records, chainKey0(secret, meterId))
    assert.ok(v.ok)
})

test("a replayed frame is rejected and stores nothing", () => {
    const m = meter()
    const { he, clones } = headEnd()
    m.append(2)
    const f = m.frame(0, 1)
    assert.ok(he.ingest(f).ok)
    const r = he.ingest(f)
    assert.deepEqual(r, { ok: false, reason: "replay", meterId: idHex })
    assert.equal(clones.length, 0)
})

test("bad tags, unknown meters, wrong version, reflected acks, garbage, truncation and oversize are counted, never thrown", () => {
    const m = meter()
    const { he } = headEnd()
    m.append(1)
    const f = m.frame(0, 0)
    const flipped = Buffer.from(f)
    flipped[30] ^= 4
    assert.equal((he.ingest(flipped) as any).reason, "bad-tag")
    const other = Buffer.from(f)
    other[8] = 0x99
    assert.equal((he.ingest(other) as any).reason, "unknown-meter")
    const v = Buffer.from(f)
    v[0] = 9
    assert.equal((he.ingest(v) as any).reason, "version")
    // the head-end's own ack sent back up (reflection): the uplink nonce and key differ
    const r0 = he.ingest(m.frame(0, 0, { counter: 77 }))
    assert.ok(r0.ok && r0.ack)
    assert.equal((he.ingest(r0.ack) as any).reason, "bad-tag")
    assert.equal((he.ingest(f.subarray(0, 30)) as any).reason, "malformed")
    assert.equal((he.ingest(Buffer.alloc(5000)) as any).reason, "oversized")
    for (let i = 0; i < 500; i++) {
        const g = Buffer.from(Array.from({ length: i % 120 }, (_, j) => (i * 13 + j * 7) & 255))
        assert.equal(he.ingest(g).ok, false)
    }
    // still works afterwards
    assert.ok(he.ingest(m.frame(0, 0, { counter: 78 })).ok)
    assert.ok(he.rejected["bad-tag"] >= 1 && he.rejected["malformed"] >= 1)
})

test("an authentic report whose records break the chain is rejected as bad-chain", () => {
    const m = meter()
    const { he } = headEnd()
    m.append(3)
    m.records[1] = Buffer.from(m.records[1])
    m.records[1][12] ^= 1 // the meter's own store corrupted: tag fails
    const r = he.ingest(m.frame(0, 2))
    assert.ok(!r.ok && r.reason === "bad-chain")
})

test("clone: a second device reusing a counter with different content raises a clone alert", () => {
    const a = meter()
    const { he, clones } = headEnd()
    a.append(3)
    assert.ok(he.ingest(a.frame(0, 1, { counter: 10 })).ok)
    // the copy sends an authentic but different frame under counter 10
    const r = he.ingest(a.frame(0, 2, { counter: 10 }))
    assert.ok(!r.ok && r.reason === "clone")
    assert.equal(clones[0].evidence, "counter-regression")
})

test("clone: a forked chain (same seq, other record) raises a clone alert", () => {
    const a = meter()
    const b = meter()
    const { he, clones } = headEnd()
    a.append(3)
    b.append(2)
    // b's records differ in time and payload from a's from seq 0 on... make them share 0..1
    b.records[0] = a.records[0]
    assert.ok(he.ingest(a.frame(0, 2, { counter: 1 })).ok)
    b.records.push(Buffer.from(a.records[2]))
    b.records[2] = Buffer.from(a.records[2])
    b.records[2][7] ^= 1 // another reading at seq 2, signed by the same key
    const r = he.ingest(b.frame(2, 2, { counter: 50 }))
    assert.ok(!r.ok && r.reason === "clone")
    assert.equal(clones[0].evidence, "forked-chain")
})

test("epochs: frames of an older epoch are rejected after a roll; counters restart per epoch", () => {
    const m = meter()
    const { he } = headEnd()
    m.append(2)
    assert.ok(he.ingest(m.frame(0, 0, { counter: 100 })).ok)
    const r = he.ingest(m.frame(0, 1, { counter: 1, epoch: 1 }))
    assert.ok(r.ok)
    assert.equal(ackOf(r.ok ? r.ack : undefined, 1).ackSeq, 1)
    assert.equal((he.ingest(m.frame(0, 1, { counter: 101, epoch: 0 })) as any).reason, "stale-epoch")
})

test("records travel without prev hash; the head-end rebuilds the exact stored bytes and the chain verifies", () => {
    const m = meter()
    const { he } = headEnd()
    m.append(6)
    assert.ok(he.ingest(m.frame(0, 1)).ok)
    // steady state: one record per frame, no anchor: prev comes from the stored record 1
    for (let s = 2; s < 6; s++) {
        const r = he.ingest(m.frame(s, s))
        assert.ok(r.ok && r.stored === 1, JSON.stringify(r))
    }
    const rs = he.readings(idHex)
    assert.deepEqual(rs.map(r => r.data.toString("hex")), m.records.map(r => r.toString("hex")))
    // the checkpoint the meter sent (implicitly: its last record) is what the head-end keeps
    const st = he.meters.get(idHex)!
    assert.equal(st.checkpoint!.seq, 5)
    assert.ok(st.checkpoint!.hash.equals(Buffer.from(recordHash(m.records[5]))))
    assert.ok(verifyChain(rs.map(r => r.data), chainKey0(secret, meterId), { checkpoint: st.checkpoint }).ok)
})

test("a cut tail shows: the checkpoint names records the head-end never received", () => {
    const m = meter()
    const { he } = headEnd()
    m.append(5)
    // the frame carries records 0..2 but the meter's head (checkpoint) is 4
    assert.ok(he.ingest(m.frame(0, 2)).ok)
    const st = he.meters.get(idHex)!
    assert.equal(st.checkpoint!.seq, 4)
    const v = verifyChain(he.readings(idHex).map(r => r.data), chainKey0(secret, meterId), { checkpoint: st.checkpoint })
    assert.deepEqual(v, { ok: false, reason: "truncated", at: 3 })
})

test("a head-end without the meter's past needs the anchor; a wrong anchor is a broken chain", () => {
    const m = meter()
    m.append(5)
    const { he } = headEnd()
    // records 3..4 without anchor: nothing can be rebuilt, nothing stored, no ack
    const r = he.ingest(m.frame(3, 4))
    assert.ok(r.ok && r.stored === 0 && r.ack === undefined)
    // with the anchor (record 3's prev) they are rebuilt and their tags verified
    const r2 = he.ingest(m.frame(3, 4, { anchor: true }))
    assert.ok(r2.ok && r2.stored === 2)
    assert.equal(ackOf(r2.ok ? r2.ack : undefined).ackSeq, 4)
    assert.ok(he.readings(idHex)[1].data.equals(m.records[4]))
    // a resend of 3..4 with the anchor is a duplicate; a lying anchor is not
    assert.ok((he.ingest(m.frame(3, 4, { anchor: true })) as any).duplicates === 2)
    const m2 = meter()
    m2.append(5)
    const { he: he2 } = headEnd()
    assert.ok(he2.ingest(m2.frame(0, 2)).ok)
    const lying = Buffer.from(m2.records[3])
    lying.fill(0x42, 11 + 4, 43 + 4) // prev field of record 3 replaced
    const sealed = F.sealFrame(C, F.deriveFrameKey(C, secret, meterId, 1, 0), { version: F.FrameConst.Version, direction: 1, meterId, epoch: 0, counter: 99 }, U.encodeReport(C, { privacyLevel: 0, records: [{ seq: 3, data: lying }], anchor: true }))
    assert.equal((he2.ingest(sealed) as any).reason, "bad-chain")
})

test("a record whose stored prev link is wrong fails its tag after the rebuild", () => {
    const m = meter()
    m.append(3)
    const { he } = headEnd()
    assert.ok(he.ingest(m.frame(0, 0)).ok)
    // the meter re-links record 1 to another predecessor (its tag was made over the true prev)
    const relinked = Buffer.from(m.records[1])
    relinked.fill(0x42, 15, 47)
    const f = F.sealFrame(C, F.deriveFrameKey(C, secret, meterId, 1, 0), { version: F.FrameConst.Version, direction: 1, meterId, epoch: 0, counter: 50 }, U.encodeReport(C, { privacyLevel: 0, records: [{ seq: 1, data: relinked }], anchor: true }))
    assert.equal((he.ingest(f) as any).reason, "bad-chain")
    assert.deepEqual(he.readings(idHex).map(r => r.seq), [0])
})
