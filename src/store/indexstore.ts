/**
 * `IndexStore`: the meter's index chain persisted in flash (docs/index-store.md).
 *
 * Records live in a ring of `slots` settings keys (`st.r0` ...); the head (seq, hash and
 * the key for the next record, tagged under METER_SECRET) in `st.hd`, rewritten after
 * every record; the chain starts at the K_0 provisioning wrote to `st.k0`, which is
 * deleted once the genesis record is sealed (forward security: docs/index-store.md); the last
 * checkpoint the head-end acknowledged in `st.ack`; the metrology snapshot in `st.snap`.
 * A slot is reused only when its record has been acknowledged; when none is free the
 * store writes one `StoreFull` record and refuses further records until an ack arrives.
 *
 * The ack cursor lives here and only here: `st.ack` in flash, `acknowledged()` to read it,
 * `acknowledge(seq, hash?)` to move it (after an authenticated head-end ack). The uplink's
 * backlog is `recordsAfter(acknowledged(), max)`.
 *
 * Record format and chain rules are the wire core's (src/wire/record.ts, src/wire/chain.ts);
 * the boot walk is src/store/chain.ts; every byte goes through the storage port.
 */
import * as ds from "@devicescript/core"
import { randomBuffer } from "@devicescript/crypto"
import { nativeCrypto } from "../crypto/native"
import { Storage, setChecked } from "../storage/storage"
import { concatBytes, equalBytes, getU16BE, getU32BE, setU16BE, setU32BE } from "../wire/bytes"
import { ChainHead, ChainState, GENESIS_PREV, advance, checkNext, recordHash, seal } from "../wire/chain"
import { IndexRecord, RecordKind, TamperReason, HASH_SIZE, recordSeq } from "../wire/record"
import { verifySegment } from "./chain"

/**
 * Ring size that fits the 8 KB settings area of the simulator and the RP2040 (docs/index-store.md).
 * 24, not 32, since interval records carry their registers (168 B a slot in the settings store):
 * 32 such slots left no room after a compaction and the next st.snap write failed ("out of
 * space", measured on the real firmware's flash image, tools/flash_wear.cjs).
 */
export const DEFAULT_SLOTS = 24
/**
 * Default period of the meter-state saves between interval closes (flash wear against the
 * energy a power cut loses, which the forced save at each close already bounds to the open
 * interval). Half an hour and a minute: the forced save at each close restarts the period,
 * so with half-hourly intervals a periodic save never falls due (at 15 minutes it added one
 * 240-byte write per half hour, ~30 KB a day with its compaction copies: docs/index-store.md).
 */
export const DEFAULT_SNAPSHOT_PERIOD_MS = 1_860_000

export const KEY_HEAD = "st.hd"
export const KEY_ACK = "st.ack"
export const KEY_SNAPSHOT = "st.snap"
/**
 * The chain's initial key K_0 as provisioning writes it: a JSON string of 64 hex digits,
 * random per meter and escrowed in the head-end's keystore. Deleted once the chain holds
 * its key (after the genesis record; at every open where it is found again).
 */
export const KEY_K0 = "st.k0"
/** Prefix of the record slots: `st.r0` ... `st.r<slots-1>`. */
export const KEY_SLOT_PREFIX = "st.r"

export interface IndexStoreOptions {
    /** the 8-byte meter id (settings `METER_ID`) */
    meterId: Buffer
    /** the 32-byte per-meter secret (settings `METER_SECRET`): the tags of `st.hd` and `st.snap`, never a chain key */
    meterSecret: Buffer
    /** ring size; fixed for the life of a store (recorded in `st.hd`) */
    slots?: number
    snapshotPeriodMs?: number
    /** where the store keeps its keys: `settingsStorage` on a meter, `RamStorage` in tests */
    storage: Storage
    /** UTC seconds for the records the store writes itself (0 = unknown) */
    now?: () => number
    /** tamper and store-full alerts, to be reported upstream */
    onAlert?: (kind: RecordKind, payload: Buffer) => void
}

/** What the boot-time verification found. */
export interface BootVerdict {
    ok: boolean
    reason?: TamperReason
    /** seq of the first bad record */
    at?: number
    /** records checked (from the trusted checkpoint to the head) */
    checked: number
    /** an append cut by a power loss was completed from flash */
    resumed: boolean
}

export class IndexStore {
    /** Opens (or creates) the store, completes an interrupted append and verifies the chain. */
    static async open(opts: IndexStoreOptions): Promise<IndexStore> {
        const s = new IndexStore(opts)
        await s.reload()
        s.snapshot = await s.storage.get(KEY_SNAPSHOT)
        s.snapshotMs = ds.millis()
        const hd = s.storedHead
        let empty = !hd
        for (let i = 0; empty && i < s.slots; i++) if (s.cache[i]) empty = false
        // K_0 as provisioning wrote it (a JSON hex string, as METER_SECRET)
        const k0 = await s.storage.get(KEY_K0)
        if (empty) {
            // a new meter: start the chain at K_0; a meter without one still records, under a
            // key nobody holds (the head-end then reports a bad tag at genesis)
            s.state = { head: { seq: -1, hash: GENESIS_PREV }, key: k0 && k0.length === 66 ? Buffer.from(k0.slice(1, 65).toString(), "hex") : randomBuffer(32) }
            await s.write(RecordKind.Genesis, s.now(), s.meterId)
        } else if (hd) {
            s.state = hd
            // an append cut between writing the record and writing the head
            const ahead = s.cache[(hd.head.seq + 1) % s.slots]
            // (it must be the next record and carry the tag of the key the head holds)
            if (!checkNext(nativeCrypto, hd.head, ahead, hd.key)) {
                const st = advance(nativeCrypto, hd, ahead)
                // if this write fails, the next boot completes the append again
                await s.tryWrite(KEY_HEAD, s.encodeHead(st))
                s.state = st
                s.storedHead = st
                s.resumed = true
                // K_{head+1} tagged the completed record: forget it, as write() does
                hd.key.fillAt(0, hd.key.length, 0)
            }
        } else {
            // records without an authentic head: the key state was in it and is lost (it
            // cannot be rebuilt: nothing the meter keeps derives it). Continue after the last
            // record that links under a fresh random key; verifyAtBoot reports HeadLost
            const r = await verifySegment(s.consecutive(s.ack, -1), s.ack)
            s.state = { head: r.head, key: randomBuffer(32) }
            await s.tryWrite(KEY_HEAD, s.encodeHead(s.state))
            s.storedHead = s.state
            s.pending = broken(TamperReason.HeadLost, r.head.seq + 1, 0)
        }
        // the chain holds its own key now: no copy of K_0 stays in flash
        if (k0) await s.storage.delete(KEY_K0)
        await s.verifyAtBoot(true)
        return s
    }

    /** The chain head: the checkpoint the uplink puts in every frame. */
    head(): ChainHead {
        return { seq: this.state.head.seq, hash: this.state.head.hash.slice(0) }
    }

    /**
     * The ack cursor: the last seq the head-end acknowledged (-1: none), as stored in
     * `st.ack`. Records up to it may be evicted; the ones after it are the backlog to send.
     */
    acknowledged(): number {
        return this.ack.seq
    }

    /** true while unacknowledged records fill every slot but the one the `StoreFull` record takes (new records are refused). */
    isFull(): boolean {
        return !this.slotFree(this.state.head.seq + 2)
    }

    /**
     * Seals and persists one record. Resolves once record and head are in flash, with the
     * record; resolves to null (nothing stored, `StoreFull` alert raised) when the store is
     * full of unacknowledged records. Throws only if the flash itself fails.
     */
    async append(kind: RecordKind, time: number, payload: Buffer): Promise<IndexRecord> {
        while (this.busy) await ds.sleep(1)
        this.busy = true
        try {
            const next = this.state.head.seq + 1
            if (!this.slotFree(next)) return null
            if (!this.slotFree(next + 1)) {
                // the last free slot is kept for the alert itself
                const p = Buffer.alloc(8)
                setU32BE(p, 0, this.state.head.seq + 1)
                setU32BE(p, 4, this.ack.seq < 0 ? 0 : this.ack.seq)
                await this.write(RecordKind.StoreFull, this.now(), p)
                if (this.onAlert) this.onAlert(RecordKind.StoreFull, p)
                return null
            }
            return await this.write(kind, time, payload)
        } finally {
            this.busy = false
        }
    }

    /** Encoded records with seq > `seq`, oldest first, at most `max` (the uplink backlog). */
    recordsAfter(seq: number, max: number): Buffer[] {
        const out: Buffer[] = []
        const head = this.state.head.seq
        let s = seq + 1
        if (s < head - this.slots + 1) s = head - this.slots + 1
        if (s < 0) s = 0
        for (; s <= head && out.length < max; s++) {
            const b = this.cache[s % this.slots]
            if (b && recordSeq(b) === s) out.push(b)
        }
        return out
    }

    /**
     * Moves the ack cursor: the head-end has verified the chain up to `seq` (call only after
     * an authenticated ack). With `hash` (the record hash, or at least its first 16 bytes),
     * the ack must name the same record. Writes `st.ack`
     * (read back before it returns) and frees the slots of records up to `seq`. Returns
     * false, leaving the cursor where it was, when the ack is stale (≤ `acknowledged()`),
     * ahead of the head, names another hash, or could not be written.
     */
    async acknowledge(seq: number, hash?: Buffer): Promise<boolean> {
        while (this.busy) await ds.sleep(1)
        this.busy = true
        try {
            if (seq <= this.ack.seq || seq > this.state.head.seq) return false
            const b = this.cache[seq % this.slots]
            if (!b || recordSeq(b) !== seq) return false
            const h = recordHash(nativeCrypto, b)
            // a full hash, or its first 16 bytes or more (an uplink ack, docs/uplink.md §4.2)
            if (hash && !(hash.length >= 16 && equalBytes(hash, h.slice(0, hash.length)))) return false
            const v = Buffer.alloc(4 + HASH_SIZE)
            setU32BE(v, 0, seq)
            v.set(h, 4)
            try {
                await setChecked(this.storage, KEY_ACK, v)
            } catch (e) {
                return false
            }
            this.ack = { seq: seq, hash: h }
            return true
        } finally {
            this.busy = false
        }
    }

    /**
     * Verifies the stored chain from the last acknowledged checkpoint to the head (links,
     * sequence, head hash; the tags of older records cannot be checked here because their
     * keys are gone). On failure appends a `Tamper` record (reason u8, at u32), raises an
     * alert and keeps going: the meter must never brick itself.
     */
    async verifyAtBoot(opened?: boolean): Promise<BootVerdict> {
        while (this.busy) await ds.sleep(1)
        this.busy = true
        let v: BootVerdict
        try {
            // `opened`: `open` has just read the flash (and may hold a finding of its own)
            if (!opened) await this.reload()
            v = this.pending || (await this.check())
            this.pending = undefined
        } finally {
            this.busy = false
        }
        v.resumed = this.resumed
        this.lastVerdict = v
        if (!v.ok) {
            const p = Buffer.alloc(5)
            p[0] = v.reason
            setU32BE(p, 1, v.at < 0 ? 0 : v.at)
            console.log(`index store: tamper ${v.reason} at ${v.at}`)
            if (this.onAlert) this.onAlert(RecordKind.Tamper, p)
            await this.append(RecordKind.Tamper, this.now(), p)
        }
        return v
    }

    /** The verdict of the last `verifyAtBoot()`. */
    verdict(): BootVerdict {
        return this.lastVerdict
    }

    /**
     * Persists the meter state (running registers) at most once per snapshot period, or now
     * with `force` (e.g. right after an interval record), followed by its tag: the first 16
     * bytes of HMAC-SHA256(METER_SECRET, state). Returns true if written.
     */
    async saveSnapshot(snapshot: Buffer, force?: boolean): Promise<boolean> {
        const t = ds.millis()
        if (!force && t - this.snapshotMs < this.snapshotPeriodMs) return false
        this.snapshotMs = t
        this.snapshot = concatBytes(snapshot, this.stateTag(snapshot))
        await this.storage.set(KEY_SNAPSHOT, this.snapshot)
        return true
    }

    /**
     * The state found in flash at open (or the last one saved), without its tag; undefined
     * if none, null if its tag is wrong (edited, or another meter's: tamper).
     */
    loadSnapshot(): Buffer {
        const b = this.snapshot
        if (!b) return undefined
        const n = b.length - 16
        return n > 0 && equalBytes(this.stateTag(b.slice(0, n)), b.slice(n, b.length)) ? b.slice(0, n) : null
    }

    // ---- internals ----

    private storage: Storage
    private slots: number
    private snapshotPeriodMs: number
    private meterId: Buffer
    private meterSecret: Buffer
    private nowFn: () => number
    private onAlert: (kind: RecordKind, payload: Buffer) => void
    private cache: Buffer[] = []
    private state: ChainState
    /** head as read from `st.hd` (undefined when missing or unreadable) */
    private storedHead: ChainState
    /** the ack cursor (`st.ack`): where boot walks start; seq -1 and the genesis prev before any ack */
    private ack: ChainHead = { seq: -1, hash: GENESIS_PREV }
    private resumed = false
    private snapshot: Buffer
    private snapshotMs = 0
    private busy = false
    private lastVerdict: BootVerdict
    /** a failure found while opening, reported by the first verifyAtBoot */
    private pending: BootVerdict

    private constructor(opts: IndexStoreOptions) {
        if (!opts.meterId || opts.meterId.length !== 8) throw new RangeError("meter id must be 8 bytes")
        if (!opts.meterSecret || opts.meterSecret.length !== 32) throw new RangeError("meter secret must be 32 bytes")
        this.storage = opts.storage
        this.slots = opts.slots || DEFAULT_SLOTS
        if (this.slots < 3 || this.slots > 1000) throw new RangeError("slots out of range")
        this.snapshotPeriodMs = opts.snapshotPeriodMs || DEFAULT_SNAPSHOT_PERIOD_MS
        this.meterId = opts.meterId
        this.meterSecret = opts.meterSecret
        this.nowFn = opts.now
        this.onAlert = opts.onAlert
    }

    private now(): number {
        return this.nowFn ? this.nowFn() : 0
    }

    private stateTag(b: Buffer): Buffer {
        return nativeCrypto.hmacSha256(this.meterSecret, b).slice(0, 16)
    }

    /** a record with this seq may go into its slot: the slot's previous record is acknowledged */
    private slotFree(seq: number): boolean {
        return seq - this.slots <= this.ack.seq
    }

    /** Seals one record, writes record then head, waits until both are in flash. */
    private async write(kind: RecordKind, time: number, payload: Buffer): Promise<IndexRecord> {
        const sealed = seal(nativeCrypto, this.state, kind, time, payload)
        const seq = sealed.state.head.seq
        // read each value back: the settings service drops a write silently when flash is
        // full, and the head must be durable before anyone (the uplink) can report it.
        // Record before head, so a failure leaves at most a record ahead of the head,
        // which the next boot completes.
        await setChecked(this.storage, KEY_SLOT_PREFIX + (seq % this.slots), sealed.record.encoded)
        await setChecked(this.storage, KEY_HEAD, this.encodeHead(sealed.state))
        this.cache[seq % this.slots] = sealed.record.encoded
        this.storedHead = sealed.state
        // Schneier-Kelsey: forget the key that tagged this record
        this.state.key.fillAt(0, this.state.key.length, 0)
        this.state = sealed.state
        return sealed.record
    }

    /** setChecked, but a failure is only logged: opening must not brick the meter */
    private async tryWrite(key: string, value: Buffer) {
        try {
            await setChecked(this.storage, key, value)
        } catch (e) {
            console.log(`index store: ${key} not written at open`)
        }
    }

    /** Reads every slot, the head and the ack from flash into RAM. */
    private async reload() {
        const b = await this.storage.get(KEY_HEAD)
        // authentic (its tag), this version and this ring size; otherwise lost
        this.storedHead =
            b && b.length === HEAD_BYTES + 16 && b[0] === 2 && getU16BE(b, 1) === this.slots && equalBytes(this.stateTag(b.slice(0, HEAD_BYTES)), b.slice(HEAD_BYTES, HEAD_BYTES + 16))
                ? { head: { seq: getU32BE(b, 3), hash: b.slice(7, 7 + HASH_SIZE) }, key: b.slice(7 + HASH_SIZE, HEAD_BYTES) }
                : undefined
        const ack = await this.storage.get(KEY_ACK)
        if (ack && ack.length === 4 + HASH_SIZE) {
            this.ack = { seq: getU32BE(ack, 0), hash: ack.slice(4, 4 + HASH_SIZE) }
        }
        for (let i = 0; i < this.slots; i++) {
            if ((i & 7) === 0) await ds.sleep(0)
            this.cache[i] = await this.storage.get(KEY_SLOT_PREFIX + i)
        }
    }

    /** The stored records from `anchor.seq + 1` up to `last` (-1: as far as seqs run on). */
    private consecutive(anchor: ChainHead, last: number): Buffer[] {
        const out: Buffer[] = []
        for (let s = anchor.seq + 1; out.length < this.slots; s++) {
            if (last >= 0 && s > last) break
            const b = this.cache[s % this.slots]
            if (last < 0 && (!b || recordSeq(b) !== s)) break
            out.push(b)
        }
        return out
    }

    private async check(): Promise<BootVerdict> {
        const hd = this.storedHead
        if (!hd) return broken(TamperReason.HeadLost, this.state.head.seq + 1, 0)
        const anchor = this.ack
        if (anchor.seq >= 0) {
            // the acknowledged record, while still stored, must be the one the head-end saw
            const b = this.cache[anchor.seq % this.slots]
            if (b && recordSeq(b) === anchor.seq && !equalBytes(recordHash(nativeCrypto, b), anchor.hash))
                return broken(TamperReason.BadAnchor, anchor.seq, 0)
        }
        const n = hd.head.seq - anchor.seq
        if (n < 0 || n > this.slots) return broken(TamperReason.BadAnchor, anchor.seq, 0)
        const recs = this.consecutive(anchor, hd.head.seq)
        // missing newest records are a cut tail, missing middle ones a gap
        while (recs.length > 0 && !recs[recs.length - 1]) recs.pop()
        // the newest record has no successor: the stored head pins it
        const r = await verifySegment(recs, anchor, hd.head)
        if (r.reason) return broken(r.reason, r.at, r.at - anchor.seq - 1)
        return { ok: true, checked: n, resumed: false }
    }

    /**
     * `st.hd`: version u8 = 2, slots u16, seq u32, hash 32, next key 32, then the first 16
     * bytes of HMAC-SHA256(METER_SECRET, those 71 bytes) (87 bytes).
     */
    private encodeHead(st: ChainState): Buffer {
        const b = Buffer.alloc(HEAD_BYTES + 16)
        b[0] = 2
        setU16BE(b, 1, this.slots)
        setU32BE(b, 3, st.head.seq)
        b.set(st.head.hash, 7)
        b.set(st.key, 7 + HASH_SIZE)
        b.set(this.stateTag(b.slice(0, HEAD_BYTES)), HEAD_BYTES)
        return b
    }
}

/** `st.hd` without its tag */
const HEAD_BYTES = 7 + 2 * HASH_SIZE

function broken(reason: TamperReason, at: number, checked: number): BootVerdict {
    return { ok: false, reason: reason, at: at, checked: checked, resumed: false }
}
