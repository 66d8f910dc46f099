/**
 * The command envelope (docs/commands.md §1), the one wire format in which the head-end
 * tells a meter to do something, and the arguments both ends encode (§3, §7). Written once:
 * the meter parses with it, the head-end builds with it (and signs the message
 * `signedMessage` returns with its own Ed25519). Decides nothing and touches no flash.
 *
 * Parsing is strict and checks every length and bound against the raw bytes before
 * anything is allocated, so a hostile envelope costs a few comparisons.
 */
import { ascii, copyBytes, equalBytes, getU16BE, getU32BE, isIntIn, isU32, setU16BE, setU32BE, u32Bytes } from "./bytes"
import { isKnownOpcode, Verdict } from "./opcodes"

/** Envelope format version (byte 0). */
export const ENVELOPE_VERSION = 1
/** Domain-separation prefix of the signed message: signatures over anything else never verify as a command. */
export const SIGNING_PREFIX = "trustmeter/cmd/v1"
/** Largest argument block a meter accepts (a tariff calendar is the largest argument). */
export const MAX_ARGS = 512
/** Ed25519 signature size (RFC 8032 §5.1.6). */
export const SIGNATURE_SIZE = 64

/** Byte offsets of the envelope header (docs/commands.md §1). */
export const enum EnvelopeOffset {
    Version = 0,
    MeterId = 1,
    SignerKeyId = 9,
    CounterHi = 10,
    CounterLo = 14,
    NotBefore = 18,
    Expiry = 22,
    Opcode = 26,
    SignatureCount = 27,
    ArgsLength = 28,
    Args = 30,
}

/** Size of the header before the arguments. */
export const HEADER_SIZE = 30
/** Size of one signature block: key id (1) + Ed25519 signature (64). */
export const SIGNATURE_BLOCK_SIZE = 65
/** Size of a meter id. */
export const METER_ID_SIZE = 8

/** The header fields a meter reads and the head-end writes (docs/commands.md §1). */
export interface HeaderFields {
    /** owns the counter; = key id of signature block 0 */
    signerKeyId: number
    /** the u64 counter as two u32 halves (no BigInt on the VM) */
    counterHi: number
    counterLo: number
    /** UTC seconds, 0 = no lower bound */
    notBefore: number
    /** UTC seconds, ≠ 0 */
    expiry: number
    opcode: number
    /** 1, or 2 under dual control */
    signatureCount: number
}

/**
 * A parsed envelope. It keeps the raw bytes and offsets rather than copies: the
 * arguments are sliced out only once the command has been authenticated.
 */
export interface CommandEnvelope extends HeaderFields {
    raw: Buffer
    version: number
    argsLength: number
    /** key id of signature block 0 / 1 (block 0 is the signer's) */
    sigKeyIds: number[]
}

/**
 * Parses `raw` strictly. Returns the envelope, or the `Verdict` (Malformed, BadVersion)
 * that refuses it. Checks: exact total length, version, argument length ≤ MAX_ARGS,
 * 1 or 2 signatures, key ids ≠ 0, block 0 signed by the header's signer, two blocks
 * from different keys, expiry ≠ 0 and not before not-before, a known opcode.
 */
export function parseEnvelope(raw: Buffer | undefined): CommandEnvelope | number {
    if (!raw || raw.length < HEADER_SIZE + SIGNATURE_BLOCK_SIZE) return Verdict.Malformed
    if (raw.length > HEADER_SIZE + MAX_ARGS + 2 * SIGNATURE_BLOCK_SIZE) return Verdict.Malformed
    const version = raw[EnvelopeOffset.Version]
    if (version !== ENVELOPE_VERSION) return Verdict.BadVersion
    const argsLength = getU16BE(raw, EnvelopeOffset.ArgsLength)
    if (argsLength > MAX_ARGS) return Verdict.Malformed
    const sigCount = raw[EnvelopeOffset.SignatureCount]
    if (sigCount !== 1 && sigCount !== 2) return Verdict.Malformed
    if (raw.length !== HEADER_SIZE + argsLength + sigCount * SIGNATURE_BLOCK_SIZE) return Verdict.Malformed
    const opcode = raw[EnvelopeOffset.Opcode]
    if (!isKnownOpcode(opcode)) return Verdict.Malformed
    const signer = raw[EnvelopeOffset.SignerKeyId]
    if (signer === 0) return Verdict.Malformed
    const sigBase = HEADER_SIZE + argsLength
    const k0 = raw[sigBase]
    if (k0 !== signer) return Verdict.Malformed
    const ids = [k0]
    if (sigCount === 2) {
        const k1 = raw[sigBase + SIGNATURE_BLOCK_SIZE]
        if (k1 === 0 || k1 === k0) return Verdict.Malformed
        ids.push(k1)
    }
    const notBefore = getU32BE(raw, EnvelopeOffset.NotBefore)
    const expiry = getU32BE(raw, EnvelopeOffset.Expiry)
    if (expiry === 0 || expiry < notBefore) return Verdict.Malformed
    return {
        raw: raw,
        version: version,
        signerKeyId: signer,
        counterHi: getU32BE(raw, EnvelopeOffset.CounterHi),
        counterLo: getU32BE(raw, EnvelopeOffset.CounterLo),
        notBefore: notBefore,
        expiry: expiry,
        opcode: opcode,
        argsLength: argsLength,
        signatureCount: sigCount,
        sigKeyIds: ids,
    }
}

/** The envelope's arguments (a copy). */
export function envelopeArgs(env: CommandEnvelope): Buffer {
    return copyBytes(env.raw, HEADER_SIZE, HEADER_SIZE + env.argsLength)
}

/** The 64-byte signature of block `i` (0 or 1), a copy. */
export function signatureAt(env: CommandEnvelope, i: number): Buffer {
    const off = HEADER_SIZE + env.argsLength + i * SIGNATURE_BLOCK_SIZE + 1
    return copyBytes(env.raw, off, off + SIGNATURE_SIZE)
}

/**
 * The message every signature of an envelope signs: SIGNING_PREFIX ‖ the first
 * `bodyLength` bytes of `envelope` (header ‖ arguments). The signature count is in the
 * header, so a signer commits to whether a second signature follows.
 */
export function signedMessage(envelope: Buffer, bodyLength: number): Buffer {
    const prefix = ascii(SIGNING_PREFIX)
    const m = Buffer.alloc(prefix.length + bodyLength)
    m.set(prefix, 0)
    m.set(envelope.slice(0, bodyLength), prefix.length)
    return m
}

/** true when the 8 bytes of meter id at offset 1 equal `meterId`. */
export function isForMeter(env: CommandEnvelope, meterId: Buffer): boolean {
    return equalBytes(env.raw.slice(EnvelopeOffset.MeterId, EnvelopeOffset.MeterId + METER_ID_SIZE), meterId)
}

/**
 * How far one command may move a monotonic value (docs/commands.md §4, §3, §7), so that no
 * single command, even from a stolen key, can exhaust it: a signer's counter at most 2^20
 * beyond the larger of its last counter and the envelope's expiry in µs; the uplink epoch
 * at most 16, the firmware sequence at most 1024 (a u32 lasts 2^28 and 2^22 commands).
 */
export const MAX_COUNTER_STEP = 1048576
export const MAX_EPOCH_STEP = 16
export const MAX_SEQUENCE_STEP = 1024

/**
 * true when the header's counter is within one command's reach of the signer's last
 * counter `lastHi:lastLo`: at most MAX_COUNTER_STEP beyond the larger of that counter and
 * the envelope's expiry in µs. The head-end's counter is its clock in µs, which never
 * passes the expiry it signs; a sequence counter steps by 1. Since the expiry is a u32, a
 * counter stays below 2^52 + n·2^20 after n commands: the u64 cannot run out. In doubles,
 * exactly: the difference is exact while the high halves differ by less than 2^21 (far
 * beyond 2^20 otherwise), and a counter at or above 2^53 stays above any u32 expiry in µs.
 */
export function counterInReach(h: HeaderFields, lastHi: number, lastLo: number): boolean {
    return counterAdvance(h, lastHi, lastLo) <= MAX_COUNTER_STEP || counterAdvance(h, 0, 0) <= h.expiry * 1000000 + MAX_COUNTER_STEP
}

/**
 * The header's counter minus `lastHi:lastLo`, as a number: > 0 when the counter is newer
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

/** What the head-end puts in an envelope before the signatures. */
export interface EnvelopeHeader extends HeaderFields {
    /** 8 bytes */
    meterId: Buffer
    args: Buffer
}

/**
 * The unsigned part of an envelope: header ‖ arguments. Throws a RangeError for a header
 * the parser would refuse (meter id length, key id, counter halves, window, opcode,
 * signature count, argument length): the head-end never sends what a meter calls Malformed.
 */
export function encodeEnvelopeBody(h: EnvelopeHeader): Buffer {
    const args = h.args
    if (!h.meterId || h.meterId.length !== METER_ID_SIZE) throw new RangeError("envelope: meter id must be 8 bytes")
    if (!(h.signerKeyId >= 1 && h.signerKeyId <= 255)) throw new RangeError("envelope: signer key id must be 1..255")
    if (!isU32(h.counterHi) || !isU32(h.counterLo)) throw new RangeError("envelope: counter must be a u64")
    if (!isU32(h.notBefore) || !isU32(h.expiry) || h.expiry === 0 || h.expiry < h.notBefore)
        throw new RangeError("envelope: need 0 ≤ not-before ≤ expiry, expiry ≠ 0 (u32 seconds)")
    if (!counterInReach(h, 0, 0)) throw new RangeError("envelope: counter beyond what a meter accepts: at most the expiry in µs since 1970 + 2^20")
    if (!isKnownOpcode(h.opcode)) throw new RangeError("envelope: unknown opcode " + h.opcode)
    if (h.signatureCount !== 1 && h.signatureCount !== 2) throw new RangeError("envelope: 1 or 2 signatures")
    if (args.length > MAX_ARGS) throw new RangeError("envelope: arguments longer than " + MAX_ARGS + " bytes")
    const b = Buffer.alloc(HEADER_SIZE + args.length)
    b[EnvelopeOffset.Version] = ENVELOPE_VERSION
    b.set(h.meterId, EnvelopeOffset.MeterId)
    b[EnvelopeOffset.SignerKeyId] = h.signerKeyId
    setU32BE(b, EnvelopeOffset.CounterHi, h.counterHi)
    setU32BE(b, EnvelopeOffset.CounterLo, h.counterLo)
    setU32BE(b, EnvelopeOffset.NotBefore, h.notBefore)
    setU32BE(b, EnvelopeOffset.Expiry, h.expiry)
    b[EnvelopeOffset.Opcode] = h.opcode
    b[EnvelopeOffset.SignatureCount] = h.signatureCount
    setU16BE(b, EnvelopeOffset.ArgsLength, args.length)
    b.set(args, EnvelopeOffset.Args)
    return b
}

/** A complete envelope: `body` ‖ one signature block (key id ‖ 64-byte signature) per signer, in order. */
export function appendSignatures(body: Buffer, keyIds: number[], signatures: Buffer[]): Buffer {
    if (keyIds.length !== signatures.length) throw new RangeError("envelope: one signature per key id")
    const b = Buffer.alloc(body.length + keyIds.length * SIGNATURE_BLOCK_SIZE)
    b.set(body, 0)
    for (let i = 0; i < keyIds.length; i++) {
        if (signatures[i].length !== SIGNATURE_SIZE) throw new RangeError("envelope: a signature is 64 bytes")
        const off = body.length + i * SIGNATURE_BLOCK_SIZE
        b[off] = keyIds[i]
        b.set(signatures[i], off + 1)
    }
    return b
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
