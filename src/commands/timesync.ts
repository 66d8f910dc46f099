import { Verdict } from "../wire/opcodes"

/**
 * Bounds on an authenticated time sync (docs/commands.md §5). The meter has no wall clock,
 * so a time sync is the one command it accepts while its time is unknown; these bounds
 * limit what a replayed or delayed sync, or a stolen network-operator key, can do. The
 * root is bound only by its envelope: it can always restore a sane time, also backwards.
 */

/** Largest step a non-root time sync may make when the time is known (15 minutes). */
export const MAX_TIME_STEP_S = 900
/** While the time is unknown, a sync must expire at most this long after the time it sets. */
export const MAX_UNKNOWN_WINDOW_S = 3600
/** While the time is unknown, a non-root sync sets at most this long after the floor (7 days: an outage of a week). */
export const MAX_UNKNOWN_STEP_S = 604800
/** No sync sets a time before 2020-01-01 (MIN_VALID_UTC of src/metrology/clock.ts, which refuses it). */
export const MIN_SYNC_UTC = 1577836800

/**
 * Decides a time sync to `newUtc` (pure). `nowUtc` is 0 while the time is unknown,
 * `floor` the newest time the meter vouches for (the last sync; while the time is unknown
 * also its newest record), `notBefore`/`expiry` the envelope's window. For every signer:
 * 2020 ≤ the new time, inside the envelope's own window; while the time is unknown the
 * envelope expires at most MAX_UNKNOWN_WINDOW_S after it (the only freshness a meter
 * without a clock can demand). The root may then set any such time, back before the floor
 * too. Any other signer never goes below the floor, and moves at most MAX_UNKNOWN_STEP_S
 * above it while the time is unknown (no floor yet: unbounded), MAX_TIME_STEP_S from the
 * clock when it is known. Times are u32 compared as numbers: safe past 2^31.
 */
export function decideTimeSync(
    newUtc: number,
    nowUtc: number,
    floor: number,
    notBefore: number,
    expiry: number,
    byRoot: boolean
): number {
    const unknown = nowUtc === 0
    if (newUtc < MIN_SYNC_UTC || newUtc < notBefore || newUtc > expiry || (unknown && expiry - newUtc > MAX_UNKNOWN_WINDOW_S))
        return Verdict.TimeOutOfBounds
    if (byRoot) return Verdict.Accepted
    // no floor yet (never synced, nothing recorded): the first sync is bounded by its window only
    const far = unknown ? floor !== 0 && newUtc - floor > MAX_UNKNOWN_STEP_S : Math.abs(newUtc - nowUtc) > MAX_TIME_STEP_S
    return newUtc < floor || far ? Verdict.TimeOutOfBounds : Verdict.Accepted
}
