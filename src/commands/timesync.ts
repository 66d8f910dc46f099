import { Verdict } from "../wire/opcodes"

/**
 * Bounds on an authenticated time sync (docs/commands.md, "Time sync"). The meter has no
 * wall clock, so a time sync is the one command it accepts while its time is unknown;
 * these bounds limit what a replayed or delayed sync can do.
 */

/** Largest step a non-root time sync may make when the time is known (15 minutes). */
export const MAX_TIME_STEP_S = 900
/** While the time is unknown, a sync must expire at most this long after the time it sets. */
export const MAX_UNKNOWN_WINDOW_S = 3600

/**
 * Decides a time sync to `newUtc` (pure). `nowUtc` is 0 while the time is unknown,
 * `floor` the last synced time, `notBefore`/`expiry` the envelope's window. Checks:
 * the new time lies inside the envelope's own window; never before the floor; while the
 * time is unknown the envelope expires at most MAX_UNKNOWN_WINDOW_S after the time it
 * sets (the only freshness a meter without a clock can demand); when the time is known,
 * the step is at most MAX_TIME_STEP_S unless the root signed.
 */
export function decideTimeSync(
    newUtc: number,
    nowUtc: number,
    floor: number,
    notBefore: number,
    expiry: number,
    byRoot: boolean
): number {
    if (newUtc === 0) return Verdict.TimeOutOfBounds
    if (newUtc < notBefore || newUtc > expiry) return Verdict.TimeOutOfBounds
    if (newUtc < floor) return Verdict.TimeOutOfBounds
    if (nowUtc === 0) {
        if (expiry - newUtc > MAX_UNKNOWN_WINDOW_S) return Verdict.TimeOutOfBounds
        return Verdict.Accepted
    }
    if (!byRoot && Math.abs(newUtc - nowUtc) > MAX_TIME_STEP_S) return Verdict.TimeOutOfBounds
    return Verdict.Accepted
}
