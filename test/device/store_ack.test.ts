import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { IndexStore, KEY_HEAD } from "../../src/store/indexstore"
import { RamStorage } from "../../src/storage/twins"
import { RecordKind, decodeRecord } from "../../src/wire/record"
import { headEndCheck, interval, open } from "./store_rig"

describe("index store: acknowledgements and a full store", () => {
    test("unacknowledged records are never evicted: one StoreFull record, then refusals", async () => {
        const f = new RamStorage()
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
        const f = new RamStorage()
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
        const f = new RamStorage()
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
