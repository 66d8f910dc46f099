import { DurableRecord } from "./durable"
import { FlashStore } from "./flash"
import { isRootOnlyOpcode, MAX_OPCODE, PUBLIC_KEY_SIZE } from "./envelope"
import { getU32BE, setU32BE } from "./bytes"

/**
 * The meter's key ring: who may sign which commands (docs/commands.md, "Key ring").
 *
 * Invariants, checked on every load and every change: exactly one root key (the
 * utility's trust anchor), 1..MAX_KEYS keys, unique non-zero ids, masks naming only
 * opcodes 1..30. The ring is a DurableRecord: a power cut in the middle of a change
 * leaves the previous ring in force, so the meter is never left without a root.
 */

/** Roles (docs/commands.md, "Roles"). */
export const enum Role {
    Root = 1,
    Supplier = 2,
    NetworkOperator = 3,
}

/** One key: id (1..255), role, allowed opcodes as a bit mask (bit n = opcode n), Ed25519 public key. */
export interface KeyEntry {
    id: number
    role: number
    mask: number
    publicKey: Buffer
}

export const MAX_KEYS = 8
/** Encoded size of one entry: id, role, mask (u32 BE), public key. */
export const KEY_ENTRY_SIZE = 6 + PUBLIC_KEY_SIZE
/** Settings names after the "cv." prefix: the ring's durable record, and the provisioning anchor. */
export const RING_RECORD = "ring"
export const ANCHOR_KEY = "anchor"

/** Ring bodies as the head-end provisions them: count (1) ‖ entries (38 each). */
export function encodeRing(keys: KeyEntry[]): Buffer {
    const b = Buffer.alloc(1 + keys.length * KEY_ENTRY_SIZE)
    b[0] = keys.length
    for (let i = 0; i < keys.length; i++) writeEntry(b, 1 + i * KEY_ENTRY_SIZE, keys[i])
    return b
}

/** Decodes a ring body; undefined unless the length is exact and `ringProblem` finds nothing. */
export function decodeRing(b: Buffer): KeyEntry[] {
    if (!b || b.length < 1) return undefined
    const n = b[0]
    if (n < 1 || n > MAX_KEYS || b.length !== 1 + n * KEY_ENTRY_SIZE) return undefined
    const keys: KeyEntry[] = []
    for (let i = 0; i < n; i++) keys.push(readEntry(b, 1 + i * KEY_ENTRY_SIZE))
    if (ringProblem(keys)) return undefined
    return keys
}

/** Why `keys` is not a valid ring, or undefined when it is. */
export function ringProblem(keys: KeyEntry[]): string {
    if (!keys || keys.length < 1) return "empty ring"
    if (keys.length > MAX_KEYS) return "too many keys"
    let roots = 0
    for (let i = 0; i < keys.length; i++) {
        const k = keys[i]
        const p = keyProblem(k)
        if (p) return p
        if (k.role === Role.Root) roots++
        for (let j = 0; j < i; j++) if (keys[j].id === k.id) return "duplicate key id"
    }
    if (roots !== 1) return "a ring needs exactly one root"
    return undefined
}

/** The key with `id`, or undefined. */
export function findKey(keys: KeyEntry[], id: number): KeyEntry {
    for (const k of keys) if (k.id === id) return k
    return undefined
}

/** true when `key` may sign `opcode`: root-only opcodes (isRootOnlyOpcode) need the root whatever the mask says. */
export function mayKeySign(key: KeyEntry, opcode: number): boolean {
    if (isRootOnlyOpcode(opcode) && key.role !== Role.Root) return false
    return maskHas(key.mask, opcode)
}

/** true when bit `opcode` is set in `mask` (a positive 31-bit number, so `>>` is exact). */
export function maskHas(mask: number, opcode: number): boolean {
    if (opcode < 1 || opcode > MAX_OPCODE) return false
    return ((mask >> opcode) & 1) === 1
}

/** The mask allowing exactly `opcodes`. */
export function maskOf(opcodes: number[]): number {
    let m = 0
    for (const op of opcodes) m |= 1 << op
    return m
}

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
    const k = decodeEntryArg(args)
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
    const k = decodeEntryArg(args)
    if (!k) return refuse("malformed key")
    const old = findKey(keys, k.id)
    if (!old) return refuse("no such key")
    if (old.role === Role.Root || k.role === Role.Root) return refuse("the root is only replaced by root rotation")
    return checked(keys.map(x => (x.id === k.id ? k : x)))
}

/** Root rotation (`args` = new root entry): the old root, which signed it, is replaced by the new one. */
export function rootRotate(keys: KeyEntry[], args: Buffer): KeyChange {
    const k = decodeEntryArg(args)
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
    private flash: FlashStore
    private prefix: string
    /** the ring in force (empty until provisioned) */
    keys: KeyEntry[] = []

    constructor(flash: FlashStore, prefix = "cv.") {
        this.flash = flash
        this.prefix = prefix
        this.record = new DurableRecord(flash, prefix + RING_RECORD)
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
        const body = await this.record.load()
        const keys = decodeRing(body)
        const anchorKey = this.prefix + ANCHOR_KEY
        const anchorBytes = await this.flash.get(anchorKey)
        if (keys) {
            this.keys = keys
            // a consumed anchor must not come back after a root rotation retired it
            if (anchorBytes) await this.flash.delete(anchorKey)
            return true
        }
        this.keys = []
        const anchor = decodeRing(anchorBody(anchorBytes))
        if (!anchor) return false
        await this.commit(anchor)
        await this.flash.delete(anchorKey)
        return true
    }

    /** Makes `keys` the ring in force; a power cut during the write leaves the previous ring in force. */
    async commit(keys: KeyEntry[]): Promise<void> {
        const p = ringProblem(keys)
        if (p) throw new Error(`key ring: ${p}`)
        await this.record.save(encodeRing(keys))
        this.keys = keys
    }

    /** The root key in force, or undefined when unprovisioned. */
    root(): KeyEntry {
        for (const k of this.keys) if (k.role === Role.Root) return k
        return undefined
    }
}

/**
 * The ring body in a `cv.anchor` setting: raw bytes (written over the settings service),
 * or a JSON string of hex (what a `.env` file deploys: `cv.anchor="0301..."`).
 */
export function anchorBody(b: Buffer): Buffer {
    if (!b || b.length < 2 || b[0] !== 0x22 || b[b.length - 1] !== 0x22) return b
    const hexText = b.slice(1, b.length - 1).toString()
    if (hexText.length % 2 !== 0) return undefined
    for (let i = 0; i < hexText.length; i++) if ("0123456789abcdefABCDEF".indexOf(hexText.charAt(i)) < 0) return undefined
    return Buffer.from(hexText, "hex")
}

function writeEntry(b: Buffer, off: number, k: KeyEntry) {
    b[off] = k.id
    b[off + 1] = k.role
    setU32BE(b, off + 2, k.mask)
    b.blitAt(off + 6, k.publicKey, 0, PUBLIC_KEY_SIZE)
}

function readEntry(b: Buffer, off: number): KeyEntry {
    return {
        id: b[off],
        role: b[off + 1],
        mask: getU32BE(b, off + 2),
        publicKey: b.slice(off + 6, off + 6 + PUBLIC_KEY_SIZE),
    }
}

function decodeEntryArg(args: Buffer): KeyEntry {
    if (!args || args.length !== KEY_ENTRY_SIZE) return undefined
    const k = readEntry(args, 0)
    if (keyProblem(k)) return undefined
    return k
}
function keyProblem(k: KeyEntry): string {
    if (k.id < 1 || k.id > 255) return "key id out of range"
    if (k.role !== Role.Root && k.role !== Role.Supplier && k.role !== Role.NetworkOperator) return "unknown role"
    // bit 0 and bit 31 name no opcode; a mask >= 2^31 would also break `>>`
    if (k.mask < 0 || k.mask >= 2147483648 || (k.mask & 1) !== 0) return "bad opcode mask"
    if (!k.publicKey || k.publicKey.length !== PUBLIC_KEY_SIZE) return "bad public key"
    return undefined
}

function refuse(why: string): KeyChange {
    return { keys: undefined, refused: why }
}

function checked(keys: KeyEntry[]): KeyChange {
    const p = ringProblem(keys)
    if (p) return refuse(p)
    return { keys: keys, refused: undefined }
}
