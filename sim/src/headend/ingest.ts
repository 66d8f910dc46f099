/**
 * Head-end ingestion of uplink frames (docs/uplink.md §7, §12): authenticate, reject
 * replays, detect clones, verify the index chain, store each record exactly once, and
 * answer with an authenticated acknowledgement of the highest record stored contiguously.
 * Pure with respect to I/O: `ingest(frame)` returns the ack frame to publish; the MQTT
 * bridge (bridge.ts) moves the bytes.
 */
import { createHash, createHmac } from "node:crypto"
import * as U from "../uplink.ts"
import { RECORD_OVERHEAD, TAG_SIZE, chainKey0, decodeRecord } from "../chain.ts"

// sim/src/chain.ts's evolveKey and recordHash (same definitions), on Node's native SHA-256:
// the @noble versions dominate the per-frame cost at fleet rates
const evolveKey = (k: Uint8Array) => createHash("sha256").update(Buffer.of(2)).update(k).digest()
const recordHash = (r: Uint8Array) => createHash("sha256").update(Buffer.of(0)).update(r).digest()

export type RejectReason =
    | "malformed"
    | "oversized"
    | "version"
    | "direction"
    | "unknown-meter"
    | "stale-epoch"
    | "bad-tag"
    | "replay"
    | "clone"
    | "bad-body"
    | "bad-chain"

export type IngestResult =
    | { ok: true; meterId: string; stored: number; duplicates: number; ack?: Buffer; report: U.Report }
    | { ok: false; reason: RejectReason; meterId?: string }

export interface CloneAlert {
    meterId: string
    /** what gave it away */
    evidence: "counter-regression" | "forked-chain" | "checkpoint-mismatch"
    detail: string
}

export interface HeadEndOptions {
    /** the meter's 32-byte secret, or undefined for an unknown meter */
    secretOf(meterIdHex: string): Buffer | undefined
    onClone?(a: CloneAlert): void
    /** meter alerts (tamper, store full, ...) as reported in frames */
    onMeterAlert?(meterId: string, kind: number, count: number): void
}

/** What the head-end keeps per meter. */
export interface MeterState {
    epoch: number
    /** highest uplink counter accepted in `epoch` */
    lastCounter: number
    /** digests of recently accepted frames by counter, to tell a replay from a clone */
    recent: Map<number, string>
    upKeys: Map<number, Buffer>
    downKeys: Map<number, Buffer>
    downCounter: number
    /** every record stored, by seq: stored exactly once */
    records: Map<number, Buffer>
    /** highest seq such that every record from the first one up to it is stored */
    contiguous: number
    /** chain follower: hash of record `contiguous` (undefined before the first) and K_{contiguous+1} */
    chainHash?: Uint8Array
    chainKey: Uint8Array
    chainKeySeq: number
    /** privacy aggregates by lastSeq */
    aggregates: Map<number, U.Aggregate>
    aggregatedUpTo: number
    cloneSuspected: boolean
    responses: Buffer[]
}

const RECENT = 256

export class HeadEnd {
    readonly meters = new Map<string, MeterState>()
    readonly rejected: Record<string, number> = {}
    accepted = 0
    private o: HeadEndOptions

    constructor(o: HeadEndOptions) {
        this.o = o
    }

    /** Processes one frame from the uplink topic; never throws. */
    ingest(frame: Buffer): IngestResult {
        try {
            return this.ingestUnsafe(frame)
        } catch {
            return this.reject("malformed")
        }
    }

    /** Seals a signed command envelope for a meter's downlink topic. */
    commandFrame(meterIdHex: string, envelope: Buffer): Buffer {
        const st = this.meters.get(meterIdHex)
        if (!st) throw new Error(`unknown meter ${meterIdHex}`)
        return this.downFrame(meterIdHex, st, U.encodeCommand(envelope))
    }

    /** Every stored record of a meter, in seq order. */
    readings(meterIdHex: string): { seq: number; data: Buffer }[] {
        const st = this.meters.get(meterIdHex)
        if (!st) return []
        return [...st.records.entries()].sort((a, b) => a[0] - b[0]).map(([seq, data]) => ({ seq, data }))
    }

    private reject(reason: RejectReason, meterId?: string): IngestResult {
        this.rejected[reason] = (this.rejected[reason] ?? 0) + 1
        return { ok: false, reason, meterId }
    }

    private clone(meterId: string, st: MeterState, evidence: CloneAlert["evidence"], detail: string) {
        st.cloneSuspected = true
        this.o.onClone?.({ meterId, evidence, detail })
    }

    private state(meterIdHex: string, secret: Buffer): MeterState {
        let st = this.meters.get(meterIdHex)
        if (!st) {
            st = {
                epoch: 0,
                lastCounter: 0,
                recent: new Map(),
                upKeys: new Map(),
                downKeys: new Map(),
                downCounter: 0,
                records: new Map(),
                contiguous: -1,
                chainKey: chainKey0(secret, Buffer.from(meterIdHex, "hex")),
                chainKeySeq: 0,
                aggregates: new Map(),
                aggregatedUpTo: -1,
                cloneSuspected: false,
                responses: [],
            }
            this.meters.set(meterIdHex, st)
        }
        return st
    }

    private key(st: MeterState, secret: Buffer, meterId: Buffer, dir: number, epoch: number): Buffer {
        const m = dir === U.Direction.Uplink ? st.upKeys : st.downKeys
        let k = m.get(epoch)
        if (!k) m.set(epoch, (k = U.deriveFrameKey(secret, meterId, dir, epoch)))
        return k
    }

    private ingestUnsafe(frame: Buffer): IngestResult {
        if (frame.length > U.MAX_FRAME_SIZE) return this.reject("oversized")
        if (frame.length < U.HEADER_SIZE * 2 + U.TAG_SIZE) return this.reject("malformed")
        const h = U.decodeHeader(frame)
        if (h.version !== U.VERSION) return this.reject("version")
        if (h.direction !== U.Direction.Uplink) return this.reject("direction")
        const id = h.meterId.toString("hex")
        const secret = this.o.secretOf(id)
        if (!secret) return this.reject("unknown-meter", id)
        const st = this.state(id, secret)
        if (h.epoch < st.epoch) return this.reject("stale-epoch", id)
        let body: Buffer
        try {
            body = U.openFrame(this.key(st, secret, h.meterId, U.Direction.Uplink, h.epoch), frame)
        } catch {
            return this.reject("bad-tag", id)
        }
        // authentic from here on: only the meter (or a copy of its secret) could have made it
        if (h.epoch > st.epoch) {
            st.epoch = h.epoch
            st.lastCounter = 0
            st.recent.clear()
            st.downCounter = 0
        }
        const digest = createHash("sha256").update(frame).digest("hex")
        if (h.counter <= st.lastCounter) {
            const seen = st.recent.get(h.counter)
            if (seen === digest || seen === undefined) return this.reject("replay", id)
            // a different authentic frame under a counter already used: a second device
            this.clone(id, st, "counter-regression", `counter ${h.counter} reused (last ${st.lastCounter})`)
            return this.reject("clone", id)
        }
        let report: U.Report
        try {
            report = U.decodeReport(body)
        } catch {
            return this.reject("bad-body", id)
        }
        st.lastCounter = h.counter
        st.recent.set(h.counter, digest)
        if (st.recent.size > RECENT) st.recent.delete(st.recent.keys().next().value!)

        let stored = 0
        let duplicates = 0
        for (const r of report.records ?? []) {
            const have = st.records.get(r.seq)
            if (have) {
                if (have.equals(r.data)) duplicates++
                else {
                    this.clone(id, st, "forked-chain", `record ${r.seq} differs from the stored one`)
                    return this.reject("clone", id)
                }
                continue
            }
            if (st.contiguous >= 0 && r.seq !== st.contiguous + 1) break // a gap: wait for the resend
            if (!this.follow(st, r.seq, r.data)) return this.reject("bad-chain", id)
            st.records.set(r.seq, Buffer.from(r.data))
            st.contiguous = r.seq
            stored++
        }
        if (report.checkpointHash && report.checkpointSeq !== undefined) {
            const cs = report.checkpointSeq
            const mine = cs === st.contiguous ? st.chainHash : cs < st.contiguous ? st.records.get(cs) && recordHash(st.records.get(cs)!) : undefined
            if (mine && !Buffer.from(mine).equals(report.checkpointHash)) {
                this.clone(id, st, "checkpoint-mismatch", `checkpoint ${report.checkpointSeq} names another record`)
                return this.reject("clone", id)
            }
        }
        for (const g of report.aggregates ?? []) {
            const have = st.aggregates.get(g.lastSeq)
            if (have && (have.firstSeq !== g.firstSeq || have.importWh !== g.importWh || have.exportWh !== g.exportWh)) {
                this.clone(id, st, "forked-chain", `aggregate up to ${g.lastSeq} differs`)
                return this.reject("clone", id)
            }
            if (!have && g.firstSeq === Math.max(st.contiguous, st.aggregatedUpTo) + 1) {
                st.aggregates.set(g.lastSeq, g)
                st.aggregatedUpTo = g.lastSeq
                stored++
            } else if (have) duplicates++
        }
        for (const a of report.alerts ?? []) this.o.onMeterAlert?.(id, a.kind, a.count)
        for (const r of report.responses ?? []) st.responses.push(Buffer.from(r))
        this.accepted++
        const ackSeq = Math.max(st.contiguous, st.aggregatedUpTo)
        // nothing stored yet: an ack for seq 0 would be a lie, so stay silent
        const ack = ackSeq >= 0 ? this.downFrame(id, st, U.encodeAck(ackSeq, h.counter)) : undefined
        return { ok: true, meterId: id, stored, duplicates, ack, report }
    }

    /**
     * The index-store chain rules (sim/src/chain.ts verifyChain: decode, seq, prev link,
     * tag under K_seq), applied one record at a time with the key kept per meter, so a
     * frame costs O(records) and not O(seq) key evolutions.
     */
    private follow(st: MeterState, seq: number, data: Buffer): boolean {
        const r = decodeRecord(data)
        if (!r || r.seq !== seq) return false
        if (st.chainHash) {
            if (!Buffer.from(r.prev).equals(Buffer.from(st.chainHash))) return false
        } else if (seq === 0 && !r.prev.every(x => x === 0)) return false
        if (seq < st.chainKeySeq) return false
        while (st.chainKeySeq < seq) {
            st.chainKey = evolveKey(st.chainKey)
            st.chainKeySeq++
        }
        const tag = createHmac("sha256", st.chainKey).update(data.subarray(0, data.length - TAG_SIZE)).digest().subarray(0, TAG_SIZE)
        if (!tag.equals(Buffer.from(r.tag))) return false
        st.chainKey = evolveKey(st.chainKey)
        st.chainKeySeq = seq + 1
        st.chainHash = recordHash(data)
        return data.length >= RECORD_OVERHEAD
    }

    private downFrame(id: string, st: MeterState, body: Buffer): Buffer {
        const meterId = Buffer.from(id, "hex")
        const secret = this.o.secretOf(id)!
        st.downCounter++
        return U.sealFrame(
            this.key(st, secret, meterId, U.Direction.Downlink, st.epoch),
            { version: U.VERSION, direction: U.Direction.Downlink, meterId, epoch: st.epoch, counter: st.downCounter },
            body
        )
    }
}
