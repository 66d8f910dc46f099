/**
 * The head-end's keystore: the utility's Ed25519 signing keys (root, supplier, network
 * operator) and each meter's 32-byte secret and escrowed chain key K_0, in one local JSON
 * file.
 *
 * Threat: whoever reads this file can sign commands for the whole fleet and read every
 * meter's uplink. It is therefore created with mode 0600, ignored by git (`.keystore*`),
 * and written atomically (temp file + rename) so a crash never leaves a half-written key.
 * A production head-end keeps these keys in an HSM; the file format is the demo's stand-in.
 */
import { randomBytes } from "node:crypto"
import { chmodSync, closeSync, fstatSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs"
import { join } from "node:path"
import { ed25519 } from "@noble/curves/ed25519.js"
import { ROOT } from "./paths.ts"

/** The three signing roles of the utility (docs/headend.md, "Roles"). */
export type Role = "root" | "supplier" | "networkOperator"
export const ROLES: Role[] = ["root", "supplier", "networkOperator"]

/** One Ed25519 signing key of a role. Hex strings, so the file stays readable. */
export interface RoleKey {
    /** the key id a command envelope names (u8), unique over the key's lifetime in the fleet */
    keyId: number
    /** 32-byte Ed25519 secret key (RFC 8032 section 5.1.5 seed), hex */
    secretKey: string
    /** 32-byte Ed25519 public key, hex */
    publicKey: string
}

/** A provisioned meter. */
export interface MeterEntry {
    /** human name, e.g. "meter-1" */
    name: string
    /** 8-byte meter id, 16 hex chars (settings `METER_ID`; also the simulator's device id) */
    meterId: string
    /** 32-byte per-meter secret, 64 hex chars (settings `METER_SECRET`): the uplink's frame keys and the tags of the meter's flash state derive from it */
    secret: string
    /**
     * The index chain's initial key K_0, 64 hex chars: random, independent of `secret`,
     * written to the meter once (setting `st.k0`, which the meter deletes after its genesis
     * record) and escrowed here: the head-end verifies every record's tag from it
     * (docs/index-store.md, "Forward security").
     */
    chainKey: string
}

export interface Keystore {
    format: typeof KEYSTORE_FORMAT
    created: string
    /** the current key of each role */
    roles: Record<Role, RoleKey>
    /** the next unused key id (ids are never reused, so a retired key can never come back) */
    nextKeyId: number
    meters: MeterEntry[]
}

export const KEYSTORE_FORMAT = "trustmeter-keystore/v1"
/** Default location: git-ignored (`.keystore*`), in the repository root. */
export const DEFAULT_KEYSTORE = join(ROOT, ".keystore.json")

/** A keystore problem with a message that says what is wrong and what to do. */
export class KeystoreError extends Error {}

/** Creates a fresh keystore: new random keys for every role, no meters. */
export function createKeystore(): Keystore {
    const ks: Keystore = {
        format: KEYSTORE_FORMAT,
        created: new Date().toISOString(),
        roles: {} as Record<Role, RoleKey>,
        nextKeyId: 1,
        meters: [],
    }
    for (const r of ROLES) ks.roles[r] = newRoleKey(ks)
    return ks
}

/** Generates a new key for a role (key rotation, change of supplier) with a fresh key id. */
export function newRoleKey(ks: Keystore): RoleKey {
    if (ks.nextKeyId > 255) throw new KeystoreError("all 255 key ids are used: start a new fleet with `trustmeter keys init --force`")
    const sk = ed25519.utils.randomSecretKey()
    const key = { keyId: ks.nextKeyId, secretKey: hex(sk), publicKey: hex(ed25519.getPublicKey(sk)) }
    ks.nextKeyId++
    return key
}

/**
 * The next key of `role` (docs/commands.md, "Key ring"): a supplier or network-operator key
 * is replaced in place (same id: KeyReplace), the root gets a new id (RootRotate). Returns
 * the new key; the caller stores it in `ks.roles` once the meters have it.
 */
export function nextRoleKey(ks: Keystore, role: Role): RoleKey {
    if (role === "root") return newRoleKey(ks)
    const sk = ed25519.utils.randomSecretKey()
    return { keyId: ks.roles[role].keyId, secretKey: hex(sk), publicKey: hex(ed25519.getPublicKey(sk)) }
}

/** Adds (or returns the existing) meter `name`; new meters get a random 32-byte secret and a random chain key K_0. */
export function addMeter(ks: Keystore, name: string, meterId?: string): MeterEntry {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(name))
        throw new KeystoreError(`bad meter name "${name}": use 1-32 letters, digits, "-" or "_"`)
    const found = ks.meters.find(m => m.name === name)
    if (found) {
        if (meterId && found.meterId !== meterId.toLowerCase())
            throw new KeystoreError(`meter ${name} already exists with id ${found.meterId}`)
        return found
    }
    const id = (meterId ?? nextMeterId(ks)).toLowerCase()
    if (!/^[0-9a-f]{16}$/.test(id)) throw new KeystoreError(`bad meter id "${meterId}": it must be 16 hex characters`)
    if (ks.meters.some(m => m.meterId === id)) throw new KeystoreError(`meter id ${id} is already used`)
    const m = { name, meterId: id, secret: randomBytes(32).toString("hex"), chainKey: randomBytes(32).toString("hex") }
    ks.meters.push(m)
    return m
}

/** The escrowed K_0 of `meter` (the head-end's anchor for its chain tags). */
export function chainKeyOf(meter: MeterEntry): Buffer {
    return Buffer.from(meter.chainKey, "hex")
}

/** Finds a meter by name or id. */
export function findMeter(ks: Keystore, nameOrId: string): MeterEntry | undefined {
    const k = nameOrId.toLowerCase()
    return ks.meters.find(m => m.name.toLowerCase() === k || m.meterId === k)
}

/**
 * Reads and checks a keystore. Throws `KeystoreError` with a one-line remedy when the file
 * is missing, unreadable, not a keystore, or readable by others.
 */
export function loadKeystore(path = DEFAULT_KEYSTORE): Keystore {
    let text: string
    let mode: number
    let fd: number | undefined
    try {
        // mode and content from the same open file, so a swap between the two checks is not possible
        fd = openSync(path, "r")
        mode = fstatSync(fd).mode
        text = readFileSync(fd, "utf8")
    } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code === "ENOENT") throw new KeystoreError(`no keystore at ${path}: create one with \`trustmeter keys init\``)
        throw new KeystoreError(`cannot read keystore ${path} (${code}): check its permissions`)
    } finally {
        if (fd !== undefined) closeSync(fd)
    }
    let ks: Keystore
    try {
        ks = JSON.parse(text)
    } catch {
        throw new KeystoreError(`keystore ${path} is not valid JSON: restore it from a backup or recreate it with \`trustmeter keys init --force\``)
    }
    const problem = checkKeystore(ks)
    if (problem) throw new KeystoreError(`keystore ${path} is damaged (${problem}): restore it or recreate it with \`trustmeter keys init --force\``)
    const exposed = exposedTo(mode)
    if (exposed) throw new KeystoreError(`keystore ${path} is readable by ${exposed} (mode 0${(mode & 0o777).toString(8)}): run \`chmod 600 ${path}\` (and replace the keys if someone else may have read them)`)
    return ks
}

/**
 * Who besides the owner may read a file of `mode`: "group", "others", "group and others",
 * or undefined. POSIX only: Windows has no mode bits (its ACLs are not checked here).
 */
function exposedTo(mode: number): string | undefined {
    if (process.platform === "win32") return undefined
    const g = (mode & 0o070) !== 0
    const o = (mode & 0o007) !== 0
    return g && o ? "group and others" : g ? "group" : o ? "others" : undefined
}

/**
 * Writes the keystore atomically (temp file + fsync + rename) with mode 0600. `exclusive`:
 * only if nothing exists at `path` (a first keystore must never replace another file).
 */
export function saveKeystore(ks: Keystore, path = DEFAULT_KEYSTORE, opts: { exclusive?: boolean } = {}) {
    const problem = checkKeystore(ks)
    if (problem) throw new KeystoreError(`refusing to write a damaged keystore (${problem})`)
    writeFileAtomic(path, JSON.stringify(ks, null, 2) + "\n", 0o600, opts)
}

/**
 * Writes `data` to `path` so that readers see either the old or the new file, never a
 * half-written one: write a temp file next to it, fsync, rename over. `exclusive`: fail
 * with EEXIST instead of replacing a file that exists.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, opts: { exclusive?: boolean } = {}) {
    const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`
    let fd: number | undefined
    try {
        fd = openSync(tmp, "wx", mode)
        writeSync(fd, typeof data === "string" ? Buffer.from(data) : data)
        fsyncSync(fd)
        closeSync(fd)
        fd = undefined
        chmodSync(tmp, mode) // the umask may have cleared bits; never widen
        if (opts.exclusive) {
            // link fails with EEXIST if anything appeared at `path` meanwhile: never replaces
            linkSync(tmp, path)
            unlinkSync(tmp)
        } else renameSync(tmp, path)
    } catch (e) {
        if (fd !== undefined) closeSync(fd)
        try {
            unlinkSync(tmp)
        } catch {}
        throw e
    }
}

/** Returns what is wrong with a parsed keystore, or undefined if it is well-formed. */
export function checkKeystore(ks: any): string | undefined {
    if (!ks || typeof ks !== "object") return "not an object"
    if (ks.format !== KEYSTORE_FORMAT) return `format is ${JSON.stringify(ks.format)}, expected ${KEYSTORE_FORMAT}`
    if (!ks.roles || typeof ks.roles !== "object") return "no roles"
    const ids = new Set<number>()
    for (const r of ROLES) {
        const k = ks.roles[r]
        if (!k) return `no ${r} key`
        if (!Number.isInteger(k.keyId) || k.keyId < 1 || k.keyId > 255) return `${r} key id out of range`
        if (ids.has(k.keyId)) return `key id ${k.keyId} used twice`
        ids.add(k.keyId)
        if (!/^[0-9a-f]{64}$/.test(k.secretKey) || !/^[0-9a-f]{64}$/.test(k.publicKey)) return `${r} key is not 32-byte hex`
        if (hex(ed25519.getPublicKey(unhex(k.secretKey))) !== k.publicKey) return `${r} public key does not match its secret key`
    }
    if (!Number.isInteger(ks.nextKeyId) || ks.nextKeyId <= Math.max(...ids)) return "nextKeyId is not above every key id"
    if (!Array.isArray(ks.meters)) return "no meter list"
    const seen = new Set<string>()
    for (const m of ks.meters) {
        if (!m || typeof m.name !== "string") return "a meter has no name"
        if (!/^[0-9a-f]{16}$/.test(m.meterId)) return `meter ${m.name} has a bad id`
        if (!/^[0-9a-f]{64}$/.test(m.secret)) return `meter ${m.name} has a bad secret`
        if (m.chainKey === undefined) return `meter ${m.name} has no chain key K_0 (a keystore from before the random K_0; its meters must be provisioned again on erased flash)`
        if (!/^[0-9a-f]{64}$/.test(m.chainKey) || m.chainKey === m.secret) return `meter ${m.name} has a bad chain key`
        if (seen.has(m.meterId) || seen.has(m.name)) return `meter ${m.name} appears twice`
        seen.add(m.meterId)
        seen.add(m.name)
    }
    return undefined
}

export function hex(b: Uint8Array): string {
    return Buffer.from(b).toString("hex")
}

export function unhex(s: string): Uint8Array {
    return new Uint8Array(Buffer.from(s, "hex"))
}

/** Demo meter ids: 7e57 ("test") followed by the meter's number. */
function nextMeterId(ks: Keystore): string {
    for (let n = ks.meters.length + 1; ; n++) {
        const id = "7e57" + n.toString(16).padStart(12, "0")
        if (!ks.meters.some(m => m.meterId === id)) return id
    }
}
