import { describe, test, expect } from "@devicescript/test"
import { IndexStore } from "../../src/store/indexstore"
import { provision } from "./store_rig"
import { Storage } from "../../src/storage/storage"
import { RamStorage } from "../../src/storage/twins"
import { RecordKind, decodeRecord } from "../../src/wire/record"
import { decodeMeterState, encodeMeterState, recoverMeterState } from "../../src/store/meterstate"

// The interval-close protocol of src/app.ts: the meter state (snapshot + last interval)
// is written first, the interval record second; a power cut between the two is repaired
// at boot, and nothing is ever appended twice.
const ID = Buffer.from("7e57000000000001", "hex")
const SECRET = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex")
const SNAP = Buffer.from("0102030405", "hex")

async function open(f: Storage) {
    provision(f)
    return await IndexStore.open({ meterId: ID, meterSecret: SECRET, storage: f, slots: 8, snapshotPeriodMs: 1 })
}
function interval(n: number) {
    const b = Buffer.alloc(16)
    b.setAt(0, "u32", 1800 * n)
    b[4] = 30
    return b
}
/** Closes interval n the way src/app.ts does; `cut` stops after the state write (power cut). */
async function close(s: IndexStore, n: number, cut: boolean) {
    await s.saveSnapshot(encodeMeterState({ dueSeq: s.head().seq + 1, dueTime: 1800 * n, lastInterval: interval(n), snapshot: SNAP }), true)
    if (!cut) await s.append(RecordKind.IntervalClose, 1800 * n, interval(n))
}
function intervalsIn(s: IndexStore): number[] {
    const out: number[] = []
    for (const b of s.recordsAfter(-1, 100)) {
        const r = decodeRecord(b)
        if (r.kind === RecordKind.IntervalClose) out.push(r.payload.getAt(0, "u32") / 1800)
    }
    return out
}

describe("meter state across power cuts", () => {
    test("state round-trips, and malformed state reads as none", () => {
        const b = encodeMeterState({ dueSeq: 7, dueTime: 99, lastInterval: interval(3), snapshot: SNAP })
        const st = decodeMeterState(b)
        expect(st.dueSeq).toBe(7)
        expect(st.dueTime).toBe(99)
        expect(st.lastInterval.getAt(0, "u32")).toBe(5400)
        expect(st.snapshot.toString("hex")).toBe("0102030405")
        expect(decodeMeterState(b.slice(0, 8)) === undefined).toBe(true)
        const bad = b.slice(0)
        bad[0] = 9
        expect(decodeMeterState(bad) === undefined).toBe(true)
        expect(decodeMeterState(undefined) === undefined).toBe(true)
    })
    test("a cut between state and record: the record is appended at boot, once", async () => {
        const f = new RamStorage()
        const s = await open(f)
        await close(s, 1, false)
        await close(s, 2, true)
        const again = await open(f)
        const r = await recoverMeterState(again)
        expect(r.repaired).toBe(true)
        expect(r.state.snapshot.toString("hex")).toBe("0102030405")
        expect(intervalsIn(again).join(",")).toBe("1,2")
        // a second boot finds it in the chain
        const third = await open(f)
        expect((await recoverMeterState(third)).repaired).toBe(false)
        expect(intervalsIn(third).join(",")).toBe("1,2")
    })
    test("no cut, and other records after the interval: nothing is appended", async () => {
        const f = new RamStorage()
        const s = await open(f)
        await close(s, 1, false)
        await s.append(RecordKind.PowerUp, 0, Buffer.alloc(0))
        await s.append(RecordKind.TimeSet, 0, Buffer.alloc(8))
        const again = await open(f)
        expect((await recoverMeterState(again)).repaired).toBe(false)
        expect(intervalsIn(again).join(",")).toBe("1")
    })
    test("an event appended between the state write and the cut does not hide the missing interval", async () => {
        const f = new RamStorage()
        const s = await open(f)
        await close(s, 1, true)
        await s.append(RecordKind.CommandRejected, 0, Buffer.alloc(2))
        const again = await open(f)
        expect((await recoverMeterState(again)).repaired).toBe(true)
        expect(intervalsIn(again).join(",")).toBe("1")
    })
    test("a fresh store has no state to recover", async () => {
        const s = await open(new RamStorage())
        const r = await recoverMeterState(s)
        expect(r.repaired).toBe(false)
        expect(r.state === undefined).toBe(true)
    })
})
