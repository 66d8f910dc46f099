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
import { CborError, CborMap, CborReason, CborTag, CborValue, cborHead, decodeCbor, encodeCbor } from "./cbor"
import { COSE_SIGN1_TAG, COSE_SIGN_TAG, CoseMessage, CoseReason, coseProtected, decodeCose, encodeCose, toBeSigned } from "./cose"
import { ascii, copyBytes, equalBytes, isIntIn, isU32, setU16BE, U32_MAX, u32Bytes } from "./bytes"
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
    // keys 1..7 in order; 1 and 7 byte strings, 2..6 unsigned integers
    const v: CborValue[] = []
    try {
        match(decodeCbor(c.payload, []).value, decodeCbor(Buffer.from("a7014002f503f504f505f506f50740", "hex"), []).value, v, [])
    } catch (e) {
        if (!(e instanceof CborError)) throw e
        return Verdict.Malformed
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


// Firmware manifest (docs/commands.md §7, docs/formats.cddl `suit-envelope`): a SUIT
// manifest (RFC 9124's information model, draft-ietf-suit-manifest's CBOR encoding), the
// arguments of a FirmwareManifest command. The subset: one component; a shared sequence
// that sets the vendor id, class id, image digest and size and checks vendor and class; a
// sequence number; an authentication wrapper of one SUIT_Digest (SHA-256 of the manifest
// bytes) and one COSE_Sign1 (EdDSA, detached payload: that SUIT_Digest) by the root key.

/** SUIT numbers (draft-ietf-suit-manifest §8, IANA "SUIT" registries). */
export const enum Suit {
    /** SUIT_Envelope_Tagged */
    EnvelopeTag = 107,
    /** envelope: suit-authentication-wrapper, suit-manifest */
    Authentication = 2,
    Manifest = 3,
    /** manifest: suit-manifest-version (= 1), suit-manifest-sequence-number, suit-common */
    Version = 1,
    Sequence = 2,
    Common = 3,
    /** common: suit-components, suit-shared-sequence */
    Components = 2,
    SharedSequence = 4,
    /** commands: suit-condition-vendor-identifier, -class-identifier, suit-directive-override-parameters */
    ConditionVendor = 1,
    ConditionClass = 2,
    OverrideParameters = 20,
    /** parameters: vendor-identifier, class-identifier, image-digest, image-size */
    ParamVendor = 1,
    ParamClass = 2,
    ParamDigest = 3,
    ParamSize = 14,
    /** SUIT_Digest algorithm: SHA-256 (COSE alg −16) */
    Sha256 = -16,
    /** the reporting policy this head-end writes with each condition (draft §8.4.2.1: all reports) */
    ReportAll = 15,
}

/**
 * Why a manifest was refused: the acknowledgement's detail of a FirmwareRejected (docs/commands.md
 * §7). Numbered after `CborReason` (1..16) and `CoseReason` (32..41), which a manifest's
 * CBOR or its COSE_Sign1 may be refused with too.
 */
export const enum ManifestReason {
    Ok = 0,
    /** not the SUIT subset: a member missing, a wrong type or size */
    NotSuit = 48,
    /** a member, command, parameter or algorithm the subset lacks: a SUIT processor must not skip what it does not understand */
    Unsupported = 49,
    /** the wrapper's digest is not SHA-256 of the manifest bytes */
    BadDigest = 50,
    /** the wrapper's signature does not verify with the ring's root key (or its kid names another key) */
    BadSignature = 51,
    /** sequence number not above the meter's: rollback or replay */
    Rollback = 52,
    /** sequence number more than MAX_SEQUENCE_STEP above the meter's */
    TooFarAhead = 53,
    /** vendor id not trustmeter's (SUIT_VENDOR_ID) */
    WrongVendor = 54,
    /** class id not this board's (`suitClassId(board.id)`) */
    WrongClass = 55,
    /** image size 0 or beyond MAX_IMAGE_SIZE */
    BadSize = 56,
}

/**
 * trustmeter's SUIT vendor id: a name-based UUIDv8 with SHA-256 (RFC 9562 §5.8, Appendix
 * B.2) of the DNS namespace and "trustmeter.example"; a class id is the same construction
 * from the vendor id and the board id (`suitClassId`). Not UUIDv5 as the SUIT draft's
 * examples: that needs SHA-1, which the meter lacks (docs/formats.md).
 */
export const SUIT_VENDOR_ID = "c46f6a31aeae8fe1974eb3aaf5056b43"

/** What a firmware manifest says (the `FirmwarePort` stages it). */
export interface FirmwareManifest {
    /** anti-rollback sequence number (u32): must exceed the meter's */
    sequence: number
    /** image size in bytes */
    imageSize: number
    /** SHA-256 of the image */
    digest: Buffer
    /** 16-byte SUIT vendor and class ids */
    vendorId: Buffer
    classId: Buffer
}

/** A decoded envelope: the manifest, and the COSE_Sign1 over its digest, whose signature is still to be verified. */
export interface SignedManifest extends FirmwareManifest {
    auth: CoseMessage
}

/** The SUIT class id of board `boardId` (`SUIT_VENDOR_ID`'s construction): 16 bytes. */
export function suitClassId(crypto: { sha256(parts: Buffer[]): Buffer }, boardId: string): Buffer {
    const u = copyBytes(crypto.sha256([Buffer.from(SUIT_VENDOR_ID, "hex"), ascii(boardId)]), 0, 16)
    u[6] = (u[6] & 15) | 0x80
    u[8] = (u[8] & 63) | 0x80
    return u
}

/** Largest image a manifest may announce (the boards' program flash is far smaller). */
export const MAX_IMAGE_SIZE = 4194304

/**
 * ManifestReason.Ok, or why a meter at firmware sequence `current` of SUIT class `classId`
 * (`suitClassId(board.id)`) refuses authenticated manifest `m`: Rollback (sequence not
 * above: anti-rollback is a monotonic counter, never a version string), TooFarAhead (more
 * than MAX_SEQUENCE_STEP above: no one manifest exhausts it), WrongVendor, WrongClass,
 * BadSize (0 or beyond MAX_IMAGE_SIZE).
 */
export function decideManifest(m: FirmwareManifest, current: number, classId: Buffer): number {
    if (m.sequence <= current) return ManifestReason.Rollback
    if (m.sequence > current + MAX_SEQUENCE_STEP) return ManifestReason.TooFarAhead
    if (m.vendorId.toString("hex") !== SUIT_VENDOR_ID) return ManifestReason.WrongVendor
    if (!equalBytes(m.classId, classId)) return ManifestReason.WrongClass
    if (m.imageSize < 1 || m.imageSize > MAX_IMAGE_SIZE) return ManifestReason.BadSize
    return ManifestReason.Ok
}

/**
 * The SUIT subset as a pattern (docs/formats.cddl `suit-envelope`), one per layer of
 * embedded CBOR, in CBOR: a number must be that number, a map must have exactly those keys
 * (in the deterministic order), an array exactly that many items, `null` takes any item,
 * `true` an unsigned integer and h'' any byte string (all captured), and 24(k) takes a byte
 * string (captured) holding one item that matches pattern k. `parseEnvelope` reads the
 * command payload with the same function: {1: h'', 2: true, 3: true, 4: true, 5: true,
 * 6: true, 7: h''}. Walked by one function (`match`); a string costs the
 * image nothing.
 *   0: {2: 24(1), 3: 24(3)}                   SUIT_Envelope (in tag 107): authentication wrapper, manifest
 *   1: [24(2), h'']                           SUIT_Authentication: the SUIT_Digest, one COSE_Sign1
 *   2: [-16, h'']                             SUIT_Digest: SHA-256 and its bytes
 *   3: {1: 1, 2: null, 3: 24(4)}              SUIT_Manifest: version 1, sequence number, common
 *   4: {2: [null], 4: 24(5)}                  SUIT_Common: one component, the shared sequence
 *   5: [20, {1: h'', 2: h'', 3: 24(2), 14: null}, 1, null, 2, null]
 *      override vendor id, class id, image digest and size; check vendor, check class (any reporting policy)
 * The captures, in order: 0 wrapper, 1 SUIT_Digest bytes, 2 manifest digest, 3 COSE_Sign1,
 * 4 manifest bytes, 5 sequence, 6 common, 7 component, 8 shared sequence, 9 vendor id,
 * 10 class id, 11 image SUIT_Digest, 12 image digest, 13 image size, 14 and 15 the policies.
 */
const SUIT_PATTERN = "86a202d8180103d8180382d8180240822f40a3010102f603d81804a20281f604d818058614a40140024003d818020ef601f602f6"

/**
 * Reads a SUIT envelope of the subset strictly and checks its digest: the manifest, with
 * the COSE_Sign1 over the SUIT_Digest whose signature (toBeSigned(auth, 0), kid
 * auth.signatures[0].kid) the caller verifies; or the reason: a CborReason (not
 * deterministic CBOR, trailing bytes, another tag than 107...), NotSuit or Unsupported (not
 * the subset; an unknown map key or code is Unsupported: a SUIT processor must not skip
 * what it does not understand), BadDigest, or a CoseReason of the COSE_Sign1. Decides
 * nothing (`decideManifest`). Never throws.
 */
export function decodeManifest(args: Buffer, crypto: { sha256(parts: Buffer[]): Buffer }): SignedManifest | number {
    try {
        const d = decodeCbor(args, [Suit.EnvelopeTag])
        if (d.reason) no(d.reason)
        // (the only tag the decoder let through is 107)
        if (!(d.value instanceof CborTag)) no(ManifestReason.NotSuit)
        const pats = decodeCbor(Buffer.from(SUIT_PATTERN, "hex"), [24]).value as CborValue[]
        const c: CborValue[] = []
        match((d.value as CborTag).value, pats[0], c, pats)
        const seq = c[5] as number
        const size = c[13] as number
        if (!(isU32(seq) && isU32(size) && (c[12] as Buffer).length === 32)) no(ManifestReason.NotSuit)
        // the digest is of the manifest as a byte string, its head included (the draft's examples)
        const mb = c[4] as Buffer
        if (!equalBytes(c[2] as Buffer, crypto.sha256([cborHead(2, mb.length), mb]))) no(ManifestReason.BadDigest)
        // the signed payload is the SUIT_Digest bstr, detached (draft-ietf-suit-manifest §8.3);
        // (a COSE_Sign there, which SUIT allows too, is read as well: its first signature
        // must be the root's all the same)
        const auth = decodeCose(c[3] as Buffer, c[1] as Buffer) as CoseMessage
        if (typeof auth === "number") no(auth)
        return { sequence: seq, imageSize: size, digest: c[12] as Buffer, vendorId: c[9] as Buffer, classId: c[10] as Buffer, auth: auth }
    } catch (e) {
        if (!(e instanceof CborError)) throw e
        return (e as CborError).reason
    }
}

/** Refuses with `reason` (caught by decodeManifest). */
function no(reason: number): never {
    throw new CborError(reason as CborReason)
}

/** Matches `v` against pattern `p` of `pats` (SUIT_PATTERN), appending the captures to `c`. */
function match(v: CborValue, p: CborValue, c: CborValue[], pats: CborValue[]): void {
    if (p instanceof CborMap) {
        if (!(v instanceof CborMap)) no(ManifestReason.NotSuit)
        if ((v as CborMap).keys.join() !== (p as CborMap).keys.join()) no(ManifestReason.Unsupported)
        // then value by value, as an array
        v = (v as CborMap).values
        p = (p as CborMap).values
    }
    if (Array.isArray(p)) {
        if (!Array.isArray(v) || (v as CborValue[]).length !== (p as CborValue[]).length) no(ManifestReason.NotSuit)
        for (let i = 0; i < (p as CborValue[]).length; i++) match((v as CborValue[])[i], (p as CborValue[])[i], c, pats)
        return
    }
    if (typeof p === "number") {
        if (v !== p) no(ManifestReason.Unsupported)
        return
    }
    // null, true (an unsigned integer), h'' or 24(k): captured
    c.push(v)
    if (p === null) return
    if (p === true) {
        if (!(typeof v === "number" && v >= 0)) no(ManifestReason.NotSuit)
        return
    }
    if (!(v instanceof Buffer)) no(ManifestReason.NotSuit)
    if (p instanceof CborTag) {
        const d = decodeCbor(v as Buffer, [])
        if (d.reason) no(d.reason)
        match(d.value, pats[(p as CborTag).value as number], c, pats)
    }
}

/** What the head-end puts in a manifest (`signedManifest`). */
export interface ManifestFields {
    sequence: number
    imageSize: number
    /** SHA-256 of the image */
    digest: Buffer
    /** the target board id, 1..32 printable ASCII bytes, e.g. "trustmeter_pico_w" (its class id is `suitClassId`) */
    board: string
}

/**
 * The SUIT envelope of a manifest for `m.board`, signed by root key `kid` with `sign`
 * (Ed25519 of the bytes given, RFC 8032): the FirmwareManifest arguments. Throws a
 * RangeError for a manifest the meter would refuse as malformed, and for a sequence outside
 * `current` + 1 .. `current` + MAX_SEQUENCE_STEP, `current` the meter's.
 */
export function signedManifest(m: ManifestFields, current: number, crypto: { sha256(parts: Buffer[]): Buffer }, kid: number, sign: (toBeSigned: Buffer) => Buffer): Buffer {
    const board = ascii(m.board)
    let bad = !isU32(m.sequence) || !isU32(m.imageSize) || !m.digest || m.digest.length !== 32 || board.length < 1 || board.length > 32
    for (let i = 0; i < board.length; i++) if (board[i] < 0x21 || board[i] > 0x7e) bad = true
    if (bad) throw new RangeError("firmware manifest: sequence, size or digest out of range, or a board id not 1..32 printable ASCII bytes")
    if (!isIntIn(m.sequence, current + 1, current + MAX_SEQUENCE_STEP))
        throw new RangeError("firmware manifest: from sequence " + current + " a meter takes " + (current + 1) + ".." + (current + MAX_SEQUENCE_STEP))
    const digestOf = (b: Buffer) => encodeCbor([Suit.Sha256, b])
    const params = new CborMap([Suit.ParamVendor, Suit.ParamClass, Suit.ParamDigest, Suit.ParamSize], [Buffer.from(SUIT_VENDOR_ID, "hex"), suitClassId(crypto, m.board), digestOf(m.digest), m.imageSize])
    const shared = encodeCbor([Suit.OverrideParameters, params, Suit.ConditionVendor, Suit.ReportAll, Suit.ConditionClass, Suit.ReportAll])
    const common = encodeCbor(new CborMap([Suit.Components, Suit.SharedSequence], [[[Buffer.from([0])]], shared]))
    const manifest = encodeCbor(new CborMap([Suit.Version, Suit.Sequence, Suit.Common], [1, m.sequence, common]))
    return suitEnvelope(manifest, suitDigest(crypto, manifest), kid, sign)
}

/** The SUIT_Digest of `manifest` (the bytes of a SUIT_Manifest): [−16, SHA-256 of the manifest as a byte string, head included]. */
export function suitDigest(crypto: { sha256(parts: Buffer[]): Buffer }, manifest: Buffer): Buffer {
    return encodeCbor([Suit.Sha256, crypto.sha256([cborHead(2, manifest.length), manifest])])
}

/**
 * An envelope of `manifest` (the bytes of a SUIT_Manifest) whose wrapper holds `digest`
 * (the bytes of a SUIT_Digest) and a COSE_Sign1 by key `kid` over it: `signedManifest`'s
 * last step, and the tests' way to wrap what the head-end would refuse to build.
 */
export function suitEnvelope(manifest: Buffer, digest: Buffer, kid: number, sign: (toBeSigned: Buffer) => Buffer): Buffer {
    const k = Buffer.from([kid])
    const p = coseProtected(k)
    const cose: CoseMessage = { tag: COSE_SIGN1_TAG, bodyProtected: p, payload: digest, signatures: [{ protectedBytes: p, kid: k, signature: Buffer.alloc(0) }] }
    cose.signatures[0].signature = sign(toBeSigned(cose, 0))
    // the COSE_Sign1 with a nil payload: 18([protected, {}, nil, signature])
    const block = encodeCbor(new CborTag(COSE_SIGN1_TAG, [p, new CborMap([], []), null, cose.signatures[0].signature]))
    return encodeCbor(new CborTag(Suit.EnvelopeTag, new CborMap([Suit.Authentication, Suit.Manifest], [encodeCbor([digest, block]), manifest])))
}
