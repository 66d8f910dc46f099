/**
 * When the register block (62 bytes, src/wire/registers.ts) rides in an uplink report: in
 * the first frame after boot, then once a day. The interval records carry the energy in
 * between, and 62 bytes in every half-hourly frame would double the meter's daily traffic
 * (docs/uplink.md §13, "Figures").
 */

/**
 * The uplink's `registers` port: returns `registers()` on the first call and on every
 * `framesPerDay`-th call after it (one frame per interval), undefined otherwise.
 */
export function registerCadence(framesPerDay: number, registers: () => Buffer): () => Buffer {
    let since = framesPerDay
    return () => {
        if (since++ < framesPerDay) return undefined
        since = 1
        return registers()
    }
}
