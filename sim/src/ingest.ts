/**
 * The demo's head-end station on MQTT: receives every meter's uplink frames, answers
 * "has it arrived, who sent it, is it the same?" for each, stores interval records
 * exactly once after verifying the chain, acknowledges them, and sends signed commands
 * downlink. Wire formats from sim/src/uplink.ts (docs/uplink.md), chain checks from
 * sim/src/chain.ts (docs/index-store.md), acknowledgements from sim/src/commands.ts.
 *
 * Per frame, in order: size and version, known meter, AES-256-CCM tag under the meter's
 * uplink key of that epoch (the header is bound inside), frame counter above the last one
 * of that epoch (a replay or a clone otherwise), then the body.
 */
import mqtt, { MqttClient } from "mqtt"
import { Checkpoint, chainKey0, decodeRecord, recordHash, verifyChain } from "./chain.ts"
import { CommandAck, parseAck } from "./commands.ts"
import { Keystore, MeterEntry } from "./keystore.ts"
import {
    Direction,
    Report,
    decodeHeader,
    decodeReport,
    deriveFrameKey,
    downlinkTopic,
    encodeAck,
    encodeCommand,
    openFrame,
    sealFrame,
    VERSION,
} from "./uplink.ts"

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
    /** the chain of `meter` failed verification */
    chainBroken?(meter: MeterEntry, at: number, reason: string): void
    /** a command acknowledgement from `meter` */
    response?(meter: MeterEntry, ack: CommandAck): void
    /** two devices seem to use `meter`'s identity */
    clone?(meter: MeterEntry, detail: string): void
}

interface MeterState {
    /** highest uplink counter seen per epoch */
    counters: Map<number, number>
    head?: Checkpoint
    /** record hashes by seq, to check checkpoints against what was stored */
    hashes: Map<number, string>
    records: Map<number, StoredRecord>
    broken?: { at: number; reason: string }
    epoch: number
}

export class Station {
    private client!: MqttClient
    private state = new Map<string, MeterState>()
    private downCounter = 0
    /** every raw uplink frame seen, newest last (attacks replay and tamper with them) */
    readonly captured: { topic: string; payload: Buffer }[] = []

    private constructor(
        private ks: Keystore,
        private events: StationEvents
    ) {}

    /** Connects to the broker and subscribes to every meter's uplink. Throws one line if unreachable. */
    static async connect(brokerUrl: string, ks: Keystore, events: StationEvents, timeoutMs = 5000): Promise<Station> {
        const s = new Station(ks, events)
        try {
            s.client = await mqtt.connectAsync(brokerUrl, { connectTimeout: timeoutMs, reconnectPeriod: 1000, clientId: `trustmeter-headend-${process.pid}` }, false)
        } catch (e) {
            throw new Error(`cannot reach the MQTT broker at ${brokerUrl} (${(e as Error).message}): start it, or omit --broker to use the embedded one`)
        }
        s.client.on("message", (topic, payload) => s.onFrame(topic, Buffer.from(payload)))
        await s.client.subscribeAsync("tm/+/up", { qos: 0 })
        return s
    }

    /** Records stored for `meterId` (each interval exactly once), oldest first. */
    records(meterId: string): StoredRecord[] {
        return [...(this.state.get(meterId)?.records.values() ?? [])].sort((a, b) => a.seq - b.seq)
    }

    /** The verified chain head of `meterId`. */
    head(meterId: string): Checkpoint | undefined {
        return this.state.get(meterId)?.head
    }

    /** Sends a signed command envelope to `meter` inside an authenticated downlink frame. */
    async sendCommand(meter: MeterEntry, envelope: Buffer) {
        await this.publish(downlinkTopic(meter.meterId), this.sealDown(meter, encodeCommand(envelope)))
    }

    /** Publishes raw bytes (attacks: replays and tampered frames). */
    async publishRaw(topic: string, payload: Buffer) {
        await this.client.publishAsync(topic, payload, { qos: 0 })
    }

    /** Seals a downlink body for `meter` with the next downlink counter. */
    sealDown(meter: MeterEntry, body: Buffer): Buffer {
        const st = this.meterState(meter.meterId)
        const id = Buffer.from(meter.meterId, "hex")
        return sealFrame(deriveFrameKey(Buffer.from(meter.secret, "hex"), id, Direction.Downlink, st.epoch), { version: VERSION, direction: Direction.Downlink, meterId: id, epoch: st.epoch, counter: this.nextDownCounter() }, body)
    }

    async close() {
        await this.client?.endAsync(true).catch(() => {})
    }

    /** Handles one uplink frame (public for tests). */
    onFrame(topic: string, payload: Buffer) {
        this.captured.push({ topic, payload })
        if (this.captured.length > 200) this.captured.shift()
        let meter: MeterEntry | undefined
        try {
            const h = decodeHeader(payload)
            const idHex = h.meterId.toString("hex")
            meter = this.ks.meters.find(m => m.meterId === idHex)
            if (!meter) return this.refuse(undefined, `unknown meter ${idHex}`)
            if (topic !== `tm/${idHex}/up`) return this.refuse(meter, `frame for ${idHex} on another meter's topic ${topic}`)
            if (h.direction !== Direction.Uplink) return this.refuse(meter, "not an uplink frame")
            let body: Buffer
            try {
                body = openFrame(deriveFrameKey(Buffer.from(meter.secret, "hex"), h.meterId, Direction.Uplink, h.epoch), payload)
            } catch (e) {
                return this.refuse(meter, (e as Error).message)
            }
            const st = this.meterState(idHex)
            const last = st.counters.get(h.epoch)
            if (last !== undefined && h.counter <= last) {
                // an authentic frame with an old counter: a replay, or a second device with this identity
                if (h.counter < last - 1) this.events.clone?.(meter, `frame counter went back from ${last} to ${h.counter} in epoch ${h.epoch}`)
                return this.refuse(meter, `replayed frame (counter ${h.counter} <= ${last})`)
            }
            st.counters.set(h.epoch, h.counter)
            if (h.epoch > st.epoch) st.epoch = h.epoch
            const r = decodeReport(body)
            const fresh = this.storeRecords(meter, st, r)
            for (const x of r.responses ?? []) {
                try {
                    this.events.response?.(meter, parseAck(Buffer.from(x)))
                } catch {
                    this.refuse(meter, "malformed command acknowledgement")
                }
            }
            this.events.report?.(meter, r, fresh)
            if (st.head) this.ack(meter, st.head.seq, h.counter)
        } catch (e) {
            this.refuse(meter, `malformed frame (${(e as Error).message})`)
        }
    }

    private storeRecords(meter: MeterEntry, st: MeterState, r: Report): StoredRecord[] {
        const fresh: StoredRecord[] = []
        if (st.broken) return fresh
        const recs = (r.records ?? []).filter(x => !st.head || x.seq > st.head.seq)
        // resent records we already hold must be byte-identical: a changed copy is a fork (clone or tamper)
        for (const x of r.records ?? []) {
            const known = st.hashes.get(x.seq)
            if (known && st.head && x.seq <= st.head.seq && known !== Buffer.from(recordHash(x.data)).toString("hex")) {
                this.events.clone?.(meter, `record ${x.seq} arrived twice with different contents (forked chain)`)
                return fresh
            }
        }
        if (recs.length) {
            const key = chainKey0(Buffer.from(meter.secret, "hex"), Buffer.from(meter.meterId, "hex"))
            const v = verifyChain(
                recs.map(x => new Uint8Array(x.data)),
                key,
                st.head ? { anchor: st.head } : {}
            )
            if (!v.ok) {
                st.broken = { at: v.at, reason: v.reason }
                this.events.chainBroken?.(meter, v.at, v.reason)
                return fresh
            }
            for (const x of recs) {
                const d = decodeRecord(x.data)!
                st.hashes.set(x.seq, Buffer.from(recordHash(x.data)).toString("hex"))
                const rec = { seq: d.seq, kind: d.kind, time: d.time, payload: Buffer.from(d.payload) }
                st.records.set(d.seq, rec)
                fresh.push(rec)
            }
            st.head = v.head
        }
        if (r.checkpointHash && r.checkpointSeq !== undefined && st.head) {
            const known = st.hashes.get(r.checkpointSeq)
            if (known && known !== r.checkpointHash.toString("hex")) {
                st.broken = { at: r.checkpointSeq, reason: "checkpoint does not match the stored record" }
                this.events.chainBroken?.(meter, r.checkpointSeq, st.broken.reason)
            }
        }
        return fresh
    }

    private ack(meter: MeterEntry, seq: number, upCounter: number) {
        this.publish(downlinkTopic(meter.meterId), this.sealDown(meter, encodeAck(seq, upCounter))).catch(() => {})
    }

    private async publish(topic: string, payload: Buffer) {
        await this.client.publishAsync(topic, payload, { qos: 0 })
    }

    private refuse(meter: MeterEntry | undefined, reason: string) {
        if (meter) this.meterState(meter.meterId)
        this.events.refused?.(meter, reason)
    }

    private meterState(id: string): MeterState {
        let st = this.state.get(id)
        if (!st) {
            st = { counters: new Map(), hashes: new Map(), records: new Map(), epoch: 0 }
            this.state.set(id, st)
        }
        return st
    }

    /** Downlink counters: tenths of a second since 2024, strictly increasing, so a restarted head-end never reuses one. */
    private nextDownCounter(): number {
        let c = Math.floor((Date.now() - 1_704_067_200_000) / 100)
        if (c <= this.downCounter) c = this.downCounter + 1
        this.downCounter = c
        return c
    }
}
