import { modU } from "../wire/bytes"
import { MeterClock } from "./clock"
import { EnergySource, SourceReading } from "./source"

/**
 * Simulated source: a seeded, deterministic household load profile for the simulator.
 * Power is a pure function of (seed, minute): base load, a fridge cycling, random kettle
 * minutes, evening lighting and, optionally, solar generation around local noon that makes
 * the net power negative (export). The same seed gives the same energy for the same span,
 * whatever the tick pattern. Tests override the profile with an exact power (`setPower`)
 * or make the source fall silent (`setSilent`).
 *
 * Energy is integrated exactly: power in whole W times meter milliseconds (W·ms) is summed
 * as an integer and handed out in whole mWh (1 mWh = 3600 W·ms), the remainder carried.
 */
export class HouseholdSource implements EnergySource {
    readonly kind = "simulated"
    private opts: HouseholdOptions
    private clock: MeterClock
    private lastMeterMs = -1
    private forcedW: number = undefined
    private silent = false
    private lastW = 0
    /** W·ms not yet handed out as whole mWh, per direction */
    private impRem = 0
    private expRem = 0

    constructor(clock: MeterClock, opts?: HouseholdOptions) {
        this.clock = clock
        const o = opts || {}
        this.opts = {
            seed: o.seed === undefined ? 1 : o.seed,
            baseW: o.baseW === undefined ? 180 : o.baseW,
            solarPeakW: o.solarPeakW === undefined ? 0 : o.solarPeakW,
        }
    }

    /** test hook: hold the power at exactly `watts` (+ import, - export, whole W) until cleared */
    setPower(watts: number) {
        this.forcedW = Math.round(watts)
    }

    /** test hook: return to the seeded profile */
    clearPower() {
        this.forcedW = undefined
    }

    /** test hook: the source stops delivering samples (reads report a fault, no energy) */
    setSilent(silent: boolean) {
        this.silent = silent
    }

    /** The profile's power in W at profile time `ms` (UTC ms once the clock is set). */
    powerAt(ms: number): number {
        if (this.forcedW !== undefined) return this.forcedW
        return householdPower(this.opts, Math.floor(ms / 60000))
    }

    async read(meterMs: number): Promise<SourceReading> {
        if (this.lastMeterMs < 0 || meterMs < this.lastMeterMs) this.lastMeterMs = meterMs
        const dt = meterMs - this.lastMeterMs
        this.lastMeterMs = meterMs
        if (this.silent) return { importMWh: 0, exportMWh: 0, powerW: 0, ok: false, reason: "simulated source silent" }
        const utc = this.clock.utcMsAtMeter(meterMs)
        const pEnd = utc >= 0 ? utc : meterMs
        // piecewise constant per minute of profile time (one piece when the power is forced)
        let t = pEnd - dt
        if (this.forcedW !== undefined && dt > 0) {
            if (this.forcedW >= 0) this.impRem += this.forcedW * dt
            else this.expRem -= this.forcedW * dt
            t = pEnd
        }
        while (t < pEnd) {
            const next = Math.min(pEnd, (Math.floor(t / 60000) + 1) * 60000)
            const w = this.powerAt(t)
            if (w >= 0) this.impRem += w * (next - t)
            else this.expRem -= w * (next - t)
            t = next
        }
        this.lastW = this.powerAt(pEnd)
        const imp = Math.floor(this.impRem / 3600)
        const exp = Math.floor(this.expRem / 3600)
        this.impRem -= imp * 3600
        this.expRem -= exp * 3600
        return { importMWh: imp, exportMWh: exp, powerW: this.lastW, ok: true }
    }
}

/** Settings of the simulated household (`mt.seed`, `mt.baseW`, `mt.solarW`). */
export interface HouseholdOptions {
    /** profile seed (any integer); the same seed gives the same profile */
    seed?: number
    /** constant base load, W */
    baseW?: number
    /** solar peak at local noon, W (0 = no solar, import only) */
    solarPeakW?: number
}

/** Net household power in whole W for minute `minute` since the epoch of profile time. */
export function householdPower(o: HouseholdOptions, minute: number): number {
    const tod = minute - Math.floor(minute / 1440) * 1440
    let w = o.baseW
    // fridge: 14 minutes on in every 45, phase set by the seed
    if (modU(minute + o.seed, 45) < 14) w += 95
    // evening lights and TV
    if (tod >= 17 * 60 && tod < 23 * 60) w += 320
    // kettle, oven, washing machine: random minutes, more likely morning and evening
    const h = mix(o.seed, minute) % 1000
    const busy = (tod >= 6 * 60 && tod < 9 * 60) || (tod >= 17 * 60 && tod < 21 * 60)
    if (h < (busy ? 60 : 15)) w += 2200
    else if (h < (busy ? 110 : 30)) w += 900
    // solar: a parabola between 06:00 and 18:00 peaking at noon (the VM has no Math.sin)
    if (o.solarPeakW > 0 && tod > 360 && tod < 1080) {
        const x = (tod - 720) / 360
        w -= Math.round(o.solarPeakW * (1 - x * x))
    }
    return w
}

/** A deterministic integer hash of (seed, n) in 1..2^31-2 (Park–Miller steps: products stay exact). */
function mix(seed: number, n: number): number {
    let x = modU(modU(seed, P) + modU(n, P) * 16807 + 1, P)
    if (x === 0) x = 1
    for (let i = 0; i < 3; i++) x = modU(x * 48271, P)
    return x
}

const P = 2147483647
