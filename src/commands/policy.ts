import { DurableRecord } from "../crypto/durable"
import { Storage } from "../storage/storage"
import { getU16BE, getU32BE, setU16BE, setU32BE } from "../wire/bytes"
import { PrivacyLevel } from "../wire/opcodes"

/**
 * The settings signed commands change, kept in one DurableRecord `cv.pol`
 * (docs/commands.md, "Policy record"): the privacy level the uplink reads, the disconnect
 * safeguards, the anti-rollback numbers (uplink key epoch, firmware sequence, time floor)
 * and today's count of remote disconnects. One record so each change is one atomic write.
 */

/**
 * Defaults before any command: DCUSA DCP 204's 600 s offset, and half-hourly reads (GB's
 * default without consent is daily: a supplier's SetPrivacy sets it; the daily and monthly
 * levels send the registers at each UTC day's or calendar month's close and pass the rest
 * over, so the 24-record store never jams: docs/uplink.md §8). Half-hourly data leaves the
 * meter only encrypted for the head-end (docs/uplink.md).
 */
export const DEFAULT_RANDOM_LIMIT_S = 600
export const DEFAULT_DISCONNECTS_PER_DAY = 2
export const POLICY_RECORD = "pol"
const POLICY_FORMAT = 1
const POLICY_SIZE = 23

export class CommandPolicy {
    privacy = PrivacyLevel.HalfHourly
    dualControl = false
    maxDisconnectsPerDay = DEFAULT_DISCONNECTS_PER_DAY
    randomLimitSeconds = DEFAULT_RANDOM_LIMIT_S
    uplinkEpoch = 0
    firmwareSequence = 0
    /** the last UTC time set by a time sync: later syncs may not go back before it */
    timeFloor = 0
    /** UTC day (seconds / 86400) of `disconnectsToday` */
    day = 0
    disconnectsToday = 0
    /** uptime (ds.millis) at which the count last started again; set by the handler's start(), so a reboot never shortens a day */
    countStartMs: number
    private record: DurableRecord

    constructor(storage: Storage, prefix = "cv.") {
        this.record = new DurableRecord(storage, prefix + POLICY_RECORD)
    }

    /** Loads the record; keeps the defaults when there is none. */
    async load(): Promise<void> {
        const b = await this.record.load()
        if (!b || b.length !== POLICY_SIZE || b[0] !== POLICY_FORMAT) return
        this.privacy = b[1]
        this.dualControl = b[2] === 1
        this.maxDisconnectsPerDay = b[3]
        this.randomLimitSeconds = getU16BE(b, 4)
        this.uplinkEpoch = getU32BE(b, 6)
        this.firmwareSequence = getU32BE(b, 10)
        this.timeFloor = getU32BE(b, 14)
        this.day = getU32BE(b, 18)
        this.disconnectsToday = b[22]
    }

    /** Persists the current values (one flash write). */
    async save(): Promise<void> {
        const b = Buffer.alloc(POLICY_SIZE)
        b[0] = POLICY_FORMAT
        b[1] = this.privacy
        b[2] = this.dualControl ? 1 : 0
        b[3] = this.maxDisconnectsPerDay
        setU16BE(b, 4, this.randomLimitSeconds)
        setU32BE(b, 6, this.uplinkEpoch)
        setU32BE(b, 10, this.firmwareSequence)
        setU32BE(b, 14, this.timeFloor)
        setU32BE(b, 18, this.day)
        b[22] = this.disconnectsToday
        await this.record.save(b)
    }

    /**
     * Counts one remote disconnect on UTC day `day` at uptime `nowMs` if the daily limit
     * allows it; false when the limit is reached (the caller then refuses with DailyLimit).
     * The count starts again only on a new UTC day after 24 h of the meter's own uptime:
     * no time sync, however many, and no reboot resets it. Not persisted.
     */
    takeDisconnect(day: number, nowMs: number): boolean {
        if (day !== this.day && nowMs - this.countStartMs >= 86400000) {
            this.day = day
            this.disconnectsToday = 0
            this.countStartMs = nowMs
        }
        if (this.disconnectsToday >= this.maxDisconnectsPerDay) return false
        this.disconnectsToday++
        return true
    }
}
