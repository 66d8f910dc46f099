/**
 * The time-of-use tariff calendar on the wire: the body of the signed "set tariff" command,
 * which the head-end encodes (headend/src/operations.ts) and the meter decodes, validates
 * and persists (src/metrology/config.ts). One implementation for both ends; which register
 * counts at a given moment is the meter's business (src/metrology/tou.ts).
 * Byte table: docs/metrology.md, section "Tariff calendar". Pure: no I/O.
 */
import { getUintLE, isIntIn, setUintLE } from "./bytes"

/** Number of time-of-use registers per energy direction. */
export const TOU_REGISTERS = 4
/** Bands per day type that fit in a calendar (the encoding's count bytes are checked against it). */
export const MAX_BANDS_PER_DAY = 8
/** Minutes in a day: a band's `end` may be 1440 (midnight at the end of the day). */
export const MINUTES_PER_DAY = 1440

/** Calendar codec constants (docs/metrology.md, "Tariff calendar"). */
export const enum CalendarWire {
    Version = 1,
    HeaderBytes = 11,
    BandBytes = 5,
}

/** One time-of-day band, in local standard time minutes: [start, end). */
export interface TariffBand {
    /** first minute of the band, 0..1439 */
    start: number
    /** minute after the band's last one, start+1..1440 */
    end: number
    /** TOU register 0..TOU_REGISTERS-1 */
    register: number
}

/** A weekday/weekend time-of-use calendar. Minutes not covered by a band use `defaultRegister`. */
export interface TariffCalendar {
    /** u32 chosen by the head-end; reported back so it can see which calendar is active */
    id: number
    /** local standard time = UTC + utcOffsetMin (-720..840); no daylight saving: the head-end
     * sends a new calendar when the offset changes */
    utcOffsetMin: number
    /** register for minutes outside every band, and while the time is unknown */
    defaultRegister: number
    /** bit d set (d = 0 Sunday .. 6 Saturday, local) means day d uses the weekend bands */
    weekendMask: number
    weekday: TariffBand[]
    weekend: TariffBand[]
}

/** Result of `validateCalendar`: `reason` says what is wrong in words a person can act on. */
export type CalendarCheck = { ok: true } | { ok: false; reason: string }

/** The calendar a meter starts with: one register (0) all day, every day. */
export function defaultCalendar(): TariffCalendar {
    return { id: 0, utcOffsetMin: 0, defaultRegister: 0, weekendMask: 0x41, weekday: [], weekend: [] }
}

/**
 * Checks every field: ranges, known registers, band bounds, no overlapping bands, at most
 * MAX_BANDS_PER_DAY bands per day type. Bands may come in any order.
 * @example validateCalendar(defaultCalendar()).ok === true
 */
export function validateCalendar(cal: TariffCalendar): CalendarCheck {
    if (!cal) return bad("no calendar")
    if (!isIntIn(cal.id, 0, 4294967295)) return bad(`calendar id ${cal.id} is not a u32`)
    if (!isIntIn(cal.utcOffsetMin, -720, 840)) return bad(`utc offset ${cal.utcOffsetMin} min is outside -720..840`)
    if (!isIntIn(cal.defaultRegister, 0, TOU_REGISTERS - 1))
        return bad(`unknown register ${cal.defaultRegister} (default register); registers are 0..${TOU_REGISTERS - 1}`)
    if (!isIntIn(cal.weekendMask, 0, 127)) return bad(`weekend mask ${cal.weekendMask} is not a 7-bit day set`)
    // a reason is never empty
    const w = checkBands("weekday", cal.weekday) || checkBands("weekend", cal.weekend)
    if (w !== undefined) return bad(w)
    return { ok: true }
}

/**
 * Encodes a valid calendar, 11 + 5 × (bands) bytes, little-endian. Throws
 * RangeError("calendar: <reason>") when `validateCalendar` refuses it: the head-end never
 * signs a calendar the meter would refuse.
 */
export function encodeCalendar(cal: TariffCalendar): Buffer {
    const c = validateCalendar(cal)
    if (!c.ok) throw new RangeError("calendar: " + (c as any).reason)
    const n1 = cal.weekday.length
    const n2 = cal.weekend.length
    const b = Buffer.alloc(CalendarWire.HeaderBytes + CalendarWire.BandBytes * (n1 + n2))
    b[0] = CalendarWire.Version
    setUintLE(b, 1, 4, cal.id)
    // i16 in two's complement
    setUintLE(b, 5, 2, cal.utcOffsetMin < 0 ? cal.utcOffsetMin + 65536 : cal.utcOffsetMin)
    b[7] = cal.defaultRegister
    b[8] = cal.weekendMask
    b[9] = n1
    b[10] = n2
    let off: number = CalendarWire.HeaderBytes
    for (let i = 0; i < n1 + n2; i++) {
        const band = i < n1 ? cal.weekday[i] : cal.weekend[i - n1]
        setUintLE(b, off, 2, band.start)
        setUintLE(b, off + 2, 2, band.end)
        b[off + 4] = band.register
        off += CalendarWire.BandBytes
    }
    return b
}

/**
 * Decodes and validates calendar bytes strictly: version, band counts, exact length and
 * every field. Throws RangeError("calendar: <reason>") on malformed or invalid input.
 */
export function decodeCalendar(buf: Buffer): TariffCalendar {
    if (!buf || buf.length < CalendarWire.HeaderBytes)
        throw new RangeError(`calendar: ${buf ? buf.length : 0} bytes, the header alone is ${CalendarWire.HeaderBytes}`)
    if (buf[0] !== CalendarWire.Version) throw new RangeError(`calendar: unknown format version ${buf[0]}`)
    const n1 = buf[9]
    const n2 = buf[10]
    if (n1 > MAX_BANDS_PER_DAY || n2 > MAX_BANDS_PER_DAY)
        throw new RangeError(`calendar: ${n1} weekday + ${n2} weekend bands, at most ${MAX_BANDS_PER_DAY} per day type fit`)
    const want = CalendarWire.HeaderBytes + CalendarWire.BandBytes * (n1 + n2)
    if (buf.length !== want) throw new RangeError(`calendar: ${buf.length} bytes, ${want} expected for ${n1}+${n2} bands`)
    const offset = getUintLE(buf, 5, 2)
    const cal: TariffCalendar = {
        id: getUintLE(buf, 1, 4),
        utcOffsetMin: offset >= 32768 ? offset - 65536 : offset,
        defaultRegister: buf[7],
        weekendMask: buf[8],
        weekday: [],
        weekend: [],
    }
    let off: number = CalendarWire.HeaderBytes
    for (let i = 0; i < n1 + n2; i++) {
        const band: TariffBand = { start: getUintLE(buf, off, 2), end: getUintLE(buf, off + 2, 2), register: buf[off + 4] }
        if (i < n1) cal.weekday.push(band)
        else cal.weekend.push(band)
        off += CalendarWire.BandBytes
    }
    const c = validateCalendar(cal)
    if (!c.ok) throw new RangeError("calendar: " + (c as any).reason)
    return cal
}

function bad(reason: string): CalendarCheck {
    return { ok: false, reason: reason }
}

function hhmm(min: number): string {
    const h = Math.floor(min / 60)
    const m = min - h * 60
    return (h < 10 ? "0" : "") + h + ":" + (m < 10 ? "0" : "") + m
}

/** Returns the reason the bands of one day type are invalid, or undefined. */
function checkBands(day: string, bands: TariffBand[]): string | undefined {
    if (!Array.isArray(bands)) return `${day} bands missing`
    if (bands.length > MAX_BANDS_PER_DAY) return `${day}: ${bands.length} bands, at most ${MAX_BANDS_PER_DAY} fit`
    for (let i = 0; i < bands.length; i++) {
        const b = bands[i]
        if (!isIntIn(b.start, 0, MINUTES_PER_DAY - 1) || !isIntIn(b.end, b.start + 1, MINUTES_PER_DAY))
            return `${day} band ${i}: ${b.start}..${b.end} is not a minute range within 0..${MINUTES_PER_DAY} with start before end`
        if (!isIntIn(b.register, 0, TOU_REGISTERS - 1)) return `${day} band ${i}: unknown register ${b.register}; registers are 0..${TOU_REGISTERS - 1}`
    }
    for (let i = 0; i < bands.length; i++)
        for (let j = i + 1; j < bands.length; j++) {
            const a = bands[i]
            const b = bands[j]
            if (a.start < b.end && b.start < a.end)
                return `${day} bands ${i} and ${j} overlap (${hhmm(a.start)}-${hhmm(a.end)} and ${hhmm(b.start)}-${hhmm(b.end)})`
        }
    return undefined
}
