// @timeout 120000 (each runs in 10-40 s alone; the margin is for a loaded CI machine)
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { simulatedBoard } from "../../src/board/simulated"
import { CALENDAR_KEY, applyTariff, startMetrology } from "../../src/metrology/config"
import { createSource } from "../../src/metrology/sources"
import { HouseholdSource } from "../../src/metrology/household"
import { RamStorage } from "../../src/storage/twins"
import { encodeCalendar } from "../../src/wire/calendar"
import { MeterClock } from "../../src/metrology/clock"
import { IntervalRecord, IntervalStatus } from "../../src/wire/interval"

describe("metrology: settings shell", () => {
    test("defaults: simulated household source, 30-minute intervals, scale 1", async () => {
        const storage = new RamStorage()
        const u = await startMetrology(simulatedBoard(), storage, createSource)
        expect(u.source.kind).toBe("simulated")
        expect(u.meter.intervalMinutes()).toBe(30)
        expect(u.clock.scale).toBe(1)
        expect(u.meter.calendar().id).toBe(0)
        const c = new MeterClock({ scale: 180 })
        const v = await startMetrology(simulatedBoard(), storage, createSource, c)
        expect(v.clock).toBe(c)
    })

    test("settings are JSON text on the storage port (what .env files and provisioning write)", async () => {
        const storage = new RamStorage()
        await storage.set("mt.ivlMin", Buffer.from("15"))
        await storage.set("mt.scale", Buffer.from("180"))
        await storage.set("mt.source", Buffer.from('"pulse"'))
        await storage.set("mt.tickMs", Buffer.from("not json"))
        const u = await startMetrology(simulatedBoard(), storage, createSource)
        expect(u.meter.intervalMinutes()).toBe(15)
        expect(u.clock.scale).toBe(180)
        expect(u.source.kind).toBe("pulse")
        expect(u.config.tickMs).toBe(1000)
    })

    test("a tariff command's bytes are applied and persisted, bad bytes change nothing", async () => {
        const storage = new RamStorage()
        const u = await startMetrology(simulatedBoard(), storage, createSource)
        const bad = await applyTariff(u.meter, storage, Buffer.from("0200000000000000410000", "hex"))
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
        expect(storage.writes).toBe(0)
        const ok = await applyTariff(u.meter, storage, encodeCalendar(cal))
        expect(ok.ok).toBe(true)
        expect(u.meter.calendar().id).toBe(77)
        // the setting holds the command's bytes as they came
        expect(storage.raw[CALENDAR_KEY].toString("hex")).toBe(encodeCalendar(cal).toString("hex"))
        // after a restart the calendar comes back from mt.cal
        const again = await startMetrology(simulatedBoard(), storage, createSource)
        expect(again.meter.calendar().id).toBe(77)
        expect(again.meter.calendar().weekday[0].register).toBe(2)
        // a damaged setting is refused at boot: the meter starts on the default calendar
        storage.raw[CALENDAR_KEY] = Buffer.from("01", "hex")
        const damaged = await startMetrology(simulatedBoard(), storage, createSource)
        expect(damaged.meter.calendar().id).toBe(0)
    })

    test("run() ticks on real millis; with scale 1800 a 30-minute interval passes in 1 s", async () => {
        const u = await startMetrology(simulatedBoard(), new RamStorage(), createSource, new MeterClock({ scale: 1800 }))
        // Before a time sync the household's profile runs on meter time since the device
        // booted: a device that has been up for a while (hardware in the loop deploys each
        // suite to one long-running device) is deep into the profile's day, where solar
        // export can cover the base load. A held power makes the interval's energy exact.
        const household = u.source as HouseholdSource
        household.setPower(1000)
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
        // 1 kW for a full half hour is 500 Wh; the tick that straddles each boundary is
        // split by whole mWh and the source carries its remainder: at most 1 mWh each
        const e = closed[1].importMWh - 500000
        if (!(e >= -2 && e <= 2)) console.log(`interval: ${closed[1].importMWh} mWh import, ${closed[1].exportMWh} export`)
        expect(e >= -2 && e <= 2).toBe(true)
        expect(closed[1].exportMWh).toBe(0)
    })
})
