/**
 * Head-end ingestion of uplink frames (docs/uplink.md §7, §12): authenticate, reject
 * replays, detect clones, rebuild and verify the index chain, store each record exactly
 * once, and answer with an authenticated acknowledgement of the highest record stored
 * contiguously. Pure with respect to I/O: `ingest(frame)` returns the ack frame to publish;
 * the MQTT bridge (bridge.ts) moves the bytes.
 *
 * The frame and body formats are the wire core's (src/wire/frame.ts, src/wire/report.ts),
 * the same code the meter runs, here with `nodeCrypto`. Per frame the work is one CCM
 * decryption, per record one HMAC and two SHA-256 (key evolution, record hash), and one
 * CCM encryption for the ack: keys are derived once per meter and epoch, the chain is
 * followed incrementally (never re-verified from seq 0), and the chain's hashes are
 * one-shot (`crypto.hash`) over scratch buffers (docs/uplink.md §12).
 */
import { hash } from "node:crypto"
import { Direction, FrameConst, deriveFrameKey, openParsed, readHeader, sealFrame } from "../../src/wire/frame"
import * as U from "../../src/wire/report"
import { chainKey0 } from "./chain.ts"
import { nodeCrypto } from "./crypto.ts"

export type RejectReason =
    | "malformed"
    | "oversized"
    | "version"
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
    meterId: Buffer
    secret: Buffer
    epoch: number
    /** frame keys of `epoch` */
    upKey: Buffer
    downKey: Buffer
    /** highest uplink counter accepted in `epoch` */
    lastCounter: number
    /** CCM tags of recently accepted frames by counter, to tell a replay from a clone */
    recent: Map<number, string>
    downCounter: number
    /** every record stored, by seq (the exact bytes of the meter's store): stored exactly once */
    records: Map<number, Buffer>
    /** highest seq such that every record from the first one up to it is stored */
    contiguous: number
    /** chain follower: hash of record `contiguous` (undefined before the first) and K_{chainKeySeq} */
    chainHash?: Buffer
    chainKey: Uint8Array
    chainKeySeq: number
    /** the newest chain checkpoint the meter reported (its store head) */
    checkpoint?: { seq: number; hash: Buffer }
    /** privacy aggregates by lastSeq */
    aggregates: Map<number, U.Aggregate>
    aggregatedUpTo: number
    cloneSuspected: boolean
    responses: Buffer[]
}

const RECENT = 256
const sha256 = (b: Buffer) => hash("sha256", b, "buffer") as unknown as Buffer

export class HeadEnd {
    readonly meters = new Map<string, MeterState>()
    readonly rejected: Record<string, number> = {}
    accepted = 0
    private o: HeadEndOptions
    /** scratch: 0x02 ‖ K for key evolution, and the HMAC pads */
    private evolveBuf = Buffer.alloc(33, 2)

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
        return this.downFrame(st, U.encodeCommand(envelope))
    }

    /** Every stored record of a meter, in seq order (the exact bytes of its store). */
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

    private state(meterIdHex: string, meterId: Buffer): MeterState | undefined {
        let st = this.meters.get(meterIdHex)
        if (st) return st
        const secret = this.o.secretOf(meterIdHex)
        if (!secret) return undefined
        const id = Buffer.from(meterId)
        st = {
            meterId: id,
            secret,
            epoch: 0,
            upKey: deriveFrameKey(nodeCrypto, secret, id, Direction.Uplink, 0),
            downKey: deriveFrameKey(nodeCrypto, secret, id, Direction.Downlink, 0),
            lastCounter: 0,
            recent: new Map(),
            downCounter: 0,
            records: new Map(),
            contiguous: -1,
            chainKey: chainKey0(secret, id),
            chainKeySeq: 0,
            aggregates: new Map(),
            aggregatedUpTo: -1,
            cloneSuspected: false,
            responses: [],
        }
        this.meters.set(meterIdHex, st)
        return st
    }

    private ingestUnsafe(frame: Buffer): IngestResult {
        // the reasons readHeader would throw for, told apart; its other refusals are "malformed"
        if (frame.length > FrameConst.MaxFrameSize) return this.reject("oversized")
        if (frame.length >= FrameConst.MinFrameSize && frame[0] !== FrameConst.Version) return this.reject("version")
        const h = readHeader(frame)
        const id = h.meterId.toString("hex")
        const st = this.state(id, h.meterId)
        if (!st) return this.reject("unknown-meter", id)
        if (h.epoch < st.epoch) return this.reject("stale-epoch", id)
        // keys of a newer epoch are tried without adopting it: only an authentic frame may move it
        const upKey = h.epoch === st.epoch ? st.upKey : deriveFrameKey(nodeCrypto, st.secret, st.meterId, Direction.Uplink, h.epoch)
        let body: Buffer
        try {
            body = openParsed(nodeCrypto, upKey, frame, h, Direction.Uplink)
        } catch {
            return this.reject("bad-tag", id)
        }
        // authentic from here on: only the meter (or a copy of its secret) could have made it
        if (h.epoch > st.epoch) {
            st.epoch = h.epoch
            st.upKey = upKey
            st.downKey = deriveFrameKey(nodeCrypto, st.secret, st.meterId, Direction.Downlink, h.epoch)
            st.lastCounter = 0
            st.recent.clear()
            st.downCounter = 0
        }
        // the CCM tag fingerprints the frame: same key and nonce, other plaintext → other tag
        const fp = frame.toString("latin1", frame.length - FrameConst.TagSize)
        if (h.counter <= st.lastCounter) {
            const seen = st.recent.get(h.counter)
            if (seen === fp || seen === undefined) return this.reject("replay", id)
            // a different authentic frame under a counter already used: a second device
            this.clone(id, st, "counter-regression", `counter ${h.counter} reused (last ${st.lastCounter})`)
            return this.reject("clone", id)
        }
        let wr: U.WireReport
        try {
            wr = U.decodeReport(body)
        } catch {
            return this.reject("bad-body", id)
        }
        st.lastCounter = h.counter
        st.recent.set(h.counter, fp)
        if (st.recent.size > RECENT) st.recent.delete(st.recent.keys().next().value!)

        let stored = 0
        let duplicates = 0
        const records: U.UplinkRecord[] = []
        const recs = wr.records ?? []
        for (let i = 0; i < recs.length; i++) {
            const w = recs[i]
            const have = st.records.get(w.seq)
            if (have) {
                // a resent record: the same wire fields as the stored one (the tag covers prev)
                if (sameRecord(have, w) && (i > 0 || !wr.anchor || U.storedPrev(have).equals(wr.anchor))) duplicates++
                else {
                    this.clone(id, st, "forked-chain", `record ${w.seq} differs from the stored one`)
                    return this.reject("clone", id)
                }
                records.push({ seq: w.seq, data: have })
                continue
            }
            let prev: Buffer | undefined
            if (st.contiguous >= 0) {
                if (w.seq !== st.contiguous + 1) break // a gap: wait for the resend
                prev = st.chainHash!
                if (i === 0 && wr.anchor && !wr.anchor.equals(prev)) return this.reject("bad-chain", id)
            } else if (w.seq === 0) prev = GENESIS_PREV
            else if (i === 0 && wr.anchor) prev = wr.anchor // a head-end without this meter's past
            else break // cannot rebuild without the previous record: the meter sends the anchor again
            const data = this.follow(st, w, prev)
            if (!data) return this.reject("bad-chain", id)
            st.records.set(w.seq, data)
            st.contiguous = w.seq
            records.push({ seq: w.seq, data })
            stored++
        }
        let checkpointHash = wr.checkpointHash
        if (wr.checkpointAtLast) {
            const last = records.length === recs.length ? records[records.length - 1] : undefined
            // the record just followed: its hash is the chain head already
            checkpointHash = !last ? undefined : last.seq === st.contiguous ? st.chainHash : recordHash(last.data)
        }
        if (checkpointHash && wr.checkpointSeq !== undefined) {
            const cs = wr.checkpointSeq
            const held = cs === st.contiguous ? st.chainHash : cs < st.contiguous ? st.records.get(cs) && recordHash(st.records.get(cs)!) : undefined
            if (held && !held.equals(checkpointHash)) {
                this.clone(id, st, "checkpoint-mismatch", `checkpoint ${cs} names another record`)
                return this.reject("clone", id)
            }
            if (!st.checkpoint || cs >= st.checkpoint.seq) st.checkpoint = { seq: cs, hash: Buffer.from(checkpointHash) }
        }
        for (const g of wr.aggregates ?? []) {
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
        for (const a of wr.alerts ?? []) this.o.onMeterAlert?.(id, a.kind, a.count)
        for (const r of wr.responses ?? []) st.responses.push(Buffer.from(r))
        this.accepted++
        const ackSeq = Math.max(st.contiguous, st.aggregatedUpTo)
        // nothing stored yet: an ack for seq 0 would be a lie, so stay silent
        const ack = ackSeq >= 0 ? this.downFrame(st, U.encodeAck(ackSeq, h.counter)) : undefined
        const report: U.Report = {
            privacyLevel: wr.privacyLevel,
            registers: wr.registers,
            checkpointSeq: checkpointHash ? wr.checkpointSeq : undefined,
            checkpointHash,
            records: records.length ? records : undefined,
            aggregates: wr.aggregates,
            alerts: wr.alerts,
            responses: wr.responses,
        }
        return { ok: true, meterId: id, stored, duplicates, ack, report }
    }

    /**
     * Rebuilds record `w` with `prev` (the wire core's `rebuildRecord`) and applies the index-store chain rules
     * (headend/src/chain.ts verifyChain: decode, seq, prev link, tag under K_seq) to it, with
     * the key kept per meter: O(records) per frame, not O(seq). Returns the exact stored
     * bytes, or undefined when the tag fails.
     */
    private follow(st: MeterState, w: U.WireRecord, prev: Buffer): Buffer | undefined {
        if (w.kind === 0 || w.seq < st.chainKeySeq) return undefined
        const data = U.rebuildRecord(w, prev)
        const n = w.payload.length
        while (st.chainKeySeq < w.seq) {
            st.chainKey = this.evolve(st.chainKey)
            st.chainKeySeq++
        }
        if (!hmac16(st.chainKey, data.subarray(0, 43 + n)).equals(w.tag)) return undefined
        st.chainKey = this.evolve(st.chainKey)
        st.chainKeySeq = w.seq + 1
        st.chainHash = recordHash(data)
        return data
    }

    /** K_{i+1} = SHA-256(0x02 ‖ K_i) (docs/index-store.md). */
    private evolve(k: Uint8Array): Buffer {
        this.evolveBuf.set(k, 1)
        return sha256(this.evolveBuf)
    }

    private downFrame(st: MeterState, body: Buffer): Buffer {
        st.downCounter++
        const h = { version: FrameConst.Version, direction: Direction.Downlink, meterId: st.meterId, epoch: st.epoch, counter: st.downCounter }
        return sealFrame(nodeCrypto, st.downKey, h, body)
    }
}

const GENESIS_PREV = Buffer.alloc(32)
// 0x00 ‖ record (at most 59 + 128 bytes), a scratch buffer for the one-shot record hash
const RECORD_SCRATCH = Buffer.alloc(1 + 59 + 128)

/** H(0x00 ‖ record) (docs/index-store.md), one-shot. */
function recordHash(rec: Buffer): Buffer {
    rec.copy(RECORD_SCRATCH, 1)
    return sha256(RECORD_SCRATCH.subarray(0, 1 + rec.length))
}

// HMAC scratch: ipad block ‖ message (a record body is at most 43 + 128 bytes), opad block ‖ inner hash
// bytes 32..63 of each pad block never change (a 32-byte key): filled once
const INNER = Buffer.alloc(64 + 43 + 128, 0x36)
const OUTER = Buffer.alloc(64 + 32, 0x5c)

/** HMAC-SHA256(key, msg) (RFC 2104, 32-byte key) truncated to 16 bytes, on one-shot hashes. */
function hmac16(key: Uint8Array, msg: Buffer): Buffer {
    for (let i = 0; i < 32; i++) {
        INNER[i] = key[i] ^ 0x36
        OUTER[i] = key[i] ^ 0x5c
    }
    msg.copy(INNER, 64)
    sha256(INNER.subarray(0, 64 + msg.length)).copy(OUTER, 64)
    return sha256(OUTER).subarray(0, 16)
}

/** True when stored record `rec` is wire record `w` rebuilt on its own prev hash (kind, time, payload, tag alike). */
function sameRecord(rec: Buffer, w: U.WireRecord): boolean {
    return U.rebuildRecord(w, U.storedPrev(rec)).equals(rec)
}
