// @timeout 120000 (each runs in 10-40 s alone; the margin is for a loaded CI machine)
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { deleteSetting } from "@devicescript/settings"
import { simulatedBoard } from "../../src/board/simulated"
import { applyTariff, startMetrology } from "../../src/metrology/config"
import { createSource } from "../../src/metrology/sources"
import { encodeCalendar } from "../../src/metrology/calendar"
import { MeterClock } from "../../src/metrology/clock"
import { IntervalRecord, IntervalStatus } from "../../src/metrology/interval"

describe("metrology: settings shell", () => {
    test("defaults: simulated household source, 30-minute intervals, scale 1", async () => {
        await deleteSetting("mt.cal")
        const u = await startMetrology(simulatedBoard(), createSource)
        expect(u.source.kind).toBe("simulated")
        expect(u.meter.intervalMinutes()).toBe(30)
        expect(u.clock.scale).toBe(1)
        expect(u.meter.calendar().id).toBe(0)
        const c = new MeterClock({ scale: 180 })
        const v = await startMetrology(simulatedBoard(), createSource, c)
        expect(v.clock).toBe(c)
    })

    test("a tariff command's bytes are applied and persisted, bad bytes change nothing", async () => {
        const u = await startMetrology(simulatedBoard(), createSource)
        const bad = await applyTariff(u.meter, Buffer.from("0200000000000000410000", "hex"))
        expect(bad.ok).toBe(false)
        expect((bad as any).reason).toBe("calendar: unknown format version 2")
        const cal = {
            id: 77,
            utcOffsetMin: 60,
            defaultRegister: 1,
            weekendMask: 0x41,
            weekday: [{ start: 0, end: 420, register: 2 }],
            weekend: [] as { start: number; end: number; register: number }[],
        }
        const ok = await applyTariff(u.meter, encodeCalendar(cal))
        expect(ok.ok).toBe(true)
        expect(u.meter.calendar().id).toBe(77)
        // after a restart the calendar comes back from mt.cal
        const again = await startMetrology(simulatedBoard(), createSource)
        expect(again.meter.calendar().id).toBe(77)
        expect(again.meter.calendar().weekday[0].register).toBe(2)
        await deleteSetting("mt.cal")
    })

    test("run() ticks on real millis; with scale 1800 a 30-minute interval passes in 1 s", async () => {
        const u = await startMetrology(simulatedBoard(), createSource, new MeterClock({ scale: 1800 }))
        const closed: IntervalRecord[] = []
        u.meter.onIntervalClose(r => {
            closed.push(r)
        })
        u.run()
        await ds.sleep(4500)
        if (closed.length < 2) console.log(`closed: ${closed.length}`)
        expect(closed.length >= 2).toBe(true)
        expect(closed[0].status).toBe(IntervalStatus.PartialPowerUp | IntervalStatus.TimeUnknown)
        expect(closed[1].status).toBe(IntervalStatus.TimeUnknown)
        expect(closed[1].coveredS).toBe(1800)
        // the household's base load alone is 180 W: a full half hour is at least 90 Wh
        expect(closed[1].importMWh >= 90000).toBe(true)
    })
})
