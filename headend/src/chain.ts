/**
 * The head-end's side of the index chain (docs/index-store.md): `verifyChain`, the loop
 * over the wire core's verification step (src/wire/chain.ts, the one implementation of the
 * record format and the chain rules, which the firmware compiles too), with `node:crypto`.
 * The rest are the core's functions bound to `node:crypto` for Node callers, taking the
 * `Uint8Array`s they hold.
 *
 * The head-end holds K_0 (random per meter, escrowed in its keystore: `chainKeyOf`) and
 * checks what the meter cannot after a reboot: every record's HMAC tag (Schneier–Kelsey),
 * besides links, sequence and the checkpoint from the uplink.
 */
import * as core from "../../src/wire/chain"
import { IndexRecord, TamperReason, decodeRecord as decode } from "../../src/wire/record"
import { nodeCrypto } from "./crypto.ts"

/** The head-end's names of the core's `TamperReason`s (in verdicts, reports and the vectors). */
export type ChainFailure = "bad-link" | "bad-tag" | "gap" | "truncated" | "malformed" | "bad-anchor" | "head-lost" | "registers"

const FAILURE: Record<number, ChainFailure> = {
    [TamperReason.BadLink]: "bad-link",
    [TamperReason.BadTag]: "bad-tag",
    [TamperReason.Gap]: "gap",
    [TamperReason.Truncated]: "truncated",
    [TamperReason.Malformed]: "malformed",
    [TamperReason.BadAnchor]: "bad-anchor",
    [TamperReason.HeadLost]: "head-lost",
    [TamperReason.Registers]: "registers",
}

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

/**
 * Verifies exported records (consecutive, oldest first) from `initialKey` = K_0: each
 * must pass the core's `checkNext` under K_seq (decode, seq, prev link, tag); with
 * `opts.checkpoint`, the walk must reach and match it (`checkTail`; a checkpoint behind
 * the last record must name one of these records). Reports the first failure with the
 * seq where it is.
 *
 * @example verifyChain(records, chainKeyOf(meterEntry), { checkpoint: { seq, hash } })  // K_0 escrowed in the keystore
 */
export function verifyChain(records: Uint8Array[], initialKey: Uint8Array, opts: VerifyOptions = {}): ChainVerdict {
    if (initialKey.length !== 32) throw new RangeError("initial key must be 32 bytes")
    const recs = records.map(buf)
    let head: core.ChainHead | undefined = opts.anchor && { seq: opts.anchor.seq, hash: buf(opts.anchor.hash) }
    if (!head && recs.length > 0) {
        // no anchor: genesis links to the zero hash, a later start to its own prev
        const first = decode(recs[0])
        if (!first) return fail(TamperReason.Malformed, 0)
        head = { seq: first.seq - 1, hash: first.seq === 0 ? core.GENESIS_PREV : first.prev }
    }
    if (head && recs.length > 0) {
        let st: core.ChainState = { head, key: buf(initialKey) }
        for (let s = 0; s <= head.seq; s++) st.key = core.evolveKey(nodeCrypto, st.key)
        for (const b of recs) {
            const why = core.checkNext(nodeCrypto, st.head, b, st.key)
            if (why) return fail(why, st.head.seq + 1)
            st = core.advance(nodeCrypto, st, b)
        }
        head = st.head
    }
    const cp = opts.checkpoint
    if (cp) {
        if (!head) return fail(TamperReason.Truncated, 0)
        if (head.seq > cp.seq) {
            // the checkpoint names an earlier record: it must be in this run of records
            const i = recs.length - 1 - (head.seq - cp.seq)
            if (i < 0) return fail(TamperReason.BadAnchor, cp.seq)
            if (!core.recordHash(nodeCrypto, recs[i]).equals(cp.hash)) return fail(TamperReason.BadLink, cp.seq)
        }
        const why = core.checkTail(head, { seq: cp.seq, hash: buf(cp.hash) })
        if (why) return fail(why, why === TamperReason.Truncated ? head.seq + 1 : cp.seq)
    }
    if (!head) return fail(TamperReason.Truncated, 0)
    return { ok: true, head }
}

/** K_{i+1} from K_i (`core.evolveKey`). */
export function evolveKey(key: Uint8Array): Buffer {
    return core.evolveKey(nodeCrypto, buf(key))
}

/** The record hash, the next record's prev (`core.recordHash`). */
export function recordHash(encoded: Uint8Array): Buffer {
    return core.recordHash(nodeCrypto, buf(encoded))
}

/** The checkpoint digest to sign or MAC (`core.checkpointDigest`). */
export function checkpointDigest(meterId: Uint8Array, cp: Checkpoint): Buffer {
    return core.checkpointDigest(nodeCrypto, buf(meterId), { seq: cp.seq, hash: buf(cp.hash) })
}

/** true when `encoded` carries the right tag under `key` = K_seq of its own seq (`core.tagValid`). */
export function tagValid(key: Uint8Array, encoded: Uint8Array): boolean {
    return core.tagValid(nodeCrypto, buf(key), buf(encoded))
}

/** Decodes one v1 record (`decodeRecord` of src/wire/record.ts); undefined if it is not exactly one. */
export function decodeRecord(b: Uint8Array): IndexRecord | undefined {
    return decode(buf(b))
}

/** Builds record `seq` under `key` = K_seq after `prev` as the meter does (`core.seal`): for tests, vectors and the fleet simulator. */
export function sealRecord(key: Uint8Array, kind: number, seq: number, time: number, payload: Uint8Array, prev: Uint8Array): Buffer {
    const state = { head: { seq: seq - 1, hash: buf(prev) }, key: buf(key) }
    return core.seal(nodeCrypto, state, kind, time, buf(payload)).record.encoded
}

function fail(reason: TamperReason, at: number): ChainVerdict {
    return { ok: false, reason: FAILURE[reason], at }
}

/** A Buffer view of `u` (no copy): the core's functions take Buffers. */
function buf(u: Uint8Array): Buffer {
    return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}
