import * as ds from "@devicescript/core"
import { nativeCrypto } from "../crypto/native"
import { Storage } from "../storage/storage"
import { equalBytes, getU16BE, setU16BE } from "../wire/bytes"
import { recordHash } from "../wire/chain"
import { Direction, FrameConst, deriveFrameKey, openParsed, readHeader, sealFrame } from "../wire/frame"
import {
    Aggregate,
    AlertCount,
    AlertKind,
    BodyType,
    Report,
    ReportLimit,
    UplinkRecord,
    decodeDownlink,
    encodeReport,
} from "../wire/report"
import { PrivacyLevel } from "../wire/opcodes"
import { FrameCounter, readEpochCounter, writeEpochCounter } from "./counter"

/**
 * Store-and-forward uplink (docs/uplink.md §7): sends the records the head-end has not yet
 * acknowledged, in encrypted frames, and forgets them only on an authenticated
 * acknowledgement. The transport is QoS 0, so the head-end's ack is the only proof of
 * delivery; until it arrives the frame is resent (with a fresh counter) after a timeout.
 */

/** The chain store as the uplink sees it (implemented by src/store's IndexStore). */
export interface RecordSource {
    /** newest record: its sequence number (-1 = empty) and its record hash */
    head(): Promise<ChainHead> | ChainHead
    /** up to `max` records with seq > `seq`, oldest first, consecutive */
    recordsAfter(seq: number, max: number): Promise<UplinkRecord[]> | UplinkRecord[]
    /**
     * the head-end has stored every record up to `seq`, and names record `seq` by the first
     * 16 bytes of its record hash: true only when that is this store's record (and the
     * cursor moved), so a clone's ack frees nothing here
     */
    acknowledge(seq: number, hash: Buffer): Promise<boolean> | boolean
    /**
     * the highest seq the head-end acknowledged (-1: none). The store keeps it (`st.ack`):
     * the uplink asks rather than keep a second copy that could disagree after a power cut
     */
    acknowledged(): number
}

export interface ChainHead {
    seq: number
    hash: Buffer
}

/** Where signed command envelopes from the downlink go (src/commands). */
export interface CommandSink {
    /** verifies and executes; resolves with the response to send back up */
    handle(envelope: Buffer): Promise<Buffer>
}

/** Reads the energy of one interval record, for privacy aggregates (src/metrology). */
export interface IntervalEnergy {
    importWh(data: Buffer): number
    exportWh(data: Buffer): number
}

/** A link that carries whole frames (MQTT in production, fakes in tests). */
export interface UplinkTransport {
    /** publishes one uplink frame; false when it could not be handed to the network */
    publish(frame: Buffer): Promise<boolean>
    /** registers the handler for downlink frames */
    onDownlink(handler: (frame: Buffer) => Promise<void>): void
    /** true while frames can be published */
    isConnected(): boolean
    /** drops and re-establishes the connection (after repeated ack timeouts) */
    reconnect(): Promise<void>
}

export interface UplinkOptions {
    /** 8 bytes */
    meterId: Buffer
    /** 32 bytes, METER_SECRET */
    secret: Buffer
    /** frame counters (`up.fc`, `up.dl`) and pending alerts (`up.al`), docs/uplink.md §6 */
    storage: Storage
    /**
     * the key epoch in force at boot; the command policy keeps it (src/commands/policy.ts)
     * and announces a roll through `rollEpoch`. Default 0.
     */
    epoch?: () => number
    source: RecordSource
    transport: UplinkTransport
    commands?: CommandSink
    /** the current registers, encoded by src/metrology (≤ 64 bytes) */
    registers?: () => Buffer
    /** the current privacy level (PrivacyLevel); default half-hourly */
    privacyLevel?: () => number
    /** needed for the daily and monthly levels */
    energy?: IntervalEnergy
    /** intervals in one day (48 at half-hourly); a month is 30 days */
    intervalsPerDay?: number
    /**
     * the most records one aggregate may span: below the store's capacity, or a store full
     * of unacknowledged records would wait for a period that can never complete (the 8 KB
     * store holds 32 records, less than a day; docs/uplink.md §8)
     */
    maxAggregateRecords?: number
    /** resend when no ack came after this long (default 20000 ms) */
    ackTimeoutMs?: number
    /** records per frame when sending a backlog (default 12, at most 32) */
    maxRecordsPerFrame?: number
    /** how often the pump looks for new records without being woken (default 1000 ms) */
    pollMs?: number
    /** frame counters reserved per flash write (default 64) */
    counterBlock?: number
}

/** Counters for the status line and tests (each one costs firmware code: only what is read). */
export interface UplinkStats {
    framesSent: number
    downlinkRejected: number
}

export class Uplink {
    readonly stats: UplinkStats = { framesSent: 0, downlinkRejected: 0 }
    private o: UplinkOptions
    private counter: FrameCounter
    private upKey: Buffer
    private downKey: Buffer
    private epoch = 0
    private downCounter = 0
    /** highest record/aggregate seq put in any frame since boot: acks beyond it are bogus */
    private maxSentSeq = -1
    /**
     * the ack seq of the last authentic ack since the last ack timeout or boot (-2: none):
     * the head-end holds that record, so a frame starting right after it needs no anchor
     */
    private heldSeq = -2
    private inFlight: InFlight = undefined
    private timeouts = 0
    /** pending alert counts by kind (index = AlertKind), persisted in `up.al` (docs/uplink.md §7) */
    private alerts: number[] = [0, 0, 0, 0, 0, 0, 0, 0]
    /** the set of pending kinds changed since `up.al` was written */
    private alertsDirty = false
    private responses: Buffer[] = []
    private wake = ds.emitter<number>()
    private running = false
    /** held while a counter is reserved and its frame sealed, or the epoch rolls */
    private busy = false

    constructor(o: UplinkOptions) {
        if (o.meterId.length !== 8) throw new RangeError("uplink: meter id must be 8 bytes")
        if (o.secret.length !== 32) throw new RangeError("uplink: secret must be 32 bytes")
        this.o = o
        this.counter = new FrameCounter(o.storage, KEY_COUNTER, o.counterBlock || 64)
    }

    /**
     * Loads the persisted state, derives the keys and starts the send loop (tests pass
     * `pump = false` and call step() themselves).
     */
    async start(pump?: boolean) {
        await this.setupEpoch(this.o.epoch ? this.o.epoch() : 0)
        this.maxSentSeq = this.o.source.acknowledged()
        // alerts owed to the head-end from before a reboot (docs/uplink.md §7): u16 count per
        // kind 0..7 (kind 0 is never raised, so byte 0 is always 0). An earlier firmware's
        // JSON object ("{…") is dropped: the counts are hints, and the kinds recur.
        const b = await this.o.storage.get(KEY_ALERTS)
        if (b !== undefined && b.length === 2 * ALERT_SLOTS && b[0] === 0)
            for (let k = 1; k < ALERT_SLOTS; k++) this.alerts[k] += getU16BE(b, 2 * k)
        const self = this
        // a method read from an object is bound to it in the VM
        this.o.transport.onDownlink(this.onDownlink)
        if (this.running || pump === false) return
        this.running = true
        setTimeout(async () => {
            for (;;) {
                await ds.wait(self.wake, self.o.pollMs || 1000)
                try {
                    // drain: one frame per ack round trip; step() returns false when idle
                    await self.step()
                } catch (e) {
                    console.log(`uplink: ${(e as Error).message}`)
                }
            }
        }, 0)
    }

    /** Wakes the send loop now (call after a record was appended or an alert raised). */
    notify() {
        this.wake.emit(1)
    }

    /** Queues an alert for the next frame (AlertKind); cleared once a frame carrying it is acked. */
    raiseAlert(kind: number) {
        if (!(kind > 0 && kind < ALERT_SLOTS)) return
        // flash only when a kind becomes pending: a flood of forged downlinks must not wear it
        if (this.alerts[kind] === 0) this.alertsDirty = true
        this.alerts[kind]++
        if (kind !== AlertKind.BadDownlink) this.notify()
    }

    /**
     * Rolls the key epoch (session key renewal): called once the signed command's new
     * epoch is persisted in the command policy, which is where the next boot reads it.
     */
    async rollEpoch(epoch: number) {
        // never in the middle of a reservation: the new epoch would inherit the old limit,
        // which flash holds for the old epoch only, and reuse counters after a power cut
        // one holder at a time of the counter and keys: a reservation or an epoch roll
        while (this.busy) await ds.sleep(1)
        this.busy = true
        try {
            if (!(epoch > this.epoch)) throw new RangeError("uplink: epoch must grow")
            await this.setupEpoch(epoch)
        } finally {
            this.busy = false
        }
        this.inFlight = undefined
        this.notify()
    }

    /** Highest record sequence the head-end has acknowledged. */
    ackedSeq(): number {
        return this.o.source.acknowledged()
    }

    /** One decision of the send loop; public so that tests can step it without timers. */
    async step(): Promise<boolean> {
        if (this.alertsDirty) {
            this.alertsDirty = false
            const b = Buffer.alloc(2 * ALERT_SLOTS)
            for (let k = 1; k < ALERT_SLOTS; k++) setU16BE(b, 2 * k, Math.min(this.alerts[k], 65535))
            await this.o.storage.set(KEY_ALERTS, b)
        }
        if (!this.o.transport.isConnected()) return false
        if (this.inFlight) {
            if (ds.millis() - this.inFlight.sentAt < (this.o.ackTimeoutMs || 20000)) return false
            // QoS 0: silence means the frame or its ack was lost; resend with a new counter
            this.inFlight = undefined
            this.timeouts++
            // the head-end may have lost its state: send the anchor again (docs/uplink.md §7)
            this.heldSeq = -2
            if (this.timeouts >= 3) {
                this.timeouts = 0
                await this.o.transport.reconnect()
                return false
            }
        }
        const report = await this.buildReport()
        if (!report) return false
        // the counter, the key and the epoch in the header come from one state: a roll
        // waits until the frame is sealed (docs/uplink.md §5)
        while (this.busy) await ds.sleep(1)
        this.busy = true
        let ctr: number
        let frame: Buffer
        try {
            ctr = await this.counter.next()
            frame = sealFrame(
                nativeCrypto,
                this.upKey,
                {
                    version: FrameConst.Version,
                    direction: Direction.Uplink,
                    meterId: this.o.meterId,
                    epoch: this.epoch,
                    counter: ctr,
                },
                encodeReport(nativeCrypto, report.report)
            )
        } finally {
            this.busy = false
        }
        const ok = await this.o.transport.publish(frame)
        if (!ok) return false
        this.stats.framesSent++
        if (report.lastSeq > this.maxSentSeq) this.maxSentSeq = report.lastSeq
        this.inFlight = {
            counter: ctr,
            sentAt: ds.millis(),
            alerts: report.report.alerts,
            responses: report.report.responses ? report.report.responses.length : 0,
        }
        return true
    }

    /** Handles one downlink frame; anything unauthentic or replayed is counted and dropped. */
    async onDownlink(frame: Buffer) {
        let body: Buffer
        try {
            const h = readHeader(frame)
            if (h.epoch !== this.epoch || !equalBytes(h.meterId, this.o.meterId)) throw new RangeError("downlink: not ours")
            // the downlink key and nonce: an uplink frame reflected back never opens
            body = openParsed(nativeCrypto, this.downKey, frame, h, Direction.Downlink)
            // replay: the head-end's counter must grow (persisted, so also across reboots)
            if (!(h.counter > this.downCounter)) throw new RangeError("downlink: replay")
            this.downCounter = h.counter
            await writeEpochCounter(this.o.storage, KEY_DOWN_COUNTER, this.epoch, h.counter)
        } catch (e) {
            this.stats.downlinkRejected++
            this.raiseAlert(AlertKind.BadDownlink)
            return
        }
        let d
        try {
            d = decodeDownlink(body)
        } catch (e) {
            this.stats.downlinkRejected++
            return
        }
        if (d.type === BodyType.Ack) {
            const ackSeq = d.ackSeq
            // an ack can only confirm what this meter actually sent (never beyond maxSentSeq),
            // and only the record it names: an ack for a clone's record 3 is not one for ours
            if (ackSeq > this.o.source.acknowledged() && !(ackSeq <= this.maxSentSeq && (await this.o.source.acknowledge(ackSeq, d.ackHash)))) return
            this.heldSeq = ackSeq
            const f = this.inFlight
            if (f && f.counter === d.upCounter) {
                if (f.alerts)
                    for (const a of f.alerts) {
                        const left = this.alerts[a.kind] - a.count
                        this.alerts[a.kind] = left > 0 ? left : 0
                        if (left <= 0) this.alertsDirty = true
                    }
                this.responses = this.responses.slice(f.responses)
                this.inFlight = undefined
                this.timeouts = 0
                this.notify()
            }
        } else if (d.type === BodyType.Command && this.o.commands) {
            let resp: Buffer
            try {
                resp = await this.o.commands.handle(d.command)
            } catch (e) {
                resp = Buffer.from("error")
                this.raiseAlert(AlertKind.CommandRejected)
            }
            if (resp && resp.length && this.responses.length < ReportLimit.MaxResponses)
                this.responses.push(resp.length > ReportLimit.MaxResponseSize ? resp.slice(0, ReportLimit.MaxResponseSize) : resp)
            this.notify()
        }
    }

    private async setupEpoch(epoch: number) {
        this.epoch = epoch
        this.upKey = deriveFrameKey(nativeCrypto, this.o.secret, this.o.meterId, Direction.Uplink, epoch)
        this.downKey = deriveFrameKey(nativeCrypto, this.o.secret, this.o.meterId, Direction.Downlink, epoch)
        await this.counter.open(epoch)
        this.downCounter = await readEpochCounter(this.o.storage, KEY_DOWN_COUNTER, epoch)
    }

    private async buildReport(): Promise<BuiltReport> {
        await ds.sleep(0)
        const level = this.o.privacyLevel ? this.o.privacyLevel() : PrivacyLevel.HalfHourly
        const head = await this.o.source.head()
        const report: Report = { privacyLevel: level }
        let lastSeq = -1
        let due = false
        if (level === PrivacyLevel.HalfHourly) {
            const acked = this.o.source.acknowledged()
            if (head.seq > acked) {
                const max = Math.min(this.o.maxRecordsPerFrame || 12, ReportLimit.MaxRecords)
                const recs = await this.o.source.recordsAfter(acked, max)
                if (recs.length) {
                    report.records = recs
                    // the head-end rebuilds each record's prev hash from the record before it;
                    // unless it just acked that record, send the first one's (docs/uplink.md §4.1)
                    report.anchor = recs[0].seq > 0 && recs[0].seq !== this.heldSeq + 1
                    lastSeq = recs[recs.length - 1].seq
                    due = true
                }
            }
            if (this.o.registers) report.registers = this.o.registers()
            if (head.seq >= 0) {
                report.checkpointSeq = head.seq
                report.checkpointHash = head.hash
            }
        } else {
            const aggs = await this.aggregates(level, head.seq)
            if (aggs.length) {
                report.aggregates = aggs
                lastSeq = aggs[aggs.length - 1].lastSeq
                due = true
                // registers and checkpoint only at period ends: per-interval values would
                // reveal the half-hourly profile the consumer opted out of
                if (this.o.registers) report.registers = this.o.registers()
                report.checkpointSeq = head.seq
                report.checkpointHash = head.hash
            }
        }
        const alerts: AlertCount[] = []
        // at most 7 kinds: within ReportLimit.MaxAlerts
        for (let k = 1; k < ALERT_SLOTS; k++) {
            if (this.alerts[k] === 0) continue
            alerts.push({ kind: k, count: this.alerts[k] })
            if (k !== AlertKind.BadDownlink) due = true
        }
        if (alerts.length) report.alerts = alerts
        if (this.responses.length) {
            report.responses = this.responses.slice(0)
            due = true
        }
        if (!due) return undefined
        return { report: report, lastSeq: lastSeq }
    }

    /** Whole periods of records after the acked cursor, summed (docs/uplink.md §8). */
    private async aggregates(level: number, headSeq: number): Promise<Aggregate[]> {
        const perDay = this.o.intervalsPerDay || 48
        let period = level === PrivacyLevel.Daily ? perDay : perDay * 30
        if (this.o.maxAggregateRecords && period > this.o.maxAggregateRecords) period = this.o.maxAggregateRecords
        const out: Aggregate[] = []
        const en = this.o.energy
        if (!en) return out
        let from = this.o.source.acknowledged()
        while (headSeq - from >= period && out.length < 4) {
            let imp = 0
            let exp = 0
            let last: Buffer
            let seq = from
            while (seq < from + period) {
                await ds.sleep(0)
                const recs = await this.o.source.recordsAfter(seq, Math.min(32, from + period - seq))
                if (!recs.length) return out
                for (const r of recs) {
                    imp += en.importWh(r.data)
                    exp += en.exportWh(r.data)
                }
                // the record the head-end's ack will name (docs/uplink.md §4.2)
                last = recordHash(nativeCrypto, recs[recs.length - 1].data)
                seq = recs[recs.length - 1].seq
            }
            out.push({ firstSeq: from + 1, lastSeq: seq, importWh: imp, exportWh: exp, lastHash: last })
            from = seq
        }
        return out
    }
}

/** Storage keys (docs/uplink.md §6). */
const KEY_COUNTER = "up.fc"
const KEY_DOWN_COUNTER = "up.dl"
const KEY_ALERTS = "up.al"
/** alert kinds 1..7 have a slot (AlertKind goes to 5) */
const ALERT_SLOTS = 8

interface InFlight {
    counter: number
    sentAt: number
    alerts: AlertCount[]
    responses: number
}

interface BuiltReport {
    report: Report
    lastSeq: number
}
