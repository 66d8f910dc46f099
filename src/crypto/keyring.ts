import { decodeKeyEntry, decodeRing, encodeRing, findKey, KeyEntry, ringProblem } from "../wire/keys"
import { Role } from "../wire/opcodes"
import { Storage } from "../storage/storage"
import { DurableRecord } from "./durable"

/**
 * The meter's key ring: who may sign which commands (docs/commands.md §2). The format and
 * the invariants are the wire core's (src/wire/keys.ts); here are the pure key changes and
 * the ring in flash. The ring is a DurableRecord: a power cut in the middle of a change
 * leaves the previous ring in force, so the meter is never left without a root.
 */

/** Settings names after the "cv." prefix: the ring's durable record, and the provisioning anchor. */
export const RING_RECORD = "ring"
export const ANCHOR_KEY = "anchor"

/**
 * Result of a key change: the new ring, or the reason it is refused. Pure: the caller
 * persists the ring (KeyRingStore.commit) before it takes effect.
 */
export interface KeyChange {
    keys: KeyEntry[]
    refused: string
}

/** Adds a supplier or network-operator key (`args` = one encoded entry). A root is only added by rotation. */
export function keyAdd(keys: KeyEntry[], args: Buffer): KeyChange {
    const k = decodeKeyEntry(args)
    if (!k) return refuse("malformed key")
    if (k.role === Role.Root) return refuse("a root is only installed by root rotation")
    if (findKey(keys, k.id)) return refuse("key id in use")
    const r = keys.slice(0)
    r.push(k)
    return checked(r)
}

/** Removes a non-root key (`args` = key id). Removing the root is refused, so the ring never empties. */
export function keyRemove(keys: KeyEntry[], args: Buffer): KeyChange {
    if (!args || args.length !== 1) return refuse("malformed key id")
    const id = args[0]
    const k = findKey(keys, id)
    if (!k) return refuse("no such key")
    if (k.role === Role.Root) return refuse("the root cannot be removed, only rotated")
    return checked(keys.filter(x => x.id !== id))
}

/**
 * Replaces a non-root key in place (change of supplier, compromise). The signer's counter
 * starts again from 0 because counters are bound to the public key (see CounterStore).
 */
export function keyReplace(keys: KeyEntry[], args: Buffer): KeyChange {
    const k = decodeKeyEntry(args)
    if (!k) return refuse("malformed key")
    const old = findKey(keys, k.id)
    if (!old) return refuse("no such key")
    if (old.role === Role.Root || k.role === Role.Root) return refuse("the root is only replaced by root rotation")
    return checked(keys.map(x => (x.id === k.id ? k : x)))
}

/** Root rotation (`args` = new root entry): the old root, which signed it, is replaced by the new one. */
export function rootRotate(keys: KeyEntry[], args: Buffer): KeyChange {
    const k = decodeKeyEntry(args)
    if (!k) return refuse("malformed key")
    if (k.role !== Role.Root) return refuse("not a root key")
    const rest = keys.filter(x => x.role !== Role.Root)
    if (findKey(rest, k.id)) return refuse("key id in use")
    const r = [k]
    for (const x of rest) r.push(x)
    return checked(r)
}

/**
 * The key ring in flash: a DurableRecord `cv.ring` (slots `cv.ringa`/`cv.ringb`) holding a
 * ring body. Until `load()` finds a ring, `keys` is empty and the verifier refuses every
 * command (NotProvisioned).
 */
export class KeyRingStore {
    private record: DurableRecord
    private storage: Storage
    private prefix: string
    /** the ring in force (empty until provisioned) */
    keys: KeyEntry[] = []

    constructor(storage: Storage, prefix = "cv.") {
        this.storage = storage
        this.prefix = prefix
        this.record = new DurableRecord(storage, prefix + RING_RECORD)
    }

    /** generation of the ring in force, 0 when none */
    generation() {
        return this.record.generation
    }

    /**
     * Loads the ring in force; with none, installs the provisioned anchor ring
     * (`cv.anchor`: a ring body, raw or as a JSON hex string) as generation 1 and deletes
     * the anchor setting. Returns true when a ring is in force.
     * A slot that fails its checksum or the ring invariants is ignored.
     */
    async load(): Promise<boolean> {
        const keys = decodeRing(await this.record.load())
        const anchorKey = this.prefix + ANCHOR_KEY
        const anchorBytes = await this.storage.get(anchorKey)
        if (keys) {
            this.keys = keys
            // a consumed anchor must not come back after a root rotation retired it
            if (anchorBytes) await this.storage.delete(anchorKey)
            return true
        }
        this.keys = []
        const anchor = decodeRing(anchorBody(anchorBytes))
        if (!anchor) return false
        await this.commit(anchor)
        await this.storage.delete(anchorKey)
        return true
    }

    /** Makes `keys` the ring in force; a power cut during the write leaves the previous ring in force. */
    async commit(keys: KeyEntry[]): Promise<void> {
        const p = ringProblem(keys)
        if (p) throw new Error("key ring: " + p)
        await this.record.save(encodeRing(keys))
        this.keys = keys
    }
}

/**
 * The ring body in a `cv.anchor` setting: raw bytes (written over the settings service),
 * or a JSON string of hex (what a `.env` file deploys: `cv.anchor="0301..."`).
 */
export function anchorBody(b: Buffer): Buffer {
    if (!b || b.length < 2 || b[0] !== 0x22 || b[b.length - 1] !== 0x22) return b
    const text = b.slice(1, b.length - 1).toString()
    // the runtime stops decoding at the first character that is not a hex digit
    const body = Buffer.from(text, "hex")
    return body.length * 2 === text.length ? body : undefined
}

function refuse(why: string): KeyChange {
    return { keys: undefined, refused: why }
}

function checked(keys: KeyEntry[]): KeyChange {
    const p = ringProblem(keys)
    if (p) return refuse(p)
    return { keys: keys, refused: undefined }
}
