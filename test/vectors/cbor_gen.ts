/**
 * Golden vectors for the wire core's CBOR codec (src/wire/cbor.ts) and COSE codec
 * (src/wire/cose.ts), made without them: encodings are RFC 8949 Appendix A's or written
 * here by hand, their diagnostic notation is cbor2's `diagnose`, the COSE messages are
 * built with cbor2 and signed with @noble/curves, and each invalid input carries the
 * refusal our profile gives it plus what cbor2 says of it (default and CDE options).
 *
 *   test/vectors/cbor.json           the same data as JSON
 *   test/device/vectors/cbor.ts      CBOR vectors and fuzz seeds as a firmware module
 *   test/device/vectors/cose.ts      COSE vectors (ours and the COSE WG's) as a firmware module
 *
 * `npx tsx test/vectors/cbor_gen.ts` rewrites all three; test/node/cbor.test.ts fails when
 * they are stale. test/vectors/cose_wg.json is upstream data copied by hand (see its
 * "source").
 */
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { decode, encode, Tag, cdeDecodeOptions } from "cbor2"
import { diagnose } from "cbor2/diagnostic"
import { ed25519 } from "@noble/curves/ed25519.js"
import { CborReason } from "../../src/wire/cbor"
import { CoseReason } from "../../src/wire/cose"

const root = fileURLToPath(new URL("../..", import.meta.url))
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
const h = (s: string) => Buffer.from(s, "hex")
/** a plain Uint8Array for cbor2, which would encode a Buffer by its toJSON() */
const u = (s: string) => new Uint8Array(Buffer.from(s, "hex"))
const rep = (s: string, n: number) => s.repeat(n)

/** Our refusal names and numbers (src/wire/cbor.ts, src/wire/cose.ts). */
export const REASONS: Record<string, number> = {
    Truncated: CborReason.Truncated,
    TrailingBytes: CborReason.TrailingBytes,
    Indefinite: CborReason.Indefinite,
    NonMinimal: CborReason.NonMinimal,
    Reserved: CborReason.Reserved,
    IntegerTooLarge: CborReason.IntegerTooLarge,
    Float: CborReason.Float,
    Simple: CborReason.Simple,
    UnknownTag: CborReason.UnknownTag,
    TooDeep: CborReason.TooDeep,
    TooLarge: CborReason.TooLarge,
    DuplicateKey: CborReason.DuplicateKey,
    UnsortedKeys: CborReason.UnsortedKeys,
    BadKey: CborReason.BadKey,
    BadUtf8: CborReason.BadUtf8,
    NotCose: CoseReason.NotCose,
    BadProtected: CoseReason.BadProtected,
    BadAlg: CoseReason.BadAlg,
    BadKid: CoseReason.BadKid,
    Critical: CoseReason.Critical,
    DuplicateLabel: CoseReason.DuplicateLabel,
    BadSignatureSize: CoseReason.BadSignatureSize,
    Detached: CoseReason.Detached,
    SignerCount: CoseReason.SignerCount,
    SameSigner: CoseReason.SameSigner,
}

/** Valid items: [hex, allowed tags, note]. RFC 8949 Appendix A within the subset, then ours. */
const VALID: [string, number[], string][] = [
    ...["00", "01", "0a", "17", "1818", "1819", "1864", "1903e8", "1a000f4240", "1b000000e8d4a51000"].map(
        x => [x, [], "RFC 8949 App. A"] as [string, number[], string]),
    ...["20", "29", "3863", "3903e7", "f4", "f5", "f6"].map(x => [x, [], "RFC 8949 App. A"] as [string, number[], string]),
    ["c074323031332d30332d32315432303a30343a30305a", [0], "RFC 8949 App. A, tag 0 allowed"],
    ["c11a514b67b0", [1], "RFC 8949 App. A, tag 1 allowed"],
    ["d74401020304", [23], "RFC 8949 App. A, tag 23 allowed"],
    ["d818456449455446", [24], "RFC 8949 App. A, tag 24 allowed"],
    ["d82076687474703a2f2f7777772e6578616d706c652e636f6d", [32], "RFC 8949 App. A, tag 32 allowed"],
    ...["40", "4401020304", "60", "6161", "6449455446", "62225c", "62c3bc", "63e6b0b4", "64f0908591"].map(
        x => [x, [], "RFC 8949 App. A"] as [string, number[], string]),
    ...["80", "83010203", "8301820203820405", "98190102030405060708090a0b0c0d0e0f101112131415161718181819"].map(
        x => [x, [], "RFC 8949 App. A"] as [string, number[], string]),
    ...["a0", "a201020304", "a26161016162820203", "826161a161626163", "a56161614161626142616361436164614461656145"].map(
        x => [x, [], "RFC 8949 App. A"] as [string, number[], string]),
    // every head width at its edges
    ["18ff", [], "255"], ["190100", [], "256"], ["19ffff", [], "65535"], ["1a00010000", [], "65536"],
    ["1affffffff", [], "2^32 - 1"], ["1b0000000100000000", [], "2^32"], ["1b001fffffffffffff", [], "2^53 - 1, the largest"],
    ["37", [], "-24"], ["3818", [], "-25"], ["38ff", [], "-256"], ["390100", [], "-257"],
    ["3affffffff", [], "-2^32"], ["3b001ffffffffffffe", [], "-(2^53 - 1), the smallest"],
    ["57" + rep("aa", 23), [], "23-byte string, length in the initial byte"],
    ["5818" + rep("bb", 24), [], "24-byte string, one length byte"],
    ["590100" + rep("cc", 256), [], "256-byte string, two length bytes"],
    ["6100", [], "NUL in a text string"],
    ["6a" + Buffer.from("trustmeter").toString("hex"), [], "text"],
    ["6cc3bc" + rep("61", 10), [], "text, non-ASCII"],
    // map keys in bytewise order of their encodings: length first, then value
    ["aa" + "0000" + "1701" + "181802" + "2003" + "3704" + "381805" + "6006" + "616107" + "616208" + "62616109", [],
        "mixed keys in deterministic order: 0, 23, 24, -1, -24, -25, \"\", \"a\", \"b\", \"aa\""],
    ["a3" + "01f6" + "02f5" + "03f4", [], "null and booleans as values"],
    [rep("81", 8) + "01", [], "8 nested arrays: the depth limit"],
    ["d2" + rep("81", 7) + "01", [18], "tag and 7 arrays: the depth limit"],
    ["987f" + rep("00", 127), [], "127 items in an array: 128 items, the limit"],
    ["5903fd" + rep("5a", 1021), [], "1024 bytes: the size limit"],
    ["d28443a10127a10442313154546869732069732074686520636f6e74656e742e5840" + rep("00", 64), [18], "a COSE_Sign1 shape"],
]

/** Invalid inputs: [hex, our reason, allowed tags, note]. */
const INVALID: [string, string, number[], string][] = [
    ["", "Truncated", [], "empty input"],
    ["18", "Truncated", [], "1-byte argument missing"],
    ["1901", "Truncated", [], "2-byte argument cut"],
    ["1a000000", "Truncated", [], "4-byte argument cut"],
    ["1b00000000000000", "Truncated", [], "8-byte argument cut"],
    ["41", "Truncated", [], "byte string without its byte"],
    ["6261", "Truncated", [], "text string cut"],
    ["8201", "Truncated", [], "array cut"],
    ["a101", "Truncated", [], "map without its value"],
    ["a3010203", "Truncated", [], "map announces more pairs than bytes"],
    ["d2", "Truncated", [18], "tag without content"],
    ["5affffffff00", "Truncated", [], "huge length announced"],
    ["9b000000010000000000", "Truncated", [], "huge count announced, refused before any allocation"],
    ["0000", "TrailingBytes", [], "two items"],
    ["80ff", "TrailingBytes", [], "break after a complete item"],
    ["616161", "TrailingBytes", [], "a byte after a text string"],
    ["5f42010243030405ff", "Indefinite", [], "RFC 8949 App. A: indefinite byte string"],
    ["7f657374726561646d696e67ff", "Indefinite", [], "RFC 8949 App. A: indefinite text string"],
    ["9fff", "Indefinite", [], "RFC 8949 App. A: [_ ]"],
    ["9f018202039f0405ffff", "Indefinite", [], "RFC 8949 App. A"],
    ["bf61610161629f0203ffff", "Indefinite", [], "RFC 8949 App. A: indefinite map"],
    ["ff", "Indefinite", [], "lone break"],
    ["1f", "Indefinite", [], "additional info 31 on an integer (not well-formed)"],
    ["df", "Indefinite", [18], "additional info 31 on a tag (not well-formed)"],
    ["1800", "NonMinimal", [], "0 in a 1-byte argument"],
    ["1817", "NonMinimal", [], "23 in a 1-byte argument"],
    ["1900ff", "NonMinimal", [], "255 in 2 bytes"],
    ["1a0000ffff", "NonMinimal", [], "65535 in 4 bytes"],
    ["1b00000000ffffffff", "NonMinimal", [], "2^32 - 1 in 8 bytes"],
    ["3817", "NonMinimal", [], "-24 in a 1-byte argument"],
    ["5800", "NonMinimal", [], "empty byte string, long length"],
    ["780161", "NonMinimal", [], "1-byte text, long length"],
    ["9800", "NonMinimal", [], "empty array, long count"],
    ["b800", "NonMinimal", [], "empty map, long count"],
    ["d81280", "NonMinimal", [18], "tag 18 in a 1-byte argument"],
    ["1c", "Reserved", [], "additional info 28"],
    ["3d", "Reserved", [], "additional info 29"],
    ["5e", "Reserved", [], "additional info 30"],
    ["7c", "Reserved", [], "additional info 28"],
    ["9d", "Reserved", [], "additional info 29"],
    ["be", "Reserved", [], "additional info 30"],
    ["dc", "Reserved", [], "additional info 28"],
    ["fc", "Reserved", [], "additional info 28, major 7"],
    ["1b0020000000000000", "IntegerTooLarge", [], "2^53"],
    ["1bffffffffffffffff", "IntegerTooLarge", [], "RFC 8949 App. A: 18446744073709551615"],
    ["3b001fffffffffffff", "IntegerTooLarge", [], "-2^53"],
    ["3bffffffffffffffff", "IntegerTooLarge", [], "RFC 8949 App. A: -18446744073709551616"],
    ["5b0020000000000000", "IntegerTooLarge", [], "length 2^53"],
    ["f90000", "Float", [], "RFC 8949 App. A: 0.0 (half)"],
    ["f93c00", "Float", [], "RFC 8949 App. A: 1.0"],
    ["fa47c35000", "Float", [], "RFC 8949 App. A: 100000.0"],
    ["fb3ff199999999999a", "Float", [], "RFC 8949 App. A: 1.1"],
    ["f97c00", "Float", [], "RFC 8949 App. A: Infinity"],
    ["f97e00", "Float", [], "RFC 8949 App. A: NaN"],
    ["f900", "Float", [], "a cut float is refused as a float"],
    ["f7", "Simple", [], "RFC 8949 App. A: undefined"],
    ["f0", "Simple", [], "RFC 8949 App. A: simple(16)"],
    ["f8ff", "Simple", [], "RFC 8949 App. A: simple(255)"],
    ["f818", "Simple", [], "simple(24)"],
    ["f800", "Simple", [], "simple(0) in two bytes (not well-formed)"],
    ["e0", "Simple", [], "simple(0)"],
    ["c11a514b67b0", "UnknownTag", [], "RFC 8949 App. A: tag 1 not allowed"],
    ["c249010000000000000000", "UnknownTag", [], "RFC 8949 App. A: bignum"],
    ["c349010000000000000000", "UnknownTag", [], "RFC 8949 App. A: negative bignum"],
    ["d280", "UnknownTag", [], "tag 18 without the allow-list"],
    ["d86280", "UnknownTag", [18], "tag 98 with only 18 allowed"],
    [rep("81", 9) + "01", "TooDeep", [], "9 nested arrays"],
    [rep("a101", 9) + "01", "TooDeep", [], "9 nested maps"],
    ["d2" + rep("81", 8) + "01", "TooDeep", [18], "tag and 8 arrays"],
    ["9880" + rep("00", 128), "TooLarge", [], "128 items in an array: 129 items"],
    ["5903fe" + rep("5a", 1022), "TooLarge", [], "1025 bytes"],
    ["a201000100", "DuplicateKey", [], "key 1 twice"],
    ["a2616101616102", "DuplicateKey", [], "key \"a\" twice"],
    ["a203040102", "UnsortedKeys", [], "RFC 8949 App. A map, reversed"],
    ["a220000100", "UnsortedKeys", [], "-1 before 1"],
    ["a2616200616100", "UnsortedKeys", [], "\"b\" before \"a\""],
    ["a2626161006162" + "00", "UnsortedKeys", [], "\"aa\" before \"b\": shorter encodings first"],
    ["a261610001" + "00", "UnsortedKeys", [], "text before integer"],
    ["a14000", "BadKey", [], "byte string key"],
    ["a18000", "BadKey", [], "array key"],
    ["a1f400", "BadKey", [], "false as key"],
    ["a1a000", "BadKey", [], "map key"],
    ["62c328", "BadUtf8", [], "bad continuation byte"],
    ["61ff", "BadUtf8", [], "0xff"],
    ["6180", "BadUtf8", [], "lone continuation byte"],
    ["62c0af", "BadUtf8", [], "overlong '/'"],
    ["63e0808f", "BadUtf8", [], "overlong in three bytes"],
    ["63eda080", "BadUtf8", [], "surrogate U+D800"],
    ["64f4908080", "BadUtf8", [], "above U+10FFFF"],
    ["63e28261", "BadUtf8", [], "cut sequence followed by ASCII"],
]

function cbor2Says(hx: string, opts: object): string {
    try {
        decode(h(hx), opts)
        return "accepts"
    } catch (e) {
        return "refuses"
    }
}

// ---- COSE ---------------------------------------------------------------------------

/** RFC 8032 §7.1 TEST 1 and TEST 2 secret keys: the signers of our COSE vectors. */
const SIGNER_A = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
const SIGNER_B = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"

/** A trustmeter command payload (docs/formats.cddl `command-payload`). */
export function commandPayload(opcode: number, sigs: number, signerKid: number): Uint8Array {
    return encode(new Map<number, unknown>([
        [1, u("7e57000000000001")], [2, new Uint8Array([signerKid])], [3, 42], [4, 1795000000],
        [5, 1795086400], [6, opcode], [7, new Uint8Array(0)], [8, sigs],
    ]), { cde: true })
}

function sigStructure(body: Uint8Array, sign: Uint8Array | null, payload: Uint8Array): Uint8Array {
    const ctx = sign === null ? ["Signature1", body, new Uint8Array(0), payload] : ["Signature", body, sign, new Uint8Array(0), payload]
    return encode(ctx, { cde: true })
}

function prot(alg: number, kid: number): Uint8Array {
    return encode(new Map<number, unknown>([[1, alg], [4, new Uint8Array([kid])]]), { cde: true })
}

function sign1(secret: string, p: Uint8Array, payload: Uint8Array | null, unprot = new Map(), sigLen = 64): string {
    const sig = payload === null || sigLen !== 64 ? new Uint8Array(sigLen).fill(0x55) : ed25519.sign(sigStructure(p, null, payload), u(secret))
    return hex(encode(new Tag(18, [p, unprot, payload, sig]), { cde: true }))
}

function signN(signers: [string, Uint8Array][], payload: Uint8Array, bodyProt = new Uint8Array(0)): string {
    const sigs = signers.map(([secret, p]) => [p, new Map(), ed25519.sign(sigStructure(bodyProt, p, payload), u(secret))])
    return hex(encode(new Tag(98, [bodyProt, new Map(), payload, sigs]), { cde: true }))
}

export function coseVectors() {
    const pubA = hex(ed25519.getPublicKey(u(SIGNER_A)))
    const pubB = hex(ed25519.getPublicKey(u(SIGNER_B)))
    const one = commandPayload(1, 1, 2)
    const two = commandPayload(1, 2, 2)
    const pA = prot(-8, 2)
    const pB = prot(-8, 3)
    const valid = [
        { name: "sign1-disconnect", hex: sign1(SIGNER_A, pA, one), kids: ["02"], publicKeys: [pubA], payload: hex(one),
            toBeSigned: [hex(sigStructure(pA, null, one))] },
        { name: "sign-dual-disconnect", hex: signN([[SIGNER_A, pA], [SIGNER_B, pB]], two), kids: ["02", "03"], publicKeys: [pubA, pubB],
            payload: hex(two), toBeSigned: [hex(sigStructure(new Uint8Array(0), pA, two)), hex(sigStructure(new Uint8Array(0), pB, two))] },
    ]
    const dummy = new Uint8Array(64).fill(0x55)
    const enc = (v: unknown) => hex(encode(v, { cde: true }))
    const invalid: [string, string, string][] = [
        ["untagged COSE_Sign1", enc([pA, new Map(), one, dummy]), "NotCose"],
        ["tag 18 around 3 fields", enc(new Tag(18, [pA, new Map(), one])), "NotCose"],
        ["tag 18 around a map", enc(new Tag(18, new Map())), "NotCose"],
        ["payload a text string", enc(new Tag(18, [pA, new Map(), "x", dummy])), "NotCose"],
        ["unprotected header a byte string", enc(new Tag(18, [pA, new Uint8Array(0), one, dummy])), "NotCose"],
        ["COSE_Encrypt0 tag", enc(new Tag(16, [pA, new Map(), one])), "UnknownTag"],
        ["detached payload", sign1(SIGNER_A, pA, null), "Detached"],
        ["protected header not a map", enc(new Tag(18, [u("01"), new Map(), one, dummy])), "BadProtected"],
        ["protected header unsorted", enc(new Tag(18, [u("a2040201" + "27"), new Map(), one, dummy])), "BadProtected"],
        ["empty protected header (alg missing)", enc(new Tag(18, [new Uint8Array(0), new Map<number, unknown>([[1, -8], [4, u("02")]]), one, dummy])), "BadAlg"],
        ["alg ES256", enc(new Tag(18, [prot(-7, 2), new Map(), one, dummy])), "BadAlg"],
        ["alg only unprotected", enc(new Tag(18, [encode(new Map([[4, u("02")]]), { cde: true }), new Map([[1, -8]]), one, dummy])), "BadAlg"],
        ["no kid", enc(new Tag(18, [encode(new Map([[1, -8]]), { cde: true }), new Map(), one, dummy])), "BadKid"],
        ["kid an integer", enc(new Tag(18, [encode(new Map([[1, -8], [4, 2]]), { cde: true }), new Map(), one, dummy])), "BadKid"],
        ["crit header", enc(new Tag(18, [encode(new Map<number, unknown>([[1, -8], [2, [4]], [4, u("02")]]), { cde: true }), new Map(), one, dummy])), "Critical"],
        ["kid in both buckets", enc(new Tag(18, [pA, new Map([[4, u("02")]]), one, dummy])), "DuplicateLabel"],
        ["63-byte signature", sign1(SIGNER_A, pA, one, new Map(), 63), "BadSignatureSize"],
        ["no signatures", enc(new Tag(98, [new Uint8Array(0), new Map(), two, []])), "SignerCount"],
        ["three signatures", enc(new Tag(98, [new Uint8Array(0), new Map(), two, [[pA, new Map(), dummy], [pB, new Map(), dummy], [prot(-8, 4), new Map(), dummy]]])), "SignerCount"],
        ["two signatures, one kid", enc(new Tag(98, [new Uint8Array(0), new Map(), two, [[pA, new Map(), dummy], [pA, new Map(), dummy]]])), "SameSigner"],
        ["signature entry of 2 fields", enc(new Tag(98, [new Uint8Array(0), new Map(), two, [[pA, dummy]]])), "NotCose"],
        ["crit in the body header", enc(new Tag(98, [encode(new Map([[2, [1]]]), { cde: true }), new Map(), two, [[pA, new Map(), dummy]]])), "Critical"],
        ["unprotected keys unsorted (not deterministic)", "d28443a10127a2" + "0442" + "3131" + "0300" + "40" + "5840" + rep("55", 64), "UnsortedKeys"],
    ]
    return {
        signers: { note: "RFC 8032 §7.1 TEST 1 (kid 02) and TEST 2 (kid 03) keys", publicKeys: { "02": pubA, "03": pubB } },
        valid,
        invalid: invalid.map(([name, hx, reason]) => ({ name, hex: hx, reason, code: REASONS[reason] })),
    }
}

export function cborVectors() {
    return {
        note: "valid: RFC 8949 Appendix A within the profile, then edges; diag is cbor2's diagnose. invalid: our refusal, and whether cbor2 2.3 decodes it with default options and with its CDE (deterministic) options",
        valid: VALID.map(([hx, tags, note]) => ({ hex: hx, tags, diag: diagnose(h(hx)), note })),
        invalid: INVALID.map(([hx, reason, tags, note]) => ({
            hex: hx, reason, code: REASONS[reason], tags, note,
            cbor2: cbor2Says(hx, {}), cbor2cde: cbor2Says(hx, cdeDecodeOptions),
        })),
        cose: coseVectors(),
    }
}

export type CborVectors = ReturnType<typeof cborVectors>

const HEADER = "// GENERATED by test/vectors/cbor_gen.ts from the same data as test/vectors/cbor.json: do not edit.\n"

export function deviceCborModule(v: CborVectors): string {
    const valid = v.valid.map(x => [x.diag, x.hex, x.tags])
    const invalid = v.invalid.map(x => [x.hex, x.code, x.tags])
    return `${HEADER}
/** diag (cbor2), hex, allowed tags */
export const CBOR_VALID: any[][] = ${JSON.stringify(valid)}

/** hex, CborReason, allowed tags */
export const CBOR_INVALID: any[][] = ${JSON.stringify(invalid)}
`
}

export function deviceCoseModule(v: CborVectors, wg: any): string {
    const ours = v.cose.valid.map(x => [x.name, x.hex, x.kids, x.publicKeys, x.payload, x.toBeSigned])
    const invalid = v.cose.invalid.map(x => [x.name, x.hex, x.code])
    const theirs = wg.examples.map((x: any) => [x.file, x.structure, x.curve, x.kid, x.publicKey, x.payload, x.toBeSigned, x.cbor])
    return `${HEADER}// COSE_WG: ${wg.source}

/** name, hex, kids, public keys, payload, to-be-signed per signature */
export const COSE_VALID: any[][] = ${JSON.stringify(ours)}

/** name, hex, reason (CborReason or CoseReason) */
export const COSE_INVALID: any[][] = ${JSON.stringify(invalid)}

/** file, structure, curve, kid, public key, payload, to-be-signed, message */
export const COSE_WG: any[][] = ${JSON.stringify(theirs)}
`
}

export function readWg() {
    return JSON.parse(readFileSync(root + "test/vectors/cose_wg.json", "utf8"))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
    const v = cborVectors()
    writeFileSync(root + "test/vectors/cbor.json", JSON.stringify(v, null, 2) + "\n")
    writeFileSync(root + "test/device/vectors/cbor.ts", deviceCborModule(v))
    writeFileSync(root + "test/device/vectors/cose.ts", deviceCoseModule(v, readWg()))
}
