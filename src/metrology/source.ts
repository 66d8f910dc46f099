import { isIntIn } from "../wire/bytes"

/**
 * The interface every energy source implements (simulated household, pulse input,
 * metering IC), and the exact count-to-energy conversion they share.
 */

/** What a source delivers on each read: energy since the previous read, and its health. */
export interface SourceReading {
    /** active energy imported since the previous read, whole mWh (>= 0) */
    importMWh: number
    /** active energy exported since the previous read, whole mWh (>= 0) */
    exportMWh: number
    /** latest active power in W, + import / - export (for display and demand checks) */
    powerW: number
    /** false when the source could not measure (IC silent, pulses stopped, no samples) */
    ok: boolean
    /** why `ok` is false, e.g. "i2c: no device at address 56" */
    reason?: string
}

/**
 * A source of active energy. `read(meterMs)` is called once per metrology tick with the
 * meter time (scaled ms since boot, see MeterClock); the first call returns the energy since
 * the source started (usually 0). A source never reports a silent failure as zero energy:
 * it returns `ok: false` with a reason, or throws.
 */
export interface EnergySource {
    /** "simulated", "pulse" or "ade7953" */
    readonly kind: string
    read(meterMs: number): Promise<SourceReading>
}

/**
 * Converts a growing count of energy quanta (pulses, IC register LSBs) to whole mWh without
 * drift: it keeps the exact total count and hands out floor(total * 1e6 / perKWh) minus what
 * it already handed out, so the fraction of a quantum is carried, never lost or rounded up.
 */
export class EnergyCounter {
    /** counts per kWh, e.g. 1000 impulses/kWh */
    readonly perKWh: number
    /** counts not yet making a whole kWh (< perKWh), so products stay far below 2^53 */
    private rem = 0
    /** mWh already handed out for `rem` */
    private givenFrac = 0

    constructor(perKWh: number) {
        if (!isIntIn(perKWh, 1, 1e9))
            throw new RangeError(`counts per kWh ${perKWh} must be an integer 1..1e9`)
        this.perKWh = perKWh
    }

    /** adds `counts` (a whole number >= 0) and returns the whole mWh they complete */
    add(counts: number): number {
        const p = this.perKWh
        let rem = this.rem + counts
        let whole = 0
        if (rem >= p) {
            const k = Math.floor(rem / p)
            rem -= k * p
            whole = k * 1000000
        }
        this.rem = rem
        const frac = Math.floor((rem * 1000000) / p)
        const d = whole + frac - this.givenFrac
        this.givenFrac = frac
        return d
    }
}
