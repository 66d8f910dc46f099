import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { IndexStore, KEY_HEAD } from "../../src/store/indexstore"
import { PowerCutStorage, RamStorage } from "../../src/storage/twins"
import { RecordKind, decodeRecord } from "../../src/wire/record"
import { ID, headEndCheck, interval, keyFor, open } from "./store_rig"

describe("index store: persistence", () => {
    test("a new store starts with a genesis record and reopens where it left off", async () => {
        const f = new RamStorage()
        const s = await open(f)
        expect(s.head().seq).toBe(0)
        const g = decodeRecord(s.recordsAfter(-1, 1)[0])
        expect(g.kind).toBe(RecordKind.Genesis)
        expect(g.payload.toString("hex")).toBe(ID.toString("hex"))
        const r = await s.append(RecordKind.IntervalClose, 1764000000, interval(7))
        expect(r.seq).toBe(1)
        expect(r.time).toBe(1764000000)
        const s2 = await open(f)
        expect(s2.head().seq).toBe(1)
        expect(s2.head().hash.toString("hex")).toBe(s.head().hash.toString("hex"))
        expect(s2.verdict().ok).toBe(true)
        await s2.append(RecordKind.IntervalClose, 0, interval(8))
        await headEndCheck(s2)
    })
    test("the stored key is K_{head+1}: every key that tagged a stored record is gone", async () => {
        const f = new RamStorage()
        const s = await open(f)
        for (let i = 0; i < 3; i++) await s.append(RecordKind.IntervalClose, 0, interval(i))
        const hd = f.raw[KEY_HEAD]
        const stored = hd.slice(7 + 32, 7 + 64).toString("hex")
        for (let i = 0; i <= 3; i++) expect(stored === keyFor(i).toString("hex")).toBe(false)
        expect(stored).toBe(keyFor(4).toString("hex"))
    })
    test("a power cut before the record is written loses only that record", async () => {
        const f = new PowerCutStorage(new RamStorage())
        const s = await open(f)
        await s.append(RecordKind.IntervalClose, 0, interval(1))
        f.cutAfter(0)
        let threw = false
        try {
            await s.append(RecordKind.IntervalClose, 0, interval(2))
        } catch (e) {
            threw = true
        }
        expect(threw).toBe(true)
        f.restore()
        const s2 = await open(f)
        expect(s2.head().seq).toBe(1)
        expect(s2.verdict().ok).toBe(true)
        expect(s2.verdict().resumed).toBe(false)
        await s2.append(RecordKind.IntervalClose, 0, interval(2))
        await headEndCheck(s2)
    })
    test("a power cut between record and head is completed at boot", async () => {
        const f = new PowerCutStorage(new RamStorage())
        const s = await open(f)
        await s.append(RecordKind.IntervalClose, 0, interval(1))
        f.cutAfter(1)
        let threw = false
        try {
            await s.append(RecordKind.IntervalClose, 0, interval(2))
        } catch (e) {
            threw = true
        }
        expect(threw).toBe(true)
        f.restore()
        const s2 = await open(f)
        expect(s2.head().seq).toBe(2)
        expect(s2.verdict().ok).toBe(true)
        expect(s2.verdict().resumed).toBe(true)
        await s2.append(RecordKind.IntervalClose, 0, interval(3))
        const recs = await headEndCheck(s2)
        expect(recs.length).toBe(4)
    })
    test("a write the settings store drops silently (flash full) fails the append, not the chain", async () => {
        const f = new RamStorage()
        const s = await open(f)
        await s.append(RecordKind.IntervalClose, 0, interval(1))
        f.dropWrites = true
        let threw = false
        try {
            await s.append(RecordKind.IntervalClose, 0, interval(2))
        } catch (e) {
            threw = true
        }
        expect(threw).toBe(true)
        expect(s.head().seq).toBe(1)
        expect(await s.acknowledge(1)).toBe(false)
        f.dropWrites = false
        expect((await s.append(RecordKind.IntervalClose, 0, interval(2))).seq).toBe(2)
        const s2 = await open(f)
        expect(s2.verdict().ok).toBe(true)
        expect(s2.head().seq).toBe(2)
        await headEndCheck(s2)
    })
    test("records after a seq come oldest first, bounded by max", async () => {
        const f = new RamStorage()
        const s = await open(f)
        for (let i = 1; i <= 4; i++) await s.append(RecordKind.IntervalClose, 0, interval(i))
        const r = s.recordsAfter(1, 2)
        expect(r.length).toBe(2)
        expect(decodeRecord(r[0]).seq).toBe(2)
        expect(decodeRecord(r[1]).seq).toBe(3)
        expect(s.recordsAfter(4, 10).length).toBe(0)
    })
    test("snapshots are rate-limited unless forced, and survive a reboot", async () => {
        const f = new RamStorage()
        const s = await open(f)
        expect(s.loadSnapshot()).toBe(undefined)
        expect(await s.saveSnapshot(interval(1))).toBe(false)
        expect(await s.saveSnapshot(interval(2), true)).toBe(true)
        expect(await s.saveSnapshot(interval(3))).toBe(false)
        await ds.sleep(1100)
        expect(await s.saveSnapshot(interval(4))).toBe(true)
        const s2 = await open(f)
        expect(s2.loadSnapshot().getAt(0, "u32")).toBe(4)
    })
})

