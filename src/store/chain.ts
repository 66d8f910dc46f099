/**
 * The index chain's logic (docs/index-store.md): key derivation and evolution, sealing a
 * record onto a head, and verifying links. Pure: Buffers in, Buffers out, no flash.
 *
 * Hash domains (one prefix byte each, as CT's leaf/node separation, RFC 6962 section 2.1):
 *   0x00 record hash     H(0x00 || encoded record)
 *   0x01 checkpoint      H(0x01 || meter id || seq u32 || record hash)
 *   0x02 key evolution   K_{i+1} = H(0x02 || K_i)
 */
import * as ds from "@devicescript/core"
import { digest, hmac, sha256Hkdf } from "@devicescript/crypto"
import {
    IndexRecord,
    TamperReason,
    HASH_SIZE,
    TAG_SIZE,
    decodeRecord,
    encodeBody,
    putU32BE,
} from "./record"

/** The chain head: the last record's sequence number and hash (what every uplink frame carries). */
export interface ChainHead {
    seq: number
    hash: Buffer
}

/** The writer's state: the head plus the key that will tag record `head.seq + 1`. */
export interface ChainState {
    head: ChainHead
    /** K_{head.seq + 1} */
    key: Buffer
}

/** Outcome of a link walk. `at` is the seq where the chain broke. */
export interface LinkVerdict {
    ok: boolean
    reason?: TamperReason
    at?: number
    head?: ChainHead
}

/** The prev hash of record 0. */
export const GENESIS_PREV = Buffer.alloc(HASH_SIZE)

/** K_0 = HKDF-SHA256(ikm = METER_SECRET, salt = meter id, info = "trustmeter/chain/v1"), 32 bytes. */
export function chainKey0(meterSecret: Buffer, meterId: Buffer): Buffer {
    return sha256Hkdf(meterSecret, "trustmeter/chain/v1", meterId)
}

/** K_{i+1} = SHA-256(0x02 || K_i): one-way, so a key read from flash cannot tag past records. */
export function evolveKey(key: Buffer): Buffer {
    return digest("sha256", hex`02`, key)
}

/** H(0x00 || encoded record): what the next record's prev field must hold. */
export function recordHash(encoded: Buffer): Buffer {
    return digest("sha256", hex`00`, encoded)
}

/** H(0x01 || meter id || seq u32 BE || hash): a checkpoint digest, never equal to a record hash. */
export function checkpointDigest(meterId: Buffer, head: ChainHead): Buffer {
    const s = Buffer.alloc(4)
    putU32BE(s, 0, head.seq)
    return digest("sha256", hex`01`, meterId, s, head.hash)
}

/** HMAC-SHA256(K_seq, body) truncated to 16 bytes. */
export function recordTag(key: Buffer, body: Buffer): Buffer {
    return hmac(key, "sha256", body).slice(0, TAG_SIZE)
}

/** The state before record 0: prev = zeros, key = K_0. */
export function genesisState(key0: Buffer): ChainState {
    return { head: { seq: -1, hash: GENESIS_PREV }, key: key0 }
}

/** A sealed record and the state after it. The caller must overwrite its old key. */
export interface Sealed {
    record: IndexRecord
    hash: Buffer
    state: ChainState
}

/** Seals the next record onto `state` (seq = head.seq + 1), tags it and evolves the key. */
export function seal(state: ChainState, kind: number, time: number, payload: Buffer): Sealed {
    const seq = state.head.seq + 1
    const body = encodeBody(kind, seq, time, payload, state.head.hash)
    const encoded = body.concat(recordTag(state.key, body))
    const hash = recordHash(encoded)
    return {
        record: decodeRecord(encoded),
        hash: hash,
        state: { head: { seq: seq, hash: hash }, key: evolveKey(state.key) },
    }
}

/** true when `encoded` carries the right tag under `key` (the key for its own seq). */
export function tagValid(key: Buffer, encoded: Buffer): boolean {
    const n = encoded.length - TAG_SIZE
    return equalBytes(recordTag(key, encoded.slice(0, n)), encoded.slice(n, encoded.length))
}

/**
 * Walks `records` (consecutive, oldest first) from a trusted anchor: each must decode,
 * carry seq anchor.seq + 1, + 2, ... and the previous record's hash. Does not check tags
 * (the meter no longer holds the old keys). Async: yields between records (VM step limit).
 */
export async function verifyLinks(records: Buffer[], anchor: ChainHead): Promise<LinkVerdict> {
    let head: ChainHead = { seq: anchor.seq, hash: anchor.hash }
    for (let i = 0; i < records.length; i++) {
        if ((i & 15) === 0) await ds.sleep(0)
        const expect = head.seq + 1
        if (!records[i]) return { ok: false, reason: TamperReason.Gap, at: expect, head: head }
        const r = decodeRecord(records[i])
        if (!r) return { ok: false, reason: TamperReason.Malformed, at: expect, head: head }
        if (r.seq !== expect) return { ok: false, reason: TamperReason.Gap, at: expect, head: head }
        if (!equalBytes(r.prev, head.hash)) return { ok: false, reason: TamperReason.BadLink, at: expect, head: head }
        head = { seq: expect, hash: recordHash(records[i]) }
    }
    return { ok: true, head: head }
}

/**
 * `verifyLinks`, then the tail against a checkpoint the meter trusts (its stored head, or
 * the head it sent upstream): fewer records is `Truncated`, another newest record `BadLink`.
 */
export async function verifySegment(records: Buffer[], anchor: ChainHead, checkpoint: ChainHead): Promise<LinkVerdict> {
    const r = await verifyLinks(records, anchor)
    if (!r.ok) return r
    if (r.head.seq < checkpoint.seq) return { ok: false, reason: TamperReason.Truncated, at: r.head.seq + 1, head: r.head }
    if (r.head.seq === checkpoint.seq && !equalBytes(r.head.hash, checkpoint.hash))
        return { ok: false, reason: TamperReason.BadLink, at: checkpoint.seq, head: r.head }
    return r
}

/** Byte equality over the whole length (no early exit, so timing does not leak where tags differ). */
export function equalBytes(a: Buffer, b: Buffer): boolean {
    if (!a || !b || a.length !== b.length) return false
    let d = 0
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i]
    return d === 0
}
