/**
 * The head-end side of signed commands (docs/commands.md): builds command envelopes,
 * encodes their arguments and signs them with Ed25519 (`@noble/curves`), and reads the
 * meter's acknowledgements. The meter side is `src/crypto/verifier.ts` and `src/commands/`.
 *
 * @example
 *   const root = headEndKey(1, Role.Root, ALL_OPCODES, rootSeed)
 *   const env = buildEnvelope({ meterId, signer: supplier, counter: 1n, notBefore: 0,
 *       expiry: now + 600, opcode: Opcode.Disconnect })
 */
import { ed25519 } from "@noble/curves/ed25519.js"

/** docs/commands.md, "Envelope". */
export const ENVELOPE_VERSION = 1
export const SIGNING_PREFIX = "trustmeter/cmd/v1"
export const HEADER_SIZE = 30
export const SIGNATURE_BLOCK_SIZE = 65
export const MAX_ARGS = 512

/** docs/commands.md, "Opcodes" (same numbers as `Opcode` in src/crypto/envelope.ts). */
export const Opcode = {
    Disconnect: 1,
    ReconnectArm: 2,
    SetTariff: 3,
    SetRandomLimit: 4,
    SetPrivacy: 5,
    TimeSync: 6,
    UplinkEpoch: 7,
    FirmwareManifest: 8,
    SetDisconnectPolicy: 9,
    KeyAdd: 16,
    KeyRemove: 17,
    KeyReplace: 18,
    RootRotate: 19,
} as const

/** docs/commands.md, "Roles". */
export const Role = { Root: 1, Supplier: 2, NetworkOperator: 3 } as const

/** docs/commands.md, "Verification order" (same numbers as `Verdict` in src/crypto/envelope.ts). */
export const Verdict = {
    Accepted: 0,
    Malformed: 1,
    BadVersion: 2,
    WrongMeter: 3,
    UnknownKey: 4,
    OpcodeNotAllowed: 5,
    DualControlRequired: 6,
    TimeUnknown: 7,
    NotYetValid: 8,
    Expired: 9,
    Replay: 10,
    BadSignature: 11,
    DailyLimit: 12,
    BadArguments: 13,
    TimeOutOfBounds: 14,
    FirmwareRejected: 15,
    KeyChangeRefused: 16,
    NotProvisioned: 17,
    ActionFailed: 18,
} as const

/** Privacy levels (docs/commands.md, "Set privacy level"). */
export const PrivacyLevel = { HalfHourly: 0, Daily: 1, Monthly: 2 } as const

/** A signing key of the head-end with the id, role and opcode mask the meter's ring gives it. */
export interface HeadEndKey {
    id: number
    role: number
    mask: number
    secretKey: Uint8Array
    publicKey: Uint8Array
}

/** The mask allowing exactly `opcodes` (bit n = opcode n). */
export function maskOf(opcodes: number[]): number {
    let m = 0
    for (const op of opcodes) m |= 1 << op
    return m >>> 0
}

/** Every opcode: the root's usual mask. */
export const ALL_OPCODES = maskOf(Object.values(Opcode))

/** A head-end key from a 32-byte seed (Ed25519 secret key). */
export function headEndKey(id: number, role: number, mask: number, seed: Uint8Array): HeadEndKey {
    return { id, role, mask, secretKey: seed, publicKey: ed25519.getPublicKey(seed) }
}

/** One key-ring entry: id (1) ‖ role (1) ‖ mask (u32 BE) ‖ public key (32). Also the argument of KeyAdd/KeyReplace/RootRotate. */
export function encodeKeyEntry(k: { id: number; role: number; mask: number; publicKey: Uint8Array }): Buffer {
    const b = Buffer.alloc(38)
    b[0] = k.id
    b[1] = k.role
    b.writeUInt32BE(k.mask >>> 0, 2)
    Buffer.from(k.publicKey).copy(b, 6)
    return b
}

/** A ring body (count ‖ entries): what `trustmeter provision` writes to `cv.anchor` (as a hex JSON string). */
export function encodeRing(keys: { id: number; role: number; mask: number; publicKey: Uint8Array }[]): Buffer {
    return Buffer.concat([Buffer.from([keys.length]), ...keys.map(encodeKeyEntry)])
}

export interface EnvelopeFields {
    /** 8-byte meter id */
    meterId: Buffer
    signer: HeadEndKey
    /** optional second signer (dual control); must have a different role */
    cosigner?: HeadEndKey
    /** strictly increasing per signer, < 2^64 */
    counter: bigint
    /** UTC seconds, 0 = no lower bound */
    notBefore: number
    /** UTC seconds, required */
    expiry: number
    opcode: number
    args?: Buffer
}

/** The unsigned part of an envelope: header ‖ arguments. */
export function envelopeBody(f: EnvelopeFields): Buffer {
    const args = f.args ?? Buffer.alloc(0)
    if (f.meterId.length !== 8) throw new RangeError("meter id must be 8 bytes")
    if (args.length > MAX_ARGS) throw new RangeError(`arguments longer than ${MAX_ARGS} bytes`)
    const h = Buffer.alloc(HEADER_SIZE)
    h[0] = ENVELOPE_VERSION
    f.meterId.copy(h, 1)
    h[9] = f.signer.id
    h.writeBigUInt64BE(f.counter, 10)
    h.writeUInt32BE(f.notBefore >>> 0, 18)
    h.writeUInt32BE(f.expiry >>> 0, 22)
    h[26] = f.opcode
    h[27] = f.cosigner ? 2 : 1
    h.writeUInt16BE(args.length, 28)
    return Buffer.concat([h, args])
}

/** The bytes each signature signs: SIGNING_PREFIX ‖ header ‖ arguments. */
export function signedMessage(body: Buffer): Buffer {
    return Buffer.concat([Buffer.from(SIGNING_PREFIX, "ascii"), body])
}

/** A complete signed envelope. */
export function buildEnvelope(f: EnvelopeFields): Buffer {
    const body = envelopeBody(f)
    const msg = signedMessage(body)
    const blocks = [f.signer, ...(f.cosigner ? [f.cosigner] : [])].map(k =>
        Buffer.concat([Buffer.from([k.id]), Buffer.from(ed25519.sign(msg, k.secretKey))])
    )
    return Buffer.concat([body, ...blocks])
}

/** Arguments of TimeSync: the UTC time (u32 BE seconds). */
export function timeSyncArgs(utc: number): Buffer {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(utc >>> 0)
    return b
}

/** Arguments of SetRandomLimit: the disconnect randomisation limit in seconds (u16 BE, ≤ 3600). */
export function randomLimitArgs(seconds: number): Buffer {
    const b = Buffer.alloc(2)
    b.writeUInt16BE(seconds)
    return b
}

/** Arguments of SetPrivacy: one byte, a PrivacyLevel. */
export function privacyArgs(level: number): Buffer {
    return Buffer.from([level])
}

/** Arguments of UplinkEpoch: the new uplink key epoch (u32 BE, must increase). */
export function uplinkEpochArgs(epoch: number): Buffer {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(epoch >>> 0)
    return b
}

/** Arguments of SetDisconnectPolicy: dual control (0/1) ‖ remote disconnects per UTC day without root (u8). */
export function disconnectPolicyArgs(dualControl: boolean, maxPerDay: number): Buffer {
    return Buffer.from([dualControl ? 1 : 0, maxPerDay])
}

/** Arguments of KeyRemove: the key id. */
export function keyRemoveArgs(id: number): Buffer {
    return Buffer.from([id])
}

/** docs/commands.md, "Firmware manifest". */
export interface FirmwareManifest {
    /** anti-rollback sequence number: must exceed the meter's */
    sequence: number
    /** target board id, e.g. "trustmeter_pico_w" (≤ 32 ASCII bytes) */
    board: string
    imageSize: number
    /** SHA-256 of the image */
    digest: Buffer
}

/** Arguments of FirmwareManifest: format (1) ‖ sequence (u32 BE) ‖ size (u32 BE) ‖ digest (32) ‖ board length (1) ‖ board. */
export function firmwareManifestArgs(m: FirmwareManifest): Buffer {
    const board = Buffer.from(m.board, "ascii")
    const b = Buffer.alloc(42)
    b[0] = 1
    b.writeUInt32BE(m.sequence >>> 0, 1)
    b.writeUInt32BE(m.imageSize >>> 0, 5)
    m.digest.copy(b, 9)
    b[41] = board.length
    return Buffer.concat([b, board])
}

/** The meter's answer to a command (docs/commands.md, "Acknowledgement"). */
export interface CommandAck {
    verdict: number
    opcode: number
    signerKeyId: number
    counter: bigint
    /** opcode-specific: e.g. the disconnect delay in seconds */
    detail: number
}

/** Reads a 16-byte acknowledgement: version (1) ‖ verdict ‖ opcode ‖ signer ‖ counter (u64 BE) ‖ detail (u32 BE). */
export function parseAck(b: Buffer): CommandAck {
    if (b.length !== 16 || b[0] !== 1) throw new Error("not a command acknowledgement")
    return {
        verdict: b[1],
        opcode: b[2],
        signerKeyId: b[3],
        counter: b.readBigUInt64BE(4),
        detail: b.readUInt32BE(12),
    }
}
