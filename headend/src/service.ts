/**
 * The head-end's ingestion service: the one code path from an uplink frame to a stored
 * record and an acknowledgement, used by `npm start` (headend/src/station.ts), the test
 * bridge (bridge.ts), the CLI and the tests (docs/headend.md, "The ingestion service").
 *
 *   MQTT `u/+` → batch → decide in memory (HeadEnd, ingest.ts) → commitFrames (one
 *   transaction) → seal each ack with a counter from a committed block → publish `d/<id>`
 *
 * What survives a restart or a `kill -9` is what the database holds (docs/headend-storage.md):
 * - a meter's state is loaded from it before its first frame is decided (`loadMeter`: the
 *   replay window, chain head, checkpoint, aggregates), and its chain key derived from K_0
 *   up to the head; so captured frames stay replays and chains continue from their head;
 * - an ack leaves only after the records it names are committed;
 * - downlink counters come from blocks reserved and committed before use
 *   (`DownlinkCounterPool`), so no (key, nonce) pair repeats across restarts.
 *
 * A failing handler never stops the service: each frame's verdict, each event callback and
 * each batch are guarded; an error is counted (`stats.errors`), logged, and the others go on.
 * A batch whose commit fails is dropped whole: no ack, and its meters are reloaded from the
 * database before their next frame (the meters resend).
 */
import mqtt, { MqttClient } from "mqtt"
import { Direction, claimedMeterId, deriveFrameKey } from "../../src/wire/frame"
import { encodeCommand, downlinkTopic, uplinkTopic } from "../../src/wire/report"
import { parseBrokerUrl } from "./broker.ts"
import { nodeCrypto } from "./crypto.ts"
import {
    CloneEvidence,
    Database,
    DownlinkCounterPool,
    FrameChange,
    FrameOutcome,
    commitFramesWith,
    logCommand,
    readRecords,
    recordCloneEvidence,
} from "./db/index.ts"
import { MeterResume, loadMeterState, loadMeterStates } from "./db/meter_state.ts"
import { reserveDownlinkBlocksIn } from "./db/downlink.ts"
import { CloneAlert, HeadEnd, IngestResult, MAX_KEY_STEPS, RejectReason, evolveKeyBy } from "./ingest.ts"
import { UPLINK_FILTER } from "./uplink.ts"
import { commandSummary } from "./commands.ts"

/** A frame's verdict as the service gives it: ingestion's, or a refusal of its own. */
export type ServiceVerdict =
    | Extract<IngestResult, { ok: true }>
    | (Omit<Extract<IngestResult, { ok: false }>, "reason"> & { reason: RejectReason | ServiceRefusal; detail?: string })

/**
 * Refusals of the service itself: `topic` (a frame on another meter's topic), `unavailable`
 * (the database failed: nothing of the frame was kept), `error` (a bug, counted and logged).
 */
export type ServiceRefusal = "topic" | "unavailable" | "error"

export interface ServiceEvents {
    /** a frame was accepted and committed (its ack, if any, is published) */
    accepted?(v: Extract<ServiceVerdict, { ok: true }>, outcome: FrameOutcome): void
    /** a frame was refused (after the commit of what an authentic one still stored) */
    refused?(v: Extract<ServiceVerdict, { ok: false }>): void
    /** evidence that a second device uses a meter's identity, recorded in the database */
    clone?(a: CloneAlert): void
    /** an alert the meter reported in a committed frame */
    meterAlert?(meterId: string, kind: number, count: number): void
    /** a downlink frame was published (acks and commands): its meter, epoch and counter */
    downlink?(meterId: string, epoch: number, counter: number, frame: Buffer): void
    /** the connection to the broker at `url` (no credentials) dropped; the client keeps retrying */
    brokerLost?(url: string): void
    brokerBack?(url: string, outageMs: number): void
}

export interface ServiceOptions {
    db: Database
    /** the meter's 32-byte secret, or undefined for an unknown meter */
    secretOf(meterIdHex: string): Buffer | undefined
    /** the meter's escrowed chain key K_0 (keystore `chainKey`), or undefined for an unknown meter */
    chainKeyOf(meterIdHex: string): Uint8Array | undefined
    events?: ServiceEvents
    /** one line per error (handler errors, failed commits) */
    log?(line: string): void
    /** frames decided and committed together at most (default 1000): whatever arrived while the previous batch committed */
    maxBatch?: number
    /** downlink counters reserved per block (default 256) */
    counterBlock?: number
    /** stored records kept in memory per meter (default 64: twice the meter's store) */
    keepRecords?: number
    /** close the database with the service */
    ownsDatabase?: boolean
    /** the deciding part, when the caller made it (the test bridge); default: one with deferred acks */
    headEnd?: HeadEnd
}

export interface ServiceStats {
    received: number
    accepted: number
    refused: Record<string, number>
    /** exceptions caught in a handler (a frame's, an event callback's, a batch's) */
    errors: number
    batches: number
    commitFailures: number
}

interface Pending {
    topic?: string
    payload: Buffer
    /** the meter id the header claims (not verified), once */
    id: string | undefined
    done: (v: ServiceVerdict) => void
}

/**
 * Meters loaded from the database for one batch at most (see `batchLength`). A batch's
 * loads are one statement (db/meter_state.ts loadMeterStates): 256 loads hold
 * the first commit after a restart back by a few tenths of a second, and a worker of a
 * shared subscription, which reloads about every other meter of a batch, still commits
 * batches of hundreds of frames (with 16, batches of about 32 frames: a transaction each).
 */
const LOADS_PER_BATCH = 256

/** Batches committed insert-once after a plain insert met a held key, before plain inserts are tried again. */
const PLAIN_BACKOFF = 16

/** The time-based floor of the head-end before the database: tenths of a second since 2024 (headend/src/station.ts had it). */
export function timeFloor(): number {
    return Math.floor((Date.now() - 1_704_067_200_000) / 100)
}

export class HeadEndService {
    readonly headEnd: HeadEnd
    readonly stats: ServiceStats = { received: 0, accepted: 0, refused: {}, errors: 0, batches: 0, commitFailures: 0 }
    readonly db: Database
    private pool: DownlinkCounterPool
    private queue: Pending[] = []
    private draining?: Promise<void>
    private loading = new Map<string, Promise<void>>()
    /** (meter, epoch) whose downlink counters the database has reserved before: no time floor for them */
    private reserved = new Set<string>()
    private client?: MqttClient
    private closing = false
    private publisher?: (topic: string, frame: Buffer) => Promise<void>
    private topicCache = new Map<string, { up: string; down: string }>()
    /** K_seq of each meter's chain as this service last derived it on a load (a key depends only on K_0 and seq) */
    private chainKeys = new Map<string, { seq: number; key: Buffer; k0: Buffer }>()
    /** batches left to commit insert-once before plain inserts are tried again (after a conflict) */
    private plainBackoff = 0

    private constructor(private o: ServiceOptions) {
        this.db = o.db
        this.headEnd = o.headEnd ?? new HeadEnd({ secretOf: o.secretOf, chainKeyOf: o.chainKeyOf, deferAcks: true, keepRecords: o.keepRecords ?? 64 })
        this.pool = new DownlinkCounterPool(o.db, {
            blockSize: o.counterBlock ?? 256,
            // a meter whose counters the database never reserved may hold a higher one from
            // before it (the time-based floor): start above that once
            floor: (m, e) => (this.reserved.has(`${m}:${e}`) ? 0 : timeFloor()),
        })
    }

    /** A service on `db` (already migrated: db/open.ts openDatabase). */
    static open(o: ServiceOptions): HeadEndService {
        return new HeadEndService(o)
    }

    /**
     * Connects to the broker (`mqtt[s]://[user:password@]host:port`) and subscribes to every
     * meter's uplink. Throws one line, without the password, when the broker is unreachable
     * or refuses the login; afterwards the client reconnects by itself.
     */
    async connect(brokerUrl: string, timeoutMs = 5000): Promise<void> {
        await this.attach(await connectBroker(brokerUrl, timeoutMs))
    }

    /** Serves the uplink of an already connected broker client (`connectBroker`): subscribes to `u/+`. */
    async attach(link: BrokerLink): Promise<void> {
        const client = link.client
        this.client = client
        // the one entry from the network: nothing a frame does may throw out of it
        client.on("message", (topic, payload) => {
            try {
                void this.receive(topic, Buffer.from(payload))
            } catch (e) {
                this.failed("message handler", e)
            }
        })
        client.on("error", () => {})
        this.watchConnection(client, link.url)
        this.publisher = (topic, frame) => client.publishAsync(topic, frame, { qos: 0 }).then(() => {})
        await client.subscribeAsync(UPLINK_FILTER, { qos: 0 })
    }

    /** Sends downlink frames through `publish` instead of (or before) a broker connection (tests). */
    setPublisher(publish: (topic: string, frame: Buffer) => Promise<void>) {
        this.publisher = publish
    }

    /**
     * Takes one uplink frame (from `topic`, when it came from one); resolves with its
     * verdict once it is decided, committed and its ack published. Never rejects.
     */
    receive(topic: string | undefined, payload: Buffer): Promise<ServiceVerdict> {
        this.stats.received++
        return new Promise(done => {
            this.queue.push({ topic, payload, id: safeClaimed(payload), done })
            this.kick()
        })
    }

    /**
     * Seals a signed command envelope for `meterId` under a committed downlink counter, logs
     * it (db logCommand: a signer counter never names two envelopes) and publishes it.
     * Throws when the meter has never sent an authenticated frame (no session yet).
     */
    async sendCommand(meterId: string, envelope: Buffer): Promise<{ epoch: number; counter: number; frame: Buffer }> {
        const id = meterId.toLowerCase()
        await this.ensureLoaded(id)
        const st = this.headEnd.meters.get(id)
        if (!st || st.lastAcceptedAt === undefined) throw new Error(`meter ${id} has not sent an authenticated frame yet: no downlink session to carry the command`)
        const epoch = st.epoch
        // from this service's block when one is left (a single head-end, a static split);
        // workers of a shared subscription run with blocks of one counter, so nothing is
        // left and a command reserves above every counter any worker used so far
        const counter = await this.counter(id, epoch)
        // the command (a COSE message, docs/commands.md §1) read with the meter's parser
        const c = commandSummary(envelope)
        await logCommand(this.db, { meterId: id, signerKeyId: c.signerKeyId, counter: c.counter, opcode: c.opcode, envelope, downEpoch: epoch, downCounter: counter })
        const frame = this.headEnd.sealDownlink(id, epoch, encodeCommand(envelope), counter)
        await this.publish(id, epoch, counter, frame)
        return { epoch, counter, frame }
    }

    /** Publishes raw bytes on the broker (the demo's attacks: replayed and tampered frames). */
    async publishRaw(topic: string, payload: Buffer) {
        if (!this.client) throw new Error("the station is not connected")
        await this.client.publishAsync(topic, payload, { qos: 0 })
    }

    /** Every record stored for `meterId`, oldest first (from the database). */
    async records(meterId: string): Promise<{ seq: number; data: Buffer }[]> {
        const out: { seq: number; data: Buffer }[] = []
        for (let from = 0; ; ) {
            const page = await readRecords(this.db, meterId, from)
            out.push(...page)
            if (page.length < 10_000) return out
            from = page[page.length - 1].seq + 1
        }
    }

    /** Waits for the frames taken so far. */
    async idle(): Promise<void> {
        while (this.draining) await this.draining
    }

    /** Stops taking frames, finishes the ones taken, disconnects (and closes the database when it owns it). */
    async close(): Promise<void> {
        this.closing = true
        await this.client?.endAsync(true).catch(() => {})
        await this.idle()
        if (this.o.ownsDatabase) await this.db.close()
    }

    // -------------------------------------------------------------------------------------

    private watchConnection(client: MqttClient, url: string) {
        let lostAt: number | undefined
        client.on("close", () => {
            if (this.closing || lostAt !== undefined) return
            lostAt = Date.now()
            this.emit(() => this.o.events?.brokerLost?.(url))
        })
        client.on("connect", () => {
            if (lostAt === undefined) return
            const ms = Date.now() - lostAt
            lostAt = undefined
            this.emit(() => this.o.events?.brokerBack?.(url, ms))
        })
    }

    /** Starts draining the queue unless a drain runs; a drain that ends with frames queued starts again. */
    private kick() {
        if (this.draining) return
        this.draining = this.drain().finally(() => {
            this.draining = undefined
            if (this.queue.length) this.kick()
        })
    }

    private async drain() {
        while (this.queue.length) {
            const batch = this.queue.splice(0, this.batchLength())
            try {
                await this.process(batch)
            } catch (e) {
                // a bug in the batch path: its frames are refused, their meters reloaded, the service goes on
                this.failed("batch", e)
                for (const f of batch) {
                    const id = f.id
                    if (id) this.headEnd.forget(id)
                    f.done({ ok: false, reason: "error", meterId: id, detail: (e as Error).message })
                }
            }
        }
    }

    /**
     * How many queued frames the next batch takes: at most `maxBatch`, and no more meters to
     * load than `LOADS_PER_BATCH` (after a restart the queue is full of meters not loaded yet;
     * a batch waits for all its loads, so the first commits come after a few of them, not all)
     */
    private batchLength(): number {
        const max = Math.min(this.queue.length, this.o.maxBatch ?? 1000)
        const loads = new Set<string>()
        for (let i = 0; i < max; i++) {
            const id = this.queue[i].id
            if (!id || this.headEnd.meters.has(id) || loads.has(id)) continue
            if (loads.size === LOADS_PER_BATCH) return i
            loads.add(id)
        }
        return max
    }

    private async process(batch: Pending[]) {
        this.stats.batches++
        const verdicts: (ServiceVerdict | undefined)[] = batch.map(() => undefined)
        // 1. the meters of the batch, loaded from the database before anything is decided
        const ids = new Map<number, string>()
        batch.forEach((f, i) => {
            const id = f.id
            if (!id || !(this.headEnd.meters.has(id) || this.o.secretOf(id))) return
            if (f.topic !== undefined && f.topic !== this.topics(id).up) verdicts[i] = { ok: false, reason: "topic", meterId: id, detail: `frame for ${id} on another meter's topic ${f.topic}` }
            else ids.set(i, id)
        })
        const unavailable = new Set<string>()
        await this.loadAll([...new Set(ids.values())], (id, e) => {
            unavailable.add(id)
            this.failed(`loading meter ${id}`, e)
        })
        // 2. decide, in memory, in arrival order
        batch.forEach((f, i) => {
            if (verdicts[i]) return
            const id = ids.get(i)
            if (id && unavailable.has(id)) verdicts[i] = { ok: false, reason: "unavailable", meterId: id, detail: "its state could not be loaded from the database" }
            else verdicts[i] = this.headEnd.ingest(f.payload)
        })
        // 3. a counter older than the window: the frame log tells a replay from a clone
        for (let i = 0; i < batch.length; i++) {
            const v = verdicts[i]!
            if (!v.ok && v.lookup) verdicts[i] = await this.lookup(v.meterId!, v.lookup)
        }
        // 4. one transaction: what the frames change, and the evidence of the refused ones
        const changes: { i: number; change: FrameChange }[] = []
        verdicts.forEach((v, i) => {
            const change = v!.ok ? v!.change : (v as { change?: FrameChange }).change
            if (change) changes.push({ i, change })
        })
        const evidence = verdicts.flatMap(v => (!v!.ok && v!.evidence ? [v!.evidence] : []))
        // counters for the acks, reserved (and committed) alongside
        const wants = new Map<string, { meterId: string; epoch: number; need: number }>()
        for (const v of verdicts) {
            if (!v!.ok || !v!.ackBody) continue
            const k = `${v!.meterId}:${v!.epoch}`
            const w = wants.get(k) ?? { meterId: v!.meterId, epoch: v!.epoch, need: 0 }
            w.need++
            wants.set(k, w)
        }
        // reserved in the batch's own transaction (one statement, no round trip of its own):
        // committed with the frames before any of them is used, or rolled back with them and
        // never used (db/downlink.ts reserveDownlinkBlocksIn)
        const reqs = this.pool.plan([...wants.values()])
        let outcomes: FrameOutcome[] = []
        try {
            if (changes.length || evidence.length) {
                // plain inserts first (about half PostgreSQL's CPU per row of ON CONFLICT); a
                // batch that meets a held key is rolled back and committed again insert-once,
                // and so are the next PLAIN_BACKOFF batches (another head-end on the server,
                // records older than memory): db/frames.ts commitFramesWith
                const plain = this.plainBackoff === 0
                let conflicted = false
                const [out, ranges] = await commitFramesWith(
                    this.db,
                    changes.map(c => c.change),
                    async tx => {
                        await recordCloneEvidence(tx, evidence)
                        return reserveDownlinkBlocksIn(tx, reqs)
                    },
                    { plain, onConflict: () => (conflicted = true) }
                )
                if (conflicted) this.plainBackoff = PLAIN_BACKOFF
                else if (!plain) this.plainBackoff--
                outcomes = out
                this.pool.install(reqs, ranges)
                for (const r of reqs) this.reserved.add(`${r.meterId}:${r.epoch}`)
            }
        } catch (e) {
            // nothing of the batch happened: no ack, and its meters start again from the database
            this.stats.commitFailures++
            this.failed(`committing ${changes.length} frame(s)`, e)
            for (const { i, change } of changes) {
                this.headEnd.forget(change.meterId)
                verdicts[i] = { ok: false, reason: "unavailable", meterId: change.meterId, detail: `the database did not commit it: ${(e as Error).message}` }
            }
            for (const v of verdicts) if (!v!.ok && v!.evidence) this.headEnd.forget(v!.meterId!)
        }
        const outcomeOf = new Map(changes.map((c, k) => [c.i, outcomes[k]]))
        // 5. acks, sealed now that the records they name are committed; then the events
        for (const v of verdicts) if (!v!.ok && v!.evidence && v!.reason === "clone") this.emit(() => this.o.events?.clone?.(alertOf(v!.evidence!)))
        for (const [k, out] of outcomeOf) {
            if (!out || (out.applied && !out.evidence.length)) continue
            // the database knew better than memory (another head-end on the server, records
            // older than memory holds): this meter starts again from what is committed
            const id = changes.find(c => c.i === k)!.change.meterId
            this.headEnd.forget(id)
            for (const e of out.evidence) this.emit(() => this.o.events?.clone?.(alertOf(e)))
            if (out.evidence.length) verdicts[k] = { ok: false, reason: "clone", meterId: id, evidence: out.evidence[0] }
            else if (verdicts[k]!.ok) verdicts[k] = { ok: false, reason: "replay", meterId: id }
        }
        for (let i = 0; i < batch.length; i++) {
            const v = verdicts[i]!
            try {
                if (v.ok) {
                    this.stats.accepted++
                    if (v.ackBody) {
                        // a counter of a block reserved with this batch's commit: no await unless it ran out
                        // (or the meter's reservation ran elsewhere: a command's)
                        const counter = this.pool.take(v.meterId, v.epoch) ?? (await this.counter(v.meterId, v.epoch))
                        v.ack = this.headEnd.sealDownlink(v.meterId, v.epoch, v.ackBody, counter)
                        this.publish(v.meterId, v.epoch, counter, v.ack)?.catch(e => this.failed("publishing an ack", e))
                    }
                    const ev = this.o.events
                    if (ev?.meterAlert) for (const a of v.change.alerts ?? []) this.emit(() => ev.meterAlert?.(v.meterId, a.kind, a.count))
                    if (ev?.accepted) {
                        const out = outcomeOf.get(i)!
                        this.emit(() => ev.accepted?.(v, out))
                    }
                } else {
                    this.stats.refused[v.reason] = (this.stats.refused[v.reason] ?? 0) + 1
                    // a refused chain in an authentic frame: its alerts were committed all the same
                    if (v.change && outcomeOf.get(i)?.applied) for (const a of v.change.alerts ?? []) this.emit(() => this.o.events?.meterAlert?.(v.meterId!, a.kind, a.count))
                    this.emit(() => this.o.events?.refused?.(v))
                }
            } catch (e) {
                this.failed("answering a frame", e)
            }
            batch[i].done(v)
        }
    }

    /** Decides a counter below the in-memory window from the frame log: the same tag is a replay, anything else a clone. */
    private async lookup(meterId: string, l: { epoch: number; counter: number; tag: Buffer }): Promise<ServiceVerdict> {
        const [row] = await this.db.query<{ tag: Buffer }>("SELECT tag FROM uplink_frames WHERE meter_id = $1 AND epoch = $2 AND counter = $3", [Buffer.from(meterId, "hex"), l.epoch, l.counter])
        if (row && row.tag.equals(l.tag)) return { ok: false, reason: "replay", meterId }
        const st = this.headEnd.meters.get(meterId)
        if (st) st.cloneSuspected = true
        const evidence: CloneEvidence = row
            ? { meterId, kind: "counter-regression", atSeq: l.counter, stored: row.tag, offered: l.tag, detail: `counter ${l.counter} reused by another authentic frame of epoch ${l.epoch}` }
            : { meterId, kind: "counter-regression", atSeq: l.counter, offered: l.tag, detail: `frame counter ${l.counter} of epoch ${l.epoch} is below the last accepted ${st?.lastCounter} and was never accepted: another device with this meter's key` }
        return { ok: false, reason: "clone", meterId, evidence }
    }

    /** Loads `id` from the database into the deciding state, once, unless it is there. */
    private ensureLoaded(id: string): Promise<void> {
        if (this.headEnd.meters.has(id)) return Promise.resolve()
        let p = this.loading.get(id)
        if (!p) {
            p = this.load(id).finally(() => this.loading.delete(id))
            this.loading.set(id, p)
        }
        return p
    }

    /**
     * Loads every meter of `ids` not in memory, in one statement for all of them
     * (db/meter_state.ts loadMeterStates); a meter whose load fails goes to `failed`.
     */
    private async loadAll(ids: string[], failed: (id: string, e: unknown) => void): Promise<void> {
        const fresh = ids.filter(id => !this.headEnd.meters.has(id) && !this.loading.has(id) && this.o.secretOf(id) && this.o.chainKeyOf(id))
        if (fresh.length) {
            const snaps = loadMeterStates(this.db, fresh, this.o.keepRecords ?? 64)
            for (const id of fresh) {
                const p = snaps.then(m => this.restoreFrom(id, m.get(id)!)).finally(() => this.loading.delete(id))
                this.loading.set(id, p)
            }
        }
        await Promise.all(ids.map(id => (this.loading.get(id) ?? Promise.resolve()).catch(e => failed(id, e))))
    }

    private async load(id: string) {
        if (!this.o.secretOf(id) || !this.o.chainKeyOf(id)) return
        // one statement: window, newest records, checkpoint, marks (db/meter_state.ts)
        await this.restoreFrom(id, await loadMeterState(this.db, id, this.o.keepRecords ?? 64))
    }

    /** Puts `id` into the deciding state from what the database holds (`snap`). */
    private async restoreFrom(id: string, snap: MeterResume) {
        const secret = this.o.secretOf(id)
        const k0 = this.o.chainKeyOf(id)
        if (!secret || !k0) return
        const head = snap.records[snap.records.length - 1]
        // K_{head+1}: from the key this service derived when it last loaded the meter (a meter
        // that moves between workers of a shared subscription comes back a record or two
        // further on), else from K_0: one SHA-256 per record, in slices so that other
        // meters' frames are served meanwhile
        const want = head ? head.seq + 1 : 0
        const known = this.chainKeys.get(id)
        const reuse = known !== undefined && known.seq <= want && known.k0.equals(k0)
        let at = reuse ? known.seq : 0
        let key: Buffer = reuse ? known.key : Buffer.from(k0)
        while (at < want) {
            const n = Math.min(want - at, MAX_KEY_STEPS * 16)
            key = evolveKeyBy(key, n)
            at += n
            if (at < want) await new Promise(r => setImmediate(r))
        }
        if (this.headEnd.meters.has(id)) return
        if (this.chainKeys.size >= 1_000_000) this.chainKeys.clear()
        this.chainKeys.set(id, { seq: want, key, k0: Buffer.from(k0) })
        this.headEnd.restore({
            meterId: id,
            epoch: snap.window.epoch,
            lastCounter: snap.window.lastCounter,
            recent: snap.window.recent,
            lastAcceptedAgoS: snap.lastAcceptedAgoS,
            records: snap.records,
            chainKey: key,
            checkpoint: snap.checkpoint,
            aggregatedUpTo: snap.aggregatedUpTo,
            cloneSuspected: snap.cloneSuspected,
        })
        // what is left of this service's counter block may lie below counters another worker
        // sent the meter since: the next downlink reserves above everything used so far
        this.pool.discard(id)
        if (snap.downlinkReservedTo > 0) this.reserved.add(`${id}:${snap.window.epoch}`)
    }

    /** A downlink counter of a committed block (its reservation marked `reserved` by the batch or here). */
    private async counter(meterId: string, epoch: number): Promise<number> {
        const c = this.pool.take(meterId, epoch) ?? (await this.pool.next(meterId, epoch))
        this.reserved.add(`${meterId}:${epoch}`)
        return c
    }

    /** Publishes a sealed downlink frame: the publisher's promise (undefined without one). */
    private publish(meterId: string, epoch: number, counter: number, frame: Buffer): Promise<void> | undefined {
        const ev = this.o.events
        if (ev?.downlink) this.emit(() => ev.downlink?.(meterId, epoch, counter, frame))
        return this.publisher?.(this.topics(meterId).down, frame)
    }

    /** The uplink and downlink topics of a meter, computed once. */
    private topics(meterId: string): { up: string; down: string } {
        let t = this.topicCache.get(meterId)
        if (!t) {
            t = { up: uplinkTopic(meterId), down: downlinkTopic(meterId) }
            if (this.topicCache.size >= 100_000) this.topicCache.clear()
            this.topicCache.set(meterId, t)
        }
        return t
    }

    /** Runs an event callback; its error is counted and logged, never thrown at the caller. */
    private emit(f: () => void) {
        try {
            f()
        } catch (e) {
            this.failed("event handler", e)
        }
    }

    private failed(where: string, e: unknown) {
        this.stats.errors++
        const msg = e instanceof Error ? e.message : String(e)
        try {
            this.o.log?.(`head-end: ${where} failed: ${msg.split("\n")[0]}`)
        } catch {
            // a failing logger must not fail the service either
        }
    }
}

/** A connected MQTT client and the broker's address without credentials. */
export interface BrokerLink {
    client: MqttClient
    url: string
}

/**
 * Connects to the broker (`mqtt[s]://[user:password@]host:port`, headend/src/broker.ts).
 * Throws one line, without the password, when it is unreachable or refuses the login.
 */
export async function connectBroker(brokerUrl: string, timeoutMs = 5000): Promise<BrokerLink> {
    const b = parseBrokerUrl(brokerUrl)
    const opts = { connectTimeout: timeoutMs, reconnectPeriod: 1000, clientId: `trustmeter-headend-${process.pid}-${Date.now()}`, username: b.username, password: b.password }
    try {
        return { client: await mqtt.connectAsync(b.url, opts, false), url: b.url }
    } catch (e) {
        const code = (e as { code?: number }).code
        // CONNACK return codes 4 and 5 (MQTT 3.1.1 §3.2.2.3): bad user name or password, not authorized
        if (code === 4 || code === 5)
            throw new Error(`the MQTT broker at ${b.url} refused the head-end's login (${(e as Error).message}): check the user name and password in --broker mqtt://user:password@host:port`)
        throw new Error(`cannot reach the MQTT broker at ${b.url} (${(e as Error).message}): start it, or omit --broker to use the embedded one`)
    }
}

function safeClaimed(payload: Buffer): string | undefined {
    try {
        return payload.length >= 9 ? claimedMeterId(payload) : undefined
    } catch {
        return undefined
    }
}

function alertOf(e: CloneEvidence): CloneAlert {
    return { meterId: e.meterId, evidence: e.kind, detail: e.detail, atSeq: e.atSeq, stored: e.stored, offered: e.offered }
}

/** The downlink key of `meterId` under `epoch` (tests open acks and commands with it). */
export function downlinkKey(secret: Buffer, meterId: string, epoch: number): Buffer {
    return deriveFrameKey(nodeCrypto, secret, Buffer.from(meterId, "hex"), Direction.Downlink, epoch)
}
