import { decodeKeyEntry, decodeRing, encodeRing, findKey, KeyEntry, ringProblem } from "../wire/keys"
import { Opcode, Role } from "../wire/opcodes"
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

/**
 * A key change (docs/commands.md §2): `op` is KeyAdd, KeyRemove, KeyReplace or RootRotate,
 * `args` its argument (an encoded entry; a key id for KeyRemove). KeyAdd adds a supplier
 * or network-operator key; KeyRemove removes a non-root key; KeyReplace replaces a non-root
 * key in place, same id (change of supplier, compromise: its counter starts again from 0,
 * CounterStore); RootRotate replaces the root that signed it. So the ring never loses its
 * root. Pure: the caller commits the ring (KeyRingStore.commit) before it takes effect.
 */
export function keyChange(op: number, keys: KeyEntry[], args: Buffer): KeyChange {
    let r: KeyEntry[]
    if (op === Opcode.KeyRemove) {
        if (!args || args.length !== 1) return refuse("malformed key id")
        const gone = findKey(keys, args[0])
        if (!gone) return refuse("no such key")
        if (gone.role === Role.Root) return refuse("the root cannot be removed, only rotated")
        r = keys.filter(x => x !== gone)
    } else {
        const k = decodeKeyEntry(args)
        if (!k) return refuse("malformed key")
        const isRoot = k.role === Role.Root
        const old = findKey(keys, k.id)
        if (op === Opcode.RootRotate) {
            if (!isRoot) return refuse("not a root key")
            if (old && old.role !== Role.Root) return refuse("key id in use")
            r = [k]
            for (const x of keys) if (x.role !== Role.Root) r.push(x)
        } else if (op === Opcode.KeyAdd) {
            if (isRoot) return refuse("a root is only installed by root rotation")
            if (old) return refuse("key id in use")
            r = keys.slice(0)
            r.push(k)
        } else {
            if (!old) return refuse("no such key")
            if (isRoot || old.role === Role.Root) return refuse("the root is only replaced by root rotation")
            r = keys.map(x => (x === old ? k : x))
        }
    }
    const p = ringProblem(r)
    return p ? refuse(p) : { keys: r, refused: undefined }
}

/** KeyAdd (`args` = one encoded entry): a supplier or network-operator key. */
export function keyAdd(keys: KeyEntry[], args: Buffer): KeyChange {
    return keyChange(Opcode.KeyAdd, keys, args)
}

/** KeyRemove (`args` = key id): a non-root key. */
export function keyRemove(keys: KeyEntry[], args: Buffer): KeyChange {
    return keyChange(Opcode.KeyRemove, keys, args)
}

/** KeyReplace (`args` = the new entry, same id): a non-root key. */
export function keyReplace(keys: KeyEntry[], args: Buffer): KeyChange {
    return keyChange(Opcode.KeyReplace, keys, args)
}

/** RootRotate (`args` = the new root entry): the new root replaces the old one, which signed it. */
export function rootRotate(keys: KeyEntry[], args: Buffer): KeyChange {
    return keyChange(Opcode.RootRotate, keys, args)
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
