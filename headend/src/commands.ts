/**
 * The head-end side of signed commands (docs/commands.md): envelopes and arguments are
 * encoded by the wire core the meter parses with (src/wire/envelope.ts, src/wire/keys.ts),
 * signed here with Ed25519 (`@noble/curves`), and acknowledgements read with the wire
 * core's codec (src/wire/ack.ts). The meter side is `src/crypto/verifier.ts` and
 * `src/commands/`.
 *
 * @example
 *   const supplier = headEndKey(2, Role.Supplier, defaultMask(Role.Supplier), supplierSeed)
 *   const env = buildEnvelope({ meterId, signer: supplier, counter: 1n, notBefore: 0,
 *       expiry: now + 600, opcode: Opcode.Disconnect })
 */
import { ed25519 } from "@noble/curves/ed25519.js"
import { decodeOutcome, OutcomeLayout } from "../../src/wire/ack"
import { appendSignatures, encodeEnvelopeBody, signedMessage } from "../../src/wire/envelope"
import { encodeKeyEntry as encodeEntry, encodeRing as encodeRingBody, KeyEntry } from "../../src/wire/keys"
import { defaultOpcodes, maskOf, Role } from "../../src/wire/opcodes"

export { Opcode, PrivacyLevel, Role, Verdict, defaultOpcodes, maskOf, opcodeName, verdictName } from "../../src/wire/opcodes"
export {
    disconnectPolicyArgs,
    firmwareManifestArgs,
    HEADER_SIZE,
    keyRemoveArgs,
    MAX_ARGS,
    privacyArgs,
    randomLimitArgs,
    SIGNATURE_BLOCK_SIZE,
    SIGNING_PREFIX,
    signedMessage,
    timeSyncArgs,
    uplinkEpochArgs,
    type FirmwareManifest,
} from "../../src/wire/envelope"

/** The mask of every opcode: the root's default. */
export const ALL_OPCODES = maskOf(defaultOpcodes(Role.Root))

/** The default mask of `role` (docs/commands.md §2; the opcode table decides). */
export function defaultMask(role: number): number {
    return maskOf(defaultOpcodes(role))
}

/** A signing key of the head-end with the id, role and opcode mask the meter's ring gives it. */
export interface HeadEndKey {
    id: number
    role: number
    mask: number
    secretKey: Uint8Array
    publicKey: Uint8Array
}

/** A head-end key from a 32-byte seed (Ed25519 secret key). */
export function headEndKey(id: number, role: number, mask: number, seed: Uint8Array): HeadEndKey {
    return { id, role, mask, secretKey: seed, publicKey: ed25519.getPublicKey(seed) }
}

/** The key-ring entry of a key (docs/commands.md §2). */
function entry(k: { id: number; role: number; mask: number; publicKey: Uint8Array }): KeyEntry {
    return { id: k.id, role: k.role, mask: k.mask, publicKey: Buffer.from(k.publicKey) }
}

/** One key-ring entry: id (1) ‖ role (1) ‖ mask (u32 BE) ‖ public key (32). Also the argument of KeyAdd/KeyReplace/RootRotate. */
export function encodeKeyEntry(k: { id: number; role: number; mask: number; publicKey: Uint8Array }): Buffer {
    return encodeEntry(entry(k))
}

/** A ring body (count ‖ entries): what `trustmeter provision` writes to `cv.anchor` (as a hex JSON string). */
export function encodeRing(keys: { id: number; role: number; mask: number; publicKey: Uint8Array }[]): Buffer {
    const entries = keys.map(entry)
    for (const e of entries) encodeEntry(e) // throws on a field that does not fit its bytes
    return encodeRingBody(entries)
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

/** The unsigned part of an envelope: header ‖ arguments. Throws a RangeError for fields a meter would call Malformed. */
export function envelopeBody(f: EnvelopeFields): Buffer {
    if (f.counter < 0n || f.counter >= 1n << 64n) throw new RangeError("envelope: counter must be a u64")
    return encodeEnvelopeBody({
        meterId: f.meterId,
        signerKeyId: f.signer.id,
        counterHi: Number(f.counter >> 32n),
        counterLo: Number(f.counter & 0xffffffffn),
        notBefore: f.notBefore,
        expiry: f.expiry,
        opcode: f.opcode,
        signatureCount: f.cosigner ? 2 : 1,
        args: f.args ?? Buffer.alloc(0),
    })
}

/** A complete signed envelope: each signer signs `signedMessage` strictly as RFC 8032 Ed25519. */
export function buildEnvelope(f: EnvelopeFields): Buffer {
    const body = envelopeBody(f)
    const msg = signedMessage(body, body.length)
    const signers = f.cosigner ? [f.signer, f.cosigner] : [f.signer]
    return appendSignatures(
        body,
        signers.map(k => k.id),
        signers.map(k => Buffer.from(ed25519.sign(msg, k.secretKey)))
    )
}

/** The meter's answer to a command (docs/commands.md §8). */
export interface CommandAck {
    verdict: number
    opcode: number
    signerKeyId: number
    counter: bigint
    /** opcode-specific: e.g. the disconnect delay in seconds */
    detail: number
}

/** Reads a 16-byte acknowledgement with the wire core's codec; throws when it is not one. */
export function parseAck(b: Buffer): CommandAck {
    const o = decodeOutcome(b, OutcomeLayout.Ack)
    if (!o) throw new Error("not a command acknowledgement")
    return { verdict: o.verdict, opcode: o.opcode, signerKeyId: o.signerKeyId, counter: counterOf(o.counterHi, o.counterLo), detail: o.detail }
}

/** The u64 counter from its u32 halves. */
export function counterOf(hi: number, lo: number): bigint {
    return (BigInt(hi) << 32n) | BigInt(lo)
}
