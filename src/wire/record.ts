/**
 * `IndexRecord`: one entry of the meter's tamper-evident index chain, and its binary
 * encoding (docs/index-store.md, "Record format v1"). The one codec of the format, compiled
 * into the firmware (src/store) and into the head-end (headend/src/chain.ts). Pure: no
 * crypto, no I/O; the record hash and the tag are computed in `chain.ts`.
 *
 * All integers are big-endian.
 */
import { getU32BE, setU32BE } from "./bytes"

/** Record kinds (docs/index-store.md, "Kinds"). Ranges leave room: 0x0_ chain,
 * 0x1_ metrology, 0x2_ power, 0x3_ security/events, 0x40-0x7f reserved, 0x80-0xff vendor. */
export const enum RecordKind {
    /** first record of a chain (seq 0); payload: the 8-byte meter id */
    Genesis = 0x01,
    /** a closed interval; payload: `encodeInterval` (16 bytes) ‖ `encodeRegisters` at its close (62 bytes) */
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
    /** the store is full of unacknowledged records; payload: head seq + 1 u32, ack seq u32 */
    StoreFull = 0x34,
    /** the relay changed state; payload: application defined */
    RelayChange = 0x35,
    /** a command was verified and executed; payload: command layer defined (docs/commands.md) */
    CommandAccepted = 0x36,
}

/**
 * Why a chain failed verification, on either end: the meter's boot walk and the head-end's
 * `verifyChain` report the same values (the `Tamper` payload's first byte; the head-end
 * names them "bad-link", "bad-tag", ...).
 */
export const enum TamperReason {
    /** not a failure: the record is the next one (never stored in a `Tamper` record) */
    None = 0,
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
    /**
     * an interval record's registers are not the previous interval's plus its energy, or a
     * register went backwards (the meter: also a persisted meter state that does not match
     * the chain, docs/index-store.md "Meter state")
     */
    Registers = 8,
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

/** A decoded record (its version is `RECORD_VERSION`: no other decodes). Its fields are slices of `encoded`: read them, never write them. */
export interface IndexRecord {
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

/** The bytes covered by the tag: everything up to and including the prev hash. Throws on a payload over `MAX_PAYLOAD` or a prev hash that is not 32 bytes. */
export function encodeBody(kind: number, seq: number, time: number, payload: Buffer, prev: Buffer): Buffer {
    if (payload.length > MAX_PAYLOAD) throw new RangeError("payload too long")
    if (prev.length !== HASH_SIZE) throw new RangeError("prev hash must be 32 bytes")
    const n = payload.length
    const b = Buffer.alloc(HEADER_SIZE + n + HASH_SIZE)
    b[0] = RECORD_VERSION
    b[1] = kind
    setU32BE(b, 2, seq)
    setU32BE(b, 6, time)
    b[10] = n
    b.set(payload, HEADER_SIZE)
    b.set(prev, HEADER_SIZE + n)
    return b
}

/**
 * Decodes one record; returns undefined when the bytes are not exactly one v1 record
 * (missing, wrong version, length or kind 0), so a corrupted slot never throws at boot.
 */
export function decodeRecord(b: Buffer | undefined): IndexRecord | undefined {
    if (!b || b.length < RECORD_OVERHEAD) return undefined
    if (b[0] !== RECORD_VERSION || b[1] === 0) return undefined
    const n = b[10]
    if (n > MAX_PAYLOAD || b.length !== RECORD_OVERHEAD + n) return undefined
    const t = HEADER_SIZE + n + HASH_SIZE
    return {
        kind: b[1],
        seq: getU32BE(b, 2),
        time: getU32BE(b, 6),
        payload: b.slice(HEADER_SIZE, HEADER_SIZE + n),
        prev: b.slice(HEADER_SIZE + n, t),
        tag: b.slice(t, b.length),
        encoded: b,
    }
}

/** Sequence number of an encoded record without decoding the rest (-1 if too short). */
export function recordSeq(b: Buffer | undefined): number {
    if (!b || b.length < HEADER_SIZE) return -1
    return getU32BE(b, 2)
}
