// @timeout 120000 (each runs in 10-40 s alone; the margin is for a loaded CI machine)
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { IntervalStatus, decodeInterval, encodeInterval } from "../../src/wire/interval"
import { MONDAY, Rig } from "./metrology_rig"
import { INTERVAL_VECTORS } from "./vectors/metrology"

const MIN = 60000

describe("metrology: interval profile", () => {
    test("intervals align to UTC; the first after power-up is partial", async () => {
        const r = new Rig()
        r.clock.set(MONDAY + 600, 0) // 00:10 UTC
        r.src.setPower(1200)
        await r.at(0)
        await r.run(80 * MIN, MIN) // to 01:30
        expect(r.closed.length).toBe(3)
        const a = r.closed[0]
        expect(a.start).toBe(MONDAY)
        expect(a.status).toBe(IntervalStatus.PartialPowerUp)
        expect(a.coveredS).toBe(1200)
        expect(a.importMWh).toBe(400000)
        const b = r.closed[1]
        expect(b.start).toBe(MONDAY + 1800)
        expect(b.status).toBe(IntervalStatus.Complete)
        expect(b.coveredS).toBe(1800)
        expect(b.importMWh).toBe(600000)
        expect(r.closed[2].start).toBe(MONDAY + 3600)
        expect(r.meter.openInterval().start).toBe(MONDAY + 5400)
        expect(r.meter.openInterval().importMWh).toBe(0)
    })

    test("a tick across a boundary splits its energy at the boundary", async () => {
        const r = new Rig()
        r.clock.set(MONDAY, 0)
        r.src.setPower(3600) // exactly 1 mWh per ms
        await r.at(0)
        await r.at(30 * MIN - 500)
        await r.at(30 * MIN + 500)
        expect(r.closed.length).toBe(1)
        expect(r.closed[0].importMWh).toBe(30 * MIN)
        expect(r.closed[0].coveredS).toBe(1800)
        expect(r.meter.openInterval().importMWh).toBe(500)
        // a tick exactly on the boundary closes the interval with nothing carried over
        await r.at(60 * MIN)
        expect(r.closed.length).toBe(2)
        expect(r.closed[1].importMWh).toBe(30 * MIN)
        expect(r.meter.openInterval().importMWh).toBe(0)
    })

    test("15- and 60-minute profiles", async () => {
        const q = new Rig({ intervalMin: 15 })
        q.clock.set(MONDAY, 0)
        q.src.setPower(100)
        await q.at(0)
        await q.run(120 * MIN, 5 * MIN)
        expect(q.closed.length).toBe(8)
        expect(q.closed[7].start).toBe(MONDAY + 7 * 900)
        expect(q.closed[7].lengthMin).toBe(15)
        expect(q.closed[3].importMWh).toBe(25000)
        const h = new Rig({ intervalMin: 60 })
        h.clock.set(MONDAY, 0)
        h.src.setPower(100)
        await h.at(0)
        await h.run(120 * MIN, 5 * MIN)
        expect(h.closed.length).toBe(2)
        expect(h.closed[1].importMWh).toBe(100000)
        expect(() => new Rig({ intervalMin: 20 })).toThrow()
    })

    test("maximum demand is the highest interval average, with its time; reset starts over", async () => {
        const r = new Rig()
        r.clock.set(MONDAY, 0)
        await r.at(0)
        r.src.setPower(1000)
        await r.run(30 * MIN, 5 * MIN)
        r.src.setPower(3000)
        await r.run(60 * MIN, 5 * MIN)
        r.src.setPower(-5000) // export is not demand
        await r.run(90 * MIN, 5 * MIN)
        r.src.setPower(2000)
        await r.run(120 * MIN, 5 * MIN)
        expect(r.meter.maxDemand().watts).toBe(3000)
        expect(r.meter.maxDemand().start).toBe(MONDAY + 1800)
        r.meter.resetMaxDemand()
        expect(r.meter.maxDemand().watts).toBe(0)
        r.src.setPower(1500)
        await r.run(150 * MIN, 5 * MIN)
        expect(r.meter.maxDemand().watts).toBe(1500)
        expect(r.meter.maxDemand().start).toBe(MONDAY + 7200)
    })

    test("golden interval records encode and decode byte for byte", async () => {
        for (const v of INTERVAL_VECTORS) {
            await ds.sleep(0)
            const enc = encodeInterval(v.record)
            expect(enc.toString("hex")).toBe(v.hex)
            const d = decodeInterval(Buffer.from(v.hex, "hex"))
            expect(d.start).toBe(v.record.start)
            expect(d.lengthMin).toBe(v.record.lengthMin)
            expect(d.status).toBe(v.record.status)
            expect(d.coveredS).toBe(v.record.coveredS)
            expect(d.importMWh).toBe(v.record.importMWh)
            expect(d.exportMWh).toBe(v.record.exportMWh)
        }
    })

    test("malformed interval records are rejected", async () => {
        await ds.sleep(0)
        const good = encodeInterval({ start: MONDAY, lengthMin: 30, status: 0, coveredS: 1800, importMWh: 1, exportMWh: 2 })
        expect(() => decodeInterval(good.slice(0, 15))).toThrow()
        expect(() => decodeInterval(good.concat(Buffer.from([0])))).toThrow()
        const bad = (off: number, v: number) => {
            const b = good.slice(0)
            b[off] = v
            return b
        }
        expect(() => decodeInterval(bad(4, 20))).toThrow() // 20-minute interval
        expect(() => decodeInterval(bad(5, 0x40))).toThrow() // unknown status bit
        expect(() => decodeInterval(bad(6, 0xff))).toThrow() // covers more than its length
        expect(() => decodeInterval(bad(0, 1))).toThrow() // UTC start not aligned
        await ds.sleep(0)
        // ... but a time-unknown start counts meter seconds and needs no alignment
        const tu = bad(5, IntervalStatus.TimeUnknown)
        tu[0] = 1
        expect(decodeInterval(tu).start).toBe(MONDAY + 1)
        expect(() => encodeInterval({ start: -1, lengthMin: 30, status: 0, coveredS: 0, importMWh: 0, exportMWh: 0 })).toThrow()
        expect(() => encodeInterval({ start: 0, lengthMin: 30, status: 0, coveredS: 0, importMWh: 4294967296, exportMWh: 0 })).toThrow()
    })

    test("a subscriber that throws loses no energy and stops nothing", async () => {
        const r = new Rig()
        r.meter.onIntervalClose(x => {
            throw new Error("store full")
        })
        r.meter.onEvent((k, d) => {
            throw new Error("uplink down")
        })
        r.clock.set(MONDAY, 0)
        r.src.setPower(3600)
        await r.at(0)
        await r.at(30 * MIN + 1000)
        expect(r.closed.length).toBe(1)
        expect(r.meter.registers().importMWh).toBe(30 * MIN + 1000)
        expect(r.profileImport()).toBe(30 * MIN + 1000)
    })
})
