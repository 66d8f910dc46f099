import { describe, test, expect } from "@devicescript/test"
import { IndexStore } from "../../src/store/indexstore"
import { ID, SECRET, provision } from "./store_rig"
import { Storage } from "../../src/storage/storage"
import { RamStorage } from "../../src/storage/twins"
import { RecordKind, decodeRecord } from "../../src/wire/record"
import { MeterState, decodeMeterState, encodeMeterState, recoverMeterState } from "../../src/store/meterstate"
import * as ds from "@devicescript/core"
import { IntervalLog } from "../../src/meter/interval_log"
import { MeterClock } from "../../src/metrology/clock"
import { Metrology } from "../../src/metrology/metrology"
import { decodeSnapshot } from "../../src/metrology/snapshot"
import { ChainHead, followRegisters } from "../../src/wire/chain"
import { IntervalStatus, decodeInterval } from "../../src/wire/interval"

// The interval-close protocol of src/app.ts: the meter state (snapshot + last interval)
// is written first, the interval record second; a power cut between the two is repaired
// at boot, and nothing is ever appended twice.
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

// Issue 13, "Power cuts on the real firmware": the firmware's power-cut run (seed 777, one
// meter) found a false Tamper (reason Registers) at the boot after a plain cut inside a
// forward time sync. The sync's tick closed two intervals at once (the one the step ends
// and, the step landing near a slot's end, the next one at its boundary); the interval log
// persists queued closes one at a time, and wrote each one's state with the registers of
// the moment it was written, which already held the later close's energy: a cut before the
// later close reached flash left a state whose registers were not its interval's plus the
// open one's. Here the real engine, interval log, store and recovery, cut at every write.
const UTC = 1795392000 // Monday 2026-11-23 00:00 UTC

/** 3,600 W: 1 mWh of import per meter ms, so every interval's energy is its length. */
class SteadySource {
    kind = "simulated"
    last = -1
    async read(meterMs: number) {
        const e = this.last < 0 ? 0 : meterMs - this.last
        this.last = meterMs
        return { importMWh: e, exportMWh: 0, powerW: 3600, ok: true }
    }
}

/** A power cut at a chosen write: that write and every later one never completes (nothing runs after a cut). */
class CutStorage implements Storage {
    inner = new RamStorage()
    budget = -1
    writes = 0
    async get(key: string) {
        return await this.inner.get(key)
    }
    /** the record slots' writes hang (a slow record write the cut lands in), the others pass */
    holdRecords = false
    async set(key: string, value: Buffer) {
        await this.gate()
        while (this.holdRecords && key.indexOf("st.r") === 0) await ds.sleep(3600000)
        await this.inner.set(key, value)
    }
    async delete(key: string) {
        await this.gate()
        await this.inner.delete(key)
    }
    private async gate() {
        this.writes++
        if (this.budget === 0) for (;;) await ds.sleep(3600000)
        if (this.budget > 0) this.budget--
    }
}

/** One life of the meter on `f`: the engine on a hand-driven clock, restored from `state`. */
function meterOn(store: IndexStore, state: MeterState) {
    const m = { now: 0, clock: undefined as MeterClock, meter: undefined as Metrology, log: undefined as IntervalLog }
    m.clock = new MeterClock({ millis: () => m.now })
    m.meter = new Metrology({ clock: m.clock, source: new SteadySource() })
    m.log = new IntervalLog(store, m.meter, state)
    return m
}

async function settle() {
    for (let i = 0; i < 10; i++) await ds.sleep(10)
}

/** The chain's interval records: each register block follows the previous one (the wire core's rule), each UTC slot once. */
function checkChain(s: IndexStore): number[] {
    const h: ChainHead = { seq: 0, hash: undefined }
    const starts: number[] = []
    for (const b of s.recordsAfter(-1, 1000)) {
        const r = decodeRecord(b)
        expect(r.kind === RecordKind.Tamper).toBe(false)
        expect(followRegisters(h, r)).toBe(true)
        if (r.kind !== RecordKind.IntervalClose) continue
        const iv = decodeInterval(r.payload)
        if (!(iv.status & IntervalStatus.TimeUnknown)) {
            expect(starts.indexOf(iv.start)).toBe(-1)
            starts.push(iv.start)
        }
    }
    return h.regs
}

/**
 * Life 1 closes an interval on its own time, then takes a first time sync 60 s before a
 * slot's end; the next tick, 120 s on, closes two intervals. `cut`: writes let through
 * from that tick on (-1: none cut). Returns the flash and the writes that tick caused.
 */
async function syncLife(cut: number, hold?: boolean) {
    const f = new CutStorage()
    provision(f.inner)
    const s = await IndexStore.open({ meterId: ID, meterSecret: SECRET, storage: f, slots: 24, snapshotPeriodMs: 1 })
    const m = meterOn(s, undefined)
    await m.meter.tick(0)
    m.now = 1800000
    await m.meter.tick()
    await settle()
    m.now = 1900000
    m.clock.set(UTC + 1740)
    const w0 = f.writes
    f.budget = cut
    f.holdRecords = hold === true
    // the running registers are saved between closes (src/app.ts: every 10 s)
    if (hold) m.log.run(5)
    m.now = 2020000
    await m.meter.tick()
    await settle()
    return { f: f, writes: f.writes - w0 }
}

/** Power back on (the firmware's boot, src/app.ts): no false tamper, the chain and the restored registers agree. */
async function bootAfterCut(f: CutStorage, what: string) {
    const s = await IndexStore.open({ meterId: ID, meterSecret: SECRET, storage: f.inner, slots: 24, snapshotPeriodMs: 1 })
    expect(s.verdict().ok).toBe(true)
    const r = await recoverMeterState(s)
    if (r.tampered) console.log(`false tamper after a cut ${what}`)
    expect(r.tampered).toBe(false)
    const chain = checkChain(s)
    // the restored registers are the chain's plus the open interval's energy
    const snap = decodeSnapshot(r.state.snapshot)
    const open = snap.open ? snap.open.importMWh : 0
    expect(snap.registers.importMWh).toBe(chain[0] + open)
    // the next life closes the interval open at the cut (PowerDown) onto the chain
    const m = meterOn(s, r.state)
    await m.meter.tick(0)
    await settle()
    const after = checkChain(s)
    expect(after[0]).toBe(m.meter.registers().importMWh)
}

describe("meter state across a cut inside a time sync's closes", () => {
    test("two intervals closed in one tick, cut at every write: no false tamper, every interval chained once, registers follow", async () => {
        const all = await syncLife(-1)
        // two closes: state, record and head each (at least 6 writes)
        expect(all.writes >= 6).toBe(true)
        for (let k = 0; k <= all.writes; k++) {
            const life = await syncLife(k < all.writes ? k : -1)
            await bootAfterCut(life.f, `at write ${k} of ${all.writes}`)
        }
    })
    test("the running registers saved while the second close waits: no false tamper after a cut", async () => {
        // the first record's write is slow; the periodic save runs meanwhile; then the cut
        const life = await syncLife(-1, true)
        await bootAfterCut(life.f, "during the first record's write, after periodic saves")
    })
})
