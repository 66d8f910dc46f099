// @timeout 120000 (each runs in 10-40 s alone; the margin is for a loaded CI machine)
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { EnergyCounter } from "../../src/metrology/source"
import { HouseholdSource, householdPower } from "../../src/metrology/household"
import { modU as mod } from "../../src/wire/bytes"
import { MeterClock } from "../../src/metrology/clock"
import { Rig } from "./metrology_rig"

const H = 3600000

describe("metrology: exact integration", () => {
    test("1 kW held for exactly 2 h reads exactly 2000 Wh", async () => {
        const r = new Rig()
        r.src.setPower(1000)
        await r.at(0)
        await r.run(2 * H, 60000)
        const g = r.meter.registers()
        expect(g.importMWh).toBe(2000000)
        expect(g.exportMWh).toBe(0)
        expect(r.profileImport()).toBe(2000000)
        expect(r.touConsistent()).toBe(true)
    })

    test("irregular ticks give the same exact total (7 W for 1 h = 7000 mWh)", async () => {
        const r = new Rig()
        r.src.setPower(7)
        await r.at(0)
        const steps = [7, 333, 59999, 1, 12345, 41000, 999]
        let i = 0
        while (r.now < H) {
            await r.at(Math.min(H, r.now + steps[i % steps.length]))
            if (++i % 20 === 0) await ds.sleep(0)
        }
        expect(r.meter.registers().importMWh).toBe(7000)
        expect(r.profileImport()).toBe(7000)
    })

    test("an analytic piecewise profile: import and export match the closed form", async () => {
        // 250 W for 30 min, 3 kW for 10 min, 1.5 kW export for 20 min, 30-min intervals
        const r = new Rig()
        await r.at(0)
        r.src.setPower(250)
        await r.run(30 * 60000, 45000)
        r.src.setPower(3000)
        await r.run(40 * 60000, 45000)
        r.src.setPower(-1500)
        await r.run(60 * 60000, 45000)
        const g = r.meter.registers()
        expect(g.importMWh).toBe(625000)
        expect(g.exportMWh).toBe(500000)
        expect(r.closed.length).toBe(2)
        expect(r.closed[0].importMWh).toBe(125000)
        expect(r.closed[0].exportMWh).toBe(0)
        expect(r.closed[1].importMWh).toBe(500000)
        expect(r.closed[1].exportMWh).toBe(500000)
        expect(r.touConsistent()).toBe(true)
    })

    test("negative power counts as export only, positive as import only", async () => {
        const r = new Rig()
        r.src.setPower(-3600)
        await r.at(0)
        await r.at(1000)
        expect(r.meter.registers().exportMWh).toBe(1000)
        expect(r.meter.registers().importMWh).toBe(0)
        expect(r.meter.powerW()).toBe(-3600)
        r.src.setPower(3600)
        await r.at(2000)
        expect(r.meter.registers().exportMWh).toBe(1000)
        expect(r.meter.registers().importMWh).toBe(1000)
    })

    test("the engine refuses negative or fractional energy", () => {
        const r = new Rig()
        r.meter.accumulate(0, 0, 0)
        expect(() => r.meter.accumulate(10, -1, 0)).toThrow()
        expect(() => r.meter.accumulate(10, 0.5, 0)).toThrow()
    })

    test("counts convert to mWh without drift (600 imp/kWh, one at a time)", async () => {
        const c = new EnergyCounter(600)
        let s = 0
        for (let i = 0; i < 600; i++) {
            s += c.add(1)
            if (i % 100 === 0) await ds.sleep(0)
        }
        expect(s).toBe(1000000)
        // large counts keep exact: 3 * 10^9 LSB at 10^6 LSB/kWh = 3000 kWh
        const big = new EnergyCounter(1000000)
        let t = 0
        for (let i = 0; i < 3; i++) t += big.add(1000000000)
        expect(t).toBe(3000000000000 / 1000)
        expect(() => new EnergyCounter(0)).toThrow()
    })

    test("the household profile is deterministic whatever the tick pattern", async () => {
        const c1 = new MeterClock({ millis: () => 0 })
        const a = new HouseholdSource(c1, { seed: 42, baseW: 200, solarPeakW: 3000 })
        const b = new HouseholdSource(c1, { seed: 42, baseW: 200, solarPeakW: 3000 })
        const d = new HouseholdSource(c1, { seed: 43, baseW: 200, solarPeakW: 3000 })
        let ia = 0
        let ea = 0
        let ib = 0
        let eb = 0
        let id = 0
        await a.read(0)
        await b.read(0)
        await d.read(0)
        // 24 h: a in 10-minute reads, b in 7-minute + 13-second reads
        for (let t = 600000; t <= 24 * H; t += 600000) {
            const x = await a.read(t)
            ia += x.importMWh
            ea += x.exportMWh
            id += (await d.read(t)).importMWh
            await ds.sleep(0)
        }
        let t = 0
        while (t < 24 * H) {
            t = Math.min(24 * H, t + 420013)
            const x = await b.read(t)
            ib += x.importMWh
            eb += x.exportMWh
            await ds.sleep(0)
        }
        expect(ia).toBe(ib)
        expect(ea).toBe(eb)
        expect(ia === id).toBe(false)
        // solar makes the house export around noon, never at night
        expect(ea > 0).toBe(true)
        expect(householdPower({ seed: 1, baseW: 100, solarPeakW: 3000 }, 720) < 0).toBe(true)
        expect(householdPower({ seed: 1, baseW: 100, solarPeakW: 3000 }, 120) > 0).toBe(true)
    })

    test("modU() (src/wire/bytes) is right where the VM's % is not (dividends above 2^31)", async () => {
        await ds.sleep(0)
        expect(mod(3000000000, 1000)).toBe(0)
        expect(mod(41135541728761, 2147483647)).toBe(492470476)
        expect(mod(-7, 5)).toBe(3)
        expect(mod(4294967296, 7)).toBe(4)
        // the household hash stays in range, so appliance minutes keep their intended rarity
        let busy = 0
        for (let m = 0; m < 600; m++) {
            if (m % 50 === 0) await ds.sleep(0)
            if (householdPower({ seed: 99, baseW: 0, solarPeakW: 0 }, 29000000 + m) >= 900) busy++
        }
        expect(busy < 60).toBe(true)
    })
})
