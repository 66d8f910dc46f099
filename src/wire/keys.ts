/**
 * Key entries and key-ring bodies (docs/commands.md §2), written once for both ends: the
 * head-end provisions a ring body as the meter's trust anchor and sends key entries as the
 * arguments of key changes; the meter decodes both and keeps its ring in this format.
 *
 * Invariants of a ring, checked on every decode and change: exactly one root key (the
 * utility's trust anchor), 1..MAX_KEYS keys, unique ids 1..255, masks naming only opcodes
 * 1..MAX_OPCODE, 32-byte public keys.
 */
import { copyBytes, getU32BE, isIntIn, isU32, setU32BE } from "./bytes"
import { maskHas, OpFlag, opcodeFlags, Role } from "./opcodes"

/** Ed25519 public key size (RFC 8032 §5.1.5). */
export const PUBLIC_KEY_SIZE = 32
/** Most keys a ring holds. */
export const MAX_KEYS = 8
/** Encoded size of one entry: id (1) ‖ role (1) ‖ opcode mask (u32) ‖ public key (32). */
export const KEY_ENTRY_SIZE = 6 + PUBLIC_KEY_SIZE

/** One key: id (1..255), role, allowed opcodes as a bit mask (bit n = opcode n), Ed25519 public key. */
export interface KeyEntry {
    id: number
    role: number
    mask: number
    publicKey: Buffer
}

/**
 * One entry's 38 bytes: also the argument of KeyAdd, KeyReplace and RootRotate. Throws
 * when a field does not fit its bytes; the ring invariants are the decoder's (a test may
 * encode an invalid entry on purpose).
 */
export function encodeKeyEntry(k: KeyEntry): Buffer {
    if (!isByte(k.id) || !isByte(k.role) || !isU32(k.mask) || !k.publicKey || k.publicKey.length !== PUBLIC_KEY_SIZE)
        throw new RangeError("key entry: id, role, mask or public key out of range")
    const b = Buffer.alloc(KEY_ENTRY_SIZE)
    putEntry(b, 0, k)
    return b
}

/** The entry in `b` (exactly KEY_ENTRY_SIZE bytes), or undefined when it is malformed or invalid. */
export function decodeKeyEntry(b: Buffer | undefined): KeyEntry | undefined {
    if (!b || b.length !== KEY_ENTRY_SIZE) return undefined
    const k = readEntry(b, 0)
    return keyProblem(k) === undefined ? k : undefined
}

/**
 * A ring body: count (1) ‖ entries (38 each), what `trustmeter provision` writes to
 * `cv.anchor`. Encodes as given: the meter only encodes rings that passed `ringProblem`,
 * and the head-end's entries pass encodeKeyEntry first.
 */
export function encodeRing(keys: KeyEntry[]): Buffer {
    const b = Buffer.alloc(1 + keys.length * KEY_ENTRY_SIZE)
    b[0] = keys.length
    for (let i = 0; i < keys.length; i++) {
        // putEntry, written out (firmware code is counted per function)
        const k = keys[i]
        const off = 1 + i * KEY_ENTRY_SIZE
        b[off] = k.id
        b[off + 1] = k.role
        setU32BE(b, off + 2, k.mask)
        b.set(k.publicKey, off + 6)
    }
    return b
}

/** Decodes a ring body; undefined unless the length is exact and `ringProblem` finds nothing. */
export function decodeRing(b: Buffer | undefined): KeyEntry[] | undefined {
    if (!b || b.length < 1) return undefined
    const n = b[0]
    if (n < 1 || n > MAX_KEYS || b.length !== 1 + n * KEY_ENTRY_SIZE) return undefined
    const keys: KeyEntry[] = []
    for (let i = 0; i < n; i++) keys.push(readEntry(b, 1 + i * KEY_ENTRY_SIZE))
    if (ringProblem(keys) !== undefined) return undefined
    return keys
}

/** Why `keys` is not a valid ring, or undefined when it is. */
export function ringProblem(keys: KeyEntry[]): string | undefined {
    if (!keys || keys.length < 1) return "empty ring"
    if (keys.length > MAX_KEYS) return "too many keys"
    let roots = 0
    for (let i = 0; i < keys.length; i++) {
        const k = keys[i]
        const p = keyProblem(k)
        if (p !== undefined) return p
        if (k.role === Role.Root) roots++
        for (let j = 0; j < i; j++) if (keys[j].id === k.id) return "duplicate key id"
    }
    if (roots !== 1) return "a ring needs exactly one root"
    return undefined
}

/** Why `k` is not a valid entry, or undefined when it is. */
export function keyProblem(k: KeyEntry): string | undefined {
    if (k.id < 1 || k.id > 255) return "key id out of range"
    // Root, Supplier, NetworkOperator are 1, 2, 3
    if (!isIntIn(k.role, Role.Root, Role.NetworkOperator)) return "unknown role"
    // bit 0 and bit 31 name no opcode; a mask >= 2^31 would also break `>>`
    if (k.mask < 0 || k.mask >= 2147483648 || (k.mask & 1) !== 0) return "bad opcode mask"
    if (!k.publicKey || k.publicKey.length !== PUBLIC_KEY_SIZE) return "bad public key"
    return undefined
}

/** The key with `id`, or undefined. */
export function findKey(keys: KeyEntry[], id: number): KeyEntry | undefined {
    for (let i = 0; i < keys.length; i++) if (keys[i].id === id) return keys[i]
    return undefined
}

/** The root key of `keys`, or undefined (an unprovisioned meter's empty ring). */
export function rootKey(keys: KeyEntry[]): KeyEntry | undefined {
    for (const k of keys) if (k.role === Role.Root) return k
    return undefined
}

/**
 * true when `key` may sign `opcode`, as its issuer (signature block 0) or as a `cosigner`:
 * the mask must hold it; root-only opcodes need the root, and a supplier-issued one
 * (Disconnect) is issued by a supplier or the root, whatever the mask says.
 */
export function mayKeySign(key: KeyEntry, opcode: number, cosigner?: boolean): boolean {
    const f = opcodeFlags(opcode)
    if (key.role !== Role.Root && ((f & OpFlag.RootOnly) !== 0 || (!cosigner && key.role !== Role.Supplier && (f & OpFlag.SupplierIssued) !== 0)))
        return false
    return maskHas(key.mask, opcode)
}

function putEntry(b: Buffer, off: number, k: KeyEntry): void {
    b[off] = k.id
    b[off + 1] = k.role
    setU32BE(b, off + 2, k.mask)
    b.set(k.publicKey, off + 6)
}

function isByte(v: number): boolean {
    return isU32(v) && v <= 255
}

function readEntry(b: Buffer, off: number): KeyEntry {
    return { id: b[off], role: b[off + 1], mask: getU32BE(b, off + 2), publicKey: copyBytes(b, off + 6, off + 6 + PUBLIC_KEY_SIZE) }
}
