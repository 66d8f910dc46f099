/**
 * Frame bodies (docs/uplink.md §4), written once for the meter and the head-end: the
 * meter's report (uplink), the head-end's acknowledgement or command (downlink), the wire
 * form of a store record and its rebuild (through the record codec, src/wire/record.ts),
 * and the MQTT topic names (§9). Pure codecs over Buffers; the only cryptography (one
 * record hash) comes in as a `WireCrypto`.
 */
import { recordHash } from "./chain"
import { WireCrypto } from "./crypto"
import { concatBytes, copyBytes, equalBytes, getU16BE, getU32BE, getUintLE, isU32, setU16BE, setU32BE } from "./bytes"
import { HASH_SIZE, HEADER_SIZE, IndexRecord, RecordKind, TAG_SIZE, decodeRecord, encodeBody } from "./record"
import { Opcode } from "./opcodes"
import { FrameConst } from "./frame"
import { deriveRegisters } from "./derived"
import { CborValue, decodeCbor, encodeCbor } from "./cbor"

/** Body type, first body byte (docs/uplink.md §4). */
export const enum BodyType {
    Report = 0x01,
    Ack = 0x81,
    Command = 0x82,
}

/** Report section flags (docs/uplink.md §4.1). */
export const enum ReportFlag {
    Registers = 0x01,
    Checkpoint = 0x02,
    Records = 0x04,
    Aggregates = 0x08,
    Alerts = 0x10,
    Responses = 0x20,
    /** the checkpoint is the frame's last record: no checkpoint bytes (docs/uplink.md §4.1) */
    CheckpointAtLast = 0x40,
    /** the records section starts with the first record's prev hash (docs/uplink.md §4.1) */
    Anchor = 0x80,
}

/** Alert kinds (docs/uplink.md §4.1). */
export const enum AlertKind {
    Tamper = 1,
    CommandRejected = 2,
    StoreFull = 3,
    SourceFault = 4,
    /** the meter dropped malformed or unauthentic downlink frames */
    BadDownlink = 5,
}

/** Limits that keep a report inside FrameConst.MaxFrameSize (docs/uplink.md §4). */
export const enum ReportLimit {
    MaxRecords = 32,
    /** store record format v1: payload ≤ 128 bytes (docs/index-store.md) */
    MaxPayload = 128,
    MaxAggregates = 8,
    MaxAlerts = 8,
    MaxResponses = 4,
    MaxResponseSize = 256,
    MaxRegisters = 64,
    /** a signed command envelope in a downlink body (docs/uplink.md §4.3) */
    MaxCommand = 1024,
    /**
     * bytes of a record hash that name a record in an ack or an aggregate (docs/uplink.md
     * §4.2): a forger must hit a record it does not choose, a second preimage, 2^128 work
     */
    RecordName = 16,
    /**
     * a wire record's length byte 0xF0 + code: an interval record whose register block
     * travels derived (docs/uplink.md §4.1): 16 payload bytes on the wire, the block rebuilt
     * by `deriveRegisters(base, interval, code)`
     */
    Derived = 0xf0,
}

/** One stored record (its exact bytes in the store) and its sequence number. */
export interface UplinkRecord {
    seq: number
    data: Buffer
}

/**
 * A record as it travels (docs/uplink.md §4.1): the stored v1 record without version, seq,
 * payload length and prev hash; the receiver rebuilds those from the frame and its own
 * copy of the previous record, and the record's tag still covers all of them.
 */
export interface WireRecord {
    seq: number
    kind: number
    time: number
    payload: Buffer
    tag: Buffer
    /**
     * decoded only: the register block travels derived under this code (0..15): `payload`
     * holds the 16-byte interval until `expandRecords` appends the rebuilt block
     */
    derived?: number
}

/** A privacy aggregate: the energy of records firstSeq..lastSeq (docs/uplink.md §4.1). */
export interface Aggregate {
    firstSeq: number
    lastSeq: number
    importWh: number
    exportWh: number
    /**
     * the first 16 bytes of record lastSeq's record hash: what the head-end's ack names
     * (docs/uplink.md §4.2); zeros when absent
     */
    lastHash?: Buffer
}

export interface AlertCount {
    kind: number
    count: number
}

/** Everything one report frame carries, as the meter encodes it; absent sections are undefined. */
export interface Report {
    privacyLevel: number
    registers?: Buffer
    checkpointSeq?: number
    checkpointHash?: Buffer
    /** consecutive sequence numbers, oldest first, as stored */
    records?: UplinkRecord[]
    /** send records[0]'s prev hash: the head-end may not hold record seq−1 */
    anchor?: boolean
    /**
     * An interval record's register block travels derived (docs/uplink.md §4.1) when
     * `deriveRegisters` rebuilds it exactly from the block of the record before it: the
     * previous record of the frame or, for records[0] and without an anchor, `held` when it
     * is record records[0].seq − 1 as stored (the head-end holds it as a record: it acked
     * it by name after receiving it as one)
     */
    held?: Buffer
    aggregates?: Aggregate[]
    alerts?: AlertCount[]
    responses?: Buffer[]
}

/** A decoded report (records in wire form; `checkpointAtLast`: the checkpoint is the last record). */
export interface WireReport {
    privacyLevel: number
    registers?: Buffer
    checkpointSeq?: number
    checkpointHash?: Buffer
    checkpointAtLast?: boolean
    records?: WireRecord[]
    anchor?: Buffer
    aggregates?: Aggregate[]
    alerts?: AlertCount[]
    responses?: Buffer[]
}

/** Downlink body: an acknowledgement or a command envelope. */
export interface Downlink {
    type: number
    /** Ack: highest record sequence the head-end has stored, contiguously */
    ackSeq?: number
    /** Ack: counter of the uplink frame this ack answers */
    upCounter?: number
    /** Ack: the first 16 bytes of record ackSeq's record hash: the record it frees */
    ackHash?: Buffer
    /** Command: the signed envelope, passed unchanged to the command sink */
    command?: Buffer
}

/**
 * Encodes a report body (docs/uplink.md §4.1). `c` hashes the last record to see whether
 * the checkpoint names it (then flag 0x40 replaces the 36 checkpoint bytes). Throws when
 * a record is not a v1 store record of its seq.
 */
export function encodeReport(c: WireCrypto, r: Report): Buffer {
    // written in one scratch buffer kept for the program's life (a 4 KB buffer a frame ran
    // the meter's heap out of memory under power cuts), then copied out at its length. A
    // body never exceeds a frame's 2048 bytes (a larger one could not travel: it throws)
    const b = SCRATCH
    b[0] = BodyType.Report
    b[2] = r.privacyLevel
    let o = 3
    let flags = 0
    const reg = r.registers
    if (reg) {
        flags |= ReportFlag.Registers
        b[o] = reg.length
        b.set(reg, o + 1)
        o += 1 + reg.length
    }
    const recs = r.records as UplinkRecord[]
    const nr = recs ? recs.length : 0
    if (r.checkpointHash) {
        const cpSeq = r.checkpointSeq === undefined ? -1 : r.checkpointSeq
        const last = nr ? recs[nr - 1] : undefined
        if (last && cpSeq === last.seq && equalBytes(recordHash(c, last.data), r.checkpointHash)) flags |= ReportFlag.CheckpointAtLast
        else {
            flags |= ReportFlag.Checkpoint
            setU32BE(b, o, cpSeq)
            b.set(r.checkpointHash, o + 4)
            o += 36
        }
    }
    if (nr) {
        flags |= ReportFlag.Records
        b[o] = nr
        setU32BE(b, o + 1, recs[0].seq)
        o += 5
        if (r.anchor) {
            flags |= ReportFlag.Anchor
            // records[0]'s stored prev hash (`storedPrev`)
            b.set((decodeRecord(recs[0].data) as IndexRecord).prev, o)
            o += HASH_SIZE
        }
        // the record before each: for records[0] the one the head-end holds (docs/uplink.md §4.1)
        let prev = r.anchor ? undefined : r.held
        // each record's wire form (docs/uplink.md §4.1): u8 n, u8 kind, u32 time, n payload, 16 tag
        for (const rec of recs) {
            const w = decodeRecord(rec.data)
            if (!w || w.seq !== rec.seq) throw new RangeError("report: not a v1 store record of its seq")
            let n = w.payload.length
            b[o] = n
            // an interval record whose block the head-end rebuilds exactly from the previous
            // record's: its 16-byte interval, the code in the length byte. The meter's metrology
            // books an interval's import and export in the one band of its time (src/metrology),
            // so the codes tried are 0, 5, 10 and 15; the receiver rebuilds any of the 16
            if (prev && w.kind === RecordKind.IntervalClose && n === 78)
                for (let c = 0; c < 16; c += 5)
                    if (equalBytes(deriveRegisters(prev, rec.seq, w.payload, c), w.payload.slice(16, 78))) {
                        b[o] = ReportLimit.Derived + c
                        n = 16
                        break
                    }
            b[o + 1] = w.kind
            setU32BE(b, o + 2, w.time)
            b.set(w.payload.slice(0, n), o + 6)
            b.set(w.tag, o + 6 + n)
            o += 22 + n
            prev = rec.data
        }
    }
    const gs = r.aggregates
    if (gs && gs.length) {
        flags |= ReportFlag.Aggregates
        b[o++] = gs.length
        for (const g of gs) {
            setU32BE(b, o, g.firstSeq)
            setU32BE(b, o + 4, g.lastSeq)
            setU32BE(b, o + 8, g.importWh)
            setU32BE(b, o + 12, g.exportWh)
            // zeros when absent (the scratch holds the last frame's bytes)
            b.set((g.lastHash || Buffer.alloc(ReportLimit.RecordName)).slice(0, ReportLimit.RecordName), o + 16)
            o += 32
        }
    }
    const xs = r.alerts
    if (xs && xs.length) {
        flags |= ReportFlag.Alerts
        b[o++] = xs.length
        for (const x of xs) {
            b[o] = x.kind
            setU16BE(b, o + 1, Math.min(x.count, 65535))
            o += 3
        }
    }
    const rs = r.responses
    if (rs && rs.length) {
        flags |= ReportFlag.Responses
        b[o++] = rs.length
        for (const x of rs) {
            setU16BE(b, o, x.length)
            b.set(x, o + 2)
            o += 2 + x.length
        }
    }
    b[1] = flags
    return copyBytes(b, 0, o)
}

/** encodeReport's scratch: one frame's worth, allocated once */
const SCRATCH = Buffer.alloc(FrameConst.MaxFrameSize)

/**
 * A passage's totals (docs/uplink.md §8): the records firstSeq..lastSeq are passed over at
 * a privacy level, no read. A read's Wh stay below it (4.29 GWh).
 */
export const NO_READ = 4294967295

/** A record's kind × 256 + its first payload byte: the chain's CommandAccepted record of SetPrivacy */
const PRIVACY_CHANGE = RecordKind.CommandAccepted * 256 + Opcode.SetPrivacy

/** What a report may carry of the records not yet acknowledged, at a privacy level (docs/uplink.md §8). */
export interface PrivacyCover {
    /** how many leading records may go as records: taken and sent at half-hourly */
    records: number
    /** the period-end reads and at most one passage that cover the records taken or sent at a stricter level */
    aggregates: Aggregate[]
    /** the register block of the newest read */
    registers?: Buffer
    /** the level the newest record was taken under: the level now, and `was` for the next call */
    taken: number
}

/**
 * The privacy rule (docs/uplink.md §8), one implementation for the firmware's uplink and
 * the protocol meter. `recs`: the records after the acknowledged one, oldest first. The
 * chain says under which level each record was taken: a level change is the chain's
 * CommandAccepted record of SetPrivacy, whose detail is old level × 256 + new level;
 * records before the first change among them were taken under its old level, or, without
 * one, under `was` (the last call's `taken`; at boot the policy's level). The level now is
 * the newest record's (so a change counts once its record is in the chain), and a record
 * counts at the stricter of the two. Half-hourly records go as records. The others never
 * do: the interval record that closes a UTC day (a calendar month at the monthly level) is
 * a read, its import and export registers in Wh and its register block; a run of records
 * that a half-hourly record follows, or `passAt` records without a read, are passed over
 * up to the newest interval record (which may close its period). The head-end's acks move
 * nothing here: the periods are fixed by the records' times.
 */
export function privacyCover(c: WireCrypto, recs: UplinkRecord[], was: number, passAt: number): PrivacyCover {
    const out: PrivacyCover = { records: 0, aggregates: [], taken: was }
    // the level before the first change among them (that change's old level), and after the last
    let taken = -1
    for (const r of recs) {
        const d = r.data
        if (d[1] * 256 + d[HEADER_SIZE] === PRIVACY_CHANGE) {
            if (taken < 0) taken = d[HEADER_SIZE + 12]
            out.taken = d[HEADER_SIZE + 13]
        }
    }
    if (taken < 0) taken = was
    const level = out.taken
    let from = 0 // index of the first record not covered
    // covers records from..i by a read (its registers) or a passage (NO_READ)
    const cover = (i: number, read: boolean) => {
        const b = recs[i].data
        // within the report's limit (ReportLimit.MaxAggregates); the rest goes in the next frame
        if (out.aggregates.length < 8) {
            out.aggregates.push({
                firstSeq: recs[from].seq,
                lastSeq: recs[i].seq,
                importWh: read ? Math.floor(getUintLE(b, HEADER_SIZE + 18, 6) / 1000) : NO_READ,
                exportWh: read ? Math.floor(getUintLE(b, HEADER_SIZE + 24, 6) / 1000) : NO_READ,
                lastHash: recordHash(c, b),
            })
            if (read) out.registers = b.slice(HEADER_SIZE + 16, HEADER_SIZE + 78)
        }
        from = i + 1
    }
    let n = 0 // the leading run: records alike, half-hourly or not
    let hh = false
    let iv = -1 // index of the newest interval record with registers, its period and level
    let ivKey = 0
    let ivLevel = 0
    for (let i = 0; i < recs.length; i++) {
        const d = recs[i].data
        if (d[1] * 256 + d[HEADER_SIZE] === PRIVACY_CHANGE) taken = d[HEADER_SIZE + 13]
        const e = taken > level ? taken : level
        if (i === 0) hh = e === 0
        if ((e === 0) !== hh) break
        n = i + 1
        const t = getU32BE(d, 6)
        // an interval record with its registers (kind, payload length), with a UTC time
        if (hh || t === 0 || d[1] * 256 + d[10] !== RecordKind.IntervalClose * 256 + 78) continue
        if (iv >= 0 && privacyPeriod(t, ivLevel) !== ivKey) cover(iv, true)
        iv = i
        ivKey = privacyPeriod(t, e)
        ivLevel = e
    }
    if (hh) out.records = n
    else if (n < recs.length || n - from >= passAt) {
        // a half-hourly record follows: the rest of the run is passed over; else, once passAt
        // records wait without a read, all before the newest interval record
        const last = n < recs.length || iv < 0 ? n - 1 : iv - 1
        if (last >= from) cover(last, false)
    }
    return out
}

/**
 * The privacy period of UTC time `t` (seconds) at `level`: its UTC day, or at the monthly
 * level its calendar month, counted from March 1968 in 4-year cycles of 1461 days, with
 * the day 2100 (no leap year) does not have added from March 2100 on: exact for every u32
 * time (checked against Date for every day in test/node/privacy_levels.test.ts).
 */
export function privacyPeriod(t: number, level: number): number {
    let d = Math.floor(t / 86400)
    if (level !== 2) return d
    if (d >= 47541) d++
    d += 671
    const r = d % 1461
    let y = Math.floor(r / 365)
    if (y > 3) y = 3
    return (Math.floor(d / 1461) * 4 + y) * 12 + Math.floor((5 * (r - 365 * y) + 2) / 153)
}

/** Decodes a report body (docs/uplink.md §4.1); throws RangeError on anything malformed or over the limits. */
export function decodeReport(b: Buffer): WireReport {
    const rd = new Reader(b)
    if (rd.u8() !== BodyType.Report) throw new RangeError("report: type")
    const flags = rd.u8()
    const r: WireReport = { privacyLevel: rd.u8() }
    if (r.privacyLevel > 2) throw new RangeError("report: privacy level")
    const hasRecords = (flags & ReportFlag.Records) !== 0
    if ((flags & ReportFlag.CheckpointAtLast) !== 0 && (!hasRecords || (flags & ReportFlag.Checkpoint) !== 0))
        throw new RangeError("report: flags")
    if ((flags & ReportFlag.Anchor) !== 0 && !hasRecords) throw new RangeError("report: flags")
    if (flags & ReportFlag.Registers) r.registers = rd.bytes(rd.u8(), ReportLimit.MaxRegisters)
    if (flags & ReportFlag.Checkpoint) {
        r.checkpointSeq = rd.u32()
        r.checkpointHash = rd.bytes(HASH_SIZE, HASH_SIZE)
    }
    if (hasRecords) {
        const n = rd.count(ReportLimit.MaxRecords)
        const first = rd.u32()
        if (!isU32(first + n - 1)) throw new RangeError("report: seq")
        if (flags & ReportFlag.Anchor) r.anchor = rd.bytes(HASH_SIZE, HASH_SIZE)
        const recs: WireRecord[] = []
        for (let i = 0; i < n; i++) {
            let len = rd.u8()
            // 0xF0 + code: an interval record's 16-byte interval, its register block derived
            const code = len >= ReportLimit.Derived ? len - ReportLimit.Derived : -1
            if (code >= 0) len = 16
            else if (len > ReportLimit.MaxPayload) throw new RangeError("body: field too long")
            const kind = rd.u8()
            if (code >= 0 && kind !== RecordKind.IntervalClose) throw new RangeError("report: derived registers of a record that is no interval")
            const time = rd.u32()
            const payload = rd.bytes(len, ReportLimit.MaxPayload)
            const w: WireRecord = { seq: first + i, kind: kind, time: time, payload: payload, tag: rd.bytes(TAG_SIZE, TAG_SIZE) }
            if (code >= 0) w.derived = code
            recs.push(w)
        }
        r.records = recs
        if (flags & ReportFlag.CheckpointAtLast) {
            r.checkpointAtLast = true
            r.checkpointSeq = first + n - 1
        }
    }
    if (flags & ReportFlag.Aggregates) {
        const n = rd.count(ReportLimit.MaxAggregates)
        const gs: Aggregate[] = []
        for (let i = 0; i < n; i++)
            gs.push({ firstSeq: rd.u32(), lastSeq: rd.u32(), importWh: rd.u32(), exportWh: rd.u32(), lastHash: rd.bytes(ReportLimit.RecordName, ReportLimit.RecordName) })
        r.aggregates = gs
    }
    if (flags & ReportFlag.Alerts) {
        const n = rd.count(ReportLimit.MaxAlerts)
        const xs: AlertCount[] = []
        for (let i = 0; i < n; i++) xs.push({ kind: rd.u8(), count: rd.u16() })
        r.alerts = xs
    }
    if (flags & ReportFlag.Responses) {
        const n = rd.count(ReportLimit.MaxResponses)
        const xs: Buffer[] = []
        for (let i = 0; i < n; i++) xs.push(rd.bytes(rd.u16(), ReportLimit.MaxResponseSize))
        r.responses = xs
    }
    rd.end()
    return r
}

/**
 * Rebuilds, in place, the register blocks of the derived records of a report (docs/uplink.md
 * §4.1) with `deriveRegisters`, the meter's own function, from the block of the record before
 * each: the frame's previous record, or `held`, the receiver's stored record records[0].seq − 1
 * (undefined when it holds none, or the frame carries an anchor). Returns
 * how many leading records are full now: a derived record without a base (the receiver does
 * not hold what the meter assumed) and every record after it cannot be rebuilt; the receiver
 * stores none of them and, when that is the first, does not acknowledge, so the meter's ack
 * timeout brings the frame again with full blocks (§7).
 */
export function expandRecords(recs: WireRecord[], held: Buffer | undefined): number {
    for (let i = 0; i < recs.length; i++) {
        const w = recs[i]
        if (w.derived === undefined) continue
        // the record before in its stored form (its prev hash is not read: zeros), built only here
        const prev = i > 0 ? rebuildRecord(recs[i - 1], Buffer.alloc(HASH_SIZE)) : held
        const blk = prev && deriveRegisters(prev, w.seq, w.payload, w.derived)
        if (!blk) return i
        w.payload = concatBytes(w.payload, blk)
        w.derived = undefined
    }
    return recs.length
}

/**
 * The exact stored bytes of a wire record, given the record hash of its predecessor
 * (docs/uplink.md §4.1), by the store's own record codec (src/wire/record.ts): version 1,
 * kind, seq, time, n, payload, prev, tag. The receiver then checks the tag, which covers
 * prev: a record linked to another predecessor fails.
 */
export function rebuildRecord(w: WireRecord, prev: Buffer): Buffer {
    if (w.derived !== undefined) throw new RangeError("report: derived registers not rebuilt (expandRecords)")
    return concatBytes(encodeBody(w.kind, w.seq, w.time, w.payload, prev), w.tag)
}

/** The prev hash field of a stored v1 record. */
export function storedPrev(rec: Buffer): Buffer {
    const p = HEADER_SIZE + rec[10]
    return rec.slice(p, p + HASH_SIZE)
}

/**
 * Encodes an acknowledgement body (docs/uplink.md §4.2): the type byte, then the CBOR
 * array [ackSeq, upCounter, h'record name'] (docs/formats.cddl `downlink-ack`): record
 * `ackSeq` named by the first 16 bytes of `hash` (its record hash), so that only the meter
 * holding that very record frees it (a clone on the same downlink topic gets acks for its
 * own records). 22 to 30 bytes.
 */
export function encodeAck(ackSeq: number, upCounter: number, hash: Buffer): Buffer {
    return concatBytes(Buffer.from([BodyType.Ack]), encodeCbor([ackSeq, upCounter, copyBytes(hash, 0, ReportLimit.RecordName)]))
}

/** Encodes a command body: the signed envelope, length-prefixed (docs/uplink.md §4.3). */
export function encodeCommand(envelope: Buffer): Buffer {
    const b = Buffer.alloc(3 + envelope.length)
    b[0] = BodyType.Command
    setU16BE(b, 1, envelope.length)
    b.set(envelope, 3)
    return b
}

/**
 * Decodes a downlink body (docs/uplink.md §4.2–§4.3); throws RangeError when malformed.
 * Written without the report's Reader: the meter decodes only these two short bodies.
 */
export function decodeDownlink(b: Buffer): Downlink {
    const type = b.length > 0 ? b[0] : -1
    if (type === BodyType.Ack) {
        // [u32 ack seq, u32 up counter, 16-byte record name], deterministic CBOR, nothing after
        const a = decodeCbor(b.slice(1, b.length), []).value as CborValue[]
        if (!Array.isArray(a) || a.length !== 3 || !isU32(a[0] as number) || !isU32(a[1] as number) || !(a[2] instanceof Buffer) || (a[2] as Buffer).length !== ReportLimit.RecordName)
            throw new RangeError("downlink: not an ack")
        return { type: type, ackSeq: a[0] as number, upCounter: a[1] as number, ackHash: a[2] as Buffer }
    }
    if (type !== BodyType.Command) throw new RangeError("downlink: type")
    const size = 3 + (b.length >= 3 ? getU16BE(b, 1) : 0)
    if (size > 3 + ReportLimit.MaxCommand) throw new RangeError("body: field too long")
    if (b.length < size) throw new RangeError("body: truncated")
    if (b.length > size) throw new RangeError("body: trailing bytes")
    return { type: type, command: b.slice(3, size) }
}

/** Topic of a meter's uplink frames (docs/uplink.md §9): short, it is in every PUBLISH. */
export function uplinkTopic(meterIdHex: string): string {
    return "u/" + topicId(Buffer.from(meterIdHex, "hex"))
}

/** Topic of a meter's downlink frames (acks and commands). */
export function downlinkTopic(meterIdHex: string): string {
    return "d/" + topicId(Buffer.from(meterIdHex, "hex"))
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/** The meter id in base64url without padding (RFC 4648 §5): 11 characters for 8 bytes. */
export function topicId(id: Buffer): string {
    let out = ""
    let acc = 0
    let bits = 0
    for (let i = 0; i < id.length; i++) {
        acc = acc * 256 + id[i]
        bits += 8
        while (bits >= 6) {
            bits -= 6
            const p = 1 << bits
            const d = Math.floor(acc / p)
            out += B64URL.charAt(d)
            acc -= d * p
        }
    }
    // the last 2 or 4 bits, padded with zero bits to a character
    if (bits > 0) out += B64URL.charAt(acc << (6 - bits))
    return out
}

/** Bounds-checked cursor over a body. */
class Reader {
    private off = 0
    private b: Buffer
    constructor(b: Buffer) {
        this.b = b
    }
    private need(n: number) {
        if (this.off + n > this.b.length) throw new RangeError("body: truncated")
    }
    u8(): number {
        this.need(1)
        return this.b[this.off++]
    }
    u16(): number {
        this.need(2)
        const v = getU16BE(this.b, this.off)
        this.off += 2
        return v
    }
    u32(): number {
        this.need(4)
        const v = getU32BE(this.b, this.off)
        this.off += 4
        return v
    }
    count(max: number): number {
        const n = this.u8()
        if (n === 0 || n > max) throw new RangeError("body: count")
        return n
    }
    bytes(n: number, max: number): Buffer {
        if (n > max) throw new RangeError("body: field too long")
        this.need(n)
        const v = this.b.slice(this.off, this.off + n)
        this.off += n
        return v
    }
    end() {
        if (this.off !== this.b.length) throw new RangeError("body: trailing bytes")
    }
}
