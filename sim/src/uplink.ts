/**
 * The uplink wire format on the host (docs/uplink.md §2–§4), with Node's crypto:
 * the head-end's half of src/comms/frame.ts and src/comms/report.ts, also used by tests
 * to forge, replay and tamper with frames. Byte-for-byte the same as the firmware's
 * (pinned by test/vectors/uplink.json).
 */
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto"

export const VERSION = 1
export const HEADER_SIZE = 18
export const TAG_SIZE = 16
export const MAX_FRAME_SIZE = 2048
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
    recordSize: 255,
    aggregates: 8,
    alerts: 8,
    responses: 4,
    responseSize: 256,
    registers: 64,
    command: 1024,
}

export interface FrameHeader {
    version: number
    direction: number
    meterId: Buffer
    epoch: number
    counter: number
}
export interface UplinkRecord {
    seq: number
    data: Buffer
}
export interface Aggregate {
    firstSeq: number
    lastSeq: number
    importWh: number
    exportWh: number
}
export interface Report {
    privacyLevel: number
    registers?: Buffer
    checkpointSeq?: number
    checkpointHash?: Buffer
    records?: UplinkRecord[]
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

/** meter id ‖ u32be(counter) ‖ direction (§2.2). */
export function frameNonce(meterId: Buffer, counter: number, direction: number): Buffer {
    const n = Buffer.alloc(13)
    meterId.copy(n, 0, 0, 8)
    n.writeUInt32BE(counter >>> 0, 8)
    n[12] = direction
    return n
}

export function encodeHeader(h: FrameHeader): Buffer {
    const b = Buffer.alloc(HEADER_SIZE)
    b[0] = h.version
    b[1] = h.direction
    h.meterId.copy(b, 2, 0, 8)
    b.writeUInt32BE(h.epoch >>> 0, 10)
    b.writeUInt32BE(h.counter >>> 0, 14)
    return b
}

export function decodeHeader(frame: Buffer): FrameHeader {
    if (frame.length < HEADER_SIZE) throw new RangeError("frame: short header")
    return {
        version: frame[0],
        direction: frame[1],
        meterId: frame.subarray(2, 10),
        epoch: frame.readUInt32BE(10),
        counter: frame.readUInt32BE(14),
    }
}

export function sealFrame(key: Buffer, h: FrameHeader, body: Buffer): Buffer {
    const head = encodeHeader(h)
    const c = createCipheriv("aes-256-ccm", key, frameNonce(h.meterId, h.counter, h.direction), { authTagLength: 16 })
    const pt = Buffer.concat([head, body])
    const ct = Buffer.concat([c.update(pt), c.final()])
    return Buffer.concat([head, ct, c.getAuthTag()])
}

/** Checks size and version, decrypts, compares the inner header copy; returns the body or throws. */
export function openFrame(key: Buffer, frame: Buffer): Buffer {
    if (frame.length > MAX_FRAME_SIZE) throw new RangeError("frame: oversized")
    if (frame.length < HEADER_SIZE * 2 + TAG_SIZE) throw new RangeError("frame: truncated")
    const h = decodeHeader(frame)
    if (h.version !== VERSION) throw new RangeError("frame: version")
    const d = createDecipheriv("aes-256-ccm", key, frameNonce(h.meterId, h.counter, h.direction), { authTagLength: 16 })
    d.setAuthTag(frame.subarray(frame.length - TAG_SIZE))
    let pt: Buffer
    try {
        pt = d.update(frame.subarray(HEADER_SIZE, frame.length - TAG_SIZE))
        d.final()
    } catch {
        throw new RangeError("frame: bad tag")
    }
    if (!pt.subarray(0, HEADER_SIZE).equals(frame.subarray(0, HEADER_SIZE))) throw new RangeError("frame: header mismatch")
    return pt.subarray(HEADER_SIZE)
}

export function encodeReport(r: Report): Buffer {
    let flags = 0
    const parts: Buffer[] = []
    if (r.registers) {
        flags |= ReportFlag.Registers
        parts.push(Buffer.from([r.registers.length]), r.registers)
    }
    if (r.checkpointHash) {
        flags |= ReportFlag.Checkpoint
        const c = Buffer.alloc(36)
        c.writeUInt32BE(r.checkpointSeq! >>> 0, 0)
        r.checkpointHash.copy(c, 4, 0, 32)
        parts.push(c)
    }
    if (r.records?.length) {
        flags |= ReportFlag.Records
        const h = Buffer.alloc(5)
        h[0] = r.records.length
        h.writeUInt32BE(r.records[0].seq >>> 0, 1)
        parts.push(h)
        for (const rec of r.records) parts.push(Buffer.from([rec.data.length]), rec.data)
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

export function decodeReport(b: Buffer): Report {
    const rd = new Reader(b)
    if (rd.u8() !== BodyType.Report) throw new RangeError("report: type")
    const flags = rd.u8()
    if (flags & 0xc0) throw new RangeError("report: flags")
    const r: Report = { privacyLevel: rd.u8() }
    if (flags & ReportFlag.Registers) r.registers = rd.bytes(rd.u8(), LIMITS.registers)
    if (flags & ReportFlag.Checkpoint) {
        r.checkpointSeq = rd.u32()
        r.checkpointHash = rd.bytes(32, 32)
    }
    if (flags & ReportFlag.Records) {
        const n = rd.count(LIMITS.records)
        const first = rd.u32()
        r.records = []
        for (let i = 0; i < n; i++) r.records.push({ seq: first + i, data: rd.bytes(rd.u8(), LIMITS.recordSize) })
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

/** Topic names (§9.1). */
export const uplinkTopic = (meterIdHex: string) => `tm/${meterIdHex}/up`
export const downlinkTopic = (meterIdHex: string) => `tm/${meterIdHex}/dn`

/** Size of an MQTT 3.1.1 PUBLISH at QoS 0 carrying `payload` bytes on `topic` (§2.3.1 of the spec). */
export function mqttPublishSize(topic: string, payload: number): number {
    const rem = 2 + Buffer.byteLength(topic) + payload
    let lenBytes = 1
    for (let r = rem; r > 127; r = Math.floor(r / 128)) lenBytes++
    return 1 + lenBytes + rem
}
