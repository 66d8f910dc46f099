/**
 * The demo's head-end station on MQTT: the uplink module's HeadEnd (headend/src/ingest.ts,
 * docs/uplink.md §7) fed from one MQTT client, plus what the demo shows and the attacks
 * need: events per verdict, the chain status ("broken at record n"), command
 * acknowledgements, and a copy of the raw frames to replay and tamper with.
 *
 * Per frame, the HeadEnd checks in order: size and version, known meter, AES-256-CCM tag
 * under the meter's uplink key of that epoch (the header is bound inside), frame counter
 * above the last one (a replay, or a clone when a different frame reuses a counter), then
 * the body, and follows the index chain record by record (tag under K_seq, prev link).
 */
import mqtt, { MqttClient } from "mqtt"
import { Checkpoint, decodeRecord, recordHash } from "./chain.ts"
import { CommandAck, parseAck } from "./commands.ts"
import { HeadEnd } from "./ingest.ts"
import { Keystore, MeterEntry } from "./keystore.ts"
import { parseBrokerUrl } from "./broker.ts"
import { claimedMeterId } from "../../src/wire/frame"
import { Report, downlinkTopic, uplinkTopic } from "../../src/wire/report"
import { UPLINK_FILTER } from "./uplink.ts"

export interface StoredRecord {
    seq: number
    kind: number
    time: number
    payload: Buffer
}

/** What the station reports to the demo. */
export interface StationEvents {
    /** an authenticated report from `meter` (new records already verified and stored) */
    report?(meter: MeterEntry, r: Report, fresh: StoredRecord[]): void
    /** a frame was refused; `meter` when the header named a known one */
    refused?(meter: MeterEntry | undefined, reason: string): void
    /** the chain of `meter` failed verification at record `at` */
    chainBroken?(meter: MeterEntry, at: number, reason: string): void
    /** a command acknowledgement from `meter` */
    response?(meter: MeterEntry, ack: CommandAck): void
    /** two devices seem to use `meter`'s identity */
    clone?(meter: MeterEntry, detail: string): void
    /** an alert the meter reported (tamper, rejected commands, store full...) */
    alert?(meter: MeterEntry, kind: number, count: number): void
    /** the connection to the broker at `url` (no credentials) dropped; the client keeps retrying */
    brokerLost?(url: string): void
    /** the connection is back after `outageMs` */
    brokerBack?(url: string, outageMs: number): void
}

export class Station {
    private client?: MqttClient
    private closing = false
    readonly headEnd: HeadEnd
    private downFloor = 0
    /** every raw uplink frame seen, newest last (attacks replay and tamper with them) */
    readonly captured: { topic: string; payload: Buffer }[] = []

    constructor(
        private ks: Keystore,
        private events: StationEvents
    ) {
        this.headEnd = new HeadEnd({
            secretOf: id => {
                const m = this.ks.meters.find(x => x.meterId === id)
                return m ? Buffer.from(m.secret, "hex") : undefined
            },
            onClone: a => {
                const m = this.meter(a.meterId)
                if (m) this.events.clone?.(m, `${a.evidence}: ${a.detail}`)
            },
            onMeterAlert: (id, kind, count) => {
                const m = this.meter(id)
                if (m) this.events.alert?.(m, kind, count)
            },
        })
    }

    /** Connects to the broker and subscribes to every meter's uplink. Throws one line if unreachable. */
    /**
     * Connects to the broker (`mqtt[s]://[user:password@]host:port`, headend/src/broker.ts)
     * and subscribes to every meter's uplink. Throws one line, without the password, if the
     * broker is unreachable or refuses the login. Afterwards the client reconnects by
     * itself; `events.brokerLost` and `brokerBack` say when, once per outage.
     */
    static async connect(brokerUrl: string, ks: Keystore, events: StationEvents, timeoutMs = 5000): Promise<Station> {
        const s = new Station(ks, events)
        const b = parseBrokerUrl(brokerUrl)
        const opts = { connectTimeout: timeoutMs, reconnectPeriod: 1000, clientId: `trustmeter-headend-${process.pid}-${Date.now()}`, username: b.username, password: b.password }
        try {
            s.client = await mqtt.connectAsync(b.url, opts, false)
        } catch (e) {
            const code = (e as { code?: number }).code
            // CONNACK return codes 4 and 5 (MQTT 3.1.1 §3.2.2.3): bad user name or password, not authorized
            if (code === 4 || code === 5)
                throw new Error(`the MQTT broker at ${b.url} refused the head-end's login (${(e as Error).message}): check the user name and password in --broker mqtt://user:password@host:port`)
            throw new Error(`cannot reach the MQTT broker at ${b.url} (${(e as Error).message}): start it, or omit --broker to use the embedded one`)
        }
        s.client.on("message", (topic, payload) => s.onFrame(topic, Buffer.from(payload)))
        s.watchConnection(b.url)
        await s.client.subscribeAsync(UPLINK_FILTER, { qos: 0 })
        return s
    }

    /** One `brokerLost` when the connection drops, one `brokerBack` with the outage's length when it returns. */
    private watchConnection(url: string) {
        let lostAt: number | undefined
        this.client!.on("close", () => {
            if (this.closing || lostAt !== undefined) return
            lostAt = Date.now()
            this.events.brokerLost?.(url)
        })
        this.client!.on("connect", () => {
            if (lostAt === undefined) return
            const ms = Date.now() - lostAt
            lostAt = undefined
            this.events.brokerBack?.(url, ms)
        })
    }

    /** Records stored for `meterId` (each interval exactly once), oldest first. */
    records(meterId: string): StoredRecord[] {
        return this.headEnd.readings(meterId).map(({ seq, data }) => {
            const d = decodeRecord(data)
            return { seq, kind: d?.kind ?? 0, time: d?.time ?? 0, payload: Buffer.from(d?.payload ?? []) }
        })
    }

    /** The verified chain head of `meterId`: the highest record stored contiguously. */
    head(meterId: string): Checkpoint | undefined {
        const st = this.headEnd.meters.get(meterId)
        if (!st || st.contiguous < 0) return undefined
        return { seq: st.contiguous, hash: recordHash(st.records.get(st.contiguous)!) }
    }

    /** Sends a signed command envelope to `meter` inside an authenticated downlink frame. */
    async sendCommand(meter: MeterEntry, envelope: Buffer) {
        if (!this.headEnd.meters.get(meter.meterId)) throw new Error(`${meter.name} has not sent an authenticated frame yet: no downlink session to carry the command`)
        this.raiseDownCounter(meter.meterId)
        await this.publishRaw(downlinkTopic(meter.meterId), this.headEnd.commandFrame(meter.meterId, envelope))
    }

    /** Publishes raw bytes (attacks: replays and tampered frames). */
    async publishRaw(topic: string, payload: Buffer) {
        if (!this.client) throw new Error("the station is not connected")
        await this.client.publishAsync(topic, payload, { qos: 0 })
    }

    async close() {
        this.closing = true
        await this.client?.endAsync(true).catch(() => {})
    }

    /** Handles one uplink frame (public for tests). */
    onFrame(topic: string, payload: Buffer) {
        this.captured.push({ topic, payload })
        if (this.captured.length > 200) this.captured.shift()
        const claimed = claimedMeterId(payload)
        if (this.meter(claimed) && topic !== uplinkTopic(claimed)) return this.events.refused?.(this.meter(claimed), `frame for ${claimed} on another meter's topic ${topic}`)
        const st0 = this.headEnd.meters.get(claimed)
        const before = st0 ? st0.contiguous : -1
        this.raiseDownCounter(claimed)
        const r = this.headEnd.ingest(payload)
        if (!r.ok) {
            const m = r.meterId ? this.meter(r.meterId) : undefined
            if (r.reason === "bad-chain" && m) {
                const at = (this.headEnd.meters.get(m.meterId)?.contiguous ?? -1) + 1
                this.events.chainBroken?.(m, at, "bad link or tag")
            }
            this.events.refused?.(m, r.reason)
            return
        }
        const m = this.meter(r.meterId)!
        if (r.ack) this.publishRaw(downlinkTopic(r.meterId), r.ack).catch(() => {})
        const st = this.headEnd.meters.get(r.meterId)!
        const fresh: StoredRecord[] = []
        for (let seq = before + 1; seq <= st.contiguous; seq++) {
            const d = decodeRecord(st.records.get(seq)!)
            if (d) fresh.push({ seq, kind: d.kind, time: d.time, payload: Buffer.from(d.payload) })
        }
        for (const x of r.report.responses ?? []) {
            try {
                this.events.response?.(m, parseAck(Buffer.from(x)))
            } catch {
                this.events.refused?.(m, "malformed command acknowledgement")
            }
        }
        st.responses.length = 0
        this.events.report?.(m, r.report, fresh)
    }

    private meter(id: string): MeterEntry | undefined {
        return this.ks.meters.find(m => m.meterId === id)
    }

    /**
     * Downlink counters must grow across head-end restarts too (the meter keeps the last one
     * in flash): start from tenths of a second since 2024 instead of 0.
     */
    private raiseDownCounter(id: string) {
        const st = this.headEnd.meters.get(id)
        if (!st) return
        if (!this.downFloor) this.downFloor = Math.floor((Date.now() - 1_704_067_200_000) / 100)
        if (st.downCounter < this.downFloor) st.downCounter = this.downFloor
    }
}
