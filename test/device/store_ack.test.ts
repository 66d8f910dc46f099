import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { IndexStore, KEY_HEAD } from "../../src/store/indexstore"
import { memoryFlash, MemoryFlash } from "../../src/store/flash"
import { RecordKind, TamperReason, decodeRecord, getU32BE } from "../../src/store/record"
import { chainKey0, evolveKey, tagValid, verifySegment, GENESIS_PREV } from "../../src/store/chain"

const ID = Buffer.from("7e57000000000001", "hex")
const SECRET = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex")

async function open(f: MemoryFlash, slots = 6, onAlert?: (k: number, p: Buffer) => void) {
    return await IndexStore.open({ meterId: ID, meterSecret: SECRET, flash: f, slots: slots, onAlert: onAlert, snapshotPeriodMs: 1000 })
}

function interval(n: number) {
    const b = Buffer.alloc(4)
    b.setAt(0, "u32", n)
    return b
}

/** What the head-end does: links against the head, and every tag from K_0. */
async function headEndCheck(s: IndexStore) {
    const recs = s.recordsAfter(-1, 1000)
    const first = decodeRecord(recs[0]).seq
    let key = chainKey0(SECRET, ID)
    for (let i = 0; i < first; i++) key = evolveKey(key)
    for (let i = 0; i < recs.length; i++) {
        expect(tagValid(key, recs[i])).toBe(true)
        key = evolveKey(key)
    }
    const anchor = first === 0 ? { seq: -1, hash: GENESIS_PREV } : { seq: first - 1, hash: decodeRecord(recs[0]).prev }
    const v = await verifySegment(recs, anchor, s.head())
    expect(v.ok).toBe(true)
    return recs
}

describe("index store: acknowledgements and a full store", () => {
    test("unacknowledged records are never evicted: one StoreFull record, then refusals", async () => {
        const f = memoryFlash()
        const alerts: number[] = []
        const s = await open(f, 6, (k, p) => alerts.push(k))
        // slots 0..5: genesis + 4 records, the 6th slot takes the StoreFull alert
        for (let i = 1; i <= 4; i++) expect((await s.append(RecordKind.IntervalClose, 0, interval(i))).seq).toBe(i)
        expect(await s.append(RecordKind.IntervalClose, 0, interval(5))).toBe(null)
        expect(s.isFull()).toBe(true)
        expect(s.head().seq).toBe(5)
        expect(decodeRecord(s.recordsAfter(4, 1)[0]).kind).toBe(RecordKind.StoreFull)
        expect(alerts.length).toBe(1)
        expect(alerts[0]).toBe(RecordKind.StoreFull)
        expect(await s.append(RecordKind.IntervalClose, 0, interval(6))).toBe(null)
        expect(s.head().seq).toBe(5)
        // every unacknowledged record is still there
        expect(s.recordsAfter(-1, 100).length).toBe(6)
        // an ack frees the slots up to it
        expect(await s.acknowledge(3)).toBe(true)
        expect(s.isFull()).toBe(false)
        expect((await s.append(RecordKind.IntervalClose, 0, interval(7))).seq).toBe(6)
        const s2 = await open(f, 6)
        expect(s2.verdict().ok).toBe(true)
        expect(s2.acknowledged()).toBe(3)
        expect(s2.head().seq).toBe(6)
        // seq 0 was overwritten by seq 6; 1..6 remain
        expect(decodeRecord(s2.recordsAfter(-1, 100)[0]).seq).toBe(1)
        await headEndCheck(s2)
    })
    test("stale, future and wrong-hash acknowledgements are refused", async () => {
        const f = memoryFlash()
        const s = await open(f)
        for (let i = 1; i <= 3; i++) await s.append(RecordKind.IntervalClose, 0, interval(i))
        expect(await s.acknowledge(4)).toBe(false)
        expect(await s.acknowledge(2, Buffer.alloc(32))).toBe(false)
        const h = s.head()
        expect(await s.acknowledge(3, h.hash)).toBe(true)
        expect(await s.acknowledge(2)).toBe(false)
        expect(await s.acknowledge(3)).toBe(false)
        expect(s.acknowledged()).toBe(3)
    })
    test("the chain keeps verifying after many laps of the ring", async () => {
        const f = memoryFlash()
        const s = await open(f, 4)
        for (let i = 1; i <= 14; i++) {
            await s.append(RecordKind.IntervalClose, 0, interval(i))
            expect(await s.acknowledge(s.head().seq)).toBe(true)
        }
        const s2 = await open(f, 4)
        expect(s2.verdict().ok).toBe(true)
        expect(s2.head().seq).toBe(14)
        await headEndCheck(s2)
    })
})
