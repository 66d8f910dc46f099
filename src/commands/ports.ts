import { FirmwareManifest } from "../wire/envelope"

/**
 * What the command module needs from the rest of the meter, as small interfaces so each
 * side can be built and tested alone (docs/commands.md, "Wiring"). The lead wires real
 * implementations in `src/app.ts`; tests pass twins.
 */

/** The event log (the index store): a command's outcome is recorded as an event. */
export interface EventSink {
    record(kind: number, payload: Buffer): Promise<void>
}

/** Upstream alerts (the uplink): refusals are reported to the head-end. */
export interface AlertSink {
    alert(kind: number, payload: Buffer): Promise<void>
}

/** The meter's UTC clock (metrology's `MeterClock` implements it). */
export interface ClockPort {
    /** UTC seconds now, 0 while the time is unknown */
    utcNow(): number
    /** set the clock after an authenticated, bounded time sync */
    set(utcSeconds: number): Promise<void>
}

/** The tariff calendar (metrology's `decodeCalendar`/`validateCalendar` behind it). */
export interface CalendarPort {
    /** true when `calendar` is a well-formed, valid calendar */
    validate(calendar: Buffer): boolean
    /** make `calendar` the one in force (persisting it) */
    apply(calendar: Buffer): Promise<void>
}

/** The uplink's key epoch: keys roll when the head-end sends an UplinkEpoch command. */
export interface UplinkEpochPort {
    setEpoch(epoch: number): Promise<void>
}

/** The part that acts on an accepted firmware manifest: fetch, check and apply the image. */
export interface FirmwarePort {
    stage(manifest: FirmwareManifest): Promise<void>
}

/** Timers, injectable so tests can run a disconnect offset of minutes in no time. */
export interface TimerPort {
    /** call `fn` after `ms` milliseconds; returns a handle for `cancel` */
    after(ms: number, fn: () => void | Promise<void>): number
    cancel(handle: number): void
}

/** Event kinds this module records (docs/commands.md, "Events and alerts"). */
export const enum CommandEventKind {
    Accepted = 0x40,
    Rejected = 0x41,
}

/** Real timers (DeviceScript's setTimeout). */
export class SystemTimer implements TimerPort {
    after(ms: number, fn: () => void | Promise<void>): number {
        return setTimeout(fn, ms)
    }
    cancel(handle: number) {
        clearTimeout(handle)
    }
}

/** Test twin: time moves only when `advance(ms)` is called. */
export class ManualTimer implements TimerPort {
    now = 0
    private next = 1
    private due: { id: number; at: number; fn: () => void | Promise<void> }[] = []
    after(ms: number, fn: () => void | Promise<void>): number {
        const id = this.next++
        this.due.push({ id: id, at: this.now + ms, fn: fn })
        return id
    }
    cancel(handle: number) {
        this.due = this.due.filter(d => d.id !== handle)
    }
    /** number of timers waiting */
    pending() {
        return this.due.length
    }
    /** moves time forward by `ms`, firing (and awaiting) what falls due, in order */
    async advance(ms: number) {
        const end = this.now + ms
        for (;;) {
            let first = -1
            for (let i = 0; i < this.due.length; i++)
                if (this.due[i].at <= end && (first < 0 || this.due[i].at < this.due[first].at)) first = i
            if (first < 0) break
            const d = this.due[first]
            this.cancel(d.id)
            this.now = d.at
            await d.fn()
        }
        this.now = end
    }
}
