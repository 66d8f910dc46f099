/**
 * `IndexRecord`: one entry of the meter's tamper-evident index chain, and its binary
 * encoding (docs/index-store.md, "Record format v1"). Pure codec: no crypto, no I/O.
 *
 * All integers are big-endian. The record hash and the tag are computed in `chain.ts`.
 */

/** Record kinds (docs/index-store.md, "Kinds"). Ranges leave room: 0x0_ chain,
 * 0x1_ metrology, 0x2_ power, 0x3_ security/events, 0x40-0x7f reserved, 0x80-0xff vendor. */
export const enum RecordKind {
    /** first record of a chain (seq 0); payload: the 8-byte meter id */
    Genesis = 0x01,
    /** a closed interval; payload: the metrology module's `encodeInterval` bytes (opaque here) */
    IntervalClose = 0x10,
    /** the running registers; payload: the metrology snapshot (opaque here) */
    RegisterSnapshot = 0x11,
    /** power going down (hardware with brown-out warning only) */
    PowerDown = 0x20,
    /** the meter booted; payload: application defined (e.g. the restored registers) */
    PowerUp = 0x21,
    /** a command failed verification; payload: command layer defined */
    CommandRejected = 0x30,
    /** a key or trust anchor changed; payload: key layer defined */
    KeyChange = 0x31,
    /** tamper detected; payload from the store: reason u8, at seq u32 (see `TamperReason`) */
    Tamper = 0x32,
    /** the clock was set from the head-end; payload: old time u32, new time u32 */
    TimeSet = 0x33,
    /** the store is full of unacknowledged records; payload: head seq u32, ack seq u32 */
    StoreFull = 0x34,
    /** the relay changed state; payload: application defined */
    RelayChange = 0x35,
    /** a command was verified and executed; payload: command layer defined (docs/commands.md) */
    CommandAccepted = 0x36,
}

/** Why a chain failed verification (the `Tamper` payload's first byte, and the head-end's `reason`). */
export const enum TamperReason {
    /** a record's prev hash does not match the hash of the record before it */
    BadLink = 1,
    /** a record's HMAC tag is wrong (head-end only: the meter has erased old keys) */
    BadTag = 2,
    /** a sequence number is missing or out of order */
    Gap = 3,
    /** records are missing at the tail (fewer than the checkpoint says) */
    Truncated = 4,
    /** a record cannot be decoded (wrong version, length, kind) */
    Malformed = 5,
    /** the trusted checkpoint does not match the stored record */
    BadAnchor = 6,
    /** the store's head (key, seq, hash) is missing or unreadable */
    HeadLost = 7,
}

/** Format version carried in byte 0. */
export const RECORD_VERSION = 1
/** Bound on the payload, so a record fits one settings value (one Jacdac packet). */
export const MAX_PAYLOAD = 128
export const HASH_SIZE = 32
/** HMAC-SHA256 truncated to 128 bits (RFC 2104 section 5 allows >= half the output). */
export const TAG_SIZE = 16
/** Bytes before the payload: version, kind, seq, time, payload length. */
export const HEADER_SIZE = 11
/** Encoded size of a record with an empty payload. */
export const RECORD_OVERHEAD = HEADER_SIZE + HASH_SIZE + TAG_SIZE

/** A decoded record. `hash` is filled in by the chain (it is not part of the encoding). */
export interface IndexRecord {
    version: number
    kind: number
    seq: number
    /** UTC seconds; 0 = time unknown */
    time: number
    payload: Buffer
    /** hash of the previous record (32 zero bytes for seq 0) */
    prev: Buffer
    tag: Buffer
    /** the encoded record */
    encoded: Buffer
}

/** The bytes covered by the tag: everything up to and including the prev hash. */
export function encodeBody(kind: number, seq: number, time: number, payload: Buffer, prev: Buffer): Buffer {
    if (payload.length > MAX_PAYLOAD) throw new RangeError("payload too long")
    if (prev.length !== HASH_SIZE) throw new RangeError("prev hash must be 32 bytes")
    const n = payload.length
    const b = Buffer.alloc(HEADER_SIZE + n + HASH_SIZE)
    b[0] = RECORD_VERSION
    b[1] = kind
    putU32BE(b, 2, seq)
    putU32BE(b, 6, time)
    b[10] = n
    b.blitAt(HEADER_SIZE, payload, 0, n)
    b.blitAt(HEADER_SIZE + n, prev, 0, HASH_SIZE)
    return b
}

/**
 * Decodes one record; returns undefined when the bytes are not exactly one v1 record
 * (wrong version, length or kind 0), so a corrupted slot never throws at boot.
 */
export function decodeRecord(b: Buffer): IndexRecord {
    if (!b || b.length < RECORD_OVERHEAD) return undefined
    if (b[0] !== RECORD_VERSION || b[1] === 0) return undefined
    const n = b[10]
    if (n > MAX_PAYLOAD || b.length !== RECORD_OVERHEAD + n) return undefined
    return {
        version: b[0],
        kind: b[1],
        seq: getU32BE(b, 2),
        time: getU32BE(b, 6),
        payload: b.slice(HEADER_SIZE, HEADER_SIZE + n),
        prev: b.slice(HEADER_SIZE + n, HEADER_SIZE + n + HASH_SIZE),
        tag: b.slice(HEADER_SIZE + n + HASH_SIZE, b.length),
        encoded: b,
    }
}

/** Sequence number of an encoded record without decoding the rest (-1 if too short). */
export function recordSeq(b: Buffer): number {
    if (!b || b.length < HEADER_SIZE) return -1
    return getU32BE(b, 2)
}

/** Writes a u32 big-endian. Arithmetic, not shifts: `>>` is wrong above 2^31 on the VM. */
export function putU32BE(b: Buffer, off: number, v: number) {
    const hi = Math.floor(v / 65536)
    const lo = v - hi * 65536
    b[off] = Math.floor(hi / 256)
    b[off + 1] = hi & 0xff
    b[off + 2] = Math.floor(lo / 256)
    b[off + 3] = lo & 0xff
}

/** Reads a u32 big-endian (0 .. 2^32-1). */
export function getU32BE(b: Buffer, off: number): number {
    return b[off] * 16777216 + b[off + 1] * 65536 + b[off + 2] * 256 + b[off + 3]
}
