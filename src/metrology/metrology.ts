import { ClockStep, MeterClock } from "./clock"
import { isIntIn } from "../wire/bytes"
import { CalendarCheck, TariffCalendar, defaultCalendar, validateCalendar } from "../wire/calendar"
import { IntervalRecord, IntervalStatus, isIntervalLength } from "../wire/interval"
import { Registers, registerValues, registersFromValues, zeroRegisters } from "../wire/registers"
import { nextTariffEdge, registerAt } from "./tou"
import { EnergySource } from "./source"
import { MaxDemand, MetrologySnapshot, decodeSnapshot, encodeSnapshot } from "./snapshot"

/**
 * The metrology engine: turns a source's energy into billing registers, the interval
 * profile, time-of-use registers and maximum demand.
 *
 * - Registers are integers in mWh (doubles stay exact up to 2^53 mWh); each tick's energy
 *   is split over interval boundaries, tariff band edges and clock steps in proportion to
 *   meter time, with cumulative floors, so the parts always add up to the whole: no drift,
 *   no loss, no double count. The TOU registers of each direction sum to its total.
 * - Intervals are aligned to UTC (to meter time since power-up while the time is unknown).
 * - Time comes in as a parameter (`tick(nowMs)`, `accumulate(nowMs, ...)`), so tests drive
 *   it by hand; nothing here touches flash: `snapshot()`/`restore()` hand the state to the store.
 */
export class Metrology {
    private clock: MeterClock
    private source: EnergySource
    private lengthMin: number
    private cal: TariffCalendar
    private regs: Registers
    private md: MaxDemand = { watts: 0, start: 0 }
    private closeHandlers: ((r: IntervalRecord) => void)[] = []
    private eventHandlers: ((kind: MetrologyEventKind, detail: string) => void)[] = []

    // where the last tick left off
    private lastMeterMs = -1
    /** position in the current time frame: UTC ms when `known`, else meter ms */
    private posMs = 0
    private known = false
    /** UTC ms where the newest closed interval ended: no interval opens before it (issue 13) */
    private floorMs = 0
    private open: OpenInterval = null
    private pendingSteps: ClockStep[] = []
    /** the interval that was open when the power failed, closed at the first tick */
    private restored: IntervalRecord = null
    private faulty = false
    private faultReason = ""
    private lastPowerW = 0
    // the tick being handed out over its span (`take`): its energy, its duration in meter
    // ms, and what was handed out so far
    private tickImport: number
    private tickExport: number
    private tickMs: number
    private givenImport: number
    private givenExport: number

    constructor(opts: MetrologyOptions) {
        this.clock = opts.clock
        this.source = opts.source
        this.lengthMin = opts.intervalMin === undefined ? 30 : opts.intervalMin
        if (!isIntervalLength(this.lengthMin)) throw new RangeError(`interval length ${this.lengthMin} min: 15, 30 or 60`)
        this.cal = defaultCalendar()
        if (opts.calendar) {
            const c = this.setCalendar(opts.calendar)
            if (!c.ok) throw new RangeError("calendar: " + (c as any).reason)
        }
        this.regs = zeroRegisters()
        const self = this
        this.clock.onStep(step => {
            self.pendingSteps.push(step)
        })
    }

    /** `handler` receives every closed interval (the store and the uplink subscribe) */
    onIntervalClose(handler: (r: IntervalRecord) => void): void {
        this.closeHandlers.push(handler)
    }

    /** `handler` receives events: source-fault, source-recovered, clock-step, tariff-set, demand-reset, power-down */
    onEvent(handler: (kind: MetrologyEventKind, detail: string) => void): void {
        this.eventHandlers.push(handler)
    }

    /**
     * One measurement step: reads the source at `nowMs` (real millis, default the clock's)
     * and accumulates. A throwing source counts as a fault reading with no energy.
     */
    async tick(nowMs?: number): Promise<void> {
        const n = nowMs === undefined ? this.clock.millis() : nowMs
        const m = this.clock.meterMs(n)
        let imp = 0
        let exp = 0
        let ok = false
        let reason = ""
        try {
            const r = await this.source.read(m)
            imp = r.importMWh
            exp = r.exportMWh
            ok = r.ok
            reason = r.reason || ""
            this.lastPowerW = r.powerW
        } catch (e) {
            reason = (e as Error).message
            this.lastPowerW = 0
        }
        if (!ok) {
            if (this.open) this.open.status |= IntervalStatus.SourceFault
            if (!this.faulty) {
                this.faulty = true
                this.faultReason = reason
                this.notify(this.eventHandlers, "source-fault", reason)
            }
        } else if (this.faulty) {
            this.faulty = false
            this.notify(this.eventHandlers, "source-recovered", this.faultReason)
        }
        this.accumulate(n, imp, exp)
    }

    /**
     * The pure core: `importMWh`/`exportMWh` (whole, >= 0) were measured since the previous
     * call and end at real millis `nowMs`. Splits them over interval boundaries, band edges
     * and clock steps, updates registers, closes intervals.
     */
    accumulate(nowMs: number, importMWh: number, exportMWh: number): void {
        if (!isIntIn(importMWh, 0, MAX_MWH) || !isIntIn(exportMWh, 0, MAX_MWH))
            throw new RangeError(`metrology: energy ${importMWh}/${exportMWh} mWh is not whole and >= 0`)
        const m = this.clock.meterMs(nowMs)
        if (this.lastMeterMs < 0) {
            // the first tick after power-up
            if (this.restored) {
                const r = this.restored
                this.restored = null
                r.status |= IntervalStatus.PowerDown
                this.notify(this.eventHandlers, "power-down", "interval " + r.start)
                this.closeRecord(r)
            }
            // a clock set before the first tick is simply the frame we start in
            this.pendingSteps = []
            this.lastMeterMs = m
            const u = this.clock.utcMsAtMeter(m)
            this.known = u >= 0
            this.posMs = this.known ? u : m
            this.openAt(IntervalStatus.PartialPowerUp)
            this.add(importMWh, exportMWh, this.known ? registerAt(this.cal, this.posMs) : this.cal.defaultRegister)
            return
        }
        const end = m < this.lastMeterMs ? this.lastMeterMs : m
        this.tickImport = importMWh
        this.tickExport = exportMWh
        this.tickMs = end - this.lastMeterMs
        this.givenImport = 0
        this.givenExport = 0
        const t0 = this.lastMeterMs
        let t = t0
        const steps = this.pendingSteps
        this.pendingSteps = []
        for (const s of steps) {
            // a sync that landed while the source was being read belongs to the next tick
            if (s.atMeterMs > end) {
                this.pendingSteps.push(s)
                continue
            }
            let at = s.atMeterMs
            if (at < t) at = t
            this.advance(t - t0, at - t0)
            t = at
            const wasKnown = this.known
            const oldStart = this.open.startMs
            // the frame of this step, not the clock's latest: several steps may lie in one tick
            this.known = true
            this.posMs = s.toUtc * 1000
            this.notify(this.eventHandlers, "clock-step", s.first ? "first sync to " + s.toUtc : s.fromUtc + " -> " + s.toUtc)
            this.open.status |= IntervalStatus.ClockAdjusted
            // a small correction inside the same interval: no fragment, just the flag
            if (!(wasKnown && this.slotStart() === oldStart)) {
                // close the open interval (written out: firmware code is counted per function)
                const r = this.record(this.open)
                this.open = null
                this.closeRecord(r)
                this.openAt(IntervalStatus.ClockAdjusted)
            }
        }
        this.advance(t - t0, end - t0)
        this.lastMeterMs = end
    }

    /** a copy of the registers */
    registers(): Registers {
        return registersFromValues(registerValues(this.regs), "registers")
    }

    /** the highest interval demand of the billing period and the start of its interval */
    maxDemand(): MaxDemand {
        return { watts: this.md.watts, start: this.md.start }
    }

    /** starts a new billing period's maximum demand (the head-end's billing command) */
    resetMaxDemand(): void {
        this.md = { watts: 0, start: 0 }
        this.notify(this.eventHandlers, "demand-reset", "")
    }

    /** the interval being measured now, as it would close now (null before the first tick) */
    openInterval(): IntervalRecord {
        return this.open ? this.record(this.open) : null
    }

    /** the interval length in minutes (15, 30, 60) */
    intervalMinutes(): number {
        return this.lengthMin
    }

    /** the latest power the source reported, W (+ import, - export) */
    powerW(): number {
        return this.lastPowerW
    }

    /** true while the source reports a fault */
    sourceFault(): boolean {
        return this.faulty
    }

    /** the calendar in force */
    calendar(): TariffCalendar {
        return this.cal
    }

    /**
     * Replaces the TOU calendar after validating it (the command verifier calls this with a
     * decoded, authenticated "set tariff" command). Energy from the next tick on follows it.
     */
    setCalendar(cal: TariffCalendar): CalendarCheck {
        const c = validateCalendar(cal)
        if (!c.ok) return c
        this.cal = cal
        this.notify(this.eventHandlers, "tariff-set", "calendar " + cal.id)
        return c
    }

    /** Everything needed to resume after a restart (layout: docs/metrology.md, "Snapshot"). */
    snapshot(): Buffer {
        return encodeSnapshot({
            lengthMin: this.lengthMin,
            registers: this.regs,
            maxDemand: this.md,
            open: this.open ? this.record(this.open) : this.restored,
        })
    }

    /**
     * Resumes from a snapshot taken before a restart; call it before the first tick. The
     * interval that was open then is closed at the first tick, flagged PowerDown. Throws
     * RangeError on a malformed snapshot (the meter then starts from zero: the store decides).
     */
    restore(buf: Buffer): void {
        if (this.lastMeterMs >= 0) throw new Error("metrology: restore() after the first tick")
        const s: MetrologySnapshot = decodeSnapshot(buf)
        this.regs = s.registers
        this.md = s.maxDemand
        this.restored = s.open
    }

    // ---- internals ----


    // a subscriber that throws must not abort a tick half-way: the energy would be lost
    private notify(handlers: ((a: any, b: any) => void)[], a: any, b: any) {
        for (const h of handlers)
            try {
                h(a, b)
            } catch (e) {
                console.log(`metrology: subscriber failed: ${(e as Error).message}`)
            }
    }

    /**
     * The start of the slot the position is in, but never a slot already closed: after a
     * backwards time sync (up to a day) the next interval opens where the newest closed one
     * ended, and covers the time stepped back too (flagged ClockAdjusted), so no slot is
     * ever recorded twice. A longer step back (a root correcting a wrong clock) is taken as is.
     */
    private slotStart(): number {
        const L = this.lengthMin * 60000
        const s = Math.floor(this.posMs / L) * L
        return this.known && s < this.floorMs && this.floorMs - s <= 86400000 ? this.floorMs : s
    }

    private openAt(status: number) {
        const startMs = this.slotStart()
        let st = status
        if (!this.known) st |= IntervalStatus.TimeUnknown
        if (this.faulty) st |= IntervalStatus.SourceFault
        this.open = { startMs: startMs, status: st, coveredMs: 0, importMWh: 0, exportMWh: 0 }
    }

    /** moves the position by meter time [from, to) (offsets from the tick's start), taking energy */
    private advance(from: number, to: number) {
        let t = from
        for (;;) {
            const boundary = this.open.startMs + this.lengthMin * 60000
            let seg = to - t
            let last = true
            // the nearest of: the end of the span, the interval boundary, the next band edge
            if (boundary - this.posMs <= seg) {
                seg = boundary - this.posMs
                last = false
            }
            if (this.known) {
                const edge = nextTariffEdge(this.cal, this.posMs) - this.posMs
                if (edge < seg) {
                    seg = edge
                    last = false
                }
            }
            const band = this.known ? registerAt(this.cal, this.posMs) : this.cal.defaultRegister
            // the span's end is set exactly, so rounding can never leave a sliver to loop over
            t = last ? to : t + seg
            // hand out the tick's energy up to offset t of its span into the band: the share
            // of [0, t) not yet given, floor(E * t / D) cumulatively, so all shares add up to E
            let i = this.tickImport
            let e = this.tickExport
            if (this.tickMs > 0 && t < this.tickMs) {
                i = Math.floor((i * t) / this.tickMs)
                e = Math.floor((e * t) / this.tickMs)
            }
            this.add(i - this.givenImport, e - this.givenExport, band)
            this.givenImport = i
            this.givenExport = e
            this.open.coveredMs += seg
            this.posMs += seg
            if (this.posMs >= boundary) {
                this.posMs = boundary
                const r = this.record(this.open)
                this.open = null
                this.closeRecord(r)
                this.openAt(IntervalStatus.Complete)
            }
            if (last || t >= to) return
        }
    }

    private add(imp: number, exp: number, band: number) {
        this.regs.importMWh += imp
        this.regs.exportMWh += exp
        this.regs.touImportMWh[band] += imp
        this.regs.touExportMWh[band] += exp
        this.open.importMWh += imp
        this.open.exportMWh += exp
    }

    private record(o: OpenInterval): IntervalRecord {
        let covered = Math.round(o.coveredMs / 1000)
        if (covered > this.lengthMin * 60) covered = this.lengthMin * 60
        return {
            start: Math.floor(o.startMs / 1000),
            lengthMin: this.lengthMin,
            status: o.status,
            coveredS: covered,
            importMWh: o.importMWh,
            exportMWh: o.exportMWh,
        }
    }

    private closeRecord(r: IntervalRecord) {
        // demand = average import power over the nominal interval, W (mWh * 3600 / (1000 * s))
        const w = Math.floor((r.importMWh * 36) / (r.lengthMin * 600))
        if (w > this.md.watts) this.md = { watts: w, start: r.status & IntervalStatus.TimeUnknown ? 0 : r.start }
        if ((r.status & IntervalStatus.TimeUnknown) === 0) this.floorMs = (r.start + r.lengthMin * 60) * 1000
        this.notify(this.closeHandlers, r, undefined)
    }
}

/** registers stay below 2^53 mWh (doubles are exact there) */
const MAX_MWH = 9007199254740991

/** How the engine is built (see docs/metrology.md, "Wiring"). */
export interface MetrologyOptions {
    clock: MeterClock
    source: EnergySource
    /** 15, 30 (default) or 60 */
    intervalMin?: number
    /** initial TOU calendar (default: everything in register 0) */
    calendar?: TariffCalendar
}

/** Kinds of metrology events; `detail` is a short human-readable string. */
export type MetrologyEventKind = "source-fault" | "source-recovered" | "clock-step" | "tariff-set" | "demand-reset" | "power-down"

interface OpenInterval {
    /** aligned start, UTC ms (meter ms while the time is unknown) */
    startMs: number
    status: number
    coveredMs: number
    importMWh: number
    exportMWh: number
}
