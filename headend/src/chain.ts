/**
 * Head-end verifier of a meter's index chain (docs/index-store.md), with `@noble/hashes`.
 * The meter's firmware writes the chain in `src/store/chain.ts`; both are pinned by the
 * golden vectors in test/vectors/chain.json.
 *
 * The head-end holds K_0 and checks what the meter cannot after a reboot: every record's
 * HMAC tag (Schneier–Kelsey), besides links, sequence and the checkpoint from the uplink.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { hmac } from "@noble/hashes/hmac.js"
import { hkdf } from "@noble/hashes/hkdf.js"

/** Record format v1 constants (docs/index-store.md, "Record format v1"). */
export const RECORD_VERSION = 1
export const MAX_PAYLOAD = 128
export const HEADER_SIZE = 11
export const HASH_SIZE = 32
export const TAG_SIZE = 16
export const RECORD_OVERHEAD = HEADER_SIZE + HASH_SIZE + TAG_SIZE

export type ChainFailure = "malformed" | "gap" | "bad-link" | "bad-tag" | "truncated" | "bad-anchor"

/** The chain head / a checkpoint: a record's seq and its record hash. */
export interface Checkpoint {
    seq: number
    hash: Uint8Array
}

export interface VerifyOptions {
    /**
     * The last trusted checkpoint before `records[0]` (e.g. the previous acknowledged head).
     * Without it, a chain starting at seq 0 must start from the zero hash, and a chain
     * starting later is accepted from its first prev hash (its tags are still checked).
     */
    anchor?: Checkpoint
    /** The head the meter reported in an uplink frame: the records must reach it and match it. */
    checkpoint?: Checkpoint
}

export type ChainVerdict = { ok: true; head: Checkpoint } | { ok: false; reason: ChainFailure; at: number }

/** A decoded record (the tag is checked separately). */
export interface DecodedRecord {
    kind: number
    seq: number
    time: number
    payload: Uint8Array
    prev: Uint8Array
    tag: Uint8Array
}

/** K_0 = HKDF-SHA256(ikm = METER_SECRET, salt = meter id (8 bytes), info = "trustmeter/chain/v1"), 32 bytes. */
export function chainKey0(meterSecret: Uint8Array, meterId: Uint8Array): Uint8Array {
    return hkdf(sha256, meterSecret, meterId, new TextEncoder().encode("trustmeter/chain/v1"), 32)
}

/** K_{i+1} = SHA-256(0x02 || K_i). */
export function evolveKey(key: Uint8Array): Uint8Array {
    return sha256(concat(Uint8Array.of(2), key))
}

/** Record hash = SHA-256(0x00 || encoded record). */
export function recordHash(encoded: Uint8Array): Uint8Array {
    return sha256(concat(Uint8Array.of(0), encoded))
}

/** Checkpoint digest = SHA-256(0x01 || meter id || seq u32 BE || record hash). */
export function checkpointDigest(meterId: Uint8Array, cp: Checkpoint): Uint8Array {
    const s = new Uint8Array(4)
    new DataView(s.buffer).setUint32(0, cp.seq)
    return sha256(concat(Uint8Array.of(1), meterId, s, cp.hash))
}

/** Decodes one v1 record; undefined if it is not exactly one (version, kind, length). */
export function decodeRecord(b: Uint8Array): DecodedRecord | undefined {
    if (b.length < RECORD_OVERHEAD || b[0] !== RECORD_VERSION || b[1] === 0) return undefined
    const n = b[10]
    if (n > MAX_PAYLOAD || b.length !== RECORD_OVERHEAD + n) return undefined
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
    return {
        kind: b[1],
        seq: dv.getUint32(2),
        time: dv.getUint32(6),
        payload: b.subarray(HEADER_SIZE, HEADER_SIZE + n),
        prev: b.subarray(HEADER_SIZE + n, HEADER_SIZE + n + HASH_SIZE),
        tag: b.subarray(HEADER_SIZE + n + HASH_SIZE),
    }
}

/** Builds a record as the meter does (for tests, vectors and the fleet simulator). */
export function sealRecord(
    key: Uint8Array,
    kind: number,
    seq: number,
    time: number,
    payload: Uint8Array,
    prev: Uint8Array
): Uint8Array {
    if (payload.length > MAX_PAYLOAD) throw new RangeError("payload too long")
    const body = new Uint8Array(HEADER_SIZE + payload.length + HASH_SIZE)
    const dv = new DataView(body.buffer)
    body[0] = RECORD_VERSION
    body[1] = kind
    dv.setUint32(2, seq)
    dv.setUint32(6, time)
    body[10] = payload.length
    body.set(payload, HEADER_SIZE)
    body.set(prev, HEADER_SIZE + payload.length)
    return concat(body, hmac(sha256, key, body).subarray(0, TAG_SIZE))
}

/**
 * Verifies exported records (consecutive, oldest first) from `initialKey` = K_0: each
 * must decode, follow the previous seq, carry the previous record's hash and a valid tag
 * under K_seq; with `opts.checkpoint`, the last record must reach and match it (a cut
 * tail is "truncated"). Reports the first failure with the seq where it is.
 *
 * @example verifyChain(records, chainKey0(secret, meterId), { checkpoint: { seq, hash } })
 */
export function verifyChain(records: Uint8Array[], initialKey: Uint8Array, opts: VerifyOptions = {}): ChainVerdict {
    if (initialKey.length !== 32) throw new RangeError("initial key must be 32 bytes")
    let expectSeq: number | undefined
    let prev: Uint8Array | undefined
    if (opts.anchor) {
        expectSeq = opts.anchor.seq + 1
        prev = opts.anchor.hash
    }
    let key: Uint8Array | undefined
    let keySeq = 0
    let head: Checkpoint | undefined = opts.anchor ? { seq: opts.anchor.seq, hash: opts.anchor.hash } : undefined
    for (const b of records) {
        const at = expectSeq ?? 0
        const r = decodeRecord(b)
        if (!r) return { ok: false, reason: "malformed", at }
        if (expectSeq === undefined) {
            expectSeq = r.seq
            if (r.seq === 0) prev = new Uint8Array(HASH_SIZE)
        }
        if (r.seq !== expectSeq) return { ok: false, reason: "gap", at: expectSeq }
        if (prev && !equal(r.prev, prev)) return { ok: false, reason: "bad-link", at: r.seq }
        if (key === undefined) {
            key = initialKey
            for (; keySeq < r.seq; keySeq++) key = evolveKey(key)
        }
        const body = b.subarray(0, b.length - TAG_SIZE)
        if (!equal(hmac(sha256, key, body).subarray(0, TAG_SIZE), r.tag)) return { ok: false, reason: "bad-tag", at: r.seq }
        key = evolveKey(key)
        prev = recordHash(b)
        head = { seq: r.seq, hash: prev }
        expectSeq = r.seq + 1
    }
    const cp = opts.checkpoint
    if (cp) {
        if (!head || head.seq < cp.seq) return { ok: false, reason: "truncated", at: head ? head.seq + 1 : (opts.anchor?.seq ?? -1) + 1 }
        if (head.seq === cp.seq && !equal(head.hash, cp.hash)) return { ok: false, reason: "bad-link", at: cp.seq }
        if (head.seq > cp.seq) {
            // the checkpoint names an earlier record: it must be in this run of records
            const i = records.length - 1 - (head.seq - cp.seq)
            if (i < 0) return { ok: false, reason: "bad-anchor", at: cp.seq }
            if (!equal(recordHash(records[i]), cp.hash)) return { ok: false, reason: "bad-link", at: cp.seq }
        }
    }
    if (!head) return { ok: false, reason: "truncated", at: 0 }
    return { ok: true, head }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let o = 0
    for (const p of parts) {
        out.set(p, o)
        o += p.length
    }
    return out
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
    if (a.length !== b.length) return false
    let d = 0
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i]
    return d === 0
}
