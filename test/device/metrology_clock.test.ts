// @timeout 120000 (each runs in 10-40 s alone; the margin is for a loaded CI machine)
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { MeterClock } from "../../src/metrology/clock"
import { IntervalStatus } from "../../src/wire/interval"
import { MONDAY, Rig } from "./metrology_rig"

const MIN = 60000


/** energy of the profile (closed + open) equals the registers: nothing lost, nothing twice */
function conserved(r: Rig) {
    const g = r.meter.registers()
    expect(r.profileImport()).toBe(g.importMWh)
    expect(r.profileExport()).toBe(g.exportMWh)
    expect(r.touConsistent()).toBe(true)
}

describe("metrology: clock", () => {
    test("before the first sync the time is unknown and intervals count meter time", async () => {
        const r = new Rig()
        expect(r.clock.isSet()).toBe(false)
        expect(r.clock.utc(123456)).toBe(0)
        r.src.setPower(600)
        await r.at(0)
        await r.run(65 * MIN, MIN)
        expect(r.closed.length).toBe(2)
        expect(r.closed[0].start).toBe(0)
        expect(r.closed[0].status).toBe(IntervalStatus.TimeUnknown | IntervalStatus.PartialPowerUp)
        expect(r.closed[1].start).toBe(1800)
        expect(r.closed[1].status).toBe(IntervalStatus.TimeUnknown)
        expect(r.meter.maxDemand().start).toBe(0) // no UTC to give
        conserved(r)
    })

    test("the first sync closes the time-unknown interval and opens an aligned UTC one", async () => {
        const r = new Rig()
        r.src.setPower(3600) // 1 mWh per ms
        await r.at(0)
        await r.run(10 * MIN, MIN)
        const step = r.clock.set(MONDAY + 25 * 60, 10 * MIN + 400) // 00:25:00 at 400 ms after the tick
        expect(step.first).toBe(true)
        expect(r.clock.isSet()).toBe(true)
        expect(r.clock.utc(10 * MIN + 400)).toBe(MONDAY + 1500)
        await r.at(10 * MIN + 1000)
        expect(r.closed.length).toBe(1)
        expect(r.closed[0].status).toBe(IntervalStatus.TimeUnknown | IntervalStatus.PartialPowerUp | IntervalStatus.ClockAdjusted)
        // the tick's 1000 mWh split at the step: 400 before it, 600 after
        expect(r.closed[0].importMWh).toBe(10 * MIN + 400)
        const o = r.meter.openInterval()
        expect(o.start).toBe(MONDAY)
        expect(o.status).toBe(IntervalStatus.ClockAdjusted)
        expect(o.importMWh).toBe(600)
        await r.run(16 * MIN, MIN) // past 00:30 UTC
        expect(r.closed.length).toBe(2)
        expect(r.closed[1].start).toBe(MONDAY)
        expect(r.closed[1].coveredS).toBe(300)
        expect(r.meter.openInterval().start).toBe(MONDAY + 1800)
        conserved(r)
        expect(r.events.length > 0).toBe(true)
    })

    test("a forward jump closes and flags; skipped intervals are not invented", async () => {
        const r = new Rig()
        r.clock.set(MONDAY + 600, 0)
        r.src.setPower(1800)
        await r.at(0)
        await r.run(5 * MIN, MIN) // 00:15
        r.clock.set(MONDAY + 3 * 3600 + 600, 5 * MIN) // 03:10
        await r.run(30 * MIN, MIN) // 03:35
        expect(r.closed.length).toBe(2)
        expect(r.closed[0].start).toBe(MONDAY)
        expect(r.closed[0].status).toBe(IntervalStatus.PartialPowerUp | IntervalStatus.ClockAdjusted)
        expect(r.closed[1].start).toBe(MONDAY + 3 * 3600)
        expect(r.closed[1].status).toBe(IntervalStatus.ClockAdjusted)
        expect(r.closed[1].coveredS).toBe(20 * 60)
        expect(r.meter.openInterval().start).toBe(MONDAY + 3 * 3600 + 1800)
        expect(r.meter.registers().importMWh).toBe(1800 * 30 * MIN / 3600)
        conserved(r)
    })

    test("a backward jump never records a slot twice: the open interval takes the time stepped back", async () => {
        // issue 13: two records for one slot (different energy) were stored after a backwards
        // sync; the old engine closed 01:30 as a fragment and reopened 01:00 (3 closes here)
        const r = new Rig()
        r.clock.set(MONDAY + 3600 + 20 * 60, 0) // 01:20
        r.src.setPower(1000)
        await r.at(0)
        await r.run(20 * MIN, MIN) // 01:40
        r.clock.set(MONDAY + 3600 + 10 * 60, 20 * MIN) // back to 01:10: 01:00 is closed already
        await r.run(80 * MIN, MIN) // 02:10
        // 01:00 (partial), then 01:30 flagged, covering 01:30-01:40 and 01:10-02:00
        expect(r.closed.length).toBe(2)
        expect(r.closed[0].start).toBe(MONDAY + 3600)
        expect(r.closed[1].start).toBe(MONDAY + 5400)
        expect(r.closed[1].status).toBe(IntervalStatus.ClockAdjusted)
        expect(r.closed[1].coveredS).toBe(30 * 60) // 60 min metered, clamped to the length
        expect(r.closed[1].importMWh).toBe(1000000)
        expect(r.meter.openInterval().start).toBe(MONDAY + 7200)
        expect(r.meter.registers().importMWh).toBe(1333333) // 80 min at 1000 W
        conserved(r)
    })

    test("a backward jump of more than a day (a root correcting a wrong clock) is taken as is", async () => {
        const r = new Rig()
        r.clock.set(MONDAY + 3 * 86400, 0)
        r.src.setPower(1000)
        await r.at(0)
        await r.run(40 * MIN, MIN)
        r.clock.set(MONDAY + 600, 40 * MIN)
        await r.run(55 * MIN, MIN) // 00:25
        expect(r.closed[r.closed.length - 1].start).toBe(MONDAY + 3 * 86400 + 1800)
        expect(r.meter.openInterval().start).toBe(MONDAY)
        conserved(r)
    })

    test("a small correction inside the interval only flags it", async () => {
        const r = new Rig()
        r.clock.set(MONDAY + 600, 0)
        r.src.setPower(500)
        await r.at(0)
        await r.run(5 * MIN, MIN)
        const s = r.clock.set(MONDAY + 600 + 5 * 60 + 3, 5 * MIN)
        expect(s.stepS).toBe(3)
        await r.run(10 * MIN, MIN)
        expect(r.closed.length).toBe(0)
        expect(r.meter.openInterval().status).toBe(IntervalStatus.PartialPowerUp | IntervalStatus.ClockAdjusted)
        conserved(r)
    })

    test("several steps between two ticks keep every mWh", async () => {
        const r = new Rig()
        r.src.setPower(3600)
        await r.at(0)
        r.clock.set(MONDAY + 1000, 100)
        r.clock.set(MONDAY + 5000, 300)
        r.clock.set(MONDAY + 100, 700)
        await r.at(1000)
        expect(r.meter.registers().importMWh).toBe(1000)
        // unknown [0,100), 01:23:20 frame [100,300), the 5000 s frame [300,700), then [700,1000)
        expect(r.closed.length).toBe(3)
        expect(r.closed[0].importMWh).toBe(100)
        expect(r.closed[1].importMWh).toBe(200)
        expect(r.closed[2].importMWh).toBe(400)
        expect(r.meter.openInterval().importMWh).toBe(300)
        conserved(r)
    })

    test("the time scale makes simulated UTC run faster than millis", async () => {
        const r = new Rig({ scale: 180 })
        r.clock.set(MONDAY, 0)
        r.src.setPower(1000)
        await r.at(0)
        await r.run(10000, 1000) // 10 real seconds = 30 simulated minutes
        expect(r.clock.utc(10000)).toBe(MONDAY + 1800)
        expect(r.closed.length).toBe(1)
        expect(r.closed[0].coveredS).toBe(1800)
        expect(r.closed[0].importMWh).toBe(500000)
        expect(() => new MeterClock({ scale: 0 })).toThrow()
    })

    test("implausible times are refused", () => {
        const c = new MeterClock({ millis: () => 0 })
        expect(() => c.set(0)).toThrow()
        expect(() => c.set(1000000)).toThrow() // 1970
        expect(() => c.set(MONDAY + 0.5)).toThrow()
        expect(() => c.set(4294967296)).toThrow()
        expect(c.isSet()).toBe(false)
        c.set(MONDAY)
        expect(c.utc()).toBe(MONDAY)
    })

    test("a sync that lands after the tick's own time waits for the next tick", async () => {
        const r = new Rig()
        r.src.setPower(3600)
        await r.at(0)
        r.clock.set(MONDAY + 100, 1500) // e.g. while a slow source read of the 1000 ms tick ran
        await r.at(1000)
        expect(r.closed.length).toBe(0)
        expect(r.meter.openInterval().status & IntervalStatus.TimeUnknown).toBe(IntervalStatus.TimeUnknown)
        await r.at(2000)
        expect(r.closed.length).toBe(1)
        expect(r.closed[0].importMWh).toBe(1500)
        expect(r.meter.openInterval().start).toBe(MONDAY)
        expect(r.meter.openInterval().importMWh).toBe(500)
        conserved(r)
    })
})
