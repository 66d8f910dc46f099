/**
 * COSE signed messages (RFC 9052 §4) for trustmeter's commands, EdDSA with Ed25519 only
 * (RFC 9053 §2.2, alg −8): COSE_Sign1 for one signer, COSE_Sign for dual control (two
 * signers over the same payload; docs/formats.md says why not a countersignature). The
 * profile, written down in docs/formats.cddl:
 * - tagged only (18, 98): the tag says which structure, so one entry point reads both;
 * - alg in the protected header (signed), = −8; kid (a byte string) in the protected or
 *   the unprotected header, never both; no `crit`: this code understands no extension;
 * - no detached payload, except where the caller names it (a SUIT authentication block,
 *   RFC 9124 / draft-ietf-suit-manifest §8.3); a signature is 64 bytes; COSE_Sign carries 1 or 2 signatures;
 * - every byte deterministic CBOR (src/wire/cbor.ts), the protected headers included.
 *
 * Pure: this file builds the bytes to be signed (Sig_structure, §4.4) and reads what was
 * signed; the caller signs and verifies (firmware: src/crypto/ed25519.ts, head-end:
 * @noble/curves), always over the protected header bytes as received.
 */
import { ascii, concatBytes, equalBytes } from "./bytes"
import { CborMap, CborReason, CborTag, CborValue, cborHead, decodeCbor, encodeCbor } from "./cbor"

/** CBOR tags of COSE_Sign1_Tagged and COSE_Sign_Tagged (RFC 9052 §2, table 1). */
export const COSE_SIGN1_TAG = 18
export const COSE_SIGN_TAG = 98
/** EdDSA (RFC 9053 §2.2). */
export const COSE_ALG_EDDSA = -8
/** Ed25519 signature size (RFC 8032 §5.1.6). */
export const COSE_SIGNATURE_SIZE = 64

/** Common header labels (RFC 9052 §3.1). */
export const enum CoseHeader {
    Alg = 1,
    Crit = 2,
    ContentType = 3,
    Kid = 4,
}

/**
 * Why a COSE message was refused, numbered after `CborReason` (1..16) so that one number
 * says which layer refused and why.
 */
export const enum CoseReason {
    Ok = 0,
    /** not a COSE_Sign1/COSE_Sign of the right shape: array length or field types */
    NotCose = 32,
    /** a protected header that is not a (deterministic) map */
    BadProtected = 33,
    /** alg not in the protected header, or not EdDSA */
    BadAlg = 34,
    /** no kid, or a kid that is not a byte string */
    BadKid = 35,
    /** a `crit` header: no extension is understood here (RFC 9052 §3.1) */
    Critical = 36,
    /** a label in both the protected and the unprotected header (RFC 9052 §3) */
    DuplicateLabel = 37,
    /** a signature that is not 64 bytes */
    BadSignatureSize = 38,
    /** a nil (detached) payload where the caller expects one attached, or the reverse (RFC 9052 §4.1) */
    Detached = 39,
    /** a COSE_Sign with no signature or more than two */
    SignerCount = 40,
    /** a COSE_Sign whose two signatures name the same kid: dual control needs two keys */
    SameSigner = 41,
}

/** One signature: the signer's protected header as received, its kid, the signature. */
export interface CoseSignature {
    protectedBytes: Buffer
    kid: Buffer
    signature: Buffer
}

/**
 * A COSE_Sign1 (`tag` 18: `bodyProtected` is the signer's protected header, one
 * signature) or COSE_Sign (`tag` 98: the body's protected header, 1 or 2 signatures).
 */
export interface CoseMessage {
    tag: number
    bodyProtected: Buffer
    payload: Buffer
    signatures: CoseSignature[]
}

/**
 * Reads a COSE_Sign1_Tagged or COSE_Sign_Tagged message of the profile above; with
 * `detached`, one whose payload is nil and is `detached` (RFC 9052 §2). Returns the
 * message, or a reason (a `CborReason` when the bytes are not deterministic CBOR, else a
 * `CoseReason`); verifies no signature. Never throws.
 * @example const m = decodeCose(bytes); if (typeof m === "number") return refuse(m)
 */
export function decodeCose(b: Buffer, detached?: Buffer): CoseMessage | number {
    const d = decodeCbor(b, [COSE_SIGN1_TAG, COSE_SIGN_TAG])
    if (d.reason !== CborReason.Ok) return d.reason
    const t = d.value
    if (!(t instanceof CborTag) || !Array.isArray(t.value) || (t.value as CborValue[]).length !== 4) return CoseReason.NotCose
    const a = t.value as CborValue[]
    // a detached payload only where the caller supplies it (a SUIT authentication block:
    // src/wire/envelope.ts), and an attached one never there
    let p = a[2]
    if ((p === null) !== !!detached) return CoseReason.Detached
    if (p === null) p = detached as Buffer
    // (the protected header's type is checked with the headers)
    if (!(p instanceof Buffer)) return CoseReason.NotCose
    const m: CoseMessage = { tag: t.tag, bodyProtected: a[0] as Buffer, payload: p as Buffer, signatures: [] }
    if (t.tag === COSE_SIGN1_TAG) return signer(m, a[0], a[1], a[3])
    // COSE_Sign: the body's headers carry nothing this profile reads, but must be sound
    const h = headers(a[0], a[1])
    if (typeof h === "number") return h
    const s = a[3]
    if (!Array.isArray(s)) return CoseReason.NotCose
    if (s.length < 1 || s.length > 2) return CoseReason.SignerCount
    for (let i = 0; i < s.length; i++) {
        const si = s[i]
        if (!Array.isArray(si) || (si as CborValue[]).length !== 3) return CoseReason.NotCose
        const sa = si as CborValue[]
        const r = signer(m, sa[0], sa[1], sa[2])
        if (typeof r === "number") return r
    }
    if (s.length === 2 && equalBytes(m.signatures[0].kid, m.signatures[1].kid)) return CoseReason.SameSigner
    return m
}

/**
 * The bytes signature `i` of `m` signs: the Sig_structure of RFC 9052 §4.4 with an empty
 * external_aad, ["Signature1", body_protected, h'', payload] for a COSE_Sign1,
 * ["Signature", body_protected, sign_protected, h'', payload] for a COSE_Sign. Written out
 * head by head rather than through encodeCbor: the firmware then carries no encoder.
 */
export function toBeSigned(m: CoseMessage, i: number): Buffer {
    const one = m.tag === COSE_SIGN1_TAG
    const f: Buffer[] = [ascii(one ? "Signature1" : "Signature"), m.bodyProtected]
    if (!one) f.push(m.signatures[i].protectedBytes)
    f.push(Buffer.alloc(0))
    f.push(m.payload)
    // a text string, then byte strings
    let out = cborHead(4, f.length)
    for (let j = 0; j < f.length; j++) out = concatBytes(concatBytes(out, cborHead(j === 0 ? 3 : 2, f[j].length)), f[j])
    return out
}

/** Sig_structure (RFC 9052 §4.4) of a COSE_Sign1 when `signProtected` is null, else of one COSE_Sign signature. */
export function sigStructure(bodyProtected: Buffer, signProtected: Buffer | null, payload: Buffer): Buffer {
    const tag = signProtected === null ? COSE_SIGN1_TAG : COSE_SIGN_TAG
    const sig: CoseSignature = { protectedBytes: signProtected as Buffer, kid: Buffer.alloc(0), signature: Buffer.alloc(0) }
    return toBeSigned({ tag: tag, bodyProtected: bodyProtected, payload: payload, signatures: [sig] }, 0)
}

/** The protected header of a trustmeter signer: {1: −8, 4: kid}, deterministic. */
export function coseProtected(kid: Buffer): Buffer {
    return encodeCbor(new CborMap([CoseHeader.Alg, CoseHeader.Kid], [COSE_ALG_EDDSA, kid]))
}

/**
 * The message bytes: COSE_Sign1_Tagged from `signatures[0]` when `m.tag` is 18, else
 * COSE_Sign_Tagged; unprotected headers empty (the kid travels in each protected header).
 */
export function encodeCose(m: CoseMessage): Buffer {
    const none = new CborMap([], [])
    const s = m.signatures
    let last: CborValue = s[0].signature
    if (m.tag !== COSE_SIGN1_TAG) {
        const all: CborValue[] = []
        for (let i = 0; i < s.length; i++) all.push([s[i].protectedBytes, none, s[i].signature])
        last = all
    }
    return encodeCbor(new CborTag(m.tag, [m.bodyProtected, none, m.payload, last]))
}

/** The protected map of a header pair, after the rules every COSE header obeys. */
function headers(prot: CborValue, unprot: CborValue): CborMap | number {
    if (!(prot instanceof Buffer) || !(unprot instanceof CborMap)) return CoseReason.NotCose
    // a zero-length protected header is the empty map (RFC 9052 §3)
    let p = new CborMap([], [])
    if ((prot as Buffer).length > 0) {
        const d = decodeCbor(prot as Buffer, [])
        if (d.reason !== CborReason.Ok || !(d.value instanceof CborMap)) return CoseReason.BadProtected
        p = d.value as CborMap
    }
    const u = unprot as CborMap
    if (p.get(CoseHeader.Crit) !== undefined || u.get(CoseHeader.Crit) !== undefined) return CoseReason.Critical
    for (let i = 0; i < u.keys.length; i++) if (p.get(u.keys[i]) !== undefined) return CoseReason.DuplicateLabel
    return p
}

/** Checks one signer's headers and signature and appends it to `m`; `m` or a reason. */
function signer(m: CoseMessage, prot: CborValue, unprot: CborValue, sig: CborValue): CoseMessage | number {
    const p = headers(prot, unprot)
    if (typeof p === "number") return p
    if (!(sig instanceof Buffer)) return CoseReason.NotCose
    if (p.get(CoseHeader.Alg) !== COSE_ALG_EDDSA) return CoseReason.BadAlg
    let kid = p.get(CoseHeader.Kid)
    if (kid === undefined) kid = (unprot as CborMap).get(CoseHeader.Kid)
    if (!(kid instanceof Buffer)) return CoseReason.BadKid
    if ((sig as Buffer).length !== COSE_SIGNATURE_SIZE) return CoseReason.BadSignatureSize
    m.signatures.push({ protectedBytes: prot as Buffer, kid: kid as Buffer, signature: sig as Buffer })
    return m
}
