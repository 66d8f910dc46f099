import { getU16BE, getU32BE, putU16BE, putU32BE } from "./frame"
import { recordHash } from "../store/chain"

/**
 * Frame bodies (docs/uplink.md §4): the meter's report (uplink) and the head-end's
 * acknowledgement or command (downlink). Pure codecs over Buffers.
 */

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

/** Alert kinds (docs/uplink.md §4.1.5). */
export const enum AlertKind {
    Tamper = 1,
    CommandRejected = 2,
    StoreFull = 3,
    SourceFault = 4,
    /** the meter dropped malformed or unauthentic downlink frames */
    BadDownlink = 5,
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
}

/** A privacy aggregate: the energy of records firstSeq..lastSeq (docs/uplink.md §4.1.4). */
export interface Aggregate {
    firstSeq: number
    lastSeq: number
    importWh: number
    exportWh: number
}

export interface AlertCount {
    kind: number
    count: number
}

/** Everything one report frame carries; absent sections are left undefined. */
export interface Report {
    privacyLevel: number
    registers?: Buffer
    checkpointSeq?: number
    checkpointHash?: Buffer
    /** consecutive sequence numbers, oldest first, as stored */
    records?: UplinkRecord[]
    /** send records[0]'s prev hash: the head-end may not hold record seq−1 */
    anchor?: boolean
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
    /** Command: the signed envelope, passed unchanged to the command sink */
    command?: Buffer
}

/** Limits that keep a report inside FrameConst.MaxFrameSize (docs/uplink.md §4.1). */
export const enum ReportLimit {
    MaxRecords = 32,
    /** store record format v1: payload ≤ 128 bytes (docs/index-store.md) */
    MaxPayload = 128,
    MaxAggregates = 8,
    MaxAlerts = 8,
    MaxResponses = 4,
    MaxResponseSize = 256,
    MaxRegisters = 64,
}

/** Encodes a report body. */
export function encodeReport(r: Report): Buffer {
    let flags = 0
    const parts: Buffer[] = []
    if (r.registers) {
        flags |= ReportFlag.Registers
        parts.push(Buffer.from([r.registers.length]).concat(r.registers))
    }
    const recs = r.records && r.records.length ? r.records : undefined
    const last = recs ? recs[recs.length - 1] : undefined
    if (r.checkpointHash) {
        if (last && r.checkpointSeq === last.seq && recordHash(last.data).toString("hex") === r.checkpointHash.toString("hex"))
            flags |= ReportFlag.CheckpointAtLast
        else {
            flags |= ReportFlag.Checkpoint
            const c = Buffer.alloc(36)
            putU32BE(c, 0, r.checkpointSeq)
            c.blitAt(4, r.checkpointHash, 0, 32)
            parts.push(c)
        }
    }
    if (recs) {
        flags |= ReportFlag.Records
        const h = Buffer.alloc(5)
        h[0] = recs.length
        putU32BE(h, 1, recs[0].seq)
        parts.push(h)
        if (r.anchor) {
            flags |= ReportFlag.Anchor
            const d = recs[0].data
            parts.push(d.slice(11 + d[10], 43 + d[10]))
        }
        for (const rec of recs) parts.push(wireRecord(rec))
    }
    if (r.aggregates && r.aggregates.length) {
        flags |= ReportFlag.Aggregates
        const a = Buffer.alloc(1 + 16 * r.aggregates.length)
        a[0] = r.aggregates.length
        let o = 1
        for (const g of r.aggregates) {
            putU32BE(a, o, g.firstSeq)
            putU32BE(a, o + 4, g.lastSeq)
            putU32BE(a, o + 8, g.importWh)
            putU32BE(a, o + 12, g.exportWh)
            o += 16
        }
        parts.push(a)
    }
    if (r.alerts && r.alerts.length) {
        flags |= ReportFlag.Alerts
        const a = Buffer.alloc(1 + 3 * r.alerts.length)
        a[0] = r.alerts.length
        let o = 1
        for (const x of r.alerts) {
            a[o] = x.kind
            putU16BE(a, o + 1, Math.min(x.count, 65535))
            o += 3
        }
        parts.push(a)
    }
    if (r.responses && r.responses.length) {
        flags |= ReportFlag.Responses
        parts.push(Buffer.from([r.responses.length]))
        for (const x of r.responses) {
            const l = Buffer.alloc(2)
            putU16BE(l, 0, x.length)
            parts.push(l.concat(x))
        }
    }
    let out = Buffer.from([BodyType.Report, flags, r.privacyLevel])
    for (const p of parts) out = out.concat(p)
    return out
}

/** Decodes a report body; throws RangeError on anything malformed or over the limits. */
export function decodeReport(b: Buffer): WireReport {
    const rd = new Reader(b)
    if (rd.u8() !== BodyType.Report) throw new RangeError("report: type")
    const flags = rd.u8()
    const r: WireReport = { privacyLevel: rd.u8() }
    if (r.privacyLevel > 2) throw new RangeError("report: privacy level")
    const hasRecords = flags & ReportFlag.Records
    if (flags & ReportFlag.CheckpointAtLast && (!hasRecords || flags & ReportFlag.Checkpoint)) throw new RangeError("report: flags")
    if (flags & ReportFlag.Anchor && !hasRecords) throw new RangeError("report: flags")
    if (flags & ReportFlag.Registers) r.registers = rd.bytes(rd.u8(), ReportLimit.MaxRegisters)
    if (flags & ReportFlag.Checkpoint) {
        r.checkpointSeq = rd.u32()
        r.checkpointHash = rd.bytes(32, 32)
    }
    if (hasRecords) {
        const n = rd.count(ReportLimit.MaxRecords)
        const first = rd.u32()
        if (first + n - 1 > 4294967295) throw new RangeError("report: seq")
        if (flags & ReportFlag.Anchor) r.anchor = rd.bytes(32, 32)
        const recs: WireRecord[] = []
        for (let i = 0; i < n; i++) {
            const len = rd.u8()
            if (len > ReportLimit.MaxPayload) throw new RangeError("body: field too long")
            const kind = rd.u8()
            const time = rd.u32()
            recs.push({ seq: first + i, kind: kind, time: time, payload: rd.bytes(len, ReportLimit.MaxPayload), tag: rd.bytes(16, 16) })
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
            gs.push({ firstSeq: rd.u32(), lastSeq: rd.u32(), importWh: rd.u32(), exportWh: rd.u32() })
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
 * The wire form of one stored v1 record: u8 n, u8 kind, u32 time, n payload, 16 tag
 * (docs/uplink.md §4.1). Throws when the bytes are not a v1 record of that seq.
 */
export function wireRecord(rec: UplinkRecord): Buffer {
    const d = rec.data
    const n = d[10]
    if (d.length !== 59 + n || d[0] !== 1 || n > ReportLimit.MaxPayload || getU32BE(d, 2) !== rec.seq)
        throw new RangeError("report: not a v1 store record")
    const w = Buffer.alloc(22 + n)
    w[0] = n
    w[1] = d[1]
    w.blitAt(2, d, 6, 4)
    w.blitAt(6, d, 11, n)
    w.blitAt(6 + n, d, 43 + n, 16)
    return w
}

/** Encodes an acknowledgement body (docs/uplink.md §4.2). */
export function encodeAck(ackSeq: number, upCounter: number): Buffer {
    const b = Buffer.alloc(9)
    b[0] = BodyType.Ack
    putU32BE(b, 1, ackSeq)
    putU32BE(b, 5, upCounter)
    return b
}

/** Encodes a command body: the signed envelope, length-prefixed (docs/uplink.md §4.3). */
export function encodeCommand(envelope: Buffer): Buffer {
    const b = Buffer.alloc(3)
    b[0] = BodyType.Command
    putU16BE(b, 1, envelope.length)
    return b.concat(envelope)
}

/** Decodes a downlink body; throws RangeError when malformed. */
export function decodeDownlink(b: Buffer): Downlink {
    const rd = new Reader(b)
    const type = rd.u8()
    if (type === BodyType.Ack) {
        const d: Downlink = { type: type, ackSeq: rd.u32(), upCounter: rd.u32() }
        rd.end()
        return d
    }
    if (type === BodyType.Command) {
        const d: Downlink = { type: type, command: rd.bytes(rd.u16(), 1024) }
        rd.end()
        return d
    }
    throw new RangeError("downlink: type")
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
    u8() {
        this.need(1)
        return this.b[this.off++]
    }
    u16() {
        this.need(2)
        const v = getU16BE(this.b, this.off)
        this.off += 2
        return v
    }
    u32() {
        this.need(4)
        const v = getU32BE(this.b, this.off)
        this.off += 4
        return v
    }
    count(max: number) {
        const n = this.u8()
        if (n === 0 || n > max) throw new RangeError("body: count")
        return n
    }
    bytes(n: number, max: number) {
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
