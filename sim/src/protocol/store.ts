/**
 * The index store of a protocol-level meter (docs/index-store.md): the firmware's
 * `IndexStore` (src/store/indexstore.ts) without flash — a ring of `slots` records, the
 * chain head and the key K_{head+1}, the acknowledged seq. Same rules: a record goes into
 * its slot only when the slot's previous record is acknowledged; when only one slot is
 * left the store writes one `StoreFull` record into it, raises the alert and refuses every
 * record until an ack frees a slot. Records are sealed by the wire core's `seal`
 * (src/wire/chain.ts), the function the firmware's store calls, here with node:crypto
 * (headend/src/crypto.ts).
 */
import { randomBytes } from "node:crypto"
import { nodeCrypto } from "../../../headend/src/crypto.ts"
import { ChainState, genesisState, recordHash as wireRecordHash, seal } from "../../../src/wire/chain"
import { RecordKind } from "../../../src/wire/record"

/** The firmware's store size (src/store/indexstore.ts DEFAULT_SLOTS: the 8 KB settings area). */
export const STORE_SLOTS = 24

/** H(0x00 ‖ record): the record hash the next record's prev field holds. */
export function recordHash(record: Buffer): Buffer {
    return wireRecordHash(nodeCrypto, record)
}

/** What a store persists: in the firmware, its slots, `st.hd` (head and key) and `st.ack`. */
export interface StoreImage {
    /** the records still in their slots, oldest first (base64) */
    records: string[]
    headSeq: number
    headHash: string
    /** K_{head+1} (hex): the key that tags the next record (the one before is erased) */
    key: string
    ackSeq: number
}

export class ChainStore {
    /** records by seq; at most `slots` (the ones whose slot was not reused) */
    private recs = new Map<number, Buffer>()
    private state: ChainState
    private ack = -1
    private full = false

    /**
     * A store for `meterId`; `image` resumes a persisted one, otherwise the chain starts at
     * `key0` (K_0 as provisioned: the firmware's `st.k0`; without one, a random key nobody
     * holds, as the firmware does) and the genesis record (payload: the meter id) is written
     * at `now`. The caller drops its copy of K_0 afterwards (the firmware deletes `st.k0`).
     * `onAlert(kind)` is told of a StoreFull record (the firmware's `onAlert`).
     */
    constructor(
        readonly meterId: Buffer,
        key0: Buffer | undefined,
        now: number,
        private onAlert: (kind: number) => void,
        image?: StoreImage,
        readonly slots = STORE_SLOTS
    ) {
        if (image) {
            for (const r of image.records) {
                const b = Buffer.from(r, "base64")
                this.recs.set(b.readUInt32BE(2), b)
            }
            this.state = { head: { seq: image.headSeq, hash: Buffer.from(image.headHash, "hex") }, key: Buffer.from(image.key, "hex") }
            this.ack = image.ackSeq
            this.full = !this.slotFree(image.headSeq + 2)
        } else {
            this.state = genesisState(key0 ? Buffer.from(key0) : randomBytes(32))
            this.write(RecordKind.Genesis, now, meterId)
        }
    }

    /** The newest record: seq (-1: none) and record hash. */
    head(): { seq: number; hash: Buffer } {
        return this.state.head
    }

    /** The highest acknowledged seq (-1: none): the firmware's `st.ack`. */
    acknowledged(): number {
        return this.ack
    }

    /** True while unacknowledged records fill every slot. */
    isFull(): boolean {
        return this.full
    }

    /** The stored bytes of record `seq`, if it is still in its slot. */
    record(seq: number): Buffer | undefined {
        return this.recs.get(seq)
    }

    /**
     * Seals and keeps one record; undefined when the store is full of unacknowledged
     * records (the last free slot then takes a StoreFull record: head seq + 1, ack seq).
     */
    append(kind: number, time: number, payload: Buffer): { seq: number; data: Buffer } | undefined {
        const next = this.state.head.seq + 1
        if (!this.slotFree(next)) return undefined
        if (!this.slotFree(next + 1)) {
            const p = Buffer.alloc(8)
            p.writeUInt32BE(next, 0)
            p.writeUInt32BE(this.ack < 0 ? 0 : this.ack, 4)
            this.write(RecordKind.StoreFull, time, p)
            this.full = true
            this.onAlert(RecordKind.StoreFull)
            return undefined
        }
        return this.write(kind, time, payload)
    }

    /** Records with seq > `seq`, oldest first, at most `max` (the uplink's backlog). */
    recordsAfter(seq: number, max: number): { seq: number; data: Buffer }[] {
        const out: { seq: number; data: Buffer }[] = []
        const head = this.state.head.seq
        let s = Math.max(seq + 1, head - this.slots + 1, 0)
        for (; s <= head && out.length < max; s++) {
            const b = this.recs.get(s)
            if (b) out.push({ seq: s, data: b })
        }
        return out
    }

    /**
     * The head-end verified the chain up to `seq` (an authenticated ack): frees slots. With
     * `hash` (the ack's record name: the first 16 bytes or more of the record hash) the ack
     * must name the record this store holds at `seq`, as src/store/indexstore.ts checks: an
     * ack for a clone's record `seq` frees nothing here. False when stale, ahead of the
     * head, no longer stored, or naming another record.
     */
    acknowledge(seq: number, hash?: Buffer): boolean {
        const head = this.state.head.seq
        const b = this.recs.get(seq)
        if (seq <= this.ack || seq > head || !b) return false
        if (hash && !(hash.length >= 16 && hash.length <= 32 && recordHash(b).subarray(0, hash.length).equals(hash))) return false
        this.ack = seq
        if (this.full && this.slotFree(head + 2)) this.full = false
        // records before the acknowledged one are never read again (their slots get reused)
        for (const s of this.recs.keys()) if (s < seq) this.recs.delete(s)
        return true
    }

    /** What survives a power cut. Acknowledged records older than the ack are not kept (nothing reads them again). */
    image(): StoreImage {
        const records = [...this.recs.entries()].filter(([s]) => s >= this.ack).sort((a, b) => a[0] - b[0]).map(([, b]) => b.toString("base64"))
        const st = this.state
        return { records, headSeq: st.head.seq, headHash: st.head.hash.toString("hex"), key: st.key.toString("hex"), ackSeq: this.ack }
    }

    private slotFree(seq: number): boolean {
        return seq - this.slots <= this.ack
    }

    /** The wire core's `seal` onto the head; the key that tagged the record is dropped with the old state. */
    private write(kind: number, time: number, payload: Buffer): { seq: number; data: Buffer } {
        const sealed = seal(nodeCrypto, this.state, kind, time, payload)
        this.state = sealed.state
        const data = sealed.record.encoded
        this.recs.set(sealed.state.head.seq, data)
        return { seq: sealed.state.head.seq, data }
    }
}
