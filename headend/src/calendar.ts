/**
 * Head-end side of the time-of-use tariff calendar (docs/metrology.md, "Tariff calendar"):
 * the same byte format the firmware's src/metrology/calendar.ts decodes. The head-end
 * encodes the calendar into the body of a signed "set tariff" command.
 */

/** Number of time-of-use registers per direction in the meter. */
export const TOU_REGISTERS = 4
/** Bands per day type that fit. */
export const MAX_BANDS_PER_DAY = 8
const VERSION = 1
const HEADER = 11
const BAND = 5

/** One band [start, end) in local standard-time minutes, counted in `register`. */
export interface TariffBand {
    start: number
    end: number
    register: number
}

/** A weekday/weekend TOU calendar; minutes outside every band count in `defaultRegister`. */
export interface TariffCalendar {
    id: number
    utcOffsetMin: number
    defaultRegister: number
    /** bit d (0 = Sunday .. 6 = Saturday) set: day d uses the weekend bands */
    weekendMask: number
    weekday: TariffBand[]
    weekend: TariffBand[]
}

/** Checks a calendar with the firmware's rules; returns the reason or undefined. */
export function calendarProblem(cal: TariffCalendar): string | undefined {
    const int = (x: unknown) => typeof x === "number" && Number.isInteger(x)
    if (!int(cal.id) || cal.id < 0 || cal.id > 0xffffffff) return `calendar id ${cal.id} is not a u32`
    if (!int(cal.utcOffsetMin) || cal.utcOffsetMin < -720 || cal.utcOffsetMin > 840)
        return `utc offset ${cal.utcOffsetMin} min is outside -720..840`
    if (!int(cal.defaultRegister) || cal.defaultRegister < 0 || cal.defaultRegister >= TOU_REGISTERS)
        return `unknown register ${cal.defaultRegister} (default register); registers are 0..${TOU_REGISTERS - 1}`
    if (!int(cal.weekendMask) || cal.weekendMask < 0 || cal.weekendMask > 127)
        return `weekend mask ${cal.weekendMask} is not a 7-bit day set`
    for (const [day, bands] of [
        ["weekday", cal.weekday],
        ["weekend", cal.weekend],
    ] as const) {
        if (!Array.isArray(bands)) return `${day} bands missing`
        if (bands.length > MAX_BANDS_PER_DAY) return `${day}: ${bands.length} bands, at most ${MAX_BANDS_PER_DAY} fit`
        for (const [i, b] of bands.entries()) {
            if (!int(b.start) || !int(b.end) || b.start < 0 || b.end > 1440 || b.start >= b.end)
                return `${day} band ${i}: ${b.start}..${b.end} is not a minute range within 0..1440 with start before end`
            if (!int(b.register) || b.register < 0 || b.register >= TOU_REGISTERS)
                return `${day} band ${i}: unknown register ${b.register}; registers are 0..${TOU_REGISTERS - 1}`
        }
        for (let i = 0; i < bands.length; i++)
            for (let j = i + 1; j < bands.length; j++) {
                const a = bands[i]
                const b = bands[j]
                if (a.start < b.end && b.start < a.end) return `${day} bands ${i} and ${j} overlap (${hhmm(a.start)}-${hhmm(a.end)} and ${hhmm(b.start)}-${hhmm(b.end)})`
            }
    }
    return undefined
}

/** Encodes a calendar; throws RangeError("calendar: <reason>") if it is invalid. */
export function encodeCalendar(cal: TariffCalendar): Buffer {
    const p = calendarProblem(cal)
    if (p) throw new RangeError(`calendar: ${p}`)
    const bands = [...cal.weekday, ...cal.weekend]
    const b = Buffer.alloc(HEADER + BAND * bands.length)
    b[0] = VERSION
    b.writeUInt32LE(cal.id, 1)
    b.writeInt16LE(cal.utcOffsetMin, 5)
    b[7] = cal.defaultRegister
    b[8] = cal.weekendMask
    b[9] = cal.weekday.length
    b[10] = cal.weekend.length
    bands.forEach((band, i) => {
        const off = HEADER + BAND * i
        b.writeUInt16LE(band.start, off)
        b.writeUInt16LE(band.end, off + 2)
        b[off + 4] = band.register
    })
    return b
}

/** Decodes strictly (version, counts, exact length, every field); throws RangeError("calendar: <reason>"). */
export function decodeCalendar(buf: Uint8Array): TariffCalendar {
    const b = Buffer.from(buf)
    if (b.length < HEADER) throw new RangeError(`calendar: ${b.length} bytes, the header alone is ${HEADER}`)
    if (b[0] !== VERSION) throw new RangeError(`calendar: unknown format version ${b[0]}`)
    const n1 = b[9]
    const n2 = b[10]
    if (n1 > MAX_BANDS_PER_DAY || n2 > MAX_BANDS_PER_DAY)
        throw new RangeError(`calendar: ${n1} weekday + ${n2} weekend bands, at most ${MAX_BANDS_PER_DAY} per day type fit`)
    const want = HEADER + BAND * (n1 + n2)
    if (b.length !== want) throw new RangeError(`calendar: ${b.length} bytes, ${want} expected for ${n1}+${n2} bands`)
    const band = (i: number): TariffBand => {
        const off = HEADER + BAND * i
        return { start: b.readUInt16LE(off), end: b.readUInt16LE(off + 2), register: b[off + 4] }
    }
    const cal: TariffCalendar = {
        id: b.readUInt32LE(1),
        utcOffsetMin: b.readInt16LE(5),
        defaultRegister: b[7],
        weekendMask: b[8],
        weekday: Array.from({ length: n1 }, (_, i) => band(i)),
        weekend: Array.from({ length: n2 }, (_, i) => band(n1 + i)),
    }
    const p = calendarProblem(cal)
    if (p) throw new RangeError(`calendar: ${p}`)
    return cal
}

function hhmm(min: number): string {
    return `${String(Math.floor(min / 60)).padStart(2, "0")}:${String(min % 60).padStart(2, "0")}`
}
