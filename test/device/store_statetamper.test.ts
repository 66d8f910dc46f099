import { describe, test, expect } from "@devicescript/test"
import { IndexStore } from "../../src/store/indexstore"
import { provision } from "./store_rig"
import { RamStorage } from "../../src/storage/twins"
import { RecordKind, TamperReason, decodeRecord } from "../../src/wire/record"
import { encodeMeterState, recoverMeterState } from "../../src/store/meterstate"
import { encodeInterval } from "../../src/wire/interval"
import { Registers, encodeRegisters, registerValues } from "../../src/wire/registers"
import { decodeSnapshot, encodeSnapshot } from "../../src/metrology/snapshot"
import { concatBytes } from "../../src/wire/bytes"

// Issue 13: the persisted meter state (st.snap) is authenticated and checked against the
// chain at boot. Every byte of it edited in flash with the meter off, the state deleted,
// rolled back or swapped for another meter's: detected (a Tamper record in the chain, the
// boot reports it upstream) and the registers rebuilt from the chain, never from the state.
// On the old code every one of these was restored without a word.
const ID = Buffer.from("7e57000000000001", "hex")
const SECRET = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex")
const T0 = 1764000000

async function open(f: RamStorage, secret?: Buffer) {
    provision(f)
    return await IndexStore.open({ meterId: ID, meterSecret: secret || SECRET, storage: f, slots: 8, snapshotPeriodMs: 1 })
}

function regs(imp: number, exp: number): Registers {
    return { importMWh: imp, exportMWh: exp, touImportMWh: [imp - 100, 100, 0, 0], touExportMWh: [exp, 0, 0, 0] }
}

function iv(n: number, imp: number, exp: number) {
    return { start: T0 + 1800 * n, lengthMin: 30, status: 0, coveredS: 1800, importMWh: imp, exportMWh: exp }
}

/** The state as src/meter/interval_log.ts writes it: last interval n closed at `closed`, an open one with `open` mWh imported since. */
function state(s: IndexStore, n: number, closed: Registers, open: number) {
    const last = concatBytes(encodeInterval(iv(n, 1000, 10)), encodeRegisters(closed))
    const now = regs(closed.importMWh + open, closed.exportMWh)
    const snap = encodeSnapshot({ lengthMin: 30, registers: now, maxDemand: { watts: 2000, start: T0 }, open: iv(n + 1, open, 0) })
    return encodeMeterState({ dueSeq: s.head().seq, dueTime: T0 + 1800 * n, lastInterval: last, snapshot: snap })
}

/** A meter with three closed intervals in its chain and its state saved 10 minutes into the fourth. */
async function meter(f: RamStorage) {
    const s = await open(f)
    let r = regs(0, 0)
    for (let n = 0; n < 3; n++) {
        r = regs(r.importMWh + 1000, r.exportMWh + 10)
        await s.append(RecordKind.IntervalClose, T0 + 1800 * n, concatBytes(encodeInterval(iv(n, 1000, 10)), encodeRegisters(r)))
    }
    await s.saveSnapshot(state(s, 2, r, 300), true)
    return r
}

/** Boots on `f` and expects tamper: a Tamper record (reason Registers), registers = the chain's `want`. */
async function expectTamper(f: RamStorage, want: Registers, what: string) {
    const s = await open(f)
    const r = await recoverMeterState(s)
    if (!r.tampered) console.log(`not detected: ${what}`)
    expect(r.tampered).toBe(true)
    const got = registerValues(decodeSnapshot(r.state.snapshot).registers).join(",")
    expect(got).toBe(registerValues(want).join(","))
    const last = decodeRecord(s.recordsAfter(s.head().seq - 1, 1)[0])
    expect(last.kind).toBe(RecordKind.Tamper)
    expect(last.payload[0]).toBe(TamperReason.Registers)
}

describe("meter state checked against the chain at boot", () => {
    test("an untouched state restores as saved, with the open interval's energy", async () => {
        const f = new RamStorage()
        const want = await meter(f)
        const s = await open(f)
        const r = await recoverMeterState(s)
        expect(r.tampered).toBe(false)
        expect(decodeSnapshot(r.state.snapshot).registers.importMWh).toBe(want.importMWh + 300)
        expect(decodeRecord(s.recordsAfter(s.head().seq - 1, 1)[0]).kind).toBe(RecordKind.IntervalClose)
    })

    test("each field of st.snap edited in flash with the meter off: detected, registers from the chain", async () => {
        const f = new RamStorage()
        const want = await meter(f)
        const good = await f.get("st.snap")
        // one byte in each field (docs/index-store.md "Meter state", docs/metrology.md "Snapshot"):
        // header, the last interval and its 10 registers, the snapshot header, its 10 registers,
        // maximum demand, the open interval, the tag
        const fields = [0, 1, 5, 9, 10, 14, 15, 16, 18, 22, 26, 27]
        for (let j = 0; j < 10; j++) fields.push(28 + 6 * j)
        for (const o of [88, 89, 90, 91]) fields.push(o)
        for (let j = 0; j < 10; j++) fields.push(92 + 8 * j)
        for (const o of [172, 176, 180, 184, 185, 186, 188, 192, 196, good.length - 1]) fields.push(o)
        expect(good.length).toBe(212)
        for (const i of fields) {
            const g = new RamStorage()
            await meter(g)
            const bad = good.slice(0)
            bad[i] ^= i & 1 ? 0x80 : 0x01
            await g.set("st.snap", bad)
            await expectTamper(g, want, `byte ${i}`)
        }
    })

    test("deleted, truncated, rolled back or another meter's state: detected", async () => {
        const want = await meter(new RamStorage())
        const f = new RamStorage()
        await meter(f)
        await f.delete("st.snap")
        await expectTamper(f, want, "deleted")

        const g = new RamStorage()
        await meter(g)
        const st = await g.get("st.snap")
        await g.set("st.snap", st.slice(0, st.length - 1))
        await expectTamper(g, want, "truncated")

        // rollback: the authentic state of an interval earlier (tag valid, registers behind the chain)
        const h = new RamStorage()
        const s = await open(h)
        const r0 = regs(1000, 10)
        await s.append(RecordKind.IntervalClose, T0, concatBytes(encodeInterval(iv(0, 1000, 10)), encodeRegisters(r0)))
        await s.saveSnapshot(state(s, 0, r0, 300), true)
        const old = await h.get("st.snap")
        const r1 = regs(2000, 20)
        await s.append(RecordKind.IntervalClose, T0 + 1800, concatBytes(encodeInterval(iv(1, 1000, 10)), encodeRegisters(r1)))
        await s.saveSnapshot(state(s, 1, r1, 50), true)
        await h.set("st.snap", old)
        await expectTamper(h, r1, "rolled back")

        // another meter's authentic state (its own secret) swapped in
        const k = new RamStorage()
        await meter(k)
        const other = new RamStorage()
        const otherSecret = Buffer.alloc(32)
        otherSecret.fillAt(0, 32, 7)
        const o = await open(other, otherSecret)
        await o.saveSnapshot(state(o, 2, regs(9000, 10), 0), true)
        await k.set("st.snap", await other.get("st.snap"))
        await expectTamper(k, want, "swapped")
    })

    test("a state re-tagged with the key but registers raised: detected against the chain", async () => {
        // what a flash reader who holds METER_SECRET can write: a valid tag, but the chain disagrees
        const f = new RamStorage()
        const want = await meter(f)
        const s = await open(f)
        const raised = regs(want.importMWh + 300 + 5000, want.exportMWh)
        const snap = encodeSnapshot({ lengthMin: 30, registers: raised, maxDemand: { watts: 0, start: 0 }, open: iv(3, 300, 0) })
        await s.saveSnapshot(encodeMeterState({ dueSeq: 3, dueTime: T0 + 3600, lastInterval: undefined, snapshot: snap }), true)
        await expectTamper(f, want, "re-tagged, raised")
    })
})
