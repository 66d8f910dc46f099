/**
 * The index chain's rules (docs/index-store.md), written once for the firmware (which
 * writes the chain and walks its links at boot, src/store) and the head-end (which checks
 * every tag, headend/src/chain.ts): key evolution, record hash, checkpoint
 * digest, sealing a record onto a head, and the one verification step both ends loop over.
 * Pure: Buffers in, Buffers out; the cryptography is passed in (`WireCrypto`).
 *
 * Hash domains (one prefix byte each, as CT's leaf/node separation, RFC 6962 section 2.1):
 *   0x00 record hash     H(0x00 || encoded record)
 *   0x01 checkpoint      H(0x01 || meter id || seq u32 || record hash)
 *   0x02 key evolution   K_{i+1} = H(0x02 || K_i)
 *
 * K_0 is random per meter: issued at provisioning, escrowed in the head-end's keystore and
 * written to the meter's `st.k0`, which the meter deletes once its genesis record is sealed.
 * Nothing derives it, so a reader of the meter's flash cannot recompute it.
 */
import { concatBytes, equalBytes, getUintLE, u32Bytes } from "./bytes"
import { WireCrypto } from "./crypto"
import { IndexRecord, RecordKind, TamperReason, HASH_SIZE, TAG_SIZE, decodeRecord, encodeBody } from "./record"

/** The chain head: the last record's sequence number and hash (what every uplink frame carries). */
export interface ChainHead {
    seq: number
    hash: Buffer
    /**
     * Verifiers only: the registers (`registerValues` order) at the newest interval record
     * walked, undefined before one; `loose`: since then a `StoreFull` (intervals were not
     * stored) or an interval without registers: the next ones may only be higher.
     */
    regs?: number[]
    loose?: boolean
}

/** The writer's state: the head plus the key that will tag record `head.seq + 1`. */
export interface ChainState {
    head: ChainHead
    /** K_{head.seq + 1} */
    key: Buffer
}

/** A sealed record and the state after it. The caller must overwrite its old key. */
export interface Sealed {
    record: IndexRecord
    state: ChainState
}

/** The prev hash of record 0. */
export const GENESIS_PREV = Buffer.alloc(HASH_SIZE)

/** K_{i+1} = SHA-256(0x02 || K_i): one-way, so a key read from flash cannot tag past records. */
export function evolveKey(crypto: WireCrypto, key: Buffer): Buffer {
    return crypto.sha256([domain(2), key])
}

/** H(0x00 || encoded record): what the next record's prev field must hold. */
export function recordHash(crypto: WireCrypto, encoded: Buffer): Buffer {
    return crypto.sha256([domain(0), encoded])
}

/** H(0x01 || meter id || seq u32 BE || hash): a checkpoint digest, never equal to a record hash. */
export function checkpointDigest(crypto: WireCrypto, meterId: Buffer, head: ChainHead): Buffer {
    return crypto.sha256([domain(1), meterId, u32Bytes(head.seq), head.hash])
}

/** HMAC-SHA256(K_seq, body) truncated to 16 bytes. */
export function recordTag(crypto: WireCrypto, key: Buffer, body: Buffer): Buffer {
    return crypto.hmacSha256(key, body).slice(0, TAG_SIZE)
}

/** The state before record 0: prev = zeros, key = K_0. */
export function genesisState(key0: Buffer): ChainState {
    return { head: { seq: -1, hash: GENESIS_PREV }, key: key0 }
}

/**
 * Seals the next record onto `state` (seq = head.seq + 1, prev = head.hash), tags it
 * under `state.key` and evolves the key. Throws on a payload over `MAX_PAYLOAD`.
 */
export function seal(crypto: WireCrypto, state: ChainState, kind: number, time: number, payload: Buffer): Sealed {
    const seq = state.head.seq + 1
    const body = encodeBody(kind, seq, time, payload, state.head.hash)
    const encoded = concatBytes(body, recordTag(crypto, state.key, body))
    return { record: decodeRecord(encoded) as IndexRecord, state: advance(crypto, state, encoded) }
}

/**
 * The state after `encoded`, the record that follows `state.head` (the caller has checked
 * that, e.g. with `checkNext`): the head moves onto it and the key evolves. The caller
 * overwrites the old key where it keeps one.
 */
export function advance(crypto: WireCrypto, state: ChainState, encoded: Buffer): ChainState {
    return { head: next(crypto, state.head, encoded), key: evolveKey(crypto, state.key) }
}

/** The head after `encoded`, the record that follows `head`: its seq, its hash and the registers. */
export function next(crypto: WireCrypto, head: ChainHead, encoded: Buffer): ChainHead {
    const h: ChainHead = { seq: head.seq + 1, hash: recordHash(crypto, encoded), regs: head.regs, loose: head.loose }
    followRegisters(h, decodeRecord(encoded) as IndexRecord)
    return h
}

/**
 * The register continuity rule (docs/index-store.md, "The index in the chain"): moves
 * `h.regs` onto record `r` and returns false when `r` is an interval record whose
 * registers (bytes 16..77 of its payload: the register block, `encodeRegisters`) are not
 * the previous interval's plus its energy (import and export totals), go backwards, or
 * whose TOU registers do not sum to the totals. After an interval without registers (a
 * v1 payload) or a `StoreFull` (intervals were not stored), the next registers need only
 * be at least the previous plus the energy (`loose`).
 */
export function followRegisters(h: ChainHead, r: IndexRecord): boolean {
    const p = h.regs
    const was = h.loose
    const b = r.payload
    if (r.kind === RecordKind.StoreFull) h.loose = true
    if (r.kind !== RecordKind.IntervalClose) return true
    // no register block (a v1 payload): the next registers need only be higher
    h.loose = b.length !== 78 || b[16] !== 1 || b[17] !== 4
    if (h.loose) return true
    const v: number[] = []
    let ok = true
    for (let j = 0; j < 10; j++) {
        const x = getUintLE(b, 18 + 6 * j, 6)
        v.push(x)
        // the previous value plus this interval's energy (totals; exact unless loose)
        const q = p ? p[j] + (j < 2 ? getUintLE(b, 8 + 4 * j, 4) : 0) : 0
        if (x < q || (p && !was && j < 2 && x !== q)) ok = false
    }
    h.regs = v
    return ok && v[0] === v[2] + v[3] + v[4] + v[5] && v[1] === v[6] + v[7] + v[8] + v[9]
}

/** true when `encoded` carries the right tag under `key` (the key for its own seq). */
export function tagValid(crypto: WireCrypto, key: Buffer, encoded: Buffer): boolean {
    const n = encoded.length - TAG_SIZE
    return equalBytes(recordTag(crypto, key, encoded.slice(0, n)), encoded.slice(n, encoded.length))
}

/**
 * One step of every chain walk: is `encoded` the record after `head`? It must decode
 * (`Malformed`; a missing record is a `Gap`), carry seq head.seq + 1 (`Gap`) and head.hash
 * as prev (`BadLink`); with `key` (K_{head.seq + 1}: the head-end, or the meter for the
 * record it wrote just before a power cut) its tag must verify (`BadTag`). Returns
 * `TamperReason.None` when it is the next record; a failure is at seq head.seq + 1.
 * The caller moves on to { seq: head.seq + 1, hash: recordHash(encoded) } (holding the
 * key: `advance`).
 */
export function checkNext(crypto: WireCrypto, head: ChainHead, encoded: Buffer | undefined, key?: Buffer): TamperReason {
    if (!encoded) return TamperReason.Gap
    const r = decodeRecord(encoded)
    if (!r) return TamperReason.Malformed
    if (r.seq !== head.seq + 1) return TamperReason.Gap
    if (!equalBytes(r.prev, head.hash)) return TamperReason.BadLink
    if (key && !tagValid(crypto, key, encoded)) return TamperReason.BadTag
    return followRegisters({ regs: head.regs, loose: head.loose } as ChainHead, r) ? TamperReason.None : TamperReason.Registers
}

/**
 * The end of a walk against a checkpoint its verifier trusts (the meter's stored head,
 * the head an uplink frame reported): stopping short of it is `Truncated` (at walked.seq
 * + 1), another record under its seq is `BadLink` (at checkpoint.seq). A walk past the
 * checkpoint is the caller's to check (the head-end looks the record up).
 */
export function checkTail(walked: ChainHead, checkpoint: ChainHead): TamperReason {
    if (walked.seq < checkpoint.seq) return TamperReason.Truncated
    if (walked.seq === checkpoint.seq && !equalBytes(walked.hash, checkpoint.hash)) return TamperReason.BadLink
    return TamperReason.None
}

/** The one-byte prefix of hash domain `d` (the table at the top). */
function domain(d: number): Buffer {
    const b = Buffer.alloc(1)
    b[0] = d
    return b
}
