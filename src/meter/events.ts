/**
 * Alert translation: what the meter records in its chain and raises upstream when something
 * happens outside an interval. Store alerts (tamper, store full), command outcomes, time
 * syncs and metrology events become chain records (src/wire/record.ts `RecordKind`) and
 * uplink alerts (src/wire/report.ts `AlertKind`; docs/commands.md "Events and alerts").
 *
 * It is the command handler's ports towards the rest of the meter (src/commands/ports.ts:
 * clock, events, alerts, uplink epoch, firmware). The wiring sets `chain` once the store is
 * open and `uplink` once it is built (the uplink needs the store and the command handler):
 * an alert raised before that has nowhere to go, so the boot-time tamper verdict is raised
 * again after `uplink` is set.
 */
import { CommandEventKind } from "../commands/ports"
import { RecordKind } from "../wire/record"
import { setU32BE } from "../wire/bytes"
import { FirmwareManifest } from "../wire/envelope"
import { AlertKind } from "../wire/report"

/** What events need of the index store. */
export interface EventChain {
    append(kind: number, time: number, payload: Buffer): Promise<any>
}

/** What events need of the uplink (src/comms/uplink.ts). */
export interface EventUplink {
    raiseAlert(kind: number): void
    /** a record was appended: send it */
    notify(): void
    rollEpoch(epoch: number): Promise<void>
}

/** What events need of the meter's clock (src/metrology/clock.ts `MeterClock`). */
export interface SettableClock {
    utc(): number
    set(utcSeconds: number): any
}

export class MeterEvents {
    clock: SettableClock
    chain: EventChain
    uplink: EventUplink

    /** The index store's `onAlert`: a full store, or a broken chain (also the boot verdict). */
    storeAlert(kind: number): void {
        if (this.uplink) this.uplink.raiseAlert(kind === RecordKind.StoreFull ? AlertKind.StoreFull : AlertKind.Tamper)
    }

    /** The metrology engine's events: each one a `METER event` line; a source fault goes upstream. */
    metrologyEvent(kind: string, detail: string): void {
        console.log(`METER event ${kind} ${detail}`)
        if (kind === "source-fault" && this.uplink) this.uplink.raiseAlert(AlertKind.SourceFault)
    }

    // ---- the command handler's ports (src/commands/ports.ts) ----

    /** EventSink: a command's outcome, recorded in the chain and sent. */
    async record(kind: number, payload: Buffer): Promise<void> {
        const rk = kind === CommandEventKind.Rejected ? RecordKind.CommandRejected : RecordKind.CommandAccepted
        await this.chain.append(rk, this.clock.utc(), payload)
        if (this.uplink) this.uplink.notify()
    }

    /** AlertSink: every refusal is reported upstream. */
    async alert(kind: number, payload: Buffer): Promise<void> {
        if (this.uplink) this.uplink.raiseAlert(AlertKind.CommandRejected)
    }

    /** ClockPort: UTC seconds, 0 while the time is unknown. */
    utcNow(): number {
        return this.clock.utc()
    }

    /** ClockPort: an authenticated time sync; the step is recorded (old time u32, new time u32). */
    async set(utcSeconds: number): Promise<void> {
        const p = Buffer.alloc(8)
        setU32BE(p, 0, this.clock.utc())
        this.clock.set(utcSeconds)
        setU32BE(p, 4, utcSeconds)
        await this.chain.append(RecordKind.TimeSet, utcSeconds, p)
    }

    /** UplinkEpochPort: the command policy persisted a new key epoch; the uplink rolls to it. */
    async setEpoch(epoch: number): Promise<void> {
        if (this.uplink) await this.uplink.rollEpoch(epoch)
    }

    /**
     * FirmwarePort: DeviceScript replaces bytecode only through its deploy protocol (devtools
     * or the cloud gateway); the accepted manifest is announced so that a deploy of an image
     * with this digest can be checked against it (docs/commands.md).
     */
    async stage(manifest: FirmwareManifest): Promise<void> {
        console.log(`METER firmware manifest accepted seq=${manifest.sequence} class=${manifest.classId.toString("hex")}`)
    }
}
