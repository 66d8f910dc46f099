/**
 * One meter at the protocol level: what the firmware (src/app.ts and the modules it wires)
 * puts on the wire and how it answers, without the DeviceScript simulator, so that one Node
 * process can run thousands of them (sim/src/protocol/fleet.ts).
 *
 * - metrology: energy from a household profile, half-hourly intervals aligned to UTC once
 *   the clock is set, the firmware's status bits (PartialPowerUp, TimeUnknown,
 *   ClockAdjusted, PowerDown) and its `encodeInterval` payload (src/wire/interval.ts);
 * - the index store: src/store's rules (sim/src/protocol/store.ts), the records the
 *   firmware writes (Genesis, PowerUp, IntervalClose, TimeSet, CommandAccepted,
 *   CommandRejected, StoreFull);
 * - the uplink: src/comms/uplink.ts `Uplink` step by step — records after the acknowledged
 *   seq (12 a frame), the anchor unless the last ack since boot or since an ack timeout named
 *   seq−1, the checkpoint, registers after boot and then daily, alerts and command
 *   responses, one frame in flight, a resend with a new counter after `ackTimeoutMs`, a
 *   reconnect after three silent timeouts, counters reserved in blocks of 64 and resumed
 *   above the block after a reboot, at levels 1 and 2 the reads and passages of the wire
 *   core's privacy rule (src/wire/report.ts privacyCover, the firmware's); an ack frees
 *   records only when it authenticates, its counter grows, its seq is at most what this
 *   boot sent and it names that record's hash (a clone's ack for its own record `seq` frees
 *   nothing; aggregates carry the name of their last record for the ack to name);
 * - commands: sim/src/protocol/commands.ts (the firmware's verdicts).
 *
 * Every frame and record goes through the wire core (src/wire/) with node:crypto, the code
 * the firmware runs with its native crypto.
 *
 * Time: `simMs` is the fleet's simulated UTC in milliseconds (accelerated), `realMs` the
 * host's clock. As on the meter, acks time out in real milliseconds (`ds.millis`), while
 * intervals and disconnect offsets run on meter time.
 *
 * What is simpler than the firmware: the energy source (a profile, no ADE7953 or pulse
 * input), one tariff register (register 0) whatever calendar is set, the metrology
 * snapshot taken at the power cut (the firmware saves it every 10 s), no boot-time chain
 * verification (the sim's store is never tampered with), and the register block rides the
 * first frame after boot and every 48th frame after it (src/meter/register_cadence.ts counts
 * the uplink's calls, which in the firmware include its idle polls).
 */
import { nodeCrypto } from "../../../headend/src/crypto.ts"
import { RecordKind } from "../../../src/wire/record"
import { Direction, FrameConst, deriveFrameKey, openParsed, readHeader, sealFrame } from "../../../src/wire/frame"
import { AlertCount, AlertKind, BodyType, PrivacyCover, Report, ReportLimit, UplinkRecord, decodeDownlink, encodeReport, privacyCover } from "../../../src/wire/report"
import { IntervalStatus, decodeInterval, encodeInterval } from "../../../src/wire/interval"
import { encodeRegisters } from "../../../src/wire/registers"
import { CommandEndpoint, CommandImage } from "./commands.ts"
import { ChainStore, StoreImage, STORE_SLOTS, recordHash } from "./store.ts"

/** What carries a meter's frames (an MQTT connection in the fleet, a function in unit tests). */
export interface MeterLink {
    /** true while frames can be published */
    connected(): boolean
    /** publishes one uplink frame on `u/<id>`; false when it could not be handed to the network */
    publish(frame: Buffer): boolean
    /** drops and re-establishes the connection (after three silent ack timeouts) */
    reconnect(): void
}

export interface MeterOptions {
    /** 15, 30 (default) or 60 minutes */
    intervalMin?: number
    /** real ms without an ack before a resend (the firmware's 20000) */
    ackTimeoutMs?: number
    /** records per frame for a backlog (12) */
    maxRecordsPerFrame?: number
    /** uplink counters reserved per flash write (64) */
    counterBlock?: number
    /** the send loop's poll period, real ms (1000) */
    pollMs?: number
    /** board id a firmware manifest must name ("simulator") */
    boardId?: string
    /** Ed25519 through node:crypto instead of the firmware's strict check (sim/src/protocol/commands.ts) */
    fastSignatures?: boolean
    /**
     * the fleet's acceleration (simulated ms per real ms). A time sync reaches the meter some
     * real milliseconds after it was signed; on an accelerated clock that delay would grow by
     * this factor (0.3 s at ×90 is 27 s of clock error, where a real meter is 0.3 s behind), so
     * the meter sets its clock as if the delay had passed at real speed. Default 1.
     */
    scale?: number
}

/** An open interval of the metrology engine (src/metrology/metrology.ts). */
export interface OpenInterval {
    /** aligned start: UTC ms when the time is known, else meter ms since power-up */
    startMs: number
    status: number
    coveredMs: number
    importMWh: number
    exportMWh: number
}

/** What the meter holds in flash: what survives a power cut, and what a fleet's state file keeps. */
export interface MeterImage {
    name: string
    /** 16 hex digits */
    meterId: string
    /** 64 hex digits (METER_SECRET) */
    secret: string
    /**
     * 64 hex digits: the chain key K_0 provisioning wrote (`st.k0`, the keystore's
     * `chainKey`); deleted at the first boot once the genesis record is sealed, as the
     * firmware's store does (src/store/indexstore.ts `KEY_K0`)
     */
    k0?: string
    /** the household profile's seed */
    seed: number
    /** absent before the first boot (the genesis record is written then) */
    store?: StoreImage
    commands: CommandImage
    /** `up.fc` (epoch, reserved limit), `up.dl` (epoch, highest downlink counter), `up.al` (pending alert counts by kind) */
    up: { fcEpoch: number; fcLimit: number; dlEpoch: number; dl: number; alerts: number[] }
    /** the registers (mWh) and the interval open at the last snapshot */
    metrology: { importMWh: number; exportMWh: number; touImport: number[]; touExport: number[]; open?: OpenInterval; lastIntervalTime?: number }
    /** what the simulation knows, not the meter: every interval record this meter sealed (seq, tag hex) */
    ledger: { seqs: number[]; tags: string[]; refused: number }
    boots: number
}

/** Counters the fleet sums up. */
export interface MeterStats {
    framesSent: number
    resends: number
    acks: number
    downlinkRejected: number
    commandsAccepted: number
    commandsRefused: number
}

/** A new meter's flash after provisioning: its identity, its chain key K_0 and the anchor ring (`cv.anchor`), nothing else. */
export function provisionedImage(entry: { name: string; meterId: string; secret: string; chainKey: string }, anchorRing: Buffer, seed: number): MeterImage {
    return {
        name: entry.name,
        meterId: entry.meterId,
        secret: entry.secret,
        k0: entry.chainKey,
        seed,
        commands: CommandEndpoint.provisioned(anchorRing),
        up: { fcEpoch: 0, fcLimit: 0, dlEpoch: 0, dl: 0, alerts: [0, 0, 0, 0, 0, 0, 0, 0] },
        metrology: { importMWh: 0, exportMWh: 0, touImport: [0, 0, 0, 0], touExport: [0, 0, 0, 0] },
        ledger: { seqs: [], tags: [], refused: 0 },
        boots: 0,
    }
}

interface InFlight {
    counter: number
    /** the caller's real ms (ack timeouts) and the host clock when it left (latency) */
    sentAt: number
    sentWall: number
    alerts?: AlertCount[]
    responses: number
    /** reads or a passage (src/comms/uplink.ts): the head-end holds no record */
    passed: boolean
}

/** Records that wait for a read at a privacy level before a passage: 3/4 of the store (src/app.ts maxAggregateRecords). */
const MAX_AGGREGATE_RECORDS = (STORE_SLOTS * 3) / 4
const ALERT_SLOTS = 8

export class ProtocolMeter {
    readonly id: string
    readonly idBytes: Buffer
    readonly stats: MeterStats = { framesSent: 0, resends: 0, acks: 0, downlinkRejected: 0, commandsAccepted: 0, commandsRefused: 0 }
    /** each acknowledged frame: when it was published and when its ack arrived (real ms; the fleet collects and clears them) */
    ackLog: number[] = []
    /** the latest answer to each command, for tests and the operator */
    readonly answers: Buffer[] = []
    private secret: Buffer
    private o: Required<MeterOptions>
    private store!: ChainStore
    private commands!: CommandEndpoint
    // uplink (RAM: gone at a power cut)
    private epoch = 0
    private upKey!: Buffer
    private downKey!: Buffer
    private cur = 0
    private downCounter = 0
    private maxSentSeq = -1
    private heldSeq = -2
    private inFlight?: InFlight
    private timeouts = 0
    private responses: Buffer[] = []
    private wake = true
    private nextPoll = 0
    private framesSinceRegisters = Infinity
    /** the level the newest records were taken under, as the chain shows (privacyCover's `was`; the policy's at boot) */
    private level = 0
    // clock and metrology (RAM)
    private bootSimMs = 0
    private clockOffsetMs = -1
    private known = false
    private posMs = 0
    private lastSimMs = 0
    private open?: OpenInterval
    private restored?: OpenInterval
    private started = false
    private importFrac = 0
    private exportFrac = 0
    private disconnectDue?: { meterMs: number; run: () => void }
    private on = false

    constructor(
        readonly image: MeterImage,
        private link: MeterLink,
        opts: MeterOptions = {}
    ) {
        this.id = image.meterId
        this.idBytes = Buffer.from(image.meterId, "hex")
        this.secret = Buffer.from(image.secret, "hex")
        const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined))
        this.o = { intervalMin: 30, ackTimeoutMs: 20000, maxRecordsPerFrame: 12, counterBlock: 64, pollMs: 1000, boardId: "simulator", fastSignatures: false, scale: 1, ...given }
    }

    /** Called when the send loop is woken (a record, an ack, an alert): the fleet ticks this meter next. */
    onWake?: () => void

    /** Wakes the send loop (Uplink.notify). */
    wakeUp() {
        this.wake = true
        this.onWake?.()
    }

    /**
     * The next moment this meter needs a tick, as the fleet schedules it: the real ms of a
     * pending wake-up, an ack timeout or a poll while something waits to be sent, and the
     * simulated ms of its next interval boundary or disconnect.
     */
    due(realMs: number): { realMs: number; simMs: number } {
        if (!this.on) return { realMs: Infinity, simMs: Infinity }
        let r = Infinity
        if (this.wake) r = realMs
        else if (this.inFlight) r = this.inFlight.sentAt + this.o.ackTimeoutMs
        else if (this.store.head().seq > this.store.acknowledged() || this.responses.length || this.image.up.alerts.some((n, k) => n > 0 && k !== AlertKind.BadDownlink)) r = Math.max(realMs, this.nextPoll)
        let sim = Infinity
        if (this.open) sim = this.lastSimMs + (this.open.startMs + this.lengthMs() - this.posMs)
        else if (!this.started) sim = this.lastSimMs
        const d = this.disconnectDue
        if (d) sim = Math.min(sim, this.bootSimMs + d.meterMs)
        return { realMs: r, simMs: sim }
    }

    /** True between `boot` and `powerCut`. */
    isOn(): boolean {
        return this.on
    }

    /**
     * Power on at `simMs` (src/app.ts): open the store (genesis on a new meter), install the
     * key ring, append PowerUp, restore the uplink counters and pending alerts, and start
     * metrology from the snapshot (the interval open at the cut closes at the first tick,
     * flagged PowerDown). The clock is unknown until a time sync.
     */
    boot(simMs: number, realMs: number) {
        const im = this.image
        im.boots++
        this.on = true
        this.bootSimMs = simMs
        this.lastSimMs = simMs
        this.clockOffsetMs = -1
        this.known = false
        this.started = false
        this.restored = im.metrology.open
        this.open = undefined
        this.disconnectDue = undefined
        this.store = new ChainStore(this.idBytes, im.k0 === undefined ? undefined : Buffer.from(im.k0, "hex"), 0, kind => this.storeAlert(kind), im.store)
        // the chain holds its own key now: K_0 leaves the flash (the firmware deletes st.k0 at open)
        delete im.k0
        const self = this
        this.commands = new CommandEndpoint(
            {
                meterId: this.idBytes,
                boardId: this.o.boardId,
                utcNow: () => self.utc(self.lastSimMs),
                setClock: t => self.setClock(t),
                record: (kind, time, payload) => self.append(kind, time, payload),
                raiseAlert: kind => self.raiseAlert(kind),
                rollEpoch: e => self.rollEpoch(e),
                schedule: (s, due) => (self.disconnectDue = { meterMs: self.lastSimMs - self.bootSimMs + s * 1000, run: due }),
                cancelSchedule: () => (self.disconnectDue = undefined),
                random: () => Math.floor(Math.random() * 4294967296),
                millis: () => Date.now(),
                fastSignatures: this.o.fastSignatures,
                // the meter state's due time at boot (src/app.ts recordedTime): the last interval's UTC time
                recordedTime: im.metrology.lastIntervalTime ?? 0,
            },
            im.commands
        )
        this.commands.boot()
        this.append(RecordKind.PowerUp, 0, Buffer.alloc(0))
        // the uplink (Uplink.start): keys and counters of the policy's epoch, maxSentSeq = acked
        this.setupEpoch(this.commands.uplinkEpoch())
        this.maxSentSeq = this.store.acknowledged()
        this.heldSeq = -2
        this.inFlight = undefined
        this.timeouts = 0
        this.responses = []
        this.framesSinceRegisters = Infinity
        this.level = this.commands.privacyLevel()
        this.wakeUp()
        this.nextPoll = realMs
    }

    /** Power cut: RAM is gone; the flash (the image) keeps the store, counters, policy and the metrology snapshot. */
    powerCut() {
        if (!this.on) return
        this.on = false
        this.image.store = this.store.image()
        this.image.metrology.open = this.open ?? this.restored
    }

    /** The image as it would be read from flash now (for the fleet's state file). */
    snapshot(): MeterImage {
        if (this.on) {
            this.image.store = this.store.image()
            this.image.metrology.open = this.open ?? this.restored
        }
        return this.image
    }

    /** UTC seconds at `simMs` on the meter's clock, 0 while unknown. */
    utc(simMs: number): number {
        if (this.clockOffsetMs < 0) return 0
        return Math.floor((this.clockOffsetMs + simMs - this.bootSimMs) / 1000)
    }

    /** The store's head and acknowledged seq (for tests and the fleet's drain check). */
    chainState(): { head: number; acked: number; full: boolean } {
        return { head: this.store.head().seq, acked: this.store.acknowledged(), full: this.store.isFull() }
    }

    /** The record `seq` if it is still in the store. */
    storedRecord(seq: number): Buffer | undefined {
        return this.store.record(seq)
    }

    /** The relay's control state (DLMS class 70) and whether a disconnect is pending. */
    control(): { state: number; pending: boolean } {
        return { state: this.image.commands.control, pending: this.image.commands.disconnectPending }
    }

    /** The consumer presses the arm button. */
    pressButton() {
        this.commands.pressButton()
    }

    /**
     * Moves the meter to `simMs`: metering, interval closes, a due disconnect; then one
     * step of the send loop when woken (a record, an ack, an alert) or at the poll period.
     */
    tick(simMs: number, realMs: number) {
        if (!this.on) return
        this.meter(simMs)
        const d = this.disconnectDue
        if (d && simMs - this.bootSimMs >= d.meterMs) {
            this.disconnectDue = undefined
            d.run()
        }
        if (this.wake || realMs >= this.nextPoll) {
            this.wake = false
            this.nextPoll = realMs + this.o.pollMs
            this.step(realMs)
        }
    }

    /**
     * Meters up to `simMs` without a send step: the fleet calls it before handing over a
     * downlink frame, so that a command sees the meter's clock of now (a meter is ticked
     * only when it has something to do).
     */
    catchUp(simMs: number) {
        if (this.on && simMs > this.lastSimMs) this.meter(simMs)
    }

    /** Whether everything recorded has been acknowledged (nothing in the store waits). */
    drained(): boolean {
        const h = this.store.head().seq
        // at a privacy level, records wait for their period's read or a passage (src/wire/report.ts privacyCover)
        return this.store.acknowledged() >= h || (this.level !== 0 && h - this.store.acknowledged() < MAX_AGGREGATE_RECORDS)
    }

    // ---- uplink (src/comms/uplink.ts) ----------------------------------------------------------

    /** One decision of the send loop (Uplink.step). */
    step(realMs: number): boolean {
        if (!this.link.connected()) return false
        if (this.inFlight) {
            if (realMs - this.inFlight.sentAt < this.o.ackTimeoutMs) return false
            // QoS 0: the frame or its ack was lost; resend with a new counter, with the anchor
            this.inFlight = undefined
            this.timeouts++
            this.stats.resends++
            this.heldSeq = -2
            if (this.timeouts >= 3) {
                this.timeouts = 0
                this.link.reconnect()
                return false
            }
        }
        const built = this.buildReport()
        if (!built) return false
        const ctr = this.nextCounter()
        const frame = sealFrame(
            nodeCrypto,
            this.upKey,
            { version: FrameConst.Version, direction: Direction.Uplink, meterId: this.idBytes, epoch: this.epoch, counter: ctr },
            encodeReport(nodeCrypto, built.report)
        )
        if (!this.link.publish(frame)) return false
        this.stats.framesSent++
        if (built.report.registers) this.framesSinceRegisters = 0
        this.framesSinceRegisters++
        if (built.lastSeq > this.maxSentSeq) this.maxSentSeq = built.lastSeq
        this.inFlight = { counter: ctr, sentAt: realMs, sentWall: Date.now(), alerts: built.report.alerts, responses: built.report.responses ? built.report.responses.length : 0, passed: built.report.aggregates !== undefined }
        return true
    }

    /** A downlink frame (Uplink.onDownlink): anything unauthentic or replayed is counted, alerted and dropped. */
    async onDownlink(frame: Buffer, realMs = Date.now()): Promise<void> {
        if (!this.on) return
        let body: Buffer
        try {
            const h = readHeader(frame)
            if (h.epoch !== this.epoch || !h.meterId.equals(this.idBytes)) throw new RangeError("downlink: not ours")
            body = openParsed(nodeCrypto, this.downKey, frame, h, Direction.Downlink)
            if (!(h.counter > this.downCounter)) throw new RangeError("downlink: replay")
            this.downCounter = h.counter
            this.image.up.dlEpoch = this.epoch
            this.image.up.dl = h.counter
        } catch {
            this.stats.downlinkRejected++
            this.raiseAlert(AlertKind.BadDownlink)
            return
        }
        let d
        try {
            d = decodeDownlink(body)
        } catch {
            this.stats.downlinkRejected++
            return
        }
        if (d.type === BodyType.Ack) this.onAck(d.ackSeq!, d.upCounter!, d.ackHash!, realMs)
        else if (d.type === BodyType.Command) {
            const resp = await this.commands.handleCommand(d.command!)
            if (!this.on) return
            if (resp[1] === 0) this.stats.commandsAccepted++
            else this.stats.commandsRefused++
            this.answers.push(resp)
            if (this.answers.length > 16) this.answers.shift()
            if (resp.length && this.responses.length < ReportLimit.MaxResponses) this.responses.push(resp.length > ReportLimit.MaxResponseSize ? resp.subarray(0, ReportLimit.MaxResponseSize) : resp)
            this.wakeUp()
        }
    }

    /** Queues an alert for the next frame (kept in `up.al`); BadDownlink alone does not wake the loop. */
    raiseAlert(kind: number) {
        if (!(kind > 0 && kind < ALERT_SLOTS)) return
        this.image.up.alerts[kind]++
        if (kind !== AlertKind.BadDownlink) this.wakeUp()
    }

    /**
     * Uplink.onAck (src/comms/uplink.ts): an ack can only confirm what this boot actually sent
     * (never beyond maxSentSeq), and only the record it names (seq and the first 16 bytes of
     * its record hash): an ack for a clone's record `seq` on the same downlink topic is not
     * one for ours. Such an ack is ignored whole: nothing freed, the frame in flight stays
     * in flight (and is resent after the timeout). A stale one (at or below the ack cursor)
     * still answers the frame in flight.
     */
    private onAck(ackSeq: number, upCounter: number, hash: Buffer, realMs: number) {
        if (ackSeq > this.store.acknowledged() && !(ackSeq <= this.maxSentSeq && this.store.acknowledge(ackSeq, hash))) return
        const f = this.inFlight
        // the head-end holds that record, unless the frame covered it by a read or passage
        this.heldSeq = f && f.passed ? -2 : ackSeq
        if (f && f.counter === upCounter) {
            this.stats.acks++
            this.ackLog.push(f.sentWall, Date.now())
            const al = this.image.up.alerts
            for (const a of f.alerts ?? []) al[a.kind] = Math.max(0, al[a.kind] - a.count)
            this.responses = this.responses.slice(f.responses)
            this.inFlight = undefined
            this.timeouts = 0
            this.wakeUp()
        }
    }

    private setupEpoch(epoch: number) {
        this.epoch = epoch
        this.upKey = deriveFrameKey(nodeCrypto, this.secret, this.idBytes, Direction.Uplink, epoch)
        this.downKey = deriveFrameKey(nodeCrypto, this.secret, this.idBytes, Direction.Downlink, epoch)
        const up = this.image.up
        // src/comms/counter.ts FrameCounter.open: resume at the reserved limit (the rest of the block is skipped)
        this.cur = up.fcEpoch === epoch ? up.fcLimit : 0
        this.downCounter = up.dlEpoch === epoch ? up.dl : 0
    }

    private rollEpoch(epoch: number) {
        this.setupEpoch(epoch)
        this.inFlight = undefined
        this.wakeUp()
    }

    /** FrameCounter.next: a new block is reserved (persisted) before its first counter is used. */
    private nextCounter(): number {
        const up = this.image.up
        const limit = up.fcEpoch === this.epoch ? up.fcLimit : 0
        if (this.cur >= limit) {
            if (this.cur + this.o.counterBlock > 4294967295) throw new RangeError("frame counter exhausted: roll the key epoch")
            up.fcEpoch = this.epoch
            up.fcLimit = this.cur + this.o.counterBlock
        }
        return ++this.cur
    }

    private buildReport(): { report: Report; lastSeq: number } | undefined {
        const head = this.store.head()
        let lastSeq = -1
        let due = false
        const acked = this.store.acknowledged()
        let p: PrivacyCover | undefined
        let recs: UplinkRecord[] = []
        if (head.seq > acked) {
            // the records, or reads and passages for those taken or to be sent at a stricter
            // level; the level now is the chain's (src/wire/report.ts privacyCover, as Uplink.buildReport)
            recs = this.store.recordsAfter(acked, ReportLimit.MaxRecords)
            p = privacyCover(nodeCrypto, recs, this.level, MAX_AGGREGATE_RECORDS)
            this.level = p.taken
        }
        const level = this.level
        const report: Report = { privacyLevel: level }
        if (p) {
            const n = Math.min(p.records, this.o.maxRecordsPerFrame, ReportLimit.MaxRecords)
            if (n) {
                report.records = recs.slice(0, n)
                report.anchor = recs[0].seq > 0 && recs[0].seq !== this.heldSeq + 1
                // register blocks derived where the head-end rebuilds them exactly (docs/uplink.md §4.1, as Uplink.step)
                report.held = this.store.recordsAfter(recs[0].seq - 2, 1)[0]?.data
                lastSeq = recs[n - 1].seq
                due = true
            } else if (p.aggregates.length) {
                report.aggregates = p.aggregates
                if (p.registers) report.registers = p.registers
                lastSeq = p.aggregates[p.aggregates.length - 1].lastSeq
                due = true
            }
        }
        if (head.seq >= 0) {
            report.checkpointSeq = head.seq
            report.checkpointHash = head.hash
        }
        const alerts: AlertCount[] = []
        const al = this.image.up.alerts
        for (let k = 1; k < ALERT_SLOTS; k++) {
            if (al[k] === 0) continue
            alerts.push({ kind: k, count: al[k] })
            if (k !== AlertKind.BadDownlink) due = true
        }
        if (alerts.length) report.alerts = alerts
        if (this.responses.length) {
            report.responses = this.responses.slice(0)
            due = true
        }
        if (!due) return undefined
        // the register block: first frame after boot, then daily (src/meter/register_cadence.ts);
        // at levels 1 and 2 only a read's (above), never the running registers
        if (this.framesSinceRegisters >= this.perDay() && level === 0) report.registers = this.registers()
        return { report, lastSeq }
    }

    private perDay(): number {
        return (24 * 60) / this.o.intervalMin
    }

    private registers(): Buffer {
        const m = this.image.metrology
        return encodeRegisters({ importMWh: m.importMWh, exportMWh: m.exportMWh, touImportMWh: m.touImport, touExportMWh: m.touExport })
    }

    // ---- the chain and the events (src/meter/events.ts, interval_log.ts) ------------------------

    private append(kind: number, time: number, payload: Buffer) {
        const r = this.store.append(kind, time, payload)
        if (kind === RecordKind.IntervalClose) {
            this.image.metrology.lastIntervalTime = time
            if (r) {
                this.image.ledger.seqs.push(r.seq)
                this.image.ledger.tags.push(r.data.subarray(r.data.length - 16).toString("hex"))
            } else this.image.ledger.refused++
        }
        this.wakeUp()
    }

    private storeAlert(kind: number) {
        this.raiseAlert(kind === RecordKind.StoreFull ? AlertKind.StoreFull : AlertKind.Tamper)
    }

    /** ClockPort.set after an authenticated time sync: the step is recorded (old, new) and metrology re-frames. */
    private setClock(t: number) {
        if (!(t >= 1577836800 && t <= 4294967295)) throw new RangeError(`clock: utc ${t} out of range`)
        const sim = this.lastSimMs
        const p = Buffer.alloc(8)
        p.writeUInt32BE(this.utc(sim), 0)
        // the delivery delay as at real speed (MeterOptions.scale): t plus the delay, less its acceleration
        const setMs = this.o.scale > 1 && sim > t * 1000 ? sim - (sim - t * 1000) / this.o.scale : t * 1000
        this.clockOffsetMs = setMs - (sim - this.bootSimMs)
        p.writeUInt32BE(t, 4)
        this.append(RecordKind.TimeSet, t, p)
        if (this.started) this.applyStep(setMs)
    }

    // ---- metrology (src/metrology/metrology.ts, simplified source) ------------------------------

    private lengthMs(): number {
        return this.o.intervalMin * 60000
    }

    private meter(simMs: number) {
        if (!this.started) this.start(simMs)
        let t = this.lastSimMs
        while (t < simMs) {
            const boundary = this.open!.startMs + this.lengthMs()
            // the profile is sampled at least once a simulated minute
            const seg = Math.min(simMs - t, boundary - this.posMs, 60_000)
            this.take(t, seg)
            this.open!.coveredMs += seg
            this.posMs += seg
            t += seg
            if (this.posMs >= boundary) {
                this.posMs = boundary
                this.closeOpen()
                this.openAt(IntervalStatus.Complete)
            }
        }
        this.lastSimMs = simMs
    }

    /** First tick after power-up: the interval open at the cut closes (PowerDown), a partial one opens. */
    private start(simMs: number) {
        this.started = true
        if (this.restored) {
            const r = this.restored
            this.restored = undefined
            r.status |= IntervalStatus.PowerDown
            this.closeRecord(r)
        }
        this.known = this.clockOffsetMs >= 0
        this.posMs = this.known ? this.clockOffsetMs + simMs - this.bootSimMs : simMs - this.bootSimMs
        this.openAt(IntervalStatus.PartialPowerUp)
    }

    private openAt(status: number) {
        const L = this.lengthMs()
        this.open = { startMs: Math.floor(this.posMs / L) * L, status: status | (this.known ? 0 : IntervalStatus.TimeUnknown), coveredMs: 0, importMWh: 0, exportMWh: 0 }
    }

    private applyStep(toUtcMs: number) {
        const wasKnown = this.known
        const oldStart = this.open!.startMs
        this.known = true
        this.posMs = toUtcMs
        const L = this.lengthMs()
        this.open!.status |= IntervalStatus.ClockAdjusted
        if (wasKnown && Math.floor(this.posMs / L) * L === oldStart) return
        this.closeOpen()
        this.openAt(IntervalStatus.ClockAdjusted)
    }

    private closeOpen() {
        const o = this.open!
        this.closeRecord(o)
        this.open = undefined
    }

    private closeRecord(o: OpenInterval) {
        const maxS = this.o.intervalMin * 60
        const r = { start: Math.floor(o.startMs / 1000), lengthMin: this.o.intervalMin, status: o.status, coveredS: Math.min(Math.round(o.coveredMs / 1000), maxS), importMWh: o.importMWh, exportMWh: o.exportMWh }
        // the interval and the register block at its close (src/meter/interval_log.ts: the index in the chain)
        this.append(RecordKind.IntervalClose, r.status & IntervalStatus.TimeUnknown ? 0 : r.start, Buffer.concat([encodeInterval(r), this.registers()]))
    }

    /** Energy of `ms` of meter time from sim time `t`: the household's load (none while the relay is open), some export. */
    private take(t: number, ms: number) {
        const p = householdWatts(this.image.seed, t)
        const load = this.commands.relayClosed() ? p.importW : 0
        // mWh = W × ms / 3600; the remainders carry over so that nothing is lost to rounding
        this.importFrac += (load * ms) / 3600
        this.exportFrac += (p.exportW * ms) / 3600
        const imp = Math.floor(this.importFrac)
        const exp = Math.floor(this.exportFrac)
        this.importFrac -= imp
        this.exportFrac -= exp
        const m = this.image.metrology
        m.importMWh += imp
        m.exportMWh += exp
        m.touImport[0] += imp
        m.touExport[0] += exp
        this.open!.importMWh += imp
        this.open!.exportMWh += exp
    }
}

/**
 * A household's power at sim time `t` (UTC ms), deterministic per seed: a base load, a
 * morning and an evening peak, appliance noise per minute; one household in eight has
 * solar panels that export around noon.
 */
export function householdWatts(seed: number, t: number): { importW: number; exportW: number } {
    const hour = (t / 3_600_000) % 24
    const base = 120 + (seed % 7) * 25
    const peak = 900 * Math.exp(-((hour - 19) ** 2) / 3) + 500 * Math.exp(-((hour - 7.5) ** 2) / 1.5)
    const minute = Math.floor(t / 60000)
    let h = (seed * 2654435761 + minute * 40503) >>> 0
    h ^= h >>> 15
    h = Math.imul(h, 2246822519) >>> 0
    const noise = (h % 400) - 100
    let load = Math.max(40, base + peak + noise)
    let exportW = 0
    if (seed % 8 === 3) {
        const sun = Math.max(0, 2500 * Math.sin(((hour - 6) / 13) * Math.PI))
        const net = load - sun
        load = Math.max(0, net)
        exportW = Math.max(0, -net)
    }
    return { importW: Math.round(load), exportW: Math.round(exportW) }
}
