/**
 * The head-end side of signed commands (docs/commands.md): commands (COSE_Sign1, or
 * COSE_Sign under dual control) and arguments are encoded by the wire core the meter
 * parses with (src/wire/envelope.ts, src/wire/cose.ts, src/wire/keys.ts), signed here
 * with Ed25519 (`@noble/curves`), and acknowledgements read with the wire
 * core's codec (src/wire/ack.ts). The meter side is `src/crypto/verifier.ts` and
 * `src/commands/`.
 *
 * @example
 *   const supplier = headEndKey(2, Role.Supplier, defaultMask(Role.Supplier), supplierSeed)
 *   const env = buildEnvelope({ meterId, signer: supplier, counter: 1n, notBefore: 0,
 *       expiry: now + 600, opcode: Opcode.Disconnect })
 */
import { ed25519 } from "@noble/curves/ed25519.js"
import { decodeCommandAck } from "../../src/wire/ack"
import { CborTag, CborValue, decodeCbor, diagnose } from "../../src/wire/cbor"
import { COSE_SIGN1_TAG, COSE_SIGN_TAG } from "../../src/wire/cose"
import { CommandEnvelope, ManifestFields, MAX_COUNTER, parseEnvelope, signCommand, signedManifest, unsignedCommand } from "../../src/wire/envelope"
import { nodeCrypto } from "./crypto.ts"
import { encodeKeyEntry as encodeEntry, encodeRing as encodeRingBody, KeyEntry } from "../../src/wire/keys"
import { defaultOpcodes, maskOf, Role } from "../../src/wire/opcodes"

export { Opcode, PrivacyLevel, Role, Verdict, defaultOpcodes, maskOf, opcodeName, verdictName } from "../../src/wire/opcodes"
export {
    decodeManifest,
    disconnectPolicyArgs,
    keyRemoveArgs,
    ManifestReason,
    suitClassId,
    SUIT_VENDOR_ID,
    MAX_ARGS,
    MAX_COUNTER,
    privacyArgs,
    randomLimitArgs,
    timeSyncArgs,
    uplinkEpochArgs,
    type FirmwareManifest,
    type ManifestFields,
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
    /** strictly increasing per signer, ≤ 2^53 − 1 (MAX_COUNTER) */
    counter: bigint
    /** UTC seconds, 0 = no lower bound */
    notBefore: number
    /** UTC seconds, required */
    expiry: number
    opcode: number
    args?: Buffer
}

function commandFields(f: EnvelopeFields) {
    if (f.counter < 0n || f.counter > BigInt(MAX_COUNTER)) throw new RangeError("command: counter must be 0..2^53-1")
    return {
        meterId: f.meterId,
        keyIds: f.cosigner ? [f.signer.id, f.cosigner.id] : [f.signer.id],
        counter: Number(f.counter),
        notBefore: f.notBefore,
        expiry: f.expiry,
        opcode: f.opcode,
        args: f.args ?? Buffer.alloc(0),
    }
}

/** The command without its signatures (a COSE message: src/wire/cose.ts). Throws a RangeError for fields a meter would call Malformed. */
export function envelopeBody(f: EnvelopeFields) {
    return unsignedCommand(commandFields(f))
}

/**
 * A complete signed command: COSE_Sign1, or COSE_Sign with two signatures under dual
 * control; each signer signs its Sig_structure (RFC 9052 §4.4) strictly as RFC 8032 Ed25519.
 */
export function buildEnvelope(f: EnvelopeFields): Buffer {
    const keys = f.cosigner ? [f.signer, f.cosigner] : [f.signer]
    return signCommand(commandFields(f), (id, tbs) => Buffer.from(ed25519.sign(tbs, keys.find(k => k.id === id)!.secretKey)))
}

/**
 * A firmware manifest (docs/commands.md §7): the SUIT envelope, signed by `root` (the
 * ring's root key: a meter takes a manifest from no other key), that a FirmwareManifest
 * command carries. `current` is the meter's sequence: the manifest's must be current + 1 ..
 * current + 1024 (RangeError otherwise).
 */
export function buildManifest(m: ManifestFields, current: number, root: HeadEndKey): Buffer {
    return signedManifest(m, current, nodeCrypto, root.id, tbs => Buffer.from(ed25519.sign(tbs, root.secretKey)))
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

/** Reads an acknowledgement (CBOR, or the 16 bytes of earlier firmware) with the wire core's codec; throws when it is not one. */
export function parseAck(b: Buffer): CommandAck {
    const o = decodeCommandAck(b)
    if (!o) throw new Error("not a command acknowledgement")
    return { verdict: o.verdict, opcode: o.opcode, signerKeyId: o.signerKeyId, counter: counterOf(o.counterHi, o.counterLo), detail: o.detail }
}

/** The u64 counter from its u32 halves. */
export function counterOf(hi: number, lo: number): bigint {
    return (BigInt(hi) << 32n) | BigInt(lo)
}

/**
 * A command in CBOR diagnostic notation (RFC 8949 §8), the protected headers and the
 * payload shown decoded as embedded CBOR (`<<…>>`, RFC 8610 Appendix G.3), e.g.
 * `18([<<{1: -8, 4: h'02'}>>, {}, <<{1: h'7e57…', 2: 2, …}>>, h'…'])`. Throws when the
 * bytes are not deterministic CBOR.
 */
export function commandDiagnostic(bytes: Buffer): string {
    const d = decodeCbor(bytes, [COSE_SIGN1_TAG, COSE_SIGN_TAG])
    if (d.reason !== 0) throw new Error(`not deterministic CBOR (reason ${d.reason})`)
    const embedded = (v: CborValue): string => {
        if (!(v instanceof Buffer) || v.length === 0) return diagnose(v)
        const e = decodeCbor(v, [])
        return e.reason === 0 ? `<<${diagnose(e.value)}>>` : diagnose(v)
    }
    const t = d.value
    if (!(t instanceof CborTag) || !Array.isArray(t.value) || t.value.length !== 4) return diagnose(t)
    const [prot, unprot, payload, last] = t.value
    let tail = diagnose(last)
    if (t.tag === COSE_SIGN_TAG && Array.isArray(last))
        tail = `[${last.map(s => (Array.isArray(s) && s.length === 3 ? `[${embedded(s[0])}, ${diagnose(s[1])}, ${diagnose(s[2])}]` : diagnose(s))).join(", ")}]`
    return `${t.tag}([${embedded(prot)}, ${diagnose(unprot)}, ${embedded(payload)}, ${tail}])`
}

/** What the head-end logs about a command it sends: target, signer, counter, opcode. */
export interface CommandSummary {
    meterId: string
    signerKeyId: number
    counter: bigint
    opcode: number
}

/** Reads a command with the meter's own parser (src/wire/envelope.ts); throws when a meter would refuse it as Malformed or BadVersion. */
export function commandSummary(bytes: Buffer): CommandSummary {
    const e = parseEnvelope(bytes)
    if (typeof e === "number") throw new Error(`not a command a meter accepts (verdict ${e})`)
    const c = e as CommandEnvelope
    return { meterId: c.meterId.toString("hex"), signerKeyId: c.signerKeyId, counter: counterOf(c.counterHi, c.counterLo), opcode: c.opcode }
}
