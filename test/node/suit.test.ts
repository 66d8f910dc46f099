// The firmware manifest as a SUIT envelope (docs/commands.md §7): the golden vectors
// (test/vectors/suit.json, also checked on the device: test/device/firmware_suit.test.ts)
// through the wire core's decoder, @noble's Ed25519 and decideManifest, and through the
// meter's protocol twin (sim/src/protocol/commands.ts) inside a signed command; the
// encoding checked against independent implementations: cbor2 (decode, re-encode, the
// draft's Example 0 digest) and @ldclabs/cose-ts (the authentication block's signature).
import { test } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createHash, createPublicKey, verify } from "node:crypto"
import { ed25519 } from "@noble/curves/ed25519.js"
import { decode as cbor2Decode, encode as cbor2Encode, Tag } from "cbor2"
import { Ed25519Key } from "@ldclabs/cose-ts/ed25519"
import { Sign1Message } from "@ldclabs/cose-ts/sign1"
import { generate, JSON_PATH, render, TS_PATH } from "../vectors/suit_gen.ts"
import { decideManifest, decodeManifest, ManifestReason, SignedManifest, suitClassId } from "../../src/wire/envelope"
import { toBeSigned } from "../../src/wire/cose"
import { findKey, decodeRing } from "../../src/wire/keys"
import { Role } from "../../src/wire/opcodes"
import { nodeCrypto } from "../../headend/src/crypto.ts"
import { buildEnvelope, headEndKey, defaultMask, Opcode, parseAck, Verdict } from "../../headend/src/commands.ts"
import { CommandEndpoint } from "../../sim/src/protocol/commands.ts"
import { main } from "../../headend/src/cli.ts"

const v = generate()
const envelopeVectors = JSON.parse(readFileSync(join(import.meta.dirname, "../vectors/envelope.json"), "utf8"))
const ring = decodeRing(Buffer.from(envelopeVectors.anchor, "hex"))!
const h = (s: string) => Buffer.from(s, "hex")
/** cbor2 writes a Node Buffer as something else than a byte string: hand it Uint8Arrays */
const u8 = (s: string | Uint8Array) => new Uint8Array(typeof s === "string" ? Buffer.from(s, "hex") : s)
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
/** a value cbor2 decoded (byte strings come back as Buffers), with Uint8Arrays for it to encode again */
const plain = (x: unknown): unknown =>
    x instanceof Uint8Array ? new Uint8Array(x)
    : Array.isArray(x) ? x.map(plain)
    : x instanceof Map ? new Map([...x].map(([k, y]) => [k, plain(y)]))
    : x instanceof Tag ? new Tag(x.tag, plain(x.contents))
    : x

test("the SUIT vectors are fresh (npx tsx test/vectors/suit_gen.ts)", () => {
    const r = render(v)
    assert.equal(readFileSync(JSON_PATH, "utf8"), r.json)
    assert.equal(readFileSync(TS_PATH, "utf8"), r.ts)
    // the vectors' root is the envelope vectors' root: key 1 of their ring
    assert.equal(Buffer.from(findKey(ring, 1)!.publicKey).toString("hex"), v.rootPublicKey)
})

/** The meter's decision in Node: decode, the root's signature (strict RFC 8032), decide. */
function meterReason(hex: string, current: number, board: string): number {
    const m = decodeManifest(h(hex), nodeCrypto)
    if (typeof m === "number") return m
    const s = m.auth.signatures[0]
    const k = findKey(ring, s.kid.length === 1 ? s.kid[0] : 0)
    if (!k || k.role !== Role.Root || !ed25519.verify(s.signature, toBeSigned(m.auth, 0), k.publicKey, { zip215: false })) return ManifestReason.BadSignature
    return decideManifest(m, current, suitClassId(nodeCrypto, board))
}

test("each vector: the decoder's reason, then the root's signature, then the rules; each refusal its own reason", () => {
    for (const x of v.vectors) {
        const d = decodeManifest(h(x.hex), nodeCrypto)
        assert.equal(typeof d === "number" ? d : 0, x.decoded, x.name)
        assert.equal(meterReason(x.hex, v.current, v.board), x.reason, x.name)
    }
    const reasons = new Set(v.vectors.map(x => x.reason))
    for (const r of [ManifestReason.BadDigest, ManifestReason.BadSignature, ManifestReason.Rollback, ManifestReason.TooFarAhead, ManifestReason.WrongClass,
        ManifestReason.WrongVendor, ManifestReason.BadSize, ManifestReason.Unsupported, ManifestReason.NotSuit, 2 /* CborReason.TrailingBytes */])
        assert.ok(reasons.has(r), `a vector refused with ${r}`)
    const ok = decodeManifest(h(v.vectors[0].hex), nodeCrypto) as SignedManifest
    assert.deepEqual(
        { sequence: ok.sequence, imageSize: ok.imageSize, digest: ok.digest.toString("hex"), classId: ok.classId.toString("hex") },
        v.valid
    )
})

test("in a signed command, the meter's protocol twin answers each vector with FirmwareRejected and the reason as the ack detail", async () => {
    const netop = headEndKey(3, Role.NetworkOperator, defaultMask(Role.NetworkOperator), createHash("sha256").update("trustmeter vector key netop").digest())
    let counter = 1n
    for (const x of v.vectors) {
        const ep = new CommandEndpoint(
            { meterId: h(envelopeVectors.meterId), boardId: v.board, utcNow: () => 1800000000, setClock: () => {}, record: () => {}, raiseAlert: () => {}, rollEpoch: () => {},
                schedule: () => {}, cancelSchedule: () => {}, random: () => 0, millis: () => 0 },
            CommandEndpoint.provisioned(h(envelopeVectors.anchor))
        )
        ep.boot()
        ep.image.policy.firmwareSequence = v.current
        const cmd = buildEnvelope({ meterId: h(envelopeVectors.meterId), signer: netop, counter: counter++, notBefore: 0, expiry: 4000000000, opcode: Opcode.FirmwareManifest, args: h(x.hex) })
        const ack = parseAck(await ep.handleCommand(cmd))
        assert.equal(ack.verdict, x.reason === 0 ? Verdict.Accepted : Verdict.FirmwareRejected, x.name)
        if (x.reason !== 0) assert.equal(ack.detail, x.reason, x.name)
        else assert.equal(ep.image.policy.firmwareSequence, (decodeManifest(h(x.hex), nodeCrypto) as SignedManifest).sequence, x.name)
    }
})

test("cbor2 reads the envelope as SUIT (draft-ietf-suit-manifest key numbers) and re-encodes it byte for byte", () => {
    const bytes = h(v.vectors[0].hex)
    const env = cbor2Decode(bytes) as Tag
    assert.equal(Number(env.tag), 107)
    const outer = env.contents as Map<number, Uint8Array>
    assert.deepEqual([...outer.keys()], [2, 3])
    const auth = cbor2Decode(outer.get(2)!) as Uint8Array[]
    assert.equal(auth.length, 2)
    const digest = cbor2Decode(auth[0]) as [number, Uint8Array]
    assert.equal(digest[0], -16)
    // SHA-256 of the manifest as a byte string (head included), as in the draft's examples
    assert.equal(Buffer.from(digest[1]).toString("hex"), createHash("sha256").update(cbor2Encode(u8(outer.get(3)!))).digest("hex"))
    const block = cbor2Decode(auth[1]) as Tag
    assert.equal(Number(block.tag), 18)
    assert.equal((block.contents as unknown[])[2], null, "detached payload")
    const manifest = cbor2Decode(outer.get(3)!) as Map<number, unknown>
    assert.deepEqual([...manifest.keys()], [1, 2, 3])
    assert.equal(manifest.get(1), 1)
    assert.equal(manifest.get(2), 7)
    const common = cbor2Decode(manifest.get(3) as Uint8Array) as Map<number, unknown>
    assert.deepEqual((common.get(2) as Uint8Array[][]).map(c => c.map(hex)), [["00"]])
    const shared = cbor2Decode(common.get(4) as Uint8Array) as unknown[]
    assert.deepEqual([shared[0], shared[2], shared[3], shared[4], shared[5]], [20, 1, 15, 2, 15])
    const params = shared[1] as Map<number, unknown>
    assert.deepEqual([...params.keys()], [1, 2, 3, 14])
    assert.equal(Buffer.from(params.get(2) as Uint8Array).toString("hex"), v.valid.classId)
    assert.equal(params.get(14), 1000)
    const imageDigest = cbor2Decode(params.get(3) as Uint8Array) as [number, Uint8Array]
    assert.deepEqual([imageDigest[0], hex(imageDigest[1])], [-16, v.valid.digest])
    // every layer re-encoded by cbor2 gives the same bytes: deterministic CBOR (RFC 8949 §4.2.1)
    for (const layer of [bytes, outer.get(2)!, auth[1], outer.get(3)!, manifest.get(3) as Uint8Array, common.get(4) as Uint8Array])
        assert.equal(hex(cbor2Encode(plain(cbor2Decode(layer)))), hex(layer))
})

test("cose-ts verifies the authentication block with the SUIT_Digest as its (detached) payload", () => {
    const env = cbor2Decode(h(v.vectors[0].hex)) as Tag
    const auth = cbor2Decode((env.contents as Map<number, Uint8Array>).get(2)!) as Uint8Array[]
    const block = cbor2Decode(auth[1]) as Tag
    const [prot, unprot, , sig] = block.contents as [Uint8Array, Map<number, unknown>, null, Uint8Array]
    // COSE: a detached payload signs as if attached (RFC 9052 §2)
    const attached = cbor2Encode(new Tag(18, [u8(prot), unprot, u8(auth[0]), u8(sig)]))
    const key = Ed25519Key.fromPublic(new Uint8Array(h(v.rootPublicKey)))
    assert.deepEqual(Buffer.from(Sign1Message.fromBytes(key, attached).payload), Buffer.from(auth[0]))
    const edited = u8(auth[0])
    edited[edited.length - 1] ^= 1
    assert.throws(() => Sign1Message.fromBytes(key, cbor2Encode(new Tag(18, [u8(prot), unprot, edited, u8(sig)]))))
})

/** draft-ietf-suit-manifest-19, Appendix B.1 (Example 0: secure boot), the envelope's bytes */
const EXAMPLE_0 =
    "d86ba2025873825824822f58206658ea560262696dd1f13b782239a064da7c6c5cbaf52fded428a6fc83c7e5af584ad28443a10126a0f6584068113f1e76731330fea16136cead2be4fa8d4bb3e327e3f9232eb4f13b5d118f2ea6e31d9a09a240f6f5770776916e15a4ebca1b6262cf6e40a44353bd8161d9035871a50101020003585fa202818141000458568614a40150fa6b4a53d5ad5fdfbe9de663e4d41ffe02501492af1425695e48bf429b2d51f2ab45035824822f582000112233445566778899aabbccddeeff0123456789abcdeffedcba98765432100e1987d0010f020f074382030f0943821702"

/** the P-256 public key the draft's examples are signed with (libcsuit testfiles/key/trust_anchor_secp256r1_pub.pem) */
const EXAMPLE_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhJaBGq4LqqvSYVcYnuzaJr6qi/Eb
bz/m4rVlnIXbwK07HypLbAmBMcCjbazR14vTgdzfsJwFLbM5kdtzOLSolg==
-----END PUBLIC KEY-----`

test("the draft's Example 0 (draft-ietf-suit-manifest B.1): cbor2's encoding of its manifest has the digest the draft prints; its validate and run sequences are outside the subset", () => {
    // the manifest of Example 0, from its diagnostic notation, encoded by cbor2
    const sd = (d: string) => cbor2Encode([-16, u8(d)])
    const shared = cbor2Encode([20, new Map<number, unknown>([[1, u8("fa6b4a53d5ad5fdfbe9de663e4d41ffe")], [2, u8("1492af1425695e48bf429b2d51f2ab45")],
        [3, sd("00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210")], [14, 34768]]), 1, 15, 2, 15])
    const common = cbor2Encode(new Map<number, unknown>([[2, [[u8("00")]]], [4, shared]]))
    const manifest = cbor2Encode(new Map<number, unknown>([[1, 1], [2, 0], [3, common], [7, cbor2Encode([3, 15])], [9, cbor2Encode([23, 2])]]))
    // the digest is of the manifest as a byte string: its head (58 71) included
    assert.equal(createHash("sha256").update(Buffer.from(manifest)).digest("hex"), "16fb31ae7a4a4cd50c316836e73315e9263e151c5eb4e800e286b423bb921b59")
    assert.equal(createHash("sha256").update(cbor2Encode(manifest)).digest("hex"), "6658ea560262696dd1f13b782239a064da7c6c5cbaf52fded428a6fc83c7e5af")
    const sig = u8("68113f1e76731330fea16136cead2be4fa8d4bb3e327e3f9232eb4f13b5d118f2ea6e31d9a09a240f6f5770776916e15a4ebca1b6262cf6e40a44353bd8161d9")
    const block = cbor2Encode(new Tag(18, [cbor2Encode(new Map([[1, -7]])), new Map(), null, sig]))
    const digest = sd("6658ea560262696dd1f13b782239a064da7c6c5cbaf52fded428a6fc83c7e5af")
    const envelope = Buffer.from(cbor2Encode(new Tag(107, new Map<number, unknown>([[2, cbor2Encode([digest, block])], [3, manifest]]))))
    // byte for byte the draft's binary of Example 0 (as libcsuit's testfiles/suit_manifest_exp0.cbor holds it)
    assert.equal(envelope.toString("hex"), EXAMPLE_0)
    // its ES256 signature, with the draft's example key, signs the SUIT_Digest as the COSE payload (the bytes we sign with EdDSA)
    const tbs = cbor2Encode(["Signature1", cbor2Encode(new Map([[1, -7]])), new Uint8Array(0), digest])
    assert.equal(verify("sha256", tbs, { key: createPublicKey(EXAMPLE_KEY), dsaEncoding: "ieee-p1363" }, sig), true)
    // our decoder: the members 7 (validate) and 9 (run) are outside the subset
    assert.equal(decodeManifest(envelope, nodeCrypto), ManifestReason.Unsupported)
    const bad = Buffer.from(envelope)
    bad[envelope.indexOf(h("6658ea56"))] ^= 1
    assert.equal(decodeManifest(bad, nodeCrypto), ManifestReason.Unsupported, "(the subset is checked before the digest)")
    // its wrapper around a manifest of the subset: the digest no longer matches
    const ours = h(v.vectors[0].hex)
    const oursEnv = cbor2Decode(ours) as Tag
    const swapped = Buffer.from(cbor2Encode(new Tag(107, new Map<number, unknown>([[2, cbor2Encode([digest, block])], [3, u8((oursEnv.contents as Map<number, Uint8Array>).get(3)!)]]))))
    assert.equal(decodeManifest(swapped, nodeCrypto), ManifestReason.BadDigest)
})

test("trustmeter sign firmware: a SUIT manifest of the image, signed by the root, in a network operator's command; --diag shows it", async () => {
    const d = mkdtempSync(join(tmpdir(), "tm-suit-"))
    const ks = join(d, "ks.json")
    const out: string[] = []
    const run = (...argv: string[]) => main(argv, s => out.push(s), s => out.push(s))
    assert.equal(await run("keys", "init", "--keystore", ks), 0)
    assert.equal(await run("provision", "m1", "--keystore", ks, "--out", join(d, "m1.env")), 0)
    const image = join(d, "app.devs")
    writeFileSync(image, Buffer.alloc(3000, 7))
    out.length = 0
    assert.equal(await run("sign", "firmware", image, "0", "5", "trustmeter_pico_w", "--meter", "m1", "--keystore", ks, "--diag"), 0)
    const cmd = cbor2Decode(h(out[0])) as Tag
    const payload = cbor2Decode((cmd.contents as Uint8Array[])[2]) as Map<number, unknown>
    assert.equal(payload.get(6), Opcode.FirmwareManifest)
    const m = decodeManifest(Buffer.from(payload.get(7) as Uint8Array), nodeCrypto) as SignedManifest
    assert.equal(typeof m, "object")
    assert.deepEqual([m.sequence, m.imageSize, m.digest.toString("hex"), m.classId.toString("hex")],
        [5, 3000, createHash("sha256").update(Buffer.alloc(3000, 7)).digest("hex"), suitClassId(nodeCrypto, "trustmeter_pico_w").toString("hex")])
    assert.deepEqual(m.auth.signatures[0].kid, Buffer.from([1]), "signed by the root (key 1)")
    assert.match(out[1], /^18\(\[<<\{1: -8, 4: h'03'\}>>/)
    out.length = 0
    assert.equal(await run("sign", "firmware", image, "0", "1025", "--meter", "m1", "--keystore", ks), 2)
    assert.match(out.join("\n"), /from sequence 0 a meter takes 1\.\.1024/)
    out.length = 0
    assert.equal(await run("sign", "firmware", join(d, "missing.devs"), "0", "1", "--meter", "m1", "--keystore", ks), 2)
    assert.match(out.join("\n"), /cannot read the image/)
})

test("mutated envelopes never throw in the decoder: 20,000 of them, each a reason or a manifest of the subset", () => {
    const base = h(v.vectors[0].hex)
    let seed = 12345
    const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n
    const seen = new Set<number>()
    let decoded = 0
    for (let i = 0; i < 20000; i++) {
        const b = Buffer.from(base)
        for (let k = 0; k <= rnd(3); k++) b[rnd(b.length)] = rnd(256)
        const cut = rnd(4) === 0 ? b.subarray(0, rnd(b.length + 1)) : b
        const d = decodeManifest(cut, nodeCrypto)
        if (typeof d === "number") {
            seen.add(d)
            continue
        }
        // what still decodes changed only where the subset takes any value: signature, ids, sizes, policies
        decoded++
        assert.ok(d.sequence >= 0 && d.sequence <= 0xffffffff && d.digest.length === 32 && d.auth.signatures.length >= 1)
    }
    // the refusals reached: CBOR's, the subset's and the digest's at least
    for (const r of [1, 2, ManifestReason.NotSuit, ManifestReason.Unsupported, ManifestReason.BadDigest]) assert.ok(seen.has(r), `reason ${r} among ${[...seen]}`)
    assert.ok(decoded > 0)
})
