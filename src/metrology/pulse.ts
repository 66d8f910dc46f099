import { PulseInputPort, U32 } from "../board/board"
import { EnergyCounter, EnergySource, SourceReading } from "./source"

/**
 * Pulse-input source: counts the impulses of an existing meter's LED or S0 output on
 * `board.pulseInput` (debounced in the board layer). `impPerKWh` impulses are one kWh
 * (typically 1000, 800 or 2000). The board's counter wraps at 2^32; differences are taken
 * with `counterDelta`, so the wrap costs nothing.
 *
 * An S0 line cannot tell direction: all energy counts as import (or all as export with
 * `direction: "export"`). A cut wire and a house with no load look alike, so the source
 * declares a fault when no impulse arrived for `silentS` seconds of meter time (default
 * 3600: a household's standby load gives at least one impulse an hour at 1000 imp/kWh
 * from 1 W up). Set `silentS` to 0 to disable the check.
 */
export class PulseSource implements EnergySource {
    readonly kind = "pulse"
    private port: PulseInputPort
    private counter: EnergyCounter
    private exportDir: boolean
    private silentMs: number
    private lastCount = -1
    private lastPulseMeterMs = -1
    private lastReadMs = -1
    private lastW = 0

    constructor(port: PulseInputPort, opts?: PulseOptions) {
        const o = opts || {}
        this.port = port
        this.counter = new EnergyCounter(o.impPerKWh === undefined ? 1000 : o.impPerKWh)
        this.exportDir = o.direction === "export"
        this.silentMs = (o.silentS === undefined ? 3600 : o.silentS) * 1000
    }

    async read(meterMs: number): Promise<SourceReading> {
        const c = this.port.count()
        if (this.lastCount < 0) {
            // first read: the baseline; energy counts from here
            this.lastCount = c
            this.lastPulseMeterMs = meterMs
            this.lastReadMs = meterMs
            return { importMWh: 0, exportMWh: 0, powerW: 0, ok: true }
        }
        // counterDelta(c, lastCount), written out (firmware code is counted per function)
        let d = c - this.lastCount
        if (d < 0) d += U32
        this.lastCount = c
        const e = this.counter.add(d)
        const dt = meterMs - this.lastReadMs
        this.lastReadMs = meterMs
        if (d > 0) {
            // average power over the read: e mWh in dt ms is e*3600/dt W
            if (dt > 0) this.lastW = Math.round((e * 3600) / dt)
            this.lastPulseMeterMs = meterMs
        }
        const silentFor = meterMs - this.lastPulseMeterMs
        const ok = this.silentMs <= 0 || silentFor < this.silentMs
        let imp = e
        let exp = 0
        let w = this.lastW
        if (this.exportDir) {
            imp = 0
            exp = e
            w = -w
        }
        const r: SourceReading = { importMWh: imp, exportMWh: exp, powerW: ok ? w : 0, ok: ok }
        if (!ok) r.reason = `no impulse for ${Math.floor(silentFor / 1000)} s`
        return r
    }
}

/** Settings of the pulse source (`mt.impKWh`, `mt.pulseDir`, `mt.silentS`). */
export interface PulseOptions {
    /** impulses per kWh, default 1000 */
    impPerKWh?: number
    /** which register the impulses feed, default "import" */
    direction?: string
    /** fault after this many seconds of meter time without an impulse (0 = never), default 3600 */
    silentS?: number
}
