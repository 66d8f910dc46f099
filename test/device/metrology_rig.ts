import * as ds from "@devicescript/core"
import { MeterClock } from "../../src/metrology/clock"
import { HouseholdSource } from "../../src/metrology/household"
import { IntervalRecord } from "../../src/wire/interval"
import { Metrology } from "../../src/metrology/metrology"
import { TariffCalendar } from "../../src/wire/calendar"
import { EnergySource } from "../../src/metrology/source"

/** Monday 2026-11-23 00:00:00 UTC */
export const MONDAY = 1795392000
/** Saturday 2026-11-28 00:00:00 UTC */
export const SATURDAY = 1795824000

/** A metrology engine on a hand-driven clock, recording what it emits (device tests only). */
export class Rig {
    /** real millis the clock reads */
    now = 0
    clock: MeterClock
    src: HouseholdSource
    meter: Metrology
    closed: IntervalRecord[] = []
    events: string[] = []

    constructor(opts?: { scale?: number; intervalMin?: number; calendar?: TariffCalendar; source?: EnergySource }) {
        const o = opts || {}
        const self = this
        this.clock = new MeterClock({ scale: o.scale, millis: () => self.now })
        this.src = new HouseholdSource(this.clock, { seed: 7 })
        this.meter = new Metrology({
            clock: this.clock,
            source: o.source || this.src,
            intervalMin: o.intervalMin,
            calendar: o.calendar,
        })
        this.meter.onIntervalClose(r => {
            self.closed.push(r)
        })
        this.meter.onEvent((k, d) => {
            self.events.push(k + ": " + d)
        })
    }

    private ticks = 0

    /** ticks at real millis `ms` (yielding now and then: the VM aborts long runs without a yield) */
    async at(ms: number) {
        if (this.ticks++ % 8 === 0) await ds.sleep(0)
        this.now = ms
        await this.meter.tick(ms)
    }

    /** ticks every `stepMs` from now (exclusive) up to `toMs` (inclusive, always ticked) */
    async run(toMs: number, stepMs: number) {
        let t = this.now
        while (t < toMs) {
            t = Math.min(toMs, t + stepMs)
            await this.at(t)
        }
    }

    /** import energy of all closed intervals plus the open one, mWh */
    profileImport(): number {
        let s = 0
        for (const r of this.closed) s += r.importMWh
        const o = this.meter.openInterval()
        return o ? s + o.importMWh : s
    }

    profileExport(): number {
        let s = 0
        for (const r of this.closed) s += r.exportMWh
        const o = this.meter.openInterval()
        return o ? s + o.exportMWh : s
    }

    /** true when each TOU array sums to its total */
    touConsistent(): boolean {
        const r = this.meter.registers()
        let i = 0
        let e = 0
        for (const x of r.touImportMWh) i += x
        for (const x of r.touExportMWh) e += x
        return i === r.importMWh && e === r.exportMWh
    }
}
