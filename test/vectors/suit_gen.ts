/**
 * Golden vectors of the firmware manifest (docs/commands.md §7): SUIT envelopes, a valid
 * one and one for each way a meter refuses, signed by the envelope vectors' root key
 * (test/vectors/envelope_gen.ts, ring VECTOR_ANCHOR) or on purpose by another, each with
 * the reason (`ManifestReason`, or the CBOR/COSE reason) a meter of board "simulator" at
 * firmware sequence `current` gives. Writes test/vectors/suit.json and the firmware's copy
 * test/device/vectors/suit.ts; test/node/suit.test.ts fails when either is stale.
 *
 *   npx tsx test/vectors/suit_gen.ts
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { sha256 } from "@noble/hashes/sha2.js"
import { ed25519 } from "@noble/curves/ed25519.js"
import { CborMap, CborReason, encodeCbor } from "../../src/wire/cbor"
import { ManifestReason, signedManifest, Suit, SUIT_VENDOR_ID, suitClassId, suitDigest, suitEnvelope } from "../../src/wire/envelope"
import { nodeCrypto } from "../../headend/src/crypto.ts"

const ROOT = join(fileURLToPath(import.meta.url), "../../..")
export const JSON_PATH = join(ROOT, "test/vectors/suit.json")
export const TS_PATH = join(ROOT, "test/device/vectors/suit.ts")

/** The envelope vectors' keys (test/vectors/envelope_gen.ts `seed`). */
const seed = (label: string) => sha256(new TextEncoder().encode(`trustmeter vector key ${label}`))
const ROOT_SEED = seed("root")
const NETOP_SEED = seed("netop")

export interface SuitVector {
    name: string
    /** the FirmwareManifest arguments */
    hex: string
    /** what `decodeManifest` gives: 0 when it decodes, else its reason */
    decoded: number
    /** the meter's reason at `current` for board "simulator" (0: accepted) */
    reason: number
}

export interface SuitVectors {
    /** the meter's firmware sequence before each vector */
    current: number
    board: string
    vendorId: string
    /** suitClassId of each board */
    classIds: { board: string; classId: string }[]
    /** the root's public key (key 1 of the envelope vectors' ring) */
    rootPublicKey: string
    /** the valid vector's fields */
    valid: { sequence: number; imageSize: number; digest: string; classId: string }
    vectors: SuitVector[]
}

const enc = encodeCbor
const digestOf = (b: Buffer) => enc([Suit.Sha256, b])

/** The manifest bytes of the subset with these fields; `extra` adds members to the manifest map. */
function manifestBytes(f: { sequence: number; size: number; digest: Buffer; vendor: Buffer; classId: Buffer; version?: number; extra?: [number, Buffer | number][] }): Buffer {
    const params = new CborMap([1, 2, 3, 14], [f.vendor, f.classId, digestOf(f.digest), f.size])
    const shared = enc([Suit.OverrideParameters, params, Suit.ConditionVendor, Suit.ReportAll, Suit.ConditionClass, Suit.ReportAll])
    const common = enc(new CborMap([2, 4], [[[Buffer.from([0])]], shared]))
    const keys: number[] = [1, 2, 3]
    const values: (number | Buffer)[] = [f.version ?? 1, f.sequence, common]
    for (const [k, v] of f.extra ?? []) {
        keys.push(k)
        values.push(v)
    }
    return enc(new CborMap(keys, values))
}

const signBy = (secret: Uint8Array) => (tbs: Buffer) => Buffer.from(ed25519.sign(tbs, secret))

export function generate(): SuitVectors {
    const current = 6
    const board = "simulator"
    const image = Buffer.alloc(1000)
    const imageDigest = Buffer.from(sha256(image))
    const vendor = Buffer.from(SUIT_VENDOR_ID, "hex")
    const classId = suitClassId(nodeCrypto, board)
    const base = { sequence: 7, size: 1000, digest: imageDigest, vendor, classId }
    const root = signBy(ROOT_SEED)
    const wrap = (m: Buffer, key = root, kid = 1) => suitEnvelope(m, suitDigest(nodeCrypto, m), kid, key)
    const valid = signedManifest({ sequence: 7, imageSize: 1000, digest: imageDigest, board }, current, nodeCrypto, 1, root)
    const vectors: SuitVector[] = []
    const v = (name: string, b: Buffer, decoded: number, reason = decoded) => vectors.push({ name, hex: b.toString("hex"), decoded, reason })

    v("valid: sequence 7 for the simulator, 1000 bytes, signed by the root", valid, 0, ManifestReason.Ok)
    if (!valid.equals(wrap(manifestBytes(base)))) throw new Error("suit_gen: signedManifest and manifestBytes differ")
    // the wrapper's digest is not the manifest's (one bit of the digest flipped; signed as it is)
    const m0 = manifestBytes(base)
    const wrongDigest = suitDigest(nodeCrypto, m0)
    wrongDigest[wrongDigest.length - 1] ^= 1
    v("wrong digest in the authentication wrapper", suitEnvelope(m0, wrongDigest, 1, root), ManifestReason.BadDigest)
    // the manifest edited after signing (sequence 7 -> 8), its digest recomputed, the old signature kept
    const oldSig = (() => {
        let s = Buffer.alloc(0)
        suitEnvelope(m0, suitDigest(nodeCrypto, m0), 1, tbs => (s = root(tbs)))
        return s
    })()
    const m8 = manifestBytes({ ...base, sequence: 8 })
    v("manifest edited after signing (sequence 7 -> 8, digest recomputed)", suitEnvelope(m8, suitDigest(nodeCrypto, m8), 1, () => oldSig), 0, ManifestReason.BadSignature)
    v("signed by the network operator (key 3), not the root", wrap(m0, signBy(NETOP_SEED), 3), 0, ManifestReason.BadSignature)
    v("rollback: sequence 6 = the meter's", wrap(manifestBytes({ ...base, sequence: 6 })), 0, ManifestReason.Rollback)
    v("rollback: sequence 1", wrap(manifestBytes({ ...base, sequence: 1 })), 0, ManifestReason.Rollback)
    v("sequence 6 + 1025: one step beyond the bound", wrap(manifestBytes({ ...base, sequence: 6 + 1025 })), 0, ManifestReason.TooFarAhead)
    v("sequence 6 + 1024: the furthest step", wrap(manifestBytes({ ...base, sequence: 6 + 1024 })), 0, ManifestReason.Ok)
    v("class id of trustmeter_pico_w", wrap(manifestBytes({ ...base, classId: suitClassId(nodeCrypto, "trustmeter_pico_w") })), 0, ManifestReason.WrongClass)
    const otherVendor = Buffer.from(vendor)
    otherVendor[15] ^= 1
    v("another vendor id", wrap(manifestBytes({ ...base, vendor: otherVendor })), 0, ManifestReason.WrongVendor)
    v("image size 0", wrap(manifestBytes({ ...base, size: 0 })), 0, ManifestReason.BadSize)
    v("image size 4 MiB + 1", wrap(manifestBytes({ ...base, size: 4194305 })), 0, ManifestReason.BadSize)
    // SUIT: a processor must not skip what it does not understand
    v("unknown manifest member 99 (signed)", wrap(manifestBytes({ ...base, extra: [[99, 0]] })), ManifestReason.Unsupported)
    v("suit-install (20): a command sequence outside the subset (signed)", wrap(manifestBytes({ ...base, extra: [[20, enc([Suit.OverrideParameters, new CborMap([], [])])]] })), ManifestReason.Unsupported)
    v("manifest version 2 (signed)", wrap(manifestBytes({ ...base, version: 2 })), ManifestReason.Unsupported)
    v("trailing bytes after the envelope", Buffer.concat([valid, Buffer.from([0])]), CborReason.TrailingBytes)
    v("truncated envelope", valid.subarray(0, valid.length - 1), CborReason.Truncated)
    v("untagged envelope", valid.subarray(2), ManifestReason.NotSuit)
    return {
        current,
        board,
        vendorId: SUIT_VENDOR_ID,
        classIds: ["simulator", "trustmeter_pico_w", "trustmeter_esp32_c3"].map(b => ({ board: b, classId: suitClassId(nodeCrypto, b).toString("hex") })),
        rootPublicKey: Buffer.from(ed25519.getPublicKey(ROOT_SEED)).toString("hex"),
        valid: { sequence: 7, imageSize: 1000, digest: imageDigest.toString("hex"), classId: classId.toString("hex") },
        vectors,
    }
}

export function render(v: SuitVectors): { json: string; ts: string } {
    const json = JSON.stringify(v, null, 2) + "\n"
    const ts =
        "// GENERATED by test/vectors/suit_gen.ts (the head-end's SUIT encoder and signer): do not edit.\n" +
        "// docs/commands.md §7; checked by test/device/firmware_suit.test.ts and test/node/suit.test.ts.\n\n" +
        `export const SUIT_CURRENT = ${v.current}\n` +
        `export const SUIT_ROOT_PUBLIC_KEY = ${JSON.stringify(v.rootPublicKey)}\n` +
        `export const SUIT_VALID = ${JSON.stringify(v.valid)}\n` +
        `export const SUIT_CLASS_IDS: { board: string; classId: string }[] = ${JSON.stringify(v.classIds, null, 4)}\n\n` +
        `export const SUIT_VECTORS: { name: string; hex: string; decoded: number; reason: number }[] = ${JSON.stringify(v.vectors, null, 4)}\n`
    return { json, ts }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    const r = render(generate())
    writeFileSync(JSON_PATH, r.json)
    writeFileSync(TS_PATH, r.ts)
    console.log(`wrote ${generate().vectors.length} vectors to ${JSON_PATH} and ${TS_PATH}`)
}
