/**
 * Signed commands (docs/commands.md §1, docs/formats.cddl `command`), the one wire format
 * in which the head-end tells a meter to do something, and the arguments both ends encode
 * (§3, §7). A command is COSE (RFC 9052): a COSE_Sign1 signed by one key, or a COSE_Sign
 * with exactly two signatures under dual control, EdDSA (alg −8), each signer's kid (its
 * one-byte key-ring slot) in its protected header; the payload is a deterministic CBOR map
 * with small integer keys (`CommandKey`). Written once, on the wire core's CBOR and COSE
 * codec (src/wire/cbor.ts, src/wire/cose.ts): the meter parses with it, the head-end builds
 * with it (and signs each `toBeSigned` with its own Ed25519). Decides nothing and touches
 * no flash.
 */
import { CborMap, decodeCbor, encodeCbor } from "./cbor"
import { COSE_SIGN1_TAG, COSE_SIGN_TAG, CoseMessage, CoseReason, coseProtected, decodeCose, encodeCose, toBeSigned } from "./cose"
import { ascii, copyBytes, getU32BE, isIntIn, isU32, setU16BE, setU32BE, U32_MAX, u32Bytes } from "./bytes"
import { isKnownOpcode, Verdict } from "./opcodes"

/** Largest argument block a meter accepts (a tariff calendar is the largest argument). */
export const MAX_ARGS = 512
/** Ed25519 signature size (RFC 8032 §5.1.6). */
export const SIGNATURE_SIZE = 64
/** Size of a meter id. */
export const METER_ID_SIZE = 8
/** The largest counter a command carries: 2^53 − 1 (CBOR integers beyond are refused: no BigInt in the VM). */
export const MAX_COUNTER = 9007199254740991

/** The keys of the payload map (docs/commands.md §1): all seven, always, in this order. */
export const enum CommandKey {
    /** bstr .size 8 */
    MeterId = 1,
    /** uint: the key id (kid) of the first signature, whose counter this is */
    Signer = 2,
    /** uint ≤ 2^53 − 1: strictly increasing per signer */
    Counter = 3,
    /** uint32 UTC seconds, 0 = no lower bound */
    NotBefore = 4,
    /** uint32 UTC seconds, ≠ 0, ≥ not-before */
    Expiry = 5,
    /** uint: a known opcode */
    Opcode = 6,
    /** bstr .size (0..512): the opcode's arguments (§3) */
    Args = 7,
}

/** The command fields a meter reads and the head-end writes (docs/commands.md §1). */
export interface HeaderFields {
    /** owns the counter; = the kid of the first signature */
    signerKeyId: number
    /** the counter as two u32 halves (no BigInt on the VM) */
    counterHi: number
    counterLo: number
    /** UTC seconds, 0 = no lower bound */
    notBefore: number
    /** UTC seconds, ≠ 0 */
    expiry: number
    opcode: number
    /** 1 (COSE_Sign1), or 2 under dual control (COSE_Sign) */
    signatureCount: number
}

/** A parsed command: its fields, and the COSE message whose signatures are still to be verified. */
export interface CommandEnvelope extends HeaderFields {
    meterId: Buffer
    args: Buffer
    cose: CoseMessage
    /** key id of signature 0 / 1 (signature 0 is the signer's) */
    sigKeyIds: number[]
}

/**
 * Parses `raw` strictly. Returns the command, or the `Verdict` that refuses it: BadVersion
 * for a COSE message of another algorithm or with a critical header (a format this meter
 * does not speak), Malformed for anything else not of docs/formats.cddl `command`: not
 * deterministic CBOR, not a tagged COSE_Sign1 or COSE_Sign with two signatures, a kid that
 * is not one byte, the same kid twice, a payload map without exactly the seven keys
 * of `CommandKey` or with a value of the wrong type or range, a signer ≠ the first kid,
 * expiry 0 or before not-before, an unknown opcode, arguments beyond MAX_ARGS.
 */
export function parseEnvelope(raw: Buffer | undefined): CommandEnvelope | number {
    if (!raw) return Verdict.Malformed
    const c = decodeCose(raw)
    if (typeof c === "number") return c === CoseReason.BadAlg || c === CoseReason.Critical ? Verdict.BadVersion : Verdict.Malformed
    const n = c.signatures.length
    // a COSE_Sign carries two signatures: each signs the same bytes whatever the count, so
    // a single one stripped from a dual-control command must not pass as a command
    if (c.tag === COSE_SIGN_TAG && n !== 2) return Verdict.Malformed
    const ids: number[] = []
    for (let i = 0; i < n; i++) {
        const kid = c.signatures[i].kid
        // (a kid of 0 names no key: rings hold 1..255, so it is UnknownKey)
        if (kid.length !== 1) return Verdict.Malformed
        ids.push(kid[0])
    }
    const p = decodeCbor(c.payload, []).value
    if (!(p instanceof CborMap) || p.keys.length !== 7) return Verdict.Malformed
    const v = p.values
    // keys 1..7 in order; 1 and 7 byte strings, 2..6 unsigned integers
    for (let i = 0; i < 7; i++) {
        const x = v[i]
        if (p.keys[i] !== i + 1 || (i > 0 && i < 6 ? !(typeof x === "number" && x >= 0) : !(x instanceof Buffer))) return Verdict.Malformed
    }
    const meterId = v[0] as Buffer
    const args = v[6] as Buffer
    const counter = v[2] as number
    const expiry = v[4] as number
    if (meterId.length !== METER_ID_SIZE || args.length > MAX_ARGS || v[1] !== ids[0] || expiry === 0 || expiry > U32_MAX || expiry < (v[3] as number) || !isKnownOpcode(v[5] as number))
        return Verdict.Malformed
    const hi = Math.floor(counter / 4294967296)
    return {
        meterId: meterId,
        args: args,
        cose: c,
        signerKeyId: ids[0],
        counterHi: hi,
        counterLo: counter - hi * 4294967296,
        notBefore: v[3] as number,
        expiry: expiry,
        opcode: v[5] as number,
        signatureCount: n,
        sigKeyIds: ids,
    }
}

/**
 * How far one command may move a monotonic value (docs/commands.md §4, §3, §7), so that no
 * single command, even from a stolen key, can exhaust it: a signer's counter at most 2^20
 * beyond the larger of its last counter and the command's expiry in µs; the uplink epoch
 * at most 16, the firmware sequence at most 1024 (a u32 lasts 2^28 and 2^22 commands).
 */
export const MAX_COUNTER_STEP = 1048576
export const MAX_EPOCH_STEP = 16
export const MAX_SEQUENCE_STEP = 1024

/**
 * true when the command's counter is within one command's reach of the signer's last
 * counter `lastHi:lastLo`: at most MAX_COUNTER_STEP beyond the larger of that counter and
 * the command's expiry in µs. The head-end's counter is its clock in µs, which never
 * passes the expiry it signs; a sequence counter steps by 1. Since the expiry is a u32, a
 * counter stays below 2^52 + n·2^20 after n commands, and the payload caps it at 2^53 − 1.
 * In doubles, exactly: the difference is exact while the high halves differ by less than
 * 2^21 (far beyond 2^20 otherwise).
 */
export function counterInReach(h: HeaderFields, lastHi: number, lastLo: number): boolean {
    return counterAdvance(h, lastHi, lastLo) <= MAX_COUNTER_STEP || counterAdvance(h, 0, 0) <= h.expiry * 1000000 + MAX_COUNTER_STEP
}

/**
 * The command's counter minus `lastHi:lastLo`, as a number: > 0 when the counter is newer
 * (the sign is always right), and exact while the high halves differ by less than 2^21.
 */
export function counterAdvance(h: HeaderFields, lastHi: number, lastLo: number): number {
    return (h.counterHi - lastHi) * 4294967296 + (h.counterLo - lastLo)
}

/** Compares two u64 counters given as (hi, lo) u32 halves: -1, 0 or 1. */
export function compareCounter(aHi: number, aLo: number, bHi: number, bLo: number): number {
    if (aHi !== bHi) return aHi < bHi ? -1 : 1
    if (aLo !== bLo) return aLo < bLo ? -1 : 1
    return 0
}

/** What the head-end puts in a command before the signatures. */
export interface CommandFields {
    /** 8 bytes */
    meterId: Buffer
    /** the key ids of the signers, in order: [signer] or [signer, cosigner] (dual control) */
    keyIds: number[]
    /** 0 .. 2^53 − 1, strictly increasing per signer */
    counter: number
    notBefore: number
    expiry: number
    opcode: number
    args: Buffer
}

/**
 * The command as a COSE message without its signatures (each 64 zero bytes): COSE_Sign1
 * for one key id, COSE_Sign for two; sign each `toBeSigned(m, i)` into
 * `m.signatures[i].signature`, then `encodeCose(m)` (or use `signCommand`). Throws a
 * RangeError for fields the parser would refuse: the head-end never sends what a meter
 * calls Malformed.
 */
export function unsignedCommand(h: CommandFields): CoseMessage {
    const ids = h.keyIds
    if (!h.meterId || h.meterId.length !== METER_ID_SIZE) throw new RangeError("command: meter id must be 8 bytes")
    if (ids.length !== 1 && ids.length !== 2) throw new RangeError("command: 1 or 2 signers")
    for (const id of ids) if (!(isU32(id) && id >= 1 && id <= 255)) throw new RangeError("command: a key id is 1..255")
    if (ids.length === 2 && ids[0] === ids[1]) throw new RangeError("command: dual control needs two different keys")
    if (!(Math.floor(h.counter) === h.counter && h.counter >= 0 && h.counter <= MAX_COUNTER)) throw new RangeError("command: counter must be 0..2^53-1")
    if (!isU32(h.notBefore) || !isU32(h.expiry) || h.expiry === 0 || h.expiry < h.notBefore)
        throw new RangeError("command: need 0 ≤ not-before ≤ expiry, expiry ≠ 0 (u32 seconds)")
    const hi = Math.floor(h.counter / 4294967296)
    const fields = { counterHi: hi, counterLo: h.counter - hi * 4294967296, expiry: h.expiry } as HeaderFields
    if (!counterInReach(fields, 0, 0)) throw new RangeError("command: counter beyond what a meter accepts: at most the expiry in µs since 1970 + 2^20")
    if (!isKnownOpcode(h.opcode)) throw new RangeError("command: unknown opcode " + h.opcode)
    if (h.args.length > MAX_ARGS) throw new RangeError("command: arguments longer than " + MAX_ARGS + " bytes")
    const payload = encodeCborMap([h.meterId, ids[0], h.counter, h.notBefore, h.expiry, h.opcode, h.args])
    const sigs = ids.map(id => {
        const kid = Buffer.from([id])
        return { protectedBytes: coseProtected(kid), kid: kid, signature: Buffer.alloc(SIGNATURE_SIZE) }
    })
    return {
        tag: ids.length === 1 ? COSE_SIGN1_TAG : COSE_SIGN_TAG,
        // COSE_Sign: the body's protected header is empty (h''); each signer's names alg and kid
        bodyProtected: ids.length === 1 ? sigs[0].protectedBytes : Buffer.alloc(0),
        payload: payload,
        signatures: sigs,
    }
}

/** A complete signed command: `sign(keyId, toBeSigned)` returns the Ed25519 signature (RFC 8032) of each signer in turn. */
export function signCommand(h: CommandFields, sign: (keyId: number, toBeSigned: Buffer) => Buffer): Buffer {
    const m = unsignedCommand(h)
    for (let i = 0; i < m.signatures.length; i++) {
        const s = sign(h.keyIds[i], toBeSigned(m, i))
        if (s.length !== SIGNATURE_SIZE) throw new RangeError("command: a signature is 64 bytes")
        m.signatures[i].signature = s
    }
    return encodeCose(m)
}

function encodeCborMap(values: (number | Buffer)[]): Buffer {
    return encodeCbor(new CborMap(values.map((_, i) => i + 1), values))
}

// Arguments (docs/commands.md §3). Each encoder throws a RangeError for a value the meter
// would refuse as BadArguments; the meter checks the size from the opcode table, then the
// value in its action.

/** TimeSync: the UTC time (u32 seconds, ≠ 0). */
export function timeSyncArgs(utc: number): Buffer {
    if (!isU32(utc) || utc === 0) throw new RangeError("time sync: a u32 UTC time, not 0")
    return u32Bytes(utc)
}

/** UplinkEpoch: the new uplink key epoch, `current` + 1 .. `current` + MAX_EPOCH_STEP (u32), `current` the meter's. */
export function uplinkEpochArgs(epoch: number, current: number): Buffer {
    if (!isU32(epoch) || !isIntIn(epoch, current + 1, current + MAX_EPOCH_STEP))
        throw new RangeError("uplink epoch: from epoch " + current + " a meter takes " + (current + 1) + ".." + (current + MAX_EPOCH_STEP) + " (a u32)")
    return u32Bytes(epoch)
}

/** Largest disconnect randomisation limit (s) SetRandomLimit may set. */
export const MAX_RANDOM_LIMIT_S = 3600
/** Most remote disconnects per UTC day SetDisconnectPolicy may allow. */
export const MAX_DISCONNECTS_PER_DAY = 48

/** SetRandomLimit: the disconnect randomisation limit in seconds (u16, ≤ 3600). */
export function randomLimitArgs(seconds: number): Buffer {
    if (!isU32(seconds) || seconds > MAX_RANDOM_LIMIT_S) throw new RangeError("random limit: 0.." + MAX_RANDOM_LIMIT_S + " s")
    const b = Buffer.alloc(2)
    setU16BE(b, 0, seconds)
    return b
}

/** SetPrivacy: one byte, a PrivacyLevel (0 half-hourly, 1 daily, 2 monthly). */
export function privacyArgs(level: number): Buffer {
    if (!(level === 0 || level === 1 || level === 2)) throw new RangeError("privacy level: 0, 1 or 2")
    return Buffer.from([level])
}

/** SetDisconnectPolicy: dual control (0/1) ‖ remote disconnects per UTC day without the root (u8, ≤ 48). */
export function disconnectPolicyArgs(dualControl: boolean, maxPerDay: number): Buffer {
    if (!isU32(maxPerDay) || maxPerDay > MAX_DISCONNECTS_PER_DAY) throw new RangeError("disconnects per day: 0.." + MAX_DISCONNECTS_PER_DAY)
    return Buffer.from([dualControl ? 1 : 0, maxPerDay])
}

/** KeyRemove: the key id. */
export function keyRemoveArgs(id: number): Buffer {
    if (!(id >= 1 && id <= 255)) throw new RangeError("key id: 1..255")
    return Buffer.from([id])
}

/** docs/commands.md §7: what a firmware manifest says. */
export interface FirmwareManifest {
    /** anti-rollback sequence number: must exceed the meter's */
    sequence: number
    /** image size in bytes */
    imageSize: number
    /** SHA-256 of the image */
    digest: Buffer
    /** target board id, e.g. "trustmeter_pico_w" (1..32 printable ASCII bytes) */
    board: string
}

/** Manifest format byte. */
export const MANIFEST_FORMAT = 1
/** format (1) ‖ sequence (u32) ‖ image size (u32) ‖ SHA-256 (32) ‖ board id length (1). */
const MANIFEST_FIXED = 42
const MAX_BOARD_ID = 32

/**
 * FirmwareManifest: format ‖ sequence ‖ size ‖ digest ‖ board id length ‖ board id. Throws
 * a RangeError for a manifest the meter's decoder would refuse (it checks its own output),
 * and for a sequence outside `current` + 1 .. `current` + MAX_SEQUENCE_STEP, `current` the meter's.
 */
export function firmwareManifestArgs(m: FirmwareManifest, current: number): Buffer {
    const board = ascii(m.board)
    if (!isU32(m.sequence) || !isU32(m.imageSize) || !m.digest || m.digest.length !== 32 || board.length > 255)
        throw new RangeError("firmware manifest: sequence, size or digest out of range")
    if (!isIntIn(m.sequence, current + 1, current + MAX_SEQUENCE_STEP))
        throw new RangeError("firmware manifest: from sequence " + current + " a meter takes " + (current + 1) + ".." + (current + MAX_SEQUENCE_STEP))
    const b = Buffer.alloc(MANIFEST_FIXED + board.length)
    b[0] = MANIFEST_FORMAT
    setU32BE(b, 1, m.sequence)
    setU32BE(b, 5, m.imageSize)
    b.set(m.digest, 9)
    b[41] = board.length
    b.set(board, MANIFEST_FIXED)
    if (decodeManifest(b) === undefined) throw new RangeError("firmware manifest: board id must be 1..32 printable ASCII bytes")
    return b
}

/** Decodes manifest arguments; undefined unless the format and lengths are right and the board id is 1..32 printable ASCII bytes. */
export function decodeManifest(args: Buffer | undefined): FirmwareManifest | undefined {
    if (!args || args.length < MANIFEST_FIXED + 1) return undefined
    if (args[0] !== MANIFEST_FORMAT) return undefined
    const boardLen = args[41]
    if (boardLen < 1 || boardLen > MAX_BOARD_ID || args.length !== MANIFEST_FIXED + boardLen) return undefined
    for (let i = MANIFEST_FIXED; i < args.length; i++) if (args[i] < 0x21 || args[i] > 0x7e) return undefined
    return {
        sequence: getU32BE(args, 1),
        imageSize: getU32BE(args, 5),
        digest: copyBytes(args, 9, 41),
        board: args.slice(MANIFEST_FIXED, args.length).toString(),
    }
}
