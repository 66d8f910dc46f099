/**
 * Time-of-use switching: which of the meter's TOU registers counts the energy at a given
 * moment, and when that may next change. Only the meter runs this; the calendar itself (its
 * data, validation and the bytes of the "set tariff" command) is the wire core's
 * (src/wire/calendar.ts). docs/metrology.md, "Tariff switching". Pure: no I/O.
 */
import { MINUTES_PER_DAY, TariffCalendar } from "../wire/calendar"

/** The TOU register that counts energy at UTC milliseconds `utcMs` (calendar assumed valid). */
export function registerAt(cal: TariffCalendar, utcMs: number): number {
    const p = localPosition(cal, utcMs)
    const bands = isWeekend(cal, p.day) ? cal.weekend : cal.weekday
    const minute = Math.floor(p.msInDay / 60000)
    for (const b of bands) if (minute >= b.start && minute < b.end) return b.register
    return cal.defaultRegister
}

/**
 * The first UTC millisecond after `utcMs` at which the register may change: the next band
 * start or end of the day type in force, or local midnight (the day type may change).
 */
export function nextTariffEdge(cal: TariffCalendar, utcMs: number): number {
    const p = localPosition(cal, utcMs)
    const bands = isWeekend(cal, p.day) ? cal.weekend : cal.weekday
    let edge = MINUTES_PER_DAY * 60000
    for (const b of bands) {
        const s = b.start * 60000
        const e = b.end * 60000
        if (s > p.msInDay && s < edge) edge = s
        if (e > p.msInDay && e < edge) edge = e
    }
    return utcMs + (edge - p.msInDay)
}

/** Local weekday (0 Sunday .. 6 Saturday) of UTC milliseconds `utcMs`. */
export function localWeekday(cal: TariffCalendar, utcMs: number): number {
    const d = localPosition(cal, utcMs).day
    // 1970-01-01 was a Thursday (4)
    const w = (d + 4) % 7
    return w < 0 ? w + 7 : w
}

const DAY_MS = 86400000

function localPosition(cal: TariffCalendar, utcMs: number) {
    const local = utcMs + cal.utcOffsetMin * 60000
    const day = Math.floor(local / DAY_MS)
    return { day: day, msInDay: local - day * DAY_MS }
}

function isWeekend(cal: TariffCalendar, day: number): boolean {
    let w = (day + 4) % 7
    if (w < 0) w += 7
    return ((cal.weekendMask >> w) & 1) === 1
}
