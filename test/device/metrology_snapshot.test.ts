// @timeout 120000 (each runs in 10-40 s alone; the margin is for a loaded CI machine)
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { IntervalStatus } from "../../src/wire/interval"
import { decodeSnapshot, encodeSnapshot } from "../../src/metrology/snapshot"
import { decodeRegisters, encodeRegisters } from "../../src/wire/registers"
import { REGISTER_VECTORS } from "./vectors/metrology"
import { MONDAY, Rig } from "./metrology_rig"

const MIN = 60000

describe("metrology: snapshot and restore", () => {
    test("a restart resumes the registers and closes the interrupted interval as PowerDown", async () => {
        const a = new Rig()
        a.clock.set(MONDAY, 0)
        a.src.setPower(1800)
        await a.at(0)
        await a.run(40 * MIN, 5 * MIN) // one interval closed, 10 minutes into the next
        a.src.setPower(-600)
        await a.run(45 * MIN, 5 * MIN)
        const snap = a.meter.snapshot()
        expect(snap.length).toBe(108)
        const before = a.meter.registers()
        // power cut; the new boot does not know the time yet
        const b = new Rig()
        b.meter.restore(snap)
        expect(b.meter.registers().importMWh).toBe(before.importMWh)
        expect(b.meter.maxDemand().watts).toBe(1800)
        expect(b.meter.maxDemand().start).toBe(MONDAY)
        b.src.setPower(1000)
        await b.at(0)
        expect(b.closed.length).toBe(1)
        const cut = b.closed[0]
        expect(cut.start).toBe(MONDAY + 1800)
        expect(cut.status).toBe(IntervalStatus.PowerDown)
        expect(cut.importMWh).toBe(300000)
        expect(cut.exportMWh).toBe(50000)
        expect(b.events[0]).toBe("power-down: interval " + (MONDAY + 1800))
        expect(b.meter.openInterval().status).toBe(IntervalStatus.PartialPowerUp | IntervalStatus.TimeUnknown)
        await b.at(3600000)
        expect(b.meter.registers().importMWh).toBe(before.importMWh + 1000000)
        expect(b.meter.registers().exportMWh).toBe(before.exportMWh)
        expect(b.touConsistent()).toBe(true)
    })

    test("a snapshot with nothing open and huge registers round-trips", async () => {
        const regs = {
            importMWh: 4503599627370495, // 2^52 - 1
            exportMWh: 4294967296,
            touImportMWh: [4503599627370495 - 10, 4, 6, 0],
            touExportMWh: [0, 0, 0, 4294967296],
        }
        const buf = encodeSnapshot({ lengthMin: 15, registers: regs, maxDemand: { watts: 7, start: MONDAY }, open: null })
        const s = decodeSnapshot(buf)
        expect(s.lengthMin).toBe(15)
        expect(s.open).toBe(null)
        expect(s.registers.importMWh).toBe(regs.importMWh)
        expect(s.registers.touImportMWh[0]).toBe(regs.touImportMWh[0])
        expect(s.registers.touExportMWh[3]).toBe(4294967296)
        expect(s.maxDemand.start).toBe(MONDAY)
        expect(() =>
            encodeSnapshot({ lengthMin: 15, registers: { importMWh: -1, exportMWh: 0, touImportMWh: [0, 0, 0, 0], touExportMWh: [0, 0, 0, 0] }, maxDemand: { watts: 0, start: 0 }, open: null })
        ).toThrow()
    })

    test("malformed or inconsistent snapshots are refused", async () => {
        const r = new Rig()
        r.src.setPower(1000)
        await r.at(0)
        await r.at(MIN)
        const good = r.meter.snapshot()
        expect(() => decodeSnapshot(good.slice(0, 107))).toThrow()
        const flip = (off: number, v: number) => {
            const b = good.slice(0)
            b[off] = v
            return b
        }
        expect(() => decodeSnapshot(flip(0, 2))).toThrow() // version
        expect(() => decodeSnapshot(flip(2, 6))).toThrow() // register count
        expect(() => decodeSnapshot(flip(3, 0x81))).toThrow() // flags
        await ds.sleep(0)
        expect(() => decodeSnapshot(flip(4, good[4] ^ 1))).toThrow() // total no longer the TOU sum
        expect(() => decodeSnapshot(flip(96, 20))).toThrow() // open interval of 20 minutes
        expect(() => decodeSnapshot(flip(11, 0xff))).toThrow() // register above 2^53
        const fresh = new Rig()
        let msg = ""
        try {
            fresh.meter.restore(flip(0, 9))
        } catch (e) {
            msg = (e as Error).message
        }
        expect(msg).toBe("snapshot: unknown version 9")
        await r.at(2 * MIN)
        expect(() => r.meter.restore(good)).toThrow() // only before the first tick
    })

    test("golden register blocks encode and decode; inconsistent ones are refused", async () => {
        for (const v of REGISTER_VECTORS) {
            await ds.sleep(0)
            expect(encodeRegisters(v.registers).toString("hex")).toBe(v.hex)
            const d = decodeRegisters(Buffer.from(v.hex, "hex"))
            expect(JSON.stringify(d)).toBe(JSON.stringify(v.registers))
        }
        const good = Buffer.from(REGISTER_VECTORS[1].hex, "hex")
        expect(() => decodeRegisters(good.slice(0, 61))).toThrow()
        const b = good.slice(0)
        b[2] ^= 1 // import total no longer the TOU sum
        expect(() => decodeRegisters(b)).toThrow()
        const v = good.slice(0)
        v[0] = 2
        expect(() => decodeRegisters(v)).toThrow()
        expect(() => encodeRegisters({ importMWh: 281474976710656, exportMWh: 0, touImportMWh: [281474976710656, 0, 0, 0], touExportMWh: [0, 0, 0, 0] })).toThrow()
    })
})
