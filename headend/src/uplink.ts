/**
 * The uplink wire format on the host (docs/uplink.md §2–§4), with Node's crypto:
 * the head-end's half of src/comms/frame.ts and src/comms/report.ts, also used by tests
 * to forge, replay and tamper with frames. Byte-for-byte the same as the firmware's
 * (pinned by test/vectors/uplink.json).
 */
import { createCipheriv, createDecipheriv, hash, hkdfSync } from "node:crypto"

/** Frame version 2 (docs/uplink.md §2): compact header, records without prev hash. */
export const VERSION = 2
/** header size with an epoch below 128 (the epoch is a LEB128 varint, 1..5 bytes) */
export const HEADER_SIZE = 14
export const TAG_SIZE = 16
export const MAX_FRAME_SIZE = 2048
/** the smallest frame: header (epoch < 128), a one-byte body, the tag */
export const MIN_FRAME_SIZE = HEADER_SIZE + 1 + TAG_SIZE
export const enum Direction {
    Uplink = 1,
    Downlink = 2,
}
export const enum BodyType {
    Report = 0x01,
    Ack = 0x81,
    Command = 0x82,
}
export const enum ReportFlag {
    Registers = 0x01,
    Checkpoint = 0x02,
    Records = 0x04,
    Aggregates = 0x08,
    Alerts = 0x10,
    Responses = 0x20,
    /** the checkpoint is the frame's last record (no checkpoint bytes), §4.1 */
    CheckpointAtLast = 0x40,
    /** the records section starts with the first record's prev hash, §4.1 */
    Anchor = 0x80,
}
export const enum AlertKind {
    Tamper = 1,
    CommandRejected = 2,
    StoreFull = 3,
    SourceFault = 4,
    BadDownlink = 5,
}
export const LIMITS = {
    records: 32,
    payload: 128,
    aggregates: 8,
    alerts: 8,
    responses: 4,
    responseSize: 256,
    registers: 64,
    command: 1024,
}

/** Store record format v1 (docs/index-store.md): the only one frame v2 carries. */
const RECORD_VERSION = 1
const RECORD_HEADER = 11
const HASH = 32
const RECORD_TAG = 16

/** A frame header: `direction` is not on the wire (the receiver knows it), it is in the key and nonce. */
export interface FrameHeader {
    version: number
    direction: number
    meterId: Buffer
    epoch: number
    counter: number
}
/** What the clear header says; `size` = its length in bytes. */
export interface WireHeader {
    version: number
    meterId: Buffer
    epoch: number
    counter: number
    size: number
}
/** A stored record (its exact bytes in the meter's store) and its sequence number. */
export interface UplinkRecord {
    seq: number
    data: Buffer
}
/** A record as it travels: the stored record without version, seq, length and prev (§4.1). */
export interface WireRecord {
    seq: number
    kind: number
    time: number
    payload: Buffer
    tag: Buffer
}
export interface Aggregate {
    firstSeq: number
    lastSeq: number
    importWh: number
    exportWh: number
}
/** What a report carries, as the meter encodes it (records as stored). */
export interface Report {
    privacyLevel: number
    registers?: Buffer
    checkpointSeq?: number
    checkpointHash?: Buffer
    records?: UplinkRecord[]
    /** send records[0]'s prev hash: the receiver may not hold record seq−1 */
    anchor?: boolean
    aggregates?: Aggregate[]
    alerts?: { kind: number; count: number }[]
    responses?: Buffer[]
}
/** A decoded report: records still in wire form; `checkpointAtLast` means the checkpoint is the last record. */
export interface WireReport {
    privacyLevel: number
    registers?: Buffer
    checkpointSeq?: number
    checkpointHash?: Buffer
    checkpointAtLast?: boolean
    records?: WireRecord[]
    anchor?: Buffer
    aggregates?: Aggregate[]
    alerts?: { kind: number; count: number }[]
    responses?: Buffer[]
}
export interface Downlink {
    type: number
    ackSeq?: number
    upCounter?: number
    command?: Buffer
}

/** HKDF-SHA256(secret, salt = meter id, info = label ‖ u32be(epoch)), 32 bytes (§3). */
export function deriveFrameKey(secret: Buffer, meterId: Buffer, direction: number, epoch: number): Buffer {
    const label = direction === Direction.Uplink ? "trustmeter/uplink/v1" : "trustmeter/downlink/v1"
    const e = Buffer.alloc(4)
    e.writeUInt32BE(epoch >>> 0)
    return Buffer.from(hkdfSync("sha256", secret, meterId, Buffer.concat([Buffer.from(label), e]), 32))
}

const NONCE = Buffer.alloc(13)

/** meter id ‖ u32be(counter) ‖ (version << 4 | direction) (§2.2). */
export function frameNonce(meterId: Buffer, counter: number, direction: number, version = VERSION): Buffer {
    const n = Buffer.alloc(13)
    meterId.copy(n, 0, 0, 8)
    n.writeUInt32BE(counter >>> 0, 8)
    n[12] = (version << 4) | direction
    return n
}

export function encodeHeader(h: FrameHeader): Buffer {
    const ep = h.epoch < 128 && h.epoch >= 0 ? undefined : encodeVarint(h.epoch)
    const n = ep ? ep.length : 1
    const b = Buffer.allocUnsafe(9 + n + 4)
    b[0] = h.version
    h.meterId.copy(b, 1, 0, 8)
    if (ep) ep.copy(b, 9)
    else b[9] = h.epoch
    b.writeUInt32BE(h.counter >>> 0, 9 + n)
    return b
}

/** Parses the clear header; throws RangeError on a short buffer or a bad epoch varint. Nothing in it is trusted. */
export function decodeHeader(frame: Buffer): WireHeader {
    if (frame.length < HEADER_SIZE) throw new RangeError("frame: short header")
    let epoch = 0
    let mul = 1
    let i = 9
    for (; ; i++) {
        if (i >= 14 || i + 4 >= frame.length) throw new RangeError("frame: bad epoch")
        const b = frame[i]
        epoch += (b & 0x7f) * mul
        mul *= 128
        if (!(b & 0x80)) {
            // canonical only: one header, one encoding (a trailing zero group is refused)
            if (b === 0 && i > 9) throw new RangeError("frame: bad epoch")
            break
        }
    }
    if (epoch > 0xffffffff) throw new RangeError("frame: bad epoch")
    return { version: frame[0], meterId: frame.subarray(1, 9), epoch, counter: frame.readUInt32BE(i + 1), size: i + 5 }
}

/** The meter id a frame claims, as hex ("" when too short): for routing only, nothing is trusted. */
export function claimedMeterId(frame: Buffer): string {
    return frame.length >= 9 ? frame.subarray(1, 9).toString("hex") : ""
}

export function sealFrame(key: Buffer, h: FrameHeader, body: Buffer): Buffer {
    const head = encodeHeader(h)
    const c = createCipheriv("aes-256-ccm", key, frameNonce(h.meterId, h.counter, h.direction, h.version), { authTagLength: 16 })
    const ct = c.update(body)
    c.final()
    return Buffer.concat([head, ct, c.getAuthTag()])
}

/**
 * Checks size and version, decrypts with `key` and the nonce of `direction` (the one the
 * receiver expects); returns the body or throws RangeError.
 */
export function openFrame(key: Buffer, frame: Buffer, direction: number): Buffer {
    if (frame.length > MAX_FRAME_SIZE) throw new RangeError("frame: oversized")
    if (frame.length < MIN_FRAME_SIZE) throw new RangeError("frame: truncated")
    if (frame[0] !== VERSION) throw new RangeError("frame: version")
    const h = decodeHeader(frame)
    if (frame.length < h.size + 1 + TAG_SIZE) throw new RangeError("frame: truncated")
    return openParsed(key, frame, h, direction)
}

/** openFrame for a header already parsed (the head-end's hot path). */
export function openParsed(key: Buffer, frame: Buffer, h: WireHeader, direction: number): Buffer {
    // the cipher copies the nonce: one scratch buffer serves every frame
    h.meterId.copy(NONCE, 0, 0, 8)
    NONCE.writeUInt32BE(h.counter >>> 0, 8)
    NONCE[12] = (h.version << 4) | direction
    const d = createDecipheriv("aes-256-ccm", key, NONCE, { authTagLength: 16 })
    d.setAuthTag(frame.subarray(frame.length - TAG_SIZE))
    try {
        const pt = d.update(frame.subarray(h.size, frame.length - TAG_SIZE))
        d.final()
        return pt
    } catch {
        throw new RangeError("frame: bad tag")
    }
}

/** Record hash = SHA-256(0x00 ‖ record) (docs/index-store.md). */
export function recordHash(record: Uint8Array): Buffer {
    const b = Buffer.allocUnsafe(record.length + 1)
    b[0] = 0
    b.set(record, 1)
    return hash("sha256", b, "buffer") as unknown as Buffer
}

/** The wire form of a stored v1 record (§4.1); throws when it is not one. */
export function toWire(r: UplinkRecord): WireRecord {
    const d = r.data
    const n = d[10]
    if (d.length !== RECORD_HEADER + n + HASH + RECORD_TAG || d[0] !== RECORD_VERSION || n > LIMITS.payload)
        throw new RangeError("report: not a v1 store record")
    if (d.readUInt32BE(2) !== r.seq >>> 0) throw new RangeError("report: record seq")
    return { seq: r.seq, kind: d[1], time: d.readUInt32BE(6), payload: d.subarray(11, 11 + n), tag: d.subarray(d.length - RECORD_TAG) }
}

/** The exact stored bytes of a wire record, given the record hash of its predecessor (§4.1). */
export function rebuildRecord(w: WireRecord, prev: Uint8Array): Buffer {
    const n = w.payload.length
    const b = Buffer.allocUnsafe(RECORD_HEADER + n + HASH + RECORD_TAG)
    b[0] = RECORD_VERSION
    b[1] = w.kind
    b.writeUInt32BE(w.seq >>> 0, 2)
    b.writeUInt32BE(w.time >>> 0, 6)
    b[10] = n
    w.payload.copy(b, 11)
    b.set(prev, 11 + n)
    w.tag.copy(b, 11 + n + HASH)
    return b
}

export function encodeReport(r: Report): Buffer {
    let flags = 0
    const parts: Buffer[] = []
    if (r.registers) {
        flags |= ReportFlag.Registers
        parts.push(Buffer.from([r.registers.length]), r.registers)
    }
    const recs = r.records?.length ? r.records : undefined
    const last = recs?.[recs.length - 1]
    if (r.checkpointHash) {
        if (last && r.checkpointSeq === last.seq && recordHash(last.data).equals(r.checkpointHash)) flags |= ReportFlag.CheckpointAtLast
        else {
            flags |= ReportFlag.Checkpoint
            const c = Buffer.alloc(36)
            c.writeUInt32BE(r.checkpointSeq! >>> 0, 0)
            r.checkpointHash.copy(c, 4, 0, 32)
            parts.push(c)
        }
    }
    if (recs) {
        flags |= ReportFlag.Records
        const h = Buffer.alloc(5)
        h[0] = recs.length
        h.writeUInt32BE(recs[0].seq >>> 0, 1)
        parts.push(h)
        if (r.anchor) {
            flags |= ReportFlag.Anchor
            const d = recs[0].data
            parts.push(d.subarray(11 + d[10], 11 + d[10] + HASH))
        }
        for (const rec of recs) {
            const w = toWire(rec)
            const x = Buffer.alloc(6)
            x[0] = w.payload.length
            x[1] = w.kind
            x.writeUInt32BE(w.time >>> 0, 2)
            parts.push(x, w.payload, w.tag)
        }
    }
    if (r.aggregates?.length) {
        flags |= ReportFlag.Aggregates
        const a = Buffer.alloc(1 + 16 * r.aggregates.length)
        a[0] = r.aggregates.length
        r.aggregates.forEach((g, i) => {
            a.writeUInt32BE(g.firstSeq >>> 0, 1 + 16 * i)
            a.writeUInt32BE(g.lastSeq >>> 0, 5 + 16 * i)
            a.writeUInt32BE(g.importWh >>> 0, 9 + 16 * i)
            a.writeUInt32BE(g.exportWh >>> 0, 13 + 16 * i)
        })
        parts.push(a)
    }
    if (r.alerts?.length) {
        flags |= ReportFlag.Alerts
        const a = Buffer.alloc(1 + 3 * r.alerts.length)
        a[0] = r.alerts.length
        r.alerts.forEach((x, i) => {
            a[1 + 3 * i] = x.kind
            a.writeUInt16BE(Math.min(x.count, 65535), 2 + 3 * i)
        })
        parts.push(a)
    }
    if (r.responses?.length) {
        flags |= ReportFlag.Responses
        parts.push(Buffer.from([r.responses.length]))
        for (const x of r.responses) {
            const l = Buffer.alloc(2)
            l.writeUInt16BE(x.length)
            parts.push(l, x)
        }
    }
    return Buffer.concat([Buffer.from([BodyType.Report, flags, r.privacyLevel]), ...parts])
}

class Reader {
    off = 0
    constructor(private b: Buffer) {}
    need(n: number) {
        if (this.off + n > this.b.length) throw new RangeError("body: truncated")
    }
    u8() {
        this.need(1)
        return this.b[this.off++]
    }
    u16() {
        this.need(2)
        const v = this.b.readUInt16BE(this.off)
        this.off += 2
        return v
    }
    u32() {
        this.need(4)
        const v = this.b.readUInt32BE(this.off)
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
        const v = this.b.subarray(this.off, this.off + n)
        this.off += n
        return v
    }
    end() {
        if (this.off !== this.b.length) throw new RangeError("body: trailing bytes")
    }
}

/** Decodes a report body (§4.1); throws RangeError on anything malformed or over the limits. */
export function decodeReport(b: Buffer): WireReport {
    const rd = new Reader(b)
    if (rd.u8() !== BodyType.Report) throw new RangeError("report: type")
    const flags = rd.u8()
    const r: WireReport = { privacyLevel: rd.u8() }
    if (r.privacyLevel > 2) throw new RangeError("report: privacy level")
    const hasRecords = flags & ReportFlag.Records
    if (flags & ReportFlag.CheckpointAtLast && (!hasRecords || flags & ReportFlag.Checkpoint)) throw new RangeError("report: flags")
    if (flags & ReportFlag.Anchor && !hasRecords) throw new RangeError("report: flags")
    if (flags & ReportFlag.Registers) r.registers = rd.bytes(rd.u8(), LIMITS.registers)
    if (flags & ReportFlag.Checkpoint) {
        r.checkpointSeq = rd.u32()
        r.checkpointHash = rd.bytes(32, 32)
    }
    if (hasRecords) {
        const n = rd.count(LIMITS.records)
        const first = rd.u32()
        if (first + n - 1 > 0xffffffff) throw new RangeError("report: seq")
        if (flags & ReportFlag.Anchor) r.anchor = rd.bytes(HASH, HASH)
        r.records = []
        for (let i = 0; i < n; i++) {
            const len = rd.u8()
            if (len > LIMITS.payload) throw new RangeError("body: field too long")
            const kind = rd.u8()
            const time = rd.u32()
            r.records.push({ seq: first + i, kind, time, payload: rd.bytes(len, LIMITS.payload), tag: rd.bytes(RECORD_TAG, RECORD_TAG) })
        }
        if (flags & ReportFlag.CheckpointAtLast) {
            r.checkpointAtLast = true
            r.checkpointSeq = first + n - 1
        }
    }
    if (flags & ReportFlag.Aggregates) {
        const n = rd.count(LIMITS.aggregates)
        r.aggregates = []
        for (let i = 0; i < n; i++)
            r.aggregates.push({ firstSeq: rd.u32(), lastSeq: rd.u32(), importWh: rd.u32(), exportWh: rd.u32() })
    }
    if (flags & ReportFlag.Alerts) {
        const n = rd.count(LIMITS.alerts)
        r.alerts = []
        for (let i = 0; i < n; i++) r.alerts.push({ kind: rd.u8(), count: rd.u16() })
    }
    if (flags & ReportFlag.Responses) {
        const n = rd.count(LIMITS.responses)
        r.responses = []
        for (let i = 0; i < n; i++) r.responses.push(rd.bytes(rd.u16(), LIMITS.responseSize))
    }
    rd.end()
    return r
}

export function encodeAck(ackSeq: number, upCounter: number): Buffer {
    const b = Buffer.alloc(9)
    b[0] = BodyType.Ack
    b.writeUInt32BE(ackSeq >>> 0, 1)
    b.writeUInt32BE(upCounter >>> 0, 5)
    return b
}

export function encodeCommand(envelope: Buffer): Buffer {
    const b = Buffer.alloc(3)
    b[0] = BodyType.Command
    b.writeUInt16BE(envelope.length, 1)
    return Buffer.concat([b, envelope])
}

export function decodeDownlink(b: Buffer): Downlink {
    const rd = new Reader(b)
    const type = rd.u8()
    let d: Downlink
    if (type === BodyType.Ack) d = { type, ackSeq: rd.u32(), upCounter: rd.u32() }
    else if (type === BodyType.Command) d = { type, command: rd.bytes(rd.u16(), LIMITS.command) }
    else throw new RangeError("downlink: type")
    rd.end()
    return d
}

/** Unsigned LEB128, 1..5 bytes (the header's epoch, §2.1). */
export function encodeVarint(v: number): Buffer {
    if (!(v >= 0 && v <= 0xffffffff && Number.isInteger(v))) throw new RangeError("varint: range")
    const out: number[] = []
    do {
        const low = v % 128
        v = Math.floor(v / 128)
        out.push(v ? low | 0x80 : low)
    } while (v)
    return Buffer.from(out)
}

/**
 * Topic names (§9): `u/<id>` uplink, `d/<id>` downlink, `<id>` = the meter id in base64url
 * without padding (11 characters: 5 bytes less than hex in every PUBLISH).
 */
export const uplinkTopic = (meterIdHex: string) => `u/${topicId(meterIdHex)}`
export const downlinkTopic = (meterIdHex: string) => `d/${topicId(meterIdHex)}`
export const topicId = (meterIdHex: string) => Buffer.from(meterIdHex, "hex").toString("base64url")
/** The head-end's subscription to every meter's uplink. */
export const UPLINK_FILTER = "u/+"

/** Size of an MQTT 3.1.1 PUBLISH at QoS 0 carrying `payload` bytes on `topic` (§2.3.1 of the spec). */
export function mqttPublishSize(topic: string, payload: number): number {
    const rem = 2 + Buffer.byteLength(topic) + payload
    let lenBytes = 1
    for (let r = rem; r > 127; r = Math.floor(r / 128)) lenBytes++
    return 1 + lenBytes + rem
}
