/**
 * Time-of-use switching: which of the meter's TOU registers counts the energy at a given
 * moment, and when that may next change. Only the meter runs this; the calendar itself (its
 * data, validation and the bytes of the "set tariff" command) is the wire core's
 * (src/wire/calendar.ts). docs/metrology.md, "Tariff switching". Pure: no I/O.
 */
import { modU } from "../wire/bytes"
import { TariffBand, TariffCalendar } from "../wire/calendar"

/** The TOU register that counts energy at UTC milliseconds `utcMs` (calendar assumed valid). */
export function registerAt(cal: TariffCalendar, utcMs: number): number {
    const minute = Math.floor(msInLocalDay(cal, utcMs) / 60000)
    for (const b of bandsAt(cal, utcMs)) if (minute >= b.start && minute < b.end) return b.register
    return cal.defaultRegister
}

/**
 * The first UTC millisecond after `utcMs` at which the register may change: the next band
 * start or end of the day type in force, or local midnight (the day type may change).
 */
export function nextTariffEdge(cal: TariffCalendar, utcMs: number): number {
    const ms = msInLocalDay(cal, utcMs)
    let edge = DAY_MS
    for (const b of bandsAt(cal, utcMs)) {
        const s = b.start * 60000
        const e = b.end * 60000
        if (s > ms && s < edge) edge = s
        if (e > ms && e < edge) edge = e
    }
    return utcMs + (edge - ms)
}

/** Local weekday (0 Sunday .. 6 Saturday) of UTC milliseconds `utcMs`. */
export function localWeekday(cal: TariffCalendar, utcMs: number): number {
    // 1970-01-01 was a Thursday (4)
    return modU(Math.floor((utcMs + cal.utcOffsetMin * 60000) / DAY_MS) + 4, 7)
}

/** a day in ms (MINUTES_PER_DAY minutes) */
const DAY_MS = 86400000

/** The bands of the local day type at `utcMs`: weekend when its weekday's bit is set. */
function bandsAt(cal: TariffCalendar, utcMs: number): TariffBand[] {
    // localWeekday, written out (firmware code is counted per function)
    const day = modU(Math.floor((utcMs + cal.utcOffsetMin * 60000) / DAY_MS) + 4, 7)
    return ((cal.weekendMask >> day) & 1) === 1 ? cal.weekend : cal.weekday
}

/** Milliseconds since local midnight (floor division: right for any sign). */
function msInLocalDay(cal: TariffCalendar, utcMs: number): number {
    return modU(utcMs + cal.utcOffsetMin * 60000, DAY_MS)
}
