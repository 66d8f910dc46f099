import { equalBytes, getU32BE, setU32BE } from "../wire/bytes"
import { KeyEntry } from "../wire/keys"
import { Storage } from "../storage/storage"
import { DurableRecord } from "./durable"

/**
 * The last accepted command counter of each signer, persisted per key id as a
 * DurableRecord `cv.c<id>` (docs/commands.md §9), so a torn write can never roll a counter
 * back, and read back after every write. Each record carries the first 8 bytes of the
 * signer's public key: when a key id gets a new key (change of supplier, rotation) the
 * stored counter no longer matches and the new signer starts from 0 — the reset happens
 * in the same flash write that installs the key, so no power cut can separate them.
 */
export class CounterStore {
    private storage: Storage
    private prefix: string
    /** the records read or written so far, by key id: this store is their only writer */
    private cache: Buffer[] = []

    constructor(storage: Storage, prefix = "cv.") {
        this.storage = storage
        this.prefix = prefix
    }

    /** The last accepted counter of `key` as [hi, lo] u32 halves; [0, 0] if none. */
    async last(key: KeyEntry): Promise<number[]> {
        let b = this.cache[key.id]
        if (!b) {
            b = await new DurableRecord(this.storage, this.prefix + "c" + key.id).load()
            if (!b || b.length !== 16) return [0, 0]
            this.cache[key.id] = b
        }
        if (!equalBytes(b.slice(8, 16), key.publicKey.slice(0, 8))) return [0, 0]
        return [getU32BE(b, 0), getU32BE(b, 4)]
    }

    /** Persists `hi:lo` as the last accepted counter of `key`. Called before a command acts. */
    async accept(key: KeyEntry, hi: number, lo: number): Promise<void> {
        const b = Buffer.alloc(16)
        setU32BE(b, 0, hi)
        setU32BE(b, 4, lo)
        b.set(key.publicKey.slice(0, 8), 8)
        const r = new DurableRecord(this.storage, this.prefix + "c" + key.id)
        await r.load()
        await r.save(b)
        this.cache[key.id] = b
    }
}
