/**
 * The demo's head-end station on MQTT: the ingestion service (headend/src/service.ts: decide,
 * commit to the database, acknowledge) plus what the demo shows and the attacks need:
 * events per verdict, the chain status ("broken at record n"), command acknowledgements,
 * the stored records decoded, and a copy of the raw frames to replay and tamper with.
 *
 * Per frame, ingestion checks in order: size and version, known meter, AES-256-CCM tag
 * under the meter's uplink key of that epoch (the header is bound inside), frame counter
 * above the last one (a replay, or a clone when a different frame reuses a counter, an old
 * one comes back with other content, or the counter jumps too far), then the body, and
 * follows the index chain record by record (tag under K_seq, prev link). What it keeps
 * lives in the database, so a restarted station continues where the last one stopped.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Checkpoint, decodeRecord } from "./chain.ts"
import { CommandAck, parseAck } from "./commands.ts"
import { Database } from "./db/index.ts"
import { HeadEnd } from "./ingest.ts"
import { Keystore, MeterEntry, chainKeyOf } from "./keystore.ts"
import { HeadEndService, ServiceVerdict, connectBroker } from "./service.ts"
import { Report } from "../../src/wire/report"

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
    /** a head-end error that was caught (the station keeps serving) */
    error?(line: string): void
}

export interface StationOptions {
    /**
     * The head-end's database, opened and migrated (db/open.ts), or how to open it once the
     * broker answered. Without it: an embedded database in a temporary directory, created
     * at the first frame and removed on close (tests).
     */
    database?: Database | (() => Promise<Database>)
    /** broker connect timeout (default 5000 ms) */
    timeoutMs?: number
}

export class Station {
    readonly service: HeadEndService
    /** every raw uplink frame seen, newest last (attacks replay and tamper with them) */
    readonly captured: { topic: string; payload: Buffer }[] = []
    /** the stored records of each meter, decoded, oldest first (loaded from the database, then appended) */
    private stored = new Map<string, StoredRecord[]>()

    private constructor(
        private ks: Keystore,
        private events: StationEvents,
        db: Database,
        ownsDatabase: boolean
    ) {
        this.service = HeadEndService.open({
            db,
            ownsDatabase,
            secretOf: id => {
                const m = this.ks.meters.find(x => x.meterId === id)
                return m ? Buffer.from(m.secret, "hex") : undefined
            },
            chainKeyOf: id => {
                const m = this.ks.meters.find(x => x.meterId === id)
                return m ? chainKeyOf(m) : undefined
            },
            log: line => this.events.error?.(line),
            events: {
                accepted: v => this.onAccepted(v),
                refused: v => this.onRefused(v),
                clone: a => {
                    const m = this.meter(a.meterId)
                    if (m) this.events.clone?.(m, `${a.evidence}: ${a.detail}`)
                },
                meterAlert: (id, kind, count) => {
                    const m = this.meter(id)
                    if (m) this.events.alert?.(m, kind, count)
                },
                brokerLost: url => this.events.brokerLost?.(url),
                brokerBack: (url, ms) => this.events.brokerBack?.(url, ms),
            },
        })
    }

    /** The deciding part of the service (per-meter state in memory). */
    get headEnd(): HeadEnd {
        return this.service.headEnd
    }

    /**
     * A station on the database, not connected to a broker: frames come in through
     * `onFrame` (tests). Loads the records stored so far for every meter of the keystore.
     */
    static async open(ks: Keystore, events: StationEvents, o: StationOptions = {}): Promise<Station> {
        const { db, owned } = await database(o)
        const s = new Station(ks, events, db, owned)
        if (o.database) await s.loadStored()
        return s
    }

    /**
     * Connects to the broker (`mqtt[s]://[user:password@]host:port`, headend/src/broker.ts),
     * then opens the database, loads what it stored, and subscribes to every meter's uplink.
     * Throws one line, without the password, if the broker is unreachable or refuses the
     * login (before the database is touched). Afterwards the client reconnects by itself;
     * `events.brokerLost` and `brokerBack` say when, once per outage.
     */
    static async connect(brokerUrl: string, ks: Keystore, events: StationEvents, timeoutMs = 5000, o: StationOptions = {}): Promise<Station> {
        const link = await connectBroker(brokerUrl, o.timeoutMs ?? timeoutMs)
        let s: Station
        try {
            s = await Station.open(ks, events, o)
        } catch (e) {
            await link.client.endAsync(true).catch(() => {})
            throw e
        }
        // the attacks replay what went over the broker: every uplink frame, refused ones too
        link.client.on("message", (topic, payload) => s.capture(topic, Buffer.from(payload)))
        await s.service.attach(link)
        return s
    }

    /** Records stored for `meterId` (each interval exactly once), oldest first. */
    records(meterId: string): StoredRecord[] {
        return this.stored.get(meterId) ?? []
    }

    /** The verified chain head of `meterId`: the highest record stored contiguously. */
    head(meterId: string): Checkpoint | undefined {
        const st = this.headEnd.meters.get(meterId)
        if (!st || st.contiguous < 0 || !st.chainHash) return undefined
        return { seq: st.contiguous, hash: st.chainHash }
    }

    /** Sends a signed command envelope to `meter` inside an authenticated downlink frame (a committed counter; logged). */
    async sendCommand(meter: MeterEntry, envelope: Buffer) {
        try {
            await this.service.sendCommand(meter.meterId, envelope)
        } catch (e) {
            throw new Error((e as Error).message.replace(`meter ${meter.meterId}`, meter.name))
        }
    }

    /** Publishes raw bytes (attacks: replays and tampered frames). */
    async publishRaw(topic: string, payload: Buffer) {
        await this.service.publishRaw(topic, payload)
    }

    async close() {
        await this.service.close()
    }

    /** Handles one uplink frame, as if it came from `topic` (tests); resolves once it is decided and committed. */
    async onFrame(topic: string, payload: Buffer): Promise<ServiceVerdict> {
        this.capture(topic, payload)
        return this.service.receive(topic, payload)
    }

    private capture(topic: string, payload: Buffer) {
        this.captured.push({ topic, payload })
        if (this.captured.length > 200) this.captured.shift()
    }

    private async loadStored() {
        for (const m of this.ks.meters) {
            const rs = await this.service.records(m.meterId)
            if (rs.length) this.stored.set(m.meterId, rs.map(r => decoded(r.seq, r.data)))
        }
    }

    private keep(meterId: string, fresh: { seq: number; data: Buffer }[]): StoredRecord[] {
        const list = this.stored.get(meterId) ?? []
        this.stored.set(meterId, list)
        const out = fresh.map(r => decoded(r.seq, r.data))
        list.push(...out)
        return out
    }

    private onAccepted(v: Extract<ServiceVerdict, { ok: true }>) {
        const m = this.meter(v.meterId)
        if (!m) return
        const fresh = this.keep(v.meterId, v.fresh)
        this.responses(m, v.report.responses)
        this.events.report?.(m, v.report, fresh)
    }

    private responses(m: MeterEntry, rs: Buffer[] | undefined) {
        for (const x of rs ?? []) {
            try {
                this.events.response?.(m, parseAck(Buffer.from(x)))
            } catch {
                this.events.refused?.(m, "malformed command acknowledgement")
            }
        }
    }

    private onRefused(v: Extract<ServiceVerdict, { ok: false }>) {
        const m = v.meterId ? this.meter(v.meterId) : undefined
        if (m && v.fresh?.length) this.keep(m.meterId, v.fresh)
        // a refused chain in an authentic frame: the meter's answers in it are authentic
        if (m) this.responses(m, v.report?.responses)
        if (v.reason === "bad-chain" && m && v.brokenAt !== undefined) this.events.chainBroken?.(m, v.brokenAt, "bad link or tag")
        this.events.refused?.(m, v.reason === "topic" && v.detail ? v.detail : v.reason)
    }

    private meter(id: string): MeterEntry | undefined {
        return this.ks.meters.find(m => m.meterId === id)
    }
}

function decoded(seq: number, data: Buffer): StoredRecord {
    const d = decodeRecord(data)
    return { seq, kind: d?.kind ?? 0, time: d?.time ?? 0, payload: Buffer.from(d?.payload ?? []) }
}

/** The station's database: given, opened now, or an embedded one in a temporary directory opened at first use. */
async function database(o: StationOptions): Promise<{ db: Database; owned: boolean }> {
    if (typeof o.database === "function") return { db: await o.database(), owned: true }
    if (o.database) return { db: o.database, owned: false }
    return { db: temporaryDatabase(), owned: true }
}

/** PGlite in a fresh temporary directory, created when first queried (initdb takes seconds), removed on close. */
function temporaryDatabase(): Database {
    let opened: Promise<{ db: Database; dir: string }> | undefined
    const get = () =>
        (opened ??= (async () => {
            const { openDatabase } = await import("./db/index.ts")
            const dir = mkdtempSync(join(tmpdir(), "tm-station-db-"))
            return { db: await openDatabase({ backend: "pglite", dir: join(dir, "db") }), dir }
        })())
    return {
        backend: "pglite",
        query: async (text, params) => (await get()).db.query(text, params),
        command: async (text, params) => (await get()).db.command(text, params),
        transaction: async fn => (await get()).db.transaction(fn),
        async close() {
            if (!opened) return
            const { db, dir } = await opened
            await db.close()
            rmSync(dir, { recursive: true, force: true })
        },
    }
}
