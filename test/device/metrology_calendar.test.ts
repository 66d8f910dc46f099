// @timeout 120000 (each runs in 10-40 s alone; the margin is for a loaded CI machine)
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { TariffCalendar, decodeCalendar, encodeCalendar, validateCalendar } from "../../src/wire/calendar"
import { localWeekday, nextTariffEdge, registerAt } from "../../src/metrology/tou"
import { MONDAY, SATURDAY, Rig } from "./metrology_rig"
import { CALENDAR_INVALID, CALENDAR_VECTORS } from "./vectors/metrology"

const MIN = 60000

/** night 00:00-07:00 in register 1, peak 16:00-19:00 in 2, day in 0, weekends in 3 */
function economy(): TariffCalendar {
    return {
        id: 1,
        utcOffsetMin: 0,
        defaultRegister: 0,
        weekendMask: 0x41,
        weekday: [
            { start: 960, end: 1140, register: 2 },
            { start: 0, end: 420, register: 1 },
        ],
        weekend: [{ start: 0, end: 1440, register: 3 }],
    }
}

function reason(c: TariffCalendar): string {
    const r = validateCalendar(c)
    return r.ok ? "ok" : (r as any).reason
}

function contains(s: string, part: string): boolean {
    return s.indexOf(part) >= 0
}

describe("metrology: time-of-use", () => {
    test("the register switches exactly at a band edge, inside a tick", async () => {
        const r = new Rig({ calendar: economy() })
        r.clock.set(MONDAY + 7 * 3600 - 1, 0) // 06:59:59
        r.src.setPower(3600) // 1 mWh per ms
        await r.at(0)
        await r.at(500)
        await r.at(1500)
        const g = r.meter.registers()
        expect(g.touImportMWh[1]).toBe(1000)
        expect(g.touImportMWh[0]).toBe(500)
        expect(g.importMWh).toBe(1500)
    })

    test("a tick landing on the edge gives the band before it everything up to the edge", async () => {
        const r = new Rig({ calendar: economy() })
        r.clock.set(MONDAY + 7 * 3600 - 60, 0)
        r.src.setPower(3600)
        await r.at(0)
        await r.at(MIN)
        expect(r.meter.registers().touImportMWh[1]).toBe(MIN)
        expect(r.meter.registers().touImportMWh[0]).toBe(0)
        await r.at(MIN + 1)
        expect(r.meter.registers().touImportMWh[0]).toBe(1)
    })

    test("a whole weekday: 7 h night, 3 h peak, 14 h day; TOU sums to the total", async () => {
        const r = new Rig({ calendar: economy() })
        r.clock.set(MONDAY, 0)
        r.src.setPower(1000)
        await r.at(0)
        await r.run(24 * 60 * MIN, 10 * MIN)
        const g = r.meter.registers()
        expect(g.touImportMWh[1]).toBe(7000000)
        expect(g.touImportMWh[2]).toBe(3000000)
        expect(g.touImportMWh[0]).toBe(14000000)
        expect(g.touImportMWh[3]).toBe(0)
        expect(g.importMWh).toBe(24000000)
        expect(r.closed.length).toBe(48)
        expect(r.touConsistent()).toBe(true)
    })

    test("Friday night to Saturday switches to the weekend register at midnight; export too", async () => {
        const r = new Rig({ calendar: economy() })
        r.clock.set(SATURDAY - 60, 0)
        r.src.setPower(-3600)
        await r.at(0)
        await r.at(2 * MIN)
        const g = r.meter.registers()
        expect(g.touExportMWh[0]).toBe(MIN)
        expect(g.touExportMWh[3]).toBe(MIN)
        expect(g.exportMWh).toBe(2 * MIN)
        expect(r.touConsistent()).toBe(true)
    })

    test("local offset and weekday arithmetic", () => {
        const c = economy()
        c.utcOffsetMin = 60 // local 07:00 is 06:00 UTC
        expect(registerAt(c, (MONDAY + 6 * 3600 - 1) * 1000)).toBe(1)
        expect(registerAt(c, (MONDAY + 6 * 3600) * 1000)).toBe(0)
        expect(nextTariffEdge(c, MONDAY * 1000)).toBe((MONDAY + 6 * 3600) * 1000)
        expect(nextTariffEdge(c, (MONDAY + 6 * 3600) * 1000)).toBe((MONDAY + 15 * 3600) * 1000)
        c.utcOffsetMin = -300 // Monday 03:00 UTC is Sunday 22:00 local: weekend
        expect(registerAt(c, (MONDAY + 3 * 3600) * 1000)).toBe(3)
        expect(localWeekday(c, (MONDAY + 3 * 3600) * 1000)).toBe(0)
        expect(localWeekday(economy(), SATURDAY * 1000)).toBe(6)
        expect(localWeekday(economy(), MONDAY * 1000)).toBe(1)
    })

    test("while the time is unknown energy goes to the default register", async () => {
        const c = economy()
        c.defaultRegister = 2
        const r = new Rig({ calendar: c })
        r.src.setPower(3600)
        await r.at(0)
        await r.at(1000)
        expect(r.meter.registers().touImportMWh[2]).toBe(1000)
    })

    test("invalid calendars are rejected with a reason a person can act on", async () => {
        const over = economy()
        over.weekday.push({ start: 400, end: 500, register: 1 })
        expect(reason(over)).toBe("weekday bands 1 and 2 overlap (00:00-07:00 and 06:40-08:20)")
        const unk = economy()
        unk.weekend[0].register = 4
        expect(reason(unk)).toBe("weekend band 0: unknown register 4; registers are 0..3")
        const many = economy()
        many.weekday = []
        for (let i = 0; i < 9; i++) many.weekday.push({ start: i * 10, end: i * 10 + 5, register: 0 })
        expect(reason(many)).toBe("weekday: 9 bands, at most 8 fit")
        const def = economy()
        def.defaultRegister = 7
        expect(contains(reason(def), "unknown register 7 (default register)")).toBe(true)
        const rev = economy()
        rev.weekday[0] = { start: 600, end: 540, register: 0 }
        expect(contains(reason(rev), "weekday band 0: 600..540")).toBe(true)
        await ds.sleep(0)
        const off = economy()
        off.utcOffsetMin = 900
        expect(contains(reason(off), "utc offset 900")).toBe(true)
        expect(reason(economy())).toBe("ok")
        expect(() => encodeCalendar(over)).toThrow()
    })

    test("the engine refuses an invalid calendar and keeps the old one", () => {
        const r = new Rig({ calendar: economy() })
        const bad = economy()
        bad.weekday[0].register = 9
        const res = r.meter.setCalendar(bad)
        expect(res.ok).toBe(false)
        expect(r.meter.calendar().weekday[0].register).toBe(2)
        const good = economy()
        good.id = 2
        expect(r.meter.setCalendar(good).ok).toBe(true)
        expect(r.meter.calendar().id).toBe(2)
        expect(r.events[r.events.length - 1]).toBe("tariff-set: calendar 2")
    })

    test("golden calendars decode and re-encode byte for byte", async () => {
        for (const v of CALENDAR_VECTORS) {
            await ds.sleep(0)
            const c = decodeCalendar(Buffer.from(v.hex, "hex"))
            expect(JSON.stringify(c)).toBe(JSON.stringify(v.calendar))
            expect(encodeCalendar(v.calendar).toString("hex")).toBe(v.hex)
        }
    })

    test("malformed calendar bytes are refused with the documented reason", async () => {
        for (const v of CALENDAR_INVALID) {
            await ds.sleep(0)
            let msg = ""
            try {
                decodeCalendar(Buffer.from(v.hex, "hex"))
            } catch (e) {
                msg = (e as Error).message
            }
            if (!contains(msg, v.reason)) console.log(`${v.name}: got "${msg}", want "${v.reason}"`)
            expect(contains(msg, v.reason)).toBe(true)
        }
    })
})
