import * as ds from "@devicescript/core"
import { nativeCrypto } from "../crypto/native"
import { Storage } from "../storage/storage"
import { equalBytes, getU16BE, setU16BE } from "../wire/bytes"
import { Direction, FrameConst, deriveFrameKey, openParsed, readHeader, sealFrame } from "../wire/frame"
import {
    AlertCount,
    AlertKind,
    BodyType,
    Report,
    ReportLimit,
    UplinkRecord,
    decodeDownlink,
    encodeReport,
    privacyCover,
    PrivacyCover,
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
    /** the privacy level at boot (PrivacyLevel; default half-hourly): then the chain's level changes count (docs/uplink.md §8) */
    privacyLevel?: () => number
    /**
     * records waiting without a read at a privacy level before they are passed over (default
     * 18): below the store's capacity, or a store full of unacknowledged records would wait
     * for a period that can never complete (docs/uplink.md §8)
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
    downlinkRejected: number
}

export class Uplink {
    readonly stats: UplinkStats = { downlinkRejected: 0 }
    private o: UplinkOptions
    private counter: FrameCounter
    private upKey: Buffer
    private downKey: Buffer
    /** the key epoch, its downlink counter high-water mark and the highest record/aggregate seq sent: all set by start() */
    private epoch: number
    private downCounter: number
    /** highest record/aggregate seq put in any frame since boot (from the acked one): acks beyond it are bogus */
    private maxSentSeq: number
    /**
     * the ack seq of the last authentic ack since the last ack timeout or boot (-2: none):
     * the head-end holds that record, so a frame starting right after it needs no anchor
     */
    private heldSeq = -2
    private inFlight: InFlight
    private timeouts = 0
    /** pending alert counts by kind (index = AlertKind), persisted in `up.al` (docs/uplink.md §7) */
    private alerts: number[] = [0, 0, 0, 0, 0, 0, 0, 0]
    /** the set of pending kinds changed since `up.al` was written */
    private alertsDirty: boolean
    private responses: Buffer[] = []
    private wake = ds.emitter<number>()
    private running: boolean
    /** held while a counter is reserved and its frame sealed, or the epoch rolls */
    private busy: boolean
    /** the level the newest records were taken under, as far as the records show (privacyCover's `was`) */
    private level = 0

    constructor(o: UplinkOptions) {
        if (o.meterId.length !== 8 || o.secret.length !== 32) throw new RangeError("uplink: meter id must be 8 bytes, secret 32")
        this.o = o
        this.counter = new FrameCounter(o.storage, KEY_COUNTER, o.counterBlock || 64)
    }

    /**
     * Loads the persisted state, derives the keys and starts the send loop (tests pass
     * `pump = false` and call step() themselves).
     */
    async start(pump?: boolean) {
        const o = this.o
        await this.setupEpoch(o.epoch ? o.epoch() : 0)
        if (o.privacyLevel) this.level = o.privacyLevel()
        this.maxSentSeq = o.source.acknowledged()
        // alerts owed to the head-end from before a reboot (docs/uplink.md §7): u16 count per
        // kind 0..7 (kind 0 is never raised, so byte 0 is always 0). An earlier firmware's
        // JSON object ("{…") is dropped: the counts are hints, and the kinds recur.
        const b = await o.storage.get(KEY_ALERTS)
        if (b && b.length === 2 * ALERT_SLOTS && b[0] === 0)
            for (let k = 1; k < ALERT_SLOTS; k++) this.alerts[k] += getU16BE(b, 2 * k)
        const self = this
        // a method read from an object is bound to it in the VM
        o.transport.onDownlink(this.onDownlink)
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
        if (!this.alerts[kind]) this.alertsDirty = true
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
        const o = this.o
        if (this.alertsDirty) {
            this.alertsDirty = false
            const b = Buffer.alloc(2 * ALERT_SLOTS)
            for (let k = 1; k < ALERT_SLOTS; k++) setU16BE(b, 2 * k, Math.min(this.alerts[k], 65535))
            await o.storage.set(KEY_ALERTS, b)
        }
        if (!o.transport.isConnected()) return false
        if (this.inFlight) {
            if (ds.millis() - this.inFlight.sentAt < (o.ackTimeoutMs || 20000)) return false
            // QoS 0: silence means the frame or its ack was lost; resend with a new counter
            this.inFlight = undefined
            this.timeouts++
            // the head-end may have lost its state: send the anchor again (docs/uplink.md §7)
            this.heldSeq = -2
            if (this.timeouts >= 3) {
                this.timeouts = 0
                await o.transport.reconnect()
                return false
            }
        }
        // the report (docs/uplink.md §4.1, §8)
        await ds.sleep(0)
        const head = await o.source.head()
        const acked = o.source.acknowledged()
        let lastSeq = -1
        let p: PrivacyCover
        let recs: UplinkRecord[]
        if (head.seq > acked) {
            recs = await o.source.recordsAfter(acked, ReportLimit.MaxRecords)
            // records, or reads and passages for those taken or to be sent at a stricter
            // level; the level now is the chain's (docs/uplink.md §8)
            p = privacyCover(nativeCrypto, recs, this.level, o.maxAggregateRecords || 18)
            this.level = p.taken
        }
        const report: Report = { privacyLevel: this.level }
        // the register block: at half-hourly from the registers port (after boot, then daily);
        // at a privacy level only a read's, never the running registers
        if (this.level === PrivacyLevel.HalfHourly && o.registers) report.registers = o.registers()
        if (p) {
            const n = Math.min(p.records, o.maxRecordsPerFrame || 12)
            const gs = p.aggregates
            if (n) {
                report.records = recs.slice(0, n)
                // the head-end rebuilds each record's prev hash from the record before it;
                // unless it just acked that record, send the first one's (docs/uplink.md §4.1)
                const first = recs[0].seq
                report.anchor = first > 0 && first !== this.heldSeq + 1
                // interval records' register blocks derived where the head-end rebuilds them
                // exactly: from an interval earlier in the frame, or from the record it just
                // acked as a record (docs/uplink.md §4.1)
                const h = (await o.source.recordsAfter(first - 2, 1))[0]
                if (h) report.held = h.data
                lastSeq = recs[n - 1].seq
            } else if (gs.length) {
                report.aggregates = gs
                if (p.registers) report.registers = p.registers
                lastSeq = gs[gs.length - 1].lastSeq
            }
        }
        // records or aggregates to send
        let due = lastSeq >= 0
        if (head.seq >= 0) {
            report.checkpointSeq = head.seq
            report.checkpointHash = head.hash
        }
        const alerts: AlertCount[] = []
        // at most 7 kinds: within ReportLimit.MaxAlerts
        for (let k = 1; k < ALERT_SLOTS; k++) {
            if (!this.alerts[k]) continue
            alerts.push({ kind: k, count: this.alerts[k] })
            if (k !== AlertKind.BadDownlink) due = true
        }
        if (alerts.length) report.alerts = alerts
        if (this.responses.length) {
            report.responses = this.responses.slice(0)
            due = true
        }
        if (!due) return false
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
                    meterId: o.meterId,
                    epoch: this.epoch,
                    counter: ctr,
                },
                encodeReport(nativeCrypto, report)
            )
        } finally {
            this.busy = false
        }
        if (!(await o.transport.publish(frame))) return false
        if (lastSeq > this.maxSentSeq) this.maxSentSeq = lastSeq
        this.inFlight = { counter: ctr, sentAt: ds.millis(), report: report }
        return true
    }

    /** Handles one downlink frame; anything unauthentic or replayed is counted and dropped. */
    async onDownlink(frame: Buffer) {
        const o = this.o
        let d
        try {
            const h = readHeader(frame)
            if (h.epoch !== this.epoch || !equalBytes(h.meterId, o.meterId)) throw new RangeError("downlink: not ours")
            // the downlink key and nonce: an uplink frame reflected back never opens
            const body = openParsed(nativeCrypto, this.downKey, frame, h, Direction.Downlink)
            // replay: the head-end's counter must grow (persisted, so also across reboots)
            if (!(h.counter > this.downCounter)) throw new RangeError("downlink: replay")
            this.downCounter = h.counter
            await writeEpochCounter(o.storage, KEY_DOWN_COUNTER, this.epoch, h.counter)
            // an authentic body that does not decode is a bad downlink too (AlertKind.BadDownlink)
            d = decodeDownlink(body)
        } catch (e) {
            this.stats.downlinkRejected++
            this.raiseAlert(AlertKind.BadDownlink)
            return
        }
        if (d.type === BodyType.Ack) {
            const ackSeq = d.ackSeq
            // an ack can only confirm what this meter actually sent (never beyond maxSentSeq),
            // and only the record it names: an ack for a clone's record 3 is not one for ours
            if (ackSeq > o.source.acknowledged() && !(ackSeq <= this.maxSentSeq && (await o.source.acknowledge(ackSeq, d.ackHash)))) return
            const f = this.inFlight
            // the head-end holds that record, unless the frame covered it by a read or passage
            this.heldSeq = f && f.report.aggregates ? -2 : ackSeq
            if (f && f.counter === d.upCounter) {
                const sent = f.report
                if (sent.alerts)
                    for (const a of sent.alerts) {
                        let left = this.alerts[a.kind] - a.count
                        if (left <= 0) {
                            left = 0
                            this.alertsDirty = true
                        }
                        this.alerts[a.kind] = left
                    }
                if (sent.responses) this.responses = this.responses.slice(sent.responses.length)
                this.inFlight = undefined
                this.timeouts = 0
                this.notify()
            }
        } else if (d.type === BodyType.Command && o.commands) {
            let resp: Buffer
            try {
                resp = await o.commands.handle(d.command)
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
        const o = this.o
        this.epoch = epoch
        this.upKey = deriveFrameKey(nativeCrypto, o.secret, o.meterId, Direction.Uplink, epoch)
        this.downKey = deriveFrameKey(nativeCrypto, o.secret, o.meterId, Direction.Downlink, epoch)
        await this.counter.open(epoch)
        this.downCounter = await readEpochCounter(o.storage, KEY_DOWN_COUNTER, epoch)
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
    /** what the frame carried: its alerts and responses are cleared by the ack, its reads or passage (docs/uplink.md §8) mean the head-end holds no record */
    report: Report
}
