/**
 * Head-end ingestion of uplink frames (docs/uplink.md §7, §12): authenticate, reject
 * replays, detect clones, rebuild and verify the index chain, store each record exactly
 * once, and answer with an authenticated acknowledgement of the highest record stored
 * contiguously. The deciding part only: `ingest(frame)` works in memory and returns what
 * to commit (`change`, a `FrameChange` of headend/src/db) and the ack to send; the service
 * (headend/src/service.ts) commits a batch of them to the database before any ack leaves,
 * and restores each meter's state from the database after a restart (`restore`).
 *
 * Rules against hostile input (docs/uplink.md §12):
 * - Bounded work before a tag is checked: a frame costs at most one HKDF (a newer epoch's
 *   key) before its CCM tag, and at most `MAX_KEY_STEPS` chain key evolutions plus three
 *   hashes per record before each record's tag; a head-end that meets a meter further
 *   into its chain derives the key over several frames.
 * - State changes only after verification: a frame is decided on copies, and the meter's
 *   state (epoch, window, chain key and head, checkpoint) moves only for what verified.
 * - Clones: an authentic frame under a used counter with other content, under an old
 *   counter the head-end never accepted, or jumping beyond `jumpAllowance`; a checkpoint
 *   behind one the meter reported before; a record that differs from the stored one, or a
 *   second chain (an anchor that is not the head-end's record but whose record verifies
 *   under the meter's chain key): each is a clone alert with the evidence, and the frame
 *   is refused, so the meter seen first keeps working.
 *
 * The frame and body formats are the wire core's (src/wire/frame.ts, src/wire/report.ts),
 * the same code the meter runs, here with `nodeCrypto`. Per steady-state frame the work is
 * one CCM decryption, per record one HMAC and two SHA-256 (key evolution, record hash),
 * and one CCM encryption for the ack (docs/uplink.md §12).
 */
import { Direction, FrameConst, deriveFrameKey, openParsed, readHeader, sealFrame } from "../../src/wire/frame"
import * as U from "../../src/wire/report"
import * as core from "../../src/wire/chain"
import { parseAck } from "./commands.ts"
import { nodeCrypto } from "./crypto.ts"
import type { CloneEvidence, CloneKind, CommandResponse, FrameChange, StoredRecord } from "./db/frames.ts"

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
    | {
          ok: true
          meterId: string
          stored: number
          duplicates: number
          /** the ack, sealed with the in-memory counter (no `downCounter` option: tests, benches) */
          ack?: Buffer
          /** the ack's body (0x81, ack seq, frame counter), for a caller that seals after its commit */
          ackBody?: Buffer
          epoch: number
          report: U.Report
          /** the records this frame stored, oldest first */
          fresh: StoredRecord[]
          /** what to commit (headend/src/db commitFrames) */
          change: FrameChange
      }
    | {
          ok: false
          reason: RejectReason
          meterId?: string
          /** a clone refusal: what gave it away */
          evidence?: CloneEvidence
          /** bad-chain: the seq of the record that failed, and why */
          brokenAt?: number
          /** bad-chain: the core's TamperReason (src/wire/record.ts): 2 bad tag, 8 register discontinuity, ... */
          brokenReason?: number
          /** an authentic frame that still stores something (bad-chain: the records before the break, alerts, answers) */
          change?: FrameChange
          fresh?: StoredRecord[]
          /** bad-chain: what the authentic frame carried besides the refused chain */
          report?: U.Report
          /**
           * a counter below the replay window: replay or clone, only the full frame log
           * can tell (the service asks the database)
           */
          lookup?: { epoch: number; counter: number; tag: Buffer }
      }

export interface CloneAlert {
    meterId: string
    /** what gave it away */
    evidence: CloneKind
    detail: string
    /** the frame counter, record seq or checkpoint seq in question */
    atSeq?: number
    /** what the head-end held, and what arrived */
    stored?: Buffer
    offered?: Buffer
}

export interface HeadEndOptions {
    /** the meter's 32-byte secret, or undefined for an unknown meter */
    secretOf(meterIdHex: string): Buffer | undefined
    /**
     * the meter's chain key K_0 as escrowed at provisioning (keystore `chainKey`; nothing
     * derives it), or undefined for an unknown meter: every record's tag is checked from it
     */
    chainKeyOf(meterIdHex: string): Uint8Array | undefined
    onClone?(a: CloneAlert): void
    /** meter alerts (tamper, store full, ...) as reported in frames */
    onMeterAlert?(meterId: string, kind: number, count: number): void
    /**
     * Acks are not sealed in `ingest` (`ackBody` only): the caller seals them with
     * `sealDownlink` and counters it reserved, after its commit. Without it the head-end
     * counts downlink counters in memory from 1, which repeats nonces after a restart:
     * for tests and benches only.
     */
    deferAcks?: boolean
    /** stored records kept in memory per meter (default: all; the service keeps the newest 64) */
    keepRecords?: number
    /** the clock for the counter-jump allowance (ms) */
    now?(): number
}

/** What the head-end keeps per meter. */
export interface MeterState {
    meterId: Buffer
    secret: Buffer
    epoch: number
    /** frame keys of `epoch` */
    upKey: Buffer
    downKey: Buffer
    /** highest uplink counter accepted in `epoch` (0: none) */
    lastCounter: number
    /** CCM tags (latin1) of the newest accepted frames by counter, to tell a replay from a clone */
    recent: Map<number, string>
    /** tags of authentic frames refused for their content: a resend of one is a replay */
    refusedTags: Set<string>
    /** when the newest frame was accepted (ms), for the counter-jump allowance; undefined: never */
    lastAcceptedAt?: number
    /** in-memory downlink counter (only without `deferAcks`) */
    downCounter: number
    /** stored records by seq (the exact bytes of the meter's store); the newest `keepRecords` */
    records: Map<number, Buffer>
    /** highest seq such that every record from the first one up to it is stored (−1: none) */
    contiguous: number
    /** chain follower: hash of record `contiguous` (undefined before the first) and K_{chainKeySeq} */
    chainHash?: Buffer
    chainKey: Uint8Array
    chainKeySeq: number
    /** the registers at the newest interval followed, and whether they only bound the next ones (src/wire/chain.ts ChainHead) */
    chainRegs?: number[]
    chainLoose?: boolean
    /** K_seq derived so far towards a far anchor (a meter met mid-chain), not yet verified against a record */
    catchUp?: { seq: number; key: Uint8Array }
    /** the newest chain checkpoint the meter reported (its store head) */
    checkpoint?: { seq: number; hash: Buffer }
    /** privacy aggregates by lastSeq */
    aggregates: Map<number, U.Aggregate>
    aggregatedUpTo: number
    cloneSuspected: boolean
    responses: Buffer[]
}

/** What `restore` resumes a meter with: its state as the database holds it (db/meter_state.ts loadMeter). */
export interface MeterRestore {
    meterId: string
    epoch: number
    lastCounter: number
    /** tags of the newest accepted frames (≤ REPLAY_WINDOW) */
    recent: Map<number, Buffer>
    /** seconds since the newest frame was accepted (undefined: none) */
    lastAcceptedAgoS?: number
    /** the newest stored records, oldest first, ending at the chain head */
    records: StoredRecord[]
    /** K_{head seq + 1} (K_0 without records): derived by the caller from K_0 */
    chainKey: Uint8Array
    checkpoint?: { seq: number; hash: Buffer }
    aggregatedUpTo: number
    cloneSuspected: boolean
}

/** `classify`'s answer for a never-accepted counter below the last: decided on the content (`late`). */
const LATE: IngestResult = { ok: false, reason: "replay", meterId: "" } as unknown as IngestResult

/** Tags kept per meter to tell a replay from a clone (as headend/src/db REPLAY_WINDOW). */
export const RECENT = 256
/**
 * Chain key evolutions one frame may cost before a record's tag is checked. A head-end
 * that meets a meter mid-chain (no record seq−1, an anchor) derives K_seq from the key it
 * holds this many steps per frame. 1024 SHA-256 are about half a millisecond.
 */
export const MAX_KEY_STEPS = 1024
/**
 * How far an uplink counter may jump past the last accepted one: a base for the meter's
 * reboots (each skips the rest of a 64-counter block) plus what it can send while nobody
 * answers (a resend per ack timeout, one frame per record). Beyond: a clone that jumped
 * ahead, which would make the genuine meter's frames look like replays.
 */
export const JUMP_BASE = 1024
export const JUMP_PER_SECOND = 2


export class HeadEnd {
    readonly meters = new Map<string, MeterState>()
    readonly rejected: Record<string, number> = {}
    accepted = 0
    private o: HeadEndOptions
    private keep: number

    constructor(o: HeadEndOptions) {
        this.o = o
        this.keep = o.keepRecords ?? Infinity
    }

    /** Processes one frame from the uplink topic; never throws. */
    ingest(frame: Buffer): IngestResult {
        try {
            return this.ingestUnsafe(frame)
        } catch {
            return this.reject("malformed")
        }
    }

    /** The secret of a meter this head-end serves, or undefined. */
    secretOf(meterIdHex: string): Buffer | undefined {
        return this.o.secretOf(meterIdHex)
    }

    /** The escrowed chain key K_0 of a meter this head-end serves, or undefined. */
    chainKeyOf(meterIdHex: string): Uint8Array | undefined {
        return this.o.chainKeyOf(meterIdHex)
    }

    /** Seals a signed command envelope for a meter's downlink topic (in-memory counter: tests). */
    commandFrame(meterIdHex: string, envelope: Buffer): Buffer {
        const st = this.meters.get(meterIdHex)
        if (!st) throw new Error(`unknown meter ${meterIdHex}`)
        st.downCounter++
        return this.sealDownlink(meterIdHex, st.epoch, U.encodeCommand(envelope), st.downCounter)
    }

    /**
     * Seals a downlink body for `meterIdHex` under `epoch` with `counter`, which the caller
     * took from a committed reservation (db DownlinkCounterPool): never twice one counter.
     */
    sealDownlink(meterIdHex: string, epoch: number, body: Buffer, counter: number): Buffer {
        const st = this.meters.get(meterIdHex)
        if (!st) throw new Error(`unknown meter ${meterIdHex}`)
        const key = epoch === st.epoch ? st.downKey : deriveFrameKey(nodeCrypto, st.secret, st.meterId, Direction.Downlink, epoch)
        return sealFrame(nodeCrypto, key, { version: FrameConst.Version, direction: Direction.Downlink, meterId: st.meterId, epoch, counter }, body)
    }

    /** Every stored record of a meter held in memory, in seq order (the exact bytes of its store). */
    readings(meterIdHex: string): { seq: number; data: Buffer }[] {
        const st = this.meters.get(meterIdHex)
        if (!st) return []
        return [...st.records.entries()].sort((a, b) => a[0] - b[0]).map(([seq, data]) => ({ seq, data }))
    }

    /** Resumes a meter from its stored state (after a restart, or a failed commit). */
    restore(r: MeterRestore): MeterState {
        const id = r.meterId.toLowerCase()
        const secret = this.o.secretOf(id)
        if (!secret) throw new Error(`unknown meter ${id}`)
        const st = this.fresh(id, Buffer.from(id, "hex"), secret, r.chainKey, r.epoch)
        st.lastCounter = r.lastCounter
        for (const [c, t] of [...r.recent.entries()].sort((a, b) => a[0] - b[0])) st.recent.set(c, t.toString("latin1"))
        if (r.lastAcceptedAgoS !== undefined) st.lastAcceptedAt = this.now() - r.lastAcceptedAgoS * 1000
        for (const rec of r.records) st.records.set(rec.seq, Buffer.from(rec.data))
        const head = r.records[r.records.length - 1]
        if (head) {
            st.contiguous = head.seq
            st.chainHash = recordHash(head.data)
            st.chainKeySeq = head.seq + 1
            // the register baseline: the newest stored records, walked as the core does
            let h: core.ChainHead = { seq: 0, hash: st.chainHash }
            for (const rec of r.records) h = core.next(nodeCrypto, h, Buffer.from(rec.data))
            st.chainRegs = h.regs
            st.chainLoose = h.loose
        }
        st.chainKey = Buffer.from(r.chainKey)
        st.checkpoint = r.checkpoint && { seq: r.checkpoint.seq, hash: Buffer.from(r.checkpoint.hash) }
        st.aggregatedUpTo = r.aggregatedUpTo
        st.cloneSuspected = r.cloneSuspected
        this.meters.set(id, st)
        return st
    }

    /** Drops a meter's state (its commit failed: the service restores it from the database). */
    forget(meterIdHex: string) {
        this.meters.delete(meterIdHex)
    }

    private now(): number {
        return this.o.now ? this.o.now() : Date.now()
    }

    private reject(reason: RejectReason, meterId?: string, extra: Partial<Extract<IngestResult, { ok: false }>> = {}): IngestResult {
        this.rejected[reason] = (this.rejected[reason] ?? 0) + 1
        return { ok: false, reason, meterId, ...extra }
    }

    /** A clone: the alert with its evidence, and the frame refused (nothing of it applied). */
    private clone(id: string, st: MeterState, e: Omit<CloneEvidence, "meterId">): IngestResult {
        st.cloneSuspected = true
        const evidence: CloneEvidence = { meterId: id, ...e }
        this.o.onClone?.({ meterId: id, evidence: e.kind, detail: e.detail, atSeq: e.atSeq, stored: e.stored, offered: e.offered })
        return this.reject("clone", id, { evidence })
    }

    private fresh(id: string, meterId: Buffer, secret: Buffer, key0: Uint8Array, epoch: number): MeterState {
        return {
            meterId,
            secret,
            epoch,
            upKey: deriveFrameKey(nodeCrypto, secret, meterId, Direction.Uplink, epoch),
            downKey: deriveFrameKey(nodeCrypto, secret, meterId, Direction.Downlink, epoch),
            lastCounter: 0,
            recent: new Map(),
            refusedTags: new Set(),
            downCounter: 0,
            records: new Map(),
            contiguous: -1,
            chainKey: Buffer.from(key0),
            chainKeySeq: 0,
            aggregates: new Map(),
            aggregatedUpTo: -1,
            cloneSuspected: false,
            responses: [],
        }
    }

    private state(meterIdHex: string, meterId: Buffer): MeterState | undefined {
        let st = this.meters.get(meterIdHex)
        if (st) return st
        const secret = this.o.secretOf(meterIdHex)
        const k0 = this.o.chainKeyOf(meterIdHex)
        if (!secret || !k0) return undefined
        st = this.fresh(meterIdHex, Buffer.from(meterId), secret, k0, 0)
        this.meters.set(meterIdHex, st)
        return st
    }

    /** How far past `st.lastCounter` a counter may be now (the first frame of a meter: any). */
    private jumpAllowance(st: MeterState): number {
        if (st.lastAcceptedAt === undefined) return Infinity
        const s = Math.max(0, (this.now() - st.lastAcceptedAt) / 1000)
        return JUMP_BASE + Math.floor(s * JUMP_PER_SECOND)
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
        // keys of a newer epoch are tried without adopting it: only an accepted frame moves it (one HKDF per frame at most)
        const newEpoch = h.epoch > st.epoch
        const upKey = newEpoch ? deriveFrameKey(nodeCrypto, st.secret, st.meterId, Direction.Uplink, h.epoch) : st.upKey
        let body: Buffer
        try {
            body = openParsed(nodeCrypto, upKey, frame, h, Direction.Uplink)
        } catch {
            return this.reject("bad-tag", id)
        }
        // authentic from here on: only the meter (or a copy of its secret) could have made it
        const tag = frame.subarray(frame.length - FrameConst.TagSize)
        // the CCM tag fingerprints the frame: same key and nonce, other plaintext → other tag
        const fp = tag.toString("latin1")
        const verdict = newEpoch ? undefined : this.classify(id, st, h.counter, tag, fp, h.epoch)
        if (verdict && verdict !== LATE) return verdict
        if (newEpoch && st.lastAcceptedAt !== undefined && h.counter > this.jumpAllowance(st)) return this.jumped(id, st, h.epoch, h.counter, 0, tag)
        let wr: U.WireReport
        try {
            wr = U.decodeReport(body)
        } catch {
            this.refused(st, fp)
            return this.reject("bad-body", id)
        }
        // derived register blocks rebuilt (docs/uplink.md §4.1), by the meter's own function,
        // from the record before the frame as stored here (not with an anchor: then the meter
        // assumed none) and the frame's earlier records; `full` records are whole from the first
        const recs = wr.records
        const full = recs ? U.expandRecords(recs, wr.anchor ? undefined : st.records.get(recs[0].seq - 1)) : 0
        if (verdict === LATE) return this.late(id, st, h.epoch, h.counter, tag, fp, wr, full)
        return this.decide(id, st, h.epoch, h.counter, tag, wr, newEpoch, full)
    }

    /** The counter rule: undefined for a fresh counter, else the refusal. */
    private classify(id: string, st: MeterState, counter: number, tag: Buffer, fp: string, epoch: number): IngestResult | undefined {
        if (counter > st.lastCounter) {
            if (counter - st.lastCounter > this.jumpAllowance(st)) return this.jumped(id, st, epoch, counter, st.lastCounter, tag)
            return undefined
        }
        const seen = st.recent.get(counter)
        if (seen === fp || st.refusedTags.has(fp)) return this.reject("replay", id)
        if (seen !== undefined) {
            // a different authentic frame under a counter already used: a second device
            return this.clone(id, st, { kind: "counter-regression", atSeq: counter, stored: Buffer.from(seen, "latin1"), offered: Buffer.from(tag), detail: `counter ${counter} reused (last ${st.lastCounter}) by another authentic frame of epoch ${epoch}` })
        }
        // the window holds every accepted counter from its oldest one up: a counter in that
        // range it does not hold was never accepted, so this authentic frame is news from an
        // old counter: a second device running behind
        // (a window that is not full holds every accepted counter of the epoch)
        // — or a frame of the meter itself that the network held back (dropped, then replayed
        // late): its content tells them apart, once decrypted (see `late`)
        if (st.recent.size < RECENT || counter > st.recent.keys().next().value!) return LATE
        // older than the window: the frame log knows whether it was accepted
        return this.reject("replay", id, { lookup: { epoch, counter, tag: Buffer.from(tag) } })
    }

    /**
     * An authentic frame under a counter below the last accepted one that was never accepted.
     * The meter resends every unacknowledged record in each new frame, so by the time a frame
     * with a higher counter was accepted, everything an older frame of the genuine meter
     * carried is stored: a frame the network held back holds only records the head-end has,
     * byte for byte. It is refused like a replay, without an alert (anyone on the path can
     * delay a frame). Any other content — a record that differs from the stored one, or one
     * the head-end never saw — comes from a second device with this meter's key: a clone.
     */
    private late(id: string, st: MeterState, epoch: number, counter: number, tag: Buffer, fp: string, wr: U.WireReport, full: number): IngestResult {
        let known = true
        for (const [i, w] of (wr.records ?? []).entries()) {
            // a derived block without its base here: cannot be compared, so not evidence
            if (i >= full) continue
            const have = w.seq <= st.contiguous ? st.records.get(w.seq) : undefined
            // older than what memory keeps: cannot be compared here, so not evidence
            if (have === undefined && w.seq <= st.contiguous && st.records.size > 0 && w.seq < st.records.keys().next().value!) continue
            if (have === undefined || !sameRecord(have, w)) known = false
        }
        if (known) {
            this.refused(st, fp)
            return this.reject("replay", id)
        }
        return this.clone(id, st, { kind: "counter-regression", atSeq: counter, offered: Buffer.from(tag), detail: `frame counter ${counter} of epoch ${epoch} is below the last accepted ${st.lastCounter} and was never accepted: another device with this meter's key` })
    }

    private jumped(id: string, st: MeterState, epoch: number, counter: number, last: number, tag: Buffer): IngestResult {
        return this.clone(id, st, { kind: "counter-jump", atSeq: counter, offered: Buffer.from(tag), detail: `frame counter ${counter} of epoch ${epoch} jumps ${counter - last} past the last accepted ${last} (allowed ${this.jumpAllowance(st)}): another device with this meter's key ran ahead` })
    }

    private refused(st: MeterState, fp: string) {
        st.refusedTags.add(fp)
        if (st.refusedTags.size > RECENT) st.refusedTags.delete(st.refusedTags.values().next().value!)
    }

    /** Decides an authentic frame with a fresh counter on copies of the meter's state; applies them only when it is accepted. */
    private decide(id: string, st: MeterState, epoch: number, counter: number, tag: Buffer, wr: U.WireReport, newEpoch: boolean, full: number): IngestResult {
        const fp = tag.toString("latin1")
        // the chain follower, on copies
        let contiguous = st.contiguous
        let chainHash = st.chainHash
        let chainKey: Uint8Array = st.chainKey
        let chainKeySeq = st.chainKeySeq
        let chainRegs = st.chainRegs
        let chainLoose = st.chainLoose
        let stored = 0
        let duplicates = 0
        const records: U.UplinkRecord[] = []
        const fresh: StoredRecord[] = []
        /** resent records the head-end no longer holds in memory, rebuilt for the database to compare */
        const resent: StoredRecord[] = []
        let broken: { at: number; reason?: number } | undefined
        let unplaced = false
        const recs = wr.records ?? []
        let prevData: Buffer | undefined // the record before recs[i], rebuilt from this frame
        for (let i = 0; i < recs.length; i++) {
            const w = recs[i]
            if (i >= full) {
                // a derived register block whose base this head-end does not hold (docs/uplink.md
                // §4.1): nothing from here is stored and the frame is not acked, so the meter's
                // ack timeout sends it again with the anchor and full blocks, never a wedge
                unplaced = true
                break
            }
            if (w.seq <= contiguous) {
                const have = st.records.get(w.seq)
                if (have) {
                    // a resent record: the same wire fields as the stored one (the tag covers prev)
                    if (sameRecord(have, w) && (i > 0 || !wr.anchor || U.storedPrev(have).equals(wr.anchor))) duplicates++
                    else {
                        const offered = U.rebuildRecord(w, i === 0 && wr.anchor ? wr.anchor : prevData ? recordHash(prevData) : U.storedPrev(have))
                        return this.clone(id, st, { kind: "forked-chain", atSeq: w.seq, stored: have, offered, detail: `record ${w.seq} differs from the stored one` })
                    }
                    records.push({ seq: w.seq, data: have })
                    prevData = have
                } else {
                    // older than what is kept in memory: rebuilt when its prev is known, and compared by the database
                    const prev = i === 0 ? wr.anchor : prevData && recordHash(prevData)
                    if (prev) {
                        const data = U.rebuildRecord(w, prev)
                        resent.push({ seq: w.seq, data })
                        records.push({ seq: w.seq, data })
                        prevData = data
                    } else prevData = undefined
                }
                continue
            }
            let prev: Buffer
            // records passed over at a privacy level (docs/uplink.md §8): the meter's next
            // record comes after a gap, with its anchor; the head-end acked the passage (or
            // the meter reported a head beyond it) and knows the passed record's name
            const passed = st.aggregates.get(w.seq - 1)
            if (contiguous >= 0 && w.seq > contiguous + 1 && i === 0 && wr.anchor && w.seq - 1 <= Math.max(st.aggregatedUpTo, st.checkpoint ? st.checkpoint.seq : -1)) {
                if (passed && passed.lastHash && !wr.anchor.subarray(0, U.ReportLimit.RecordName).equals(passed.lastHash.subarray(0, U.ReportLimit.RecordName))) {
                    broken = { at: w.seq }
                    break
                }
                prev = wr.anchor
                // the registers of the records passed over are not known here: the next ones need only be higher
                chainLoose = true
            } else if (contiguous >= 0) {
                if (w.seq !== contiguous + 1) {
                    // a gap: wait for the resend with the anchor, and do not ack (the meter's timeout brings it)
                    unplaced = i === 0
                    break
                }
                prev = chainHash!
                if (i === 0 && wr.anchor && !wr.anchor.equals(prev)) {
                    // the meter's record seq−1 is not ours: a second chain if its record is the meter's own
                    const other = U.rebuildRecord(w, wr.anchor)
                    if (w.kind !== 0 && w.seq === chainKeySeq && core.tagValid(nodeCrypto, Buffer.from(chainKey), other))
                        return this.clone(id, st, { kind: "forked-chain", atSeq: w.seq - 1, stored: chainHash, offered: Buffer.from(wr.anchor), detail: `a second chain: record ${w.seq} is the meter's own but follows another record ${w.seq - 1}` })
                    broken = { at: w.seq }
                    break
                }
            } else if (w.seq === 0) prev = GENESIS_PREV
            else if (i === 0 && wr.anchor) prev = wr.anchor // a head-end without this meter's past
            else break // cannot rebuild without the previous record: the meter sends the anchor again
            if (w.kind === 0 || w.seq < chainKeySeq) {
                broken = { at: w.seq }
                break
            }
            // bounded work before the tag: at most MAX_KEY_STEPS evolutions, on a copy. A meter
            // met mid-chain further away is caught up with over several frames (each resend
            // brings the anchor again); until then nothing is stored and nothing acked
            let key = chainKey
            let keySeq = chainKeySeq
            const c = st.catchUp
            if (c && c.seq > keySeq && c.seq <= w.seq) {
                key = c.key
                keySeq = c.seq
            }
            const steps = Math.min(w.seq - keySeq, MAX_KEY_STEPS)
            for (let s = 0; s < steps; s++) key = core.evolveKey(nodeCrypto, asBuffer(key))
            keySeq += steps
            if (keySeq < w.seq) {
                st.catchUp = { seq: keySeq, key }
                break
            }
            const data = U.rebuildRecord(w, prev)
            // the wire core's step: link, tag under K_seq, register continuity (src/wire/chain.ts)
            const before: core.ChainHead = { seq: w.seq - 1, hash: prev, regs: chainRegs, loose: chainLoose }
            const k = asBuffer(key)
            const why = core.checkNext(nodeCrypto, before, data, k)
            if (why) {
                broken = { at: w.seq, reason: why }
                break
            }
            const after = core.advance(nodeCrypto, { head: before, key: k }, data)
            chainKey = after.key
            chainKeySeq = w.seq + 1
            chainHash = after.head.hash
            chainRegs = after.head.regs
            chainLoose = after.head.loose
            contiguous = w.seq
            records.push({ seq: w.seq, data })
            fresh.push({ seq: w.seq, data })
            prevData = data
            stored++
        }
        if (broken) {
            // the chain is refused from the broken record on; the records before it verified and
            // are kept, and what the frame says besides (alerts, command answers, registers) is
            // authentic (its CCM tag) and delivered: a meter stuck on an altered record still
            // reports its tamper alert. Not acknowledged: the ack could name no new record.
            const change: FrameChange = { meterId: id, epoch, counter, tag: Buffer.from(tag), records: fresh.length ? fresh : undefined, registers: wr.registers, alerts: wr.alerts, responses: wr.responses?.map(responseOf) }
            this.apply(st, { epoch, newEpoch, counter, fp, contiguous, chainHash, chainKey, chainKeySeq, chainRegs, chainLoose, fresh })
            for (const a of wr.alerts ?? []) this.o.onMeterAlert?.(id, a.kind, a.count)
            const report: U.Report = { privacyLevel: wr.privacyLevel, registers: wr.registers, alerts: wr.alerts, responses: wr.responses, records: records.length ? records : undefined }
            return this.reject("bad-chain", id, { brokenAt: broken.at, brokenReason: broken.reason, change, fresh, report })
        }

        let checkpointHash = wr.checkpointHash
        if (wr.checkpointAtLast) {
            const last = records.length === recs.length ? records[records.length - 1] : undefined
            // the record just followed: its hash is the chain head already
            checkpointHash = !last ? undefined : last.seq === contiguous ? chainHash : recordHash(last.data)
        }
        let checkpoint = st.checkpoint
        if (checkpointHash && wr.checkpointSeq !== undefined) {
            const cs = wr.checkpointSeq
            // the store's head only grows: behind one the meter showed before is another device (or a store rolled back)
            const shown = Math.max(st.checkpoint ? st.checkpoint.seq : -1, st.contiguous)
            if (cs < shown)
                return this.clone(id, st, { kind: "checkpoint-rollback", atSeq: cs, offered: Buffer.from(checkpointHash), detail: `checkpoint ${cs} is behind the head ${shown} this meter reported before` })
            const held = cs === contiguous ? chainHash : cs < contiguous ? st.records.get(cs) && recordHash(st.records.get(cs)!) : undefined
            if (held && !held.equals(checkpointHash))
                return this.clone(id, st, { kind: "checkpoint-mismatch", atSeq: cs, stored: held, offered: Buffer.from(checkpointHash), detail: `checkpoint ${cs} names another record` })
            if (!checkpoint || cs >= checkpoint.seq) checkpoint = { seq: cs, hash: Buffer.from(checkpointHash) }
        }
        // privacy levels (docs/uplink.md §8): reads at fixed period ends (the registers at the
        // close of a day's or month's last interval record) and passages (records passed over,
        // no values). Both cover records up to their last seq, which the ack then names; the
        // meter's ack cursor decides only where one starts (firstSeq), never what it says
        let aggregatedUpTo = st.aggregatedUpTo
        const newAggregates: U.Aggregate[] = []
        const covers: U.Aggregate[] = []
        for (const g of wr.aggregates ?? []) {
            const have = st.aggregates.get(g.lastSeq)
            if (have && (have.importWh !== g.importWh || have.exportWh !== g.exportWh))
                return this.clone(id, st, { kind: "forked-chain", atSeq: g.lastSeq, detail: `aggregate up to ${g.lastSeq} differs` })
            if (!have && g.lastSeq > Math.max(contiguous, aggregatedUpTo) && g.firstSeq <= g.lastSeq) {
                if (g.importWh !== U.NO_READ) newAggregates.push(g)
                covers.push(g)
                aggregatedUpTo = g.lastSeq
                stored++
            } else duplicates++
        }

        // accepted: the meter's state moves
        this.apply(st, { epoch, newEpoch, counter, fp, contiguous, chainHash, chainKey, chainKeySeq, chainRegs, chainLoose, fresh })
        st.checkpoint = checkpoint
        for (const g of covers) st.aggregates.set(g.lastSeq, g)
        st.aggregatedUpTo = aggregatedUpTo
        for (const a of wr.alerts ?? []) this.o.onMeterAlert?.(id, a.kind, a.count)
        for (const r of wr.responses ?? []) st.responses.push(Buffer.from(r))
        this.accepted++
        const ackSeq = Math.max(st.contiguous, st.aggregatedUpTo)
        // the ack names the record it frees (docs/uplink.md §4.2): the chain head's hash, or the
        // aggregate's record name (from this frame after a restart); nothing stored or no
        // name known: an ack would be a lie, so stay silent
        const ackName = ackSeq < 0 ? undefined : ackSeq === st.contiguous ? st.chainHash : (st.aggregates.get(ackSeq) ?? wr.aggregates?.find(g => g.lastSeq === ackSeq))?.lastHash
        const ackBody = ackName && !unplaced ? U.encodeAck(ackSeq, counter, ackName) : undefined
        let ack: Buffer | undefined
        if (ackBody && !this.o.deferAcks) {
            st.downCounter++
            ack = this.sealDownlink(id, st.epoch, ackBody, st.downCounter)
        }
        const explicit = checkpointHash && wr.checkpointSeq !== undefined && !wr.checkpointAtLast ? { seq: wr.checkpointSeq, hash: Buffer.from(checkpointHash) } : undefined
        const change: FrameChange = {
            meterId: id,
            epoch,
            counter,
            tag: Buffer.from(tag),
            registers: wr.registers,
            checkpoint: explicit,
            records: resent.length ? [...resent, ...fresh] : fresh.length ? fresh : undefined,
            aggregates: newAggregates.length ? newAggregates : undefined,
            alerts: wr.alerts,
            responses: wr.responses?.map(responseOf),
        }
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
        return { ok: true, meterId: id, stored, duplicates, ack, ackBody, epoch: st.epoch, report, fresh, change }
    }

    /** Moves the meter's state over an accepted (or partly stored) frame. */
    private apply(
        st: MeterState,
        d: { epoch: number; newEpoch: boolean; counter: number; fp: string; contiguous: number; chainHash?: Buffer; chainKey: Uint8Array; chainKeySeq: number; chainRegs?: number[]; chainLoose?: boolean; fresh: StoredRecord[] }
    ) {
        if (d.newEpoch) {
            st.epoch = d.epoch
            st.upKey = deriveFrameKey(nodeCrypto, st.secret, st.meterId, Direction.Uplink, d.epoch)
            st.downKey = deriveFrameKey(nodeCrypto, st.secret, st.meterId, Direction.Downlink, d.epoch)
            st.lastCounter = 0
            st.recent.clear()
            st.refusedTags.clear()
            st.downCounter = 0
        }
        st.lastCounter = d.counter
        st.recent.set(d.counter, d.fp)
        if (st.recent.size > RECENT) st.recent.delete(st.recent.keys().next().value!)
        st.lastAcceptedAt = this.now()
        st.contiguous = d.contiguous
        st.chainHash = d.chainHash
        st.chainKey = d.chainKey
        st.chainKeySeq = d.chainKeySeq
        st.chainRegs = d.chainRegs
        st.chainLoose = d.chainLoose
        if (d.fresh.length) st.catchUp = undefined
        for (const r of d.fresh) st.records.set(r.seq, r.data)
        // the newest `keep` records stay in memory (a map iterates in insertion order: oldest first)
        while (st.records.size > this.keep) st.records.delete(st.records.keys().next().value!)
    }
}

/** The command response fields the database links to the command log (an ack the wire core decodes), else the raw body. */
function responseOf(body: Buffer): CommandResponse {
    try {
        const a = parseAck(Buffer.from(body))
        return { body: Buffer.from(body), verdict: a.verdict, opcode: a.opcode, signerKeyId: a.signerKeyId, counter: a.counter, detail: a.detail }
    } catch {
        return { body: Buffer.from(body) }
    }
}

const GENESIS_PREV = Buffer.alloc(32)
/** H(0x00 ‖ record) (docs/index-store.md): the wire core's. */
export function recordHash(rec: Buffer): Buffer {
    return core.recordHash(nodeCrypto, rec)
}

/** K_{i+1} = SHA-256(0x02 ‖ K_i), `n` times (restoring a meter's chain key from K_0): the wire core's step. */
export function evolveKeyBy(k: Uint8Array, n: number): Buffer {
    let key: Buffer = Buffer.from(k)
    for (let i = 0; i < n; i++) key = core.evolveKey(nodeCrypto, key)
    return key
}

/** A Buffer view of `u` (no copy): the wire core takes Buffers; the keys held here are Buffers already. */
function asBuffer(u: Uint8Array): Buffer {
    return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

/** True when stored record `rec` is wire record `w` rebuilt on its own prev hash (kind, time, payload, tag alike). */
function sameRecord(rec: Buffer, w: U.WireRecord): boolean {
    return U.rebuildRecord(w, U.storedPrev(rec)).equals(rec)
}
