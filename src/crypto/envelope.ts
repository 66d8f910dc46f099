/**
 * The command envelope: the one wire format in which the head-end tells a meter to do
 * something (docs/commands.md, "Envelope"). This file only parses; it decides nothing
 * and touches no flash. Parsing is strict and checks every length and bound against the
 * raw bytes before anything is allocated, so a hostile envelope costs a few comparisons.
 */
import { getU16BE, getU32BE } from "./bytes"

/** Envelope format version (docs/commands.md, byte 0). */
export const ENVELOPE_VERSION = 1
/** Domain-separation prefix of the signed message: signatures over anything else never verify as a command. */
export const SIGNING_PREFIX = "trustmeter/cmd/v1"
/** Largest argument block a meter accepts (a tariff calendar is the largest argument). */
export const MAX_ARGS = 512
/** Ed25519 signature and public key sizes (RFC 8032 section 5.1). */
export const SIGNATURE_SIZE = 64
export const PUBLIC_KEY_SIZE = 32

/** Byte offsets of the envelope header (docs/commands.md, "Envelope" byte table). */
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

/** Opcodes (docs/commands.md, "Opcodes"). Kept in 1..30 so a key's allowed set fits a positive 31-bit mask. */
export const enum Opcode {
    Disconnect = 1,
    ReconnectArm = 2,
    SetTariff = 3,
    SetRandomLimit = 4,
    SetPrivacy = 5,
    TimeSync = 6,
    UplinkEpoch = 7,
    FirmwareManifest = 8,
    SetDisconnectPolicy = 9,
    KeyAdd = 16,
    KeyRemove = 17,
    KeyReplace = 18,
    RootRotate = 19,
}

/** Highest opcode number a key mask can name. */
export const MAX_OPCODE = 30

/** true for the opcodes this firmware implements; any other opcode is malformed. */
export function isKnownOpcode(op: number): boolean {
    return (op >= Opcode.Disconnect && op <= Opcode.SetDisconnectPolicy) || (op >= Opcode.KeyAdd && op <= Opcode.RootRotate)
}

/**
 * true for the opcodes only the root may sign, whatever a key's mask says: key-ring
 * changes, and the two settings that defend against a mass off-switch attack (dual
 * control, daily limit, randomisation limit) — a stolen supplier key must not lift them.
 */
export function isRootOnlyOpcode(op: number): boolean {
    return (op >= Opcode.KeyAdd && op <= Opcode.RootRotate) || op === Opcode.SetDisconnectPolicy || op === Opcode.SetRandomLimit
}

/**
 * Why a command was refused, in the order the verifier checks (docs/commands.md,
 * "Verification order"). Every refusal has its own code; `Accepted` is 0.
 */
export const enum Verdict {
    Accepted = 0,
    Malformed = 1,
    BadVersion = 2,
    WrongMeter = 3,
    UnknownKey = 4,
    OpcodeNotAllowed = 5,
    DualControlRequired = 6,
    TimeUnknown = 7,
    NotYetValid = 8,
    Expired = 9,
    Replay = 10,
    BadSignature = 11,
    DailyLimit = 12,
    BadArguments = 13,
    TimeOutOfBounds = 14,
    FirmwareRejected = 15,
    KeyChangeRefused = 16,
    NotProvisioned = 17,
    ActionFailed = 18,
}

/**
 * A parsed envelope. It keeps the raw bytes and offsets rather than copies: the
 * arguments are sliced out only once the command has been authenticated.
 */
export interface CommandEnvelope {
    raw: Buffer
    version: number
    signerKeyId: number
    /** the 8-byte counter as two u32 halves (no BigInt on the VM) */
    counterHi: number
    counterLo: number
    notBefore: number
    expiry: number
    opcode: number
    argsLength: number
    signatureCount: number
    /** key id of signature block 0 / 1 (block 0 is the signer's) */
    sigKeyIds: number[]
}

/**
 * Parses `raw` strictly. Returns the envelope, or the `Verdict` (Malformed, BadVersion)
 * that refuses it. Checks: exact total length, version, argument length ≤ MAX_ARGS,
 * 1 or 2 signatures, key ids ≠ 0, block 0 signed by the header's signer, two blocks
 * from different keys, expiry ≠ 0 and not before not-before, a known opcode.
 */
export function parseEnvelope(raw: Buffer): CommandEnvelope | number {
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
    return env.raw.slice(HEADER_SIZE, HEADER_SIZE + env.argsLength)
}

/** The bytes signature `i` signs: SIGNING_PREFIX ‖ header ‖ arguments. */
export function signedMessage(env: CommandEnvelope): Buffer {
    const n = HEADER_SIZE + env.argsLength
    const prefix = Buffer.from(SIGNING_PREFIX)
    const m = Buffer.alloc(prefix.length + n)
    m.blitAt(0, prefix, 0, prefix.length)
    m.blitAt(prefix.length, env.raw, 0, n)
    return m
}

/** The 64-byte signature of block `i` (0 or 1). */
export function signatureAt(env: CommandEnvelope, i: number): Buffer {
    const off = HEADER_SIZE + env.argsLength + i * SIGNATURE_BLOCK_SIZE + 1
    return env.raw.slice(off, off + SIGNATURE_SIZE)
}

/** true when the 8 bytes of meter id at offset 1 equal `meterId`. */
export function isForMeter(env: CommandEnvelope, meterId: Buffer): boolean {
    if (!meterId || meterId.length !== 8) return false
    for (let i = 0; i < 8; i++) if (env.raw[EnvelopeOffset.MeterId + i] !== meterId[i]) return false
    return true
}

/** Compares two u64 counters given as (hi, lo) u32 halves: -1, 0 or 1. */
export function compareCounter(aHi: number, aLo: number, bHi: number, bLo: number): number {
    if (aHi !== bHi) return aHi < bHi ? -1 : 1
    if (aLo !== bLo) return aLo < bLo ? -1 : 1
    return 0
}
