/**
 * Exported index chains (docs/headend.md, "verify-chain and export-chain"): the file
 * format `trustmeter export-chain` writes and `trustmeter verify-chain` reads, the verdict
 * on such a file, and the export from a simulated meter's flash.
 *
 * Format: one record (docs/index-store.md, "Record format v1") in hex per line, oldest
 * first; `#` starts a comment. The records back to back in binary are read too.
 *
 * Threat: the file comes from wherever the operator got it. Parsing is line by line in
 * linear time (a hostile line costs its length, never a backtracking blow-up), and a chain
 * is only "OK" when it is authenticated all the way back to something trusted: the genesis
 * record (seq 0, whose tag is under K_0 and whose prev is zero), or a checkpoint the operator
 * gives (`--anchor seq:hash`). A chain with its first records cut off proves nothing about
 * them, so it is "NOT VERIFIED", never "OK".
 *
 * Bounded work: a record's tag is under K_seq, derived from K_0 by seq hashes, and the seq
 * is whatever the file says. So the first record must be where the trust root puts it (right
 * after the --anchor, or inside the run it covers), and no chain is followed past seq
 * `MAX_CHAIN_SEQ`: a file claiming seq 4,000,000,000 costs nothing, where it cost 4·10^9
 * hashes (an hour of CPU) before.
 */
import { HEADER_SIZE, MAX_PAYLOAD, RECORD_OVERHEAD } from "../../src/wire/record"
import { Checkpoint, decodeRecord, evolveKey, recordHash, tagValid, verifyChain } from "./chain.ts"
import { MeterEntry, chainKeyOf } from "./keystore.ts"

/** A chain file that cannot be read as records; `line` is 1-based (0: binary input). */
export class ChainFileError extends Error {
    constructor(
        message: string,
        readonly line: number
    ) {
        super(message)
    }
}

/**
 * Splits a chain file into records. Text (every byte printable ASCII or whitespace) is
 * read line by line: comments and blank lines are skipped, any other line must be an even
 * number of hex digits. Anything else is binary: records back to back, each one's length
 * from its header (a record starts with version 1, never a printable byte).
 * Throws `ChainFileError` naming the first line that is not a record in hex.
 */
export function parseChainFile(data: Uint8Array): Uint8Array[] {
    if (!isText(data)) return splitBinary(data)
    const out: Uint8Array[] = []
    const text = Buffer.from(data).toString("latin1")
    let start = 0
    for (let line = 1; start <= text.length; line++) {
        let end = text.indexOf("\n", start)
        if (end < 0) end = text.length
        let l = text.slice(start, end)
        start = end + 1
        const hash = l.indexOf("#")
        if (hash >= 0) l = l.slice(0, hash)
        l = l.trim()
        if (l === "") continue
        // one character class, no nesting: linear in the line's length
        if (l.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(l))
            throw new ChainFileError(`line ${line} is not a record in hex (${JSON.stringify(l.length > 24 ? l.slice(0, 24) + "…" : l)})`, line)
        out.push(new Uint8Array(Buffer.from(l, "hex")))
    }
    return out
}

/** Renders records as a chain file: `header` lines as comments, then one record in hex per line. */
export function formatChainFile(records: Uint8Array[], header: string[]): string {
    return [...header.map(h => `# ${h}`), ...records.map(r => Buffer.from(r).toString("hex"))].join("\n") + "\n"
}

/** The verdict on a chain file: `ok` only when verified back to genesis or to the anchor. */
export interface ChainFileVerdict {
    ok: boolean
    /** "OK", "NOT VERIFIED" (nothing wrong found, but not tied to anything trusted) or "BROKEN" */
    status: "OK" | "NOT VERIFIED" | "BROKEN"
    summary: string
}

/**
 * Verifies `records` of `meter` with its K_0: every record decodes, follows the previous
 * seq, carries the previous record's hash and a valid tag under K_seq. Trust comes from
 * the genesis record (the chain starts at seq 0 from the zero hash) or from `anchor`, a
 * checkpoint the caller trusts: the record right before the first one, or one inside the
 * run (its hash then vouches for every record before it through the links).
 */
export function verifyChainRecords(meter: MeterEntry, records: Uint8Array[], anchor?: Checkpoint): ChainFileVerdict {
    const notVerified = (summary: string): ChainFileVerdict => ({ ok: false, status: "NOT VERIFIED", summary })
    const broken = (summary: string): ChainFileVerdict => ({ ok: false, status: "BROKEN", summary })
    if (records.length === 0) return notVerified("the file holds no records")
    // where the file claims to start decides the key derivation (K_0 → K_first): checked before any hashing
    const claimed = decodeRecord(records[0])?.seq
    if (claimed !== undefined) {
        const last = claimed + records.length - 1
        if (anchor && claimed > anchor.seq + 1) return notVerified(`the --anchor at seq ${anchor.seq} is neither in the file (seq ${claimed}..${last}) nor right before it`)
        if (last > MAX_CHAIN_SEQ)
            return notVerified(`the file claims records up to seq ${last}, beyond any meter's chain (seq ${MAX_CHAIN_SEQ} at most: a meter writes about 20,000 records a year): nothing in it was checked`)
    }
    const v = verifyChain(records, chainKeyOf(meter))
    if (!v.ok) return broken(`${v.reason} at record ${v.at}`)
    const first = decodeRecord(records[0])!.seq
    const head = v.head
    const hex = (h: Uint8Array) => Buffer.from(h).toString("hex")
    const okText = (from: string) => `${records.length} records verified, head seq ${head.seq} hash ${hex(head.hash)}, ${from}`
    if (anchor) {
        let matches: boolean
        if (anchor.seq === first - 1) matches = equal(decodeRecord(records[0])!.prev, anchor.hash)
        else if (anchor.seq >= first && anchor.seq <= head.seq) matches = equal(recordHash(records[anchor.seq - first]), anchor.hash)
        else return notVerified(`the --anchor at seq ${anchor.seq} is neither in the file (seq ${first}..${head.seq}) nor right before it`)
        if (!matches) return broken(`record ${anchor.seq} does not match the --anchor hash (the chain forks from the trusted checkpoint)`)
        if (first !== 0) return { ok: true, status: "OK", summary: okText(`from the anchor ${anchor.seq}`) }
    }
    if (first !== 0)
        return notVerified(
            `the chain starts at seq ${first}, not at genesis (seq 0): the records before it are missing, so nothing ties it to this meter's start; verify from a checkpoint you trust with --anchor ${first - 1}:<hash of record ${first - 1}>`
        )
    return { ok: true, status: "OK", summary: okText("from genesis") }
}

/** Parses `--anchor SEQ:HASH` (seq decimal, the record hash in 64 hex); undefined if malformed. */
export function parseAnchor(s: string): Checkpoint | undefined {
    const m = /^(\d{1,10}):([0-9a-fA-F]{64})$/.exec(s)
    if (!m || Number(m[1]) > 0xffffffff) return undefined
    return { seq: Number(m[1]), hash: new Uint8Array(Buffer.from(m[2], "hex")) }
}

/** What `exportFromFlash` found. */
export interface FlashExport {
    /** oldest first, contiguous seqs */
    records: Uint8Array[]
    /** notes for the file's header: forks, where the walk stopped */
    notes: string[]
}

/**
 * No chain is followed past this seq (20 years of half-hours is 350,400): deriving K_seq
 * costs seq SHA-256 (1,000,000: about half a second), and a file or a flash image says
 * what the seq is.
 */
export const MAX_CHAIN_SEQ = 1_000_000

/**
 * The index chain a simulated meter's flash image still holds. The image is a settings
 * store, not a list of records, so: every offset where a v1 record decodes is a candidate;
 * the head is the highest seq whose tag verifies under K_seq (nothing else in flash can
 * pass that); from it the walk goes back by the prev links. A record that no longer links
 * (altered in flash) is still exported, so verify-chain names it instead of the export
 * hiding it; the walk stops where no record of the next lower seq exists.
 */
export function exportFromFlash(img: Uint8Array, meter: MeterEntry): FlashExport {
    type Cand = { seq: number; bytes: Uint8Array; tagOk: boolean }
    const cands: Cand[] = []
    for (let off = 0; off + RECORD_OVERHEAD <= img.length; off++) {
        if (img[off] !== 1 || img[off + 10] > MAX_PAYLOAD) continue
        const len = RECORD_OVERHEAD + img[off + 10]
        if (off + len > img.length) continue
        const bytes = img.subarray(off, off + len)
        const r = decodeRecord(bytes)
        if (r && r.seq <= MAX_CHAIN_SEQ) cands.push({ seq: r.seq, bytes: new Uint8Array(bytes), tagOk: false })
    }
    // tags: K_seq by evolving K_0 once over the sorted seqs
    cands.sort((a, b) => a.seq - b.seq)
    let key = chainKeyOf(meter)
    let keySeq = 0
    for (const c of cands) {
        for (; keySeq < c.seq; keySeq++) key = evolveKey(key)
        c.tagOk = tagValid(key, c.bytes)
    }
    const notes: string[] = []
    const authentic = cands.filter(c => c.tagOk)
    if (authentic.length === 0) return { records: [], notes: ["no record of this meter found in the flash"] }
    const bySeq = new Map<number, Cand[]>()
    for (const c of cands) bySeq.set(c.seq, [...(bySeq.get(c.seq) ?? []), c])
    for (const [seq, cs] of bySeq) {
        const distinct = new Set(cs.filter(c => c.tagOk).map(c => Buffer.from(c.bytes).toString("hex")))
        if (distinct.size > 1) notes.push(`warning: ${distinct.size} different authentic records with seq ${seq} (the meter wrote seq ${seq} twice: a rolled-back store?)`)
    }
    let cur = authentic[authentic.length - 1]
    const chain = [cur.bytes]
    while (cur.seq > 0) {
        const prev = decodeRecord(cur.bytes)!.prev
        const cs = bySeq.get(cur.seq - 1) ?? []
        const next = cs.find(c => equal(recordHash(c.bytes), prev)) ?? cs.find(c => c.tagOk) ?? cs[0]
        if (!next) break
        chain.push(next.bytes)
        cur = next
    }
    chain.reverse()
    return { records: chain, notes }
}

function isText(b: Uint8Array): boolean {
    for (let i = 0; i < b.length; i++) {
        const c = b[i]
        if (c < 0x20 ? c !== 0x09 && c !== 0x0a && c !== 0x0d : c > 0x7e) return false
    }
    return true
}

function splitBinary(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = []
    for (let off = 0; off < data.length; ) {
        const n = off + HEADER_SIZE <= data.length ? data[off + 10] : 0
        const len = RECORD_OVERHEAD + n
        out.push(new Uint8Array(data.subarray(off, Math.min(off + len, data.length))))
        off += len
    }
    return out
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
    if (a.length !== b.length) return false
    let d = 0
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i]
    return d === 0
}
