/**
 * The interval-persistence protocol (docs/index-store.md, "Meter state"). At every interval
 * close the meter state — the metrology snapshot, the interval record and the chain seq the
 * record is due to get — is written BEFORE the record is appended: a power cut between the
 * two writes is repaired at boot (`recoverMeterState`, src/store/meterstate.ts, re-appends
 * the record), so the registers and the profile never disagree and nothing counts twice.
 * Between closes the running registers are saved every few seconds (the store rate-limits
 * those writes to its snapshot period: flash wear).
 */
import { MeterState, encodeMeterState } from "../store/meterstate"
import { RecordKind } from "../wire/record"
import { IntervalRecord, IntervalStatus, decodeInterval, encodeInterval } from "../wire/interval"
import { Registers, encodeRegisters } from "../wire/registers"
import { concatBytes } from "../wire/bytes"

/** What the log needs of the index store (src/store/indexstore.ts). */
export interface IntervalChain {
    head(): { seq: number }
    append(kind: number, time: number, payload: Buffer): Promise<any>
    /** `force`: write now, not at the store's snapshot period */
    saveSnapshot(state: Buffer, force?: boolean): Promise<any>
}

/** What the log needs of the metrology engine (src/metrology/metrology.ts). */
export interface SnapshotSource {
    snapshot(): Buffer
    restore(snapshot: Buffer): void
    registers(): Registers
    onIntervalClose(handler: (r: IntervalRecord) => void): void
}

export class IntervalLog {
    /** told once each interval record is in the chain (the uplink; set by the wiring) */
    uplink: { notify(): void }
    private chain: IntervalChain
    private meter: SnapshotSource
    private state: MeterState
    /**
     * closed intervals to persist: each one's record payload (the registers at its close
     * included) and the engine's snapshot at that close
     */
    private queue: Buffer[][] = []
    private draining = false

    /**
     * `recovered`: the state `recoverMeterState` read at boot, after repairing an interval
     * record a power cut kept out of the chain (undefined on a fresh store); its snapshot is
     * restored into `meter` before the first tick. A malformed snapshot is logged and the
     * meter starts from zero (the chain still holds every interval). Subscribes to the
     * engine's interval closes: each is persisted in order, outside the metrology tick.
     */
    constructor(chain: IntervalChain, meter: SnapshotSource, recovered: MeterState) {
        this.chain = chain
        this.meter = meter
        this.state = recovered ? recovered : { dueSeq: 0, dueTime: 0, lastInterval: undefined, snapshot: undefined }
        if (recovered)
            try {
                meter.restore(recovered.snapshot)
            } catch (e) {
                console.log(`METER snapshot rejected: ${(e as Error).message}`)
            }
        const self = this
        meter.onIntervalClose(r => {
            // the registers now are the ones at its close (the engine calls this synchronously)
            self.queue.push([concatBytes(encodeInterval(r), encodeRegisters(meter.registers())), meter.snapshot()])
            // persists the queued closes one at a time, in order
            setTimeout(async () => {
                if (self.draining) return
                self.draining = true
                try {
                    while (self.queue.length) {
                        const q = self.queue.shift()
                        const payload = q[0]
                        const iv = decodeInterval(payload)
                        const time = iv.status & IntervalStatus.TimeUnknown ? 0 : iv.start
                        // state first, record second: recoverMeterState repairs a cut between the two.
                        // Its registers must be this interval's plus the open one's: while later
                        // closes wait (a time sync's tick closes two), the engine's registers hold
                        // their energy too, so the state takes the snapshot of this close
                        self.state = { dueSeq: self.chain.head().seq + 1, dueTime: time, lastInterval: payload, snapshot: self.queue.length ? q[1] : meter.snapshot() }
                        await self.chain.saveSnapshot(encodeMeterState(self.state), true)
                        await self.chain.append(RecordKind.IntervalClose, time, payload)
                        console.log(`METER interval start=${iv.start} status=${iv.status} import=${iv.importMWh} export=${iv.exportMWh} seq=${self.chain.head().seq}`)
                        if (self.uplink) self.uplink.notify()
                    }
                } finally {
                    self.draining = false
                }
            }, 0)
        })
    }

    /**
     * Saves the running registers every `periodMs` between closes, with the last interval
     * and its due seq (the store may defer the write to its snapshot period).
     */
    run(periodMs: number): void {
        const self = this
        setInterval(async () => {
            // not while closes wait: their energy is in the registers, their records not yet in the state
            if (self.queue.length) return
            self.state.snapshot = self.meter.snapshot()
            await self.chain.saveSnapshot(encodeMeterState(self.state))
        }, periodMs)
    }
}
