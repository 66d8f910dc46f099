import * as ds from "@devicescript/core"
import { isIntIn } from "../wire/bytes"

/**
 * The meter's UTC clock. DeviceScript has no wall clock, only `ds.millis()` since boot, so
 * UTC is `offset + millis * scale`, where the offset comes from the head-end's
 * authenticated time sync (the command verifier calls `set()` after checking the command).
 * Until then the meter runs on "time unknown" (`utc()` returns 0).
 *
 * `scale` speeds simulated time up for demos and power-cut tests: with scale 180 a
 * 30-minute interval passes in 10 real seconds. Hardware always runs with scale 1.
 * "Meter time" (`meterMs`) is the scaled time since boot; metrology integrates over it.
 */
export class MeterClock {
    /** simulated UTC runs `scale` times faster than `ds.millis()` (1 on hardware) */
    readonly scale: number
    private millisFn: () => number
    /** UTC milliseconds at meter time 0, or -1 while the time is unknown */
    private offsetMs = -1
    private listeners: ((step: ClockStep) => void)[] = []

    constructor(opts?: MeterClockOptions) {
        const o = opts || {}
        this.scale = o.scale === undefined ? 1 : o.scale
        if (!(this.scale >= 1 && this.scale <= 100000)) throw new RangeError("clock scale must be 1..100000")
        this.millisFn = o.millis || ds.millis
    }

    /** `ds.millis()` (or the injected millis of a test) */
    millis(): number {
        return this.millisFn()
    }

    /** scaled milliseconds since boot at `nowMs` (real millis), whole: metrology splits energy exactly by it */
    meterMs(nowMs?: number): number {
        const n = nowMs === undefined ? this.millisFn() : nowMs
        return Math.floor(n * this.scale)
    }

    /** true once an authenticated time sync has set the clock */
    isSet(): boolean {
        return this.offsetMs >= 0
    }

    /** UTC seconds now (or at real millis `nowMs`); 0 = time unknown */
    utc(nowMs?: number): number {
        if (this.offsetMs < 0) return 0
        return Math.floor(this.utcMsAtMeter(this.meterMs(nowMs)) / 1000)
    }

    /** UTC milliseconds at meter time `meterMs`; -1 while the time is unknown */
    utcMsAtMeter(meterMs: number): number {
        if (this.offsetMs < 0) return -1
        return this.offsetMs + meterMs
    }

    /**
     * Sets UTC to `utcSeconds` at real millis `nowMs` (default now). Call it only after the
     * time-sync command was authenticated. Listeners (the metrology engine) close and flag
     * the open interval; no energy is lost or counted twice. Throws on an out-of-range time.
     */
    set(utcSeconds: number, nowMs?: number): ClockStep {
        if (!isIntIn(utcSeconds, MIN_VALID_UTC, MAX_UTC))
            throw new RangeError(`clock: utc ${utcSeconds} out of range`)
        const n = nowMs === undefined ? this.millisFn() : nowMs
        const m = this.meterMs(n)
        const fromUtc = this.utc(n)
        const first = this.offsetMs < 0
        this.offsetMs = utcSeconds * 1000 - m
        const step: ClockStep = {
            atMeterMs: m,
            fromUtc: fromUtc,
            toUtc: utcSeconds,
            stepS: first ? 0 : utcSeconds - fromUtc,
            first: first,
        }
        for (const l of this.listeners) l(step)
        return step
    }

    /** `handler` runs synchronously on every `set()` (metrology subscribes here) */
    onStep(handler: (step: ClockStep) => void): void {
        this.listeners.push(handler)
    }

    /**
     * Calls `fn` after `ms` of meter time (the command handler's timer port): in an
     * accelerated simulation a disconnect's random offset shrinks with the clock; on
     * hardware the scale is 1. Returns a handle for `cancel`.
     */
    after(ms: number, fn: () => void | Promise<void>): number {
        return setTimeout(fn, ms / this.scale)
    }

    /** Cancels a timer `after` started. */
    cancel(handle: number): void {
        clearTimeout(handle)
    }
}

export interface MeterClockOptions {
    /** time scale for simulation, default 1 */
    scale?: number
    /** replaces `ds.millis` (tests drive time by hand) */
    millis?: () => number
}

/** What one `MeterClock.set()` did. */
export interface ClockStep {
    /** meter time (scaled ms since boot) at which the clock was set */
    atMeterMs: number
    /** UTC seconds just before the step; 0 if the time was unknown */
    fromUtc: number
    /** UTC seconds just after the step */
    toUtc: number
    /** toUtc - fromUtc (0 on the first sync) */
    stepS: number
    /** true for the first sync after boot (time was unknown) */
    first: boolean
}

/** 2020-01-01T00:00:00Z: earlier times are rejected as a sign of a broken time source. */
export const MIN_VALID_UTC = 1577836800
/** the u32 limit of times on the wire (2106) */
export const MAX_UTC = 4294967295
