/**
 * The interval profile's record: consumption of one 15/30/60-minute slot aligned to UTC,
 * with a status. The meter's metrology closes these, its store chains them, the uplink
 * carries them and the head-end decodes them for its views: one codec for both ends, so the
 * encoding is compact (16 bytes). Byte table: docs/metrology.md, section "Interval record".
 * Pure.
 */
import { getUintLE, isIntIn, setUintLE } from "./bytes"

/** Interval status bits (docs/metrology.md, "Interval record"); 0 = complete. */
export const enum IntervalStatus {
    Complete = 0,
    /** the meter powered up inside this interval: the part before power-up is missing */
    PartialPowerUp = 0x01,
    /** the clock was set while this interval was open: it is shorter, longer or a fragment */
    ClockAdjusted = 0x02,
    /** the energy source reported a fault during this interval */
    SourceFault = 0x04,
    /** measured before the first time sync: `start` counts meter seconds since power-up, not UTC */
    TimeUnknown = 0x08,
    /** the power failed while this interval was open (closed after the restart) */
    PowerDown = 0x10,
}

/** Mask of all defined status bits; a record with other bits set is rejected. */
export const INTERVAL_STATUS_MASK = 0x1f
/** Encoded size of one interval record. */
export const INTERVAL_RECORD_BYTES = 16

/** One closed interval of the load profile. */
export interface IntervalRecord {
    /** UTC seconds of the interval's aligned start; with TimeUnknown, meter seconds since power-up */
    start: number
    /** nominal length in minutes: 15, 30 or 60 */
    lengthMin: number
    /** IntervalStatus bits */
    status: number
    /** seconds actually metered in this record (meter time) */
    coveredS: number
    /** active energy imported in the interval, mWh */
    importMWh: number
    /** active energy exported in the interval, mWh */
    exportMWh: number
}

/** true for the interval lengths the meter supports (15, 30, 60 minutes) */
export function isIntervalLength(min: number): boolean {
    return min === 15 || min === 30 || min === 60
}

/** Encodes a record in 16 bytes (little-endian). Throws RangeError on out-of-range fields. */
export function encodeInterval(r: IntervalRecord): Buffer {
    if (!isIntervalLength(r.lengthMin)) throw new RangeError(`interval: length ${r.lengthMin} min`)
    checkU(r.start, 4294967295, "start")
    checkU(r.status, INTERVAL_STATUS_MASK, "status")
    checkU(r.coveredS, 65535, "covered")
    checkU(r.importMWh, 4294967295, "import")
    checkU(r.exportMWh, 4294967295, "export")
    const b = Buffer.alloc(INTERVAL_RECORD_BYTES)
    setUintLE(b, 0, 4, r.start)
    b[4] = r.lengthMin
    b[5] = r.status
    setUintLE(b, 6, 2, r.coveredS)
    setUintLE(b, 8, 4, r.importMWh)
    setUintLE(b, 12, 4, r.exportMWh)
    return b
}

/**
 * Decodes an interval strictly (length, interval length, status bits, covered <= length):
 * 16 bytes, or an interval record's chain payload, the 16 bytes followed by the 62-byte
 * register block at its close (docs/index-store.md, "Kinds"). Throws RangeError.
 */
export function decodeInterval(b: Buffer): IntervalRecord {
    if (!b || (b.length !== INTERVAL_RECORD_BYTES && b.length !== INTERVAL_RECORD_BYTES + 62))
        throw new RangeError(`interval: ${b ? b.length : 0} bytes, ${INTERVAL_RECORD_BYTES} expected`)
    const r: IntervalRecord = {
        start: getUintLE(b, 0, 4),
        lengthMin: b[4],
        status: b[5],
        coveredS: getUintLE(b, 6, 2),
        importMWh: getUintLE(b, 8, 4),
        exportMWh: getUintLE(b, 12, 4),
    }
    if (!isIntervalLength(r.lengthMin)) throw new RangeError(`interval: length ${r.lengthMin} min`)
    if ((r.status & ~INTERVAL_STATUS_MASK) !== 0) throw new RangeError(`interval: unknown status bits ${r.status}`)
    if (r.coveredS > r.lengthMin * 60) throw new RangeError(`interval: covers ${r.coveredS} s of ${r.lengthMin * 60}`)
    if ((r.status & IntervalStatus.TimeUnknown) === 0 && Math.floor(r.start / (r.lengthMin * 60)) * (r.lengthMin * 60) !== r.start)
        throw new RangeError(`interval: start ${r.start} not aligned to ${r.lengthMin} min`)
    return r
}

function checkU(v: number, max: number, what: string) {
    if (!isIntIn(v, 0, max)) throw new RangeError(`interval: ${what} ${v} out of range`)
}
