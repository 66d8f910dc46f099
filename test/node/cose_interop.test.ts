// The wire core's COSE codec against independent implementations: COSE_Sign1 messages made
// by @ldclabs/cose-ts read here and verified with @noble/curves, ours verified by cose-ts,
// and the COSE working group's EdDSA examples (test/vectors/cose_wg.json), the same ones
// the firmware verifies (test/device/cose.test.ts).
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { ed25519 } from "@noble/curves/ed25519.js"
import { ed448 } from "@noble/curves/ed448.js"
import { Ed25519Key } from "@ldclabs/cose-ts/ed25519"
import { Sign1Message } from "@ldclabs/cose-ts/sign1"
import { Header } from "@ldclabs/cose-ts/header"
import { CborMap, CborReason, decodeCbor } from "../../src/wire/cbor"
import {
    CoseMessage, COSE_SIGN1_TAG, COSE_SIGN_TAG, CoseReason, coseProtected, decodeCose, encodeCose, sigStructure, toBeSigned,
} from "../../src/wire/cose"

const root = new URL("../..", import.meta.url).pathname
const wg = JSON.parse(readFileSync(root + "test/vectors/cose_wg.json", "utf8"))
const ours = JSON.parse(readFileSync(root + "test/vectors/cbor.json", "utf8")).cose
const h = (s: string) => Buffer.from(s, "hex")
/** RFC 8032 §7.1 TEST 1 */
const SECRET = h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
const PUBLIC = Buffer.from(ed25519.getPublicKey(SECRET))
const strict = { zip215: false }

function decoded(b: Buffer): CoseMessage {
    const m = decodeCose(b)
    assert.notEqual(typeof m, "number", `refused: ${m}`)
    return m as CoseMessage
}

/** Signs `payload` as trustmeter does: protected {1: -8, 4: kid}, unprotected {}. */
function ourSign1(kid: Buffer, payload: Buffer): Buffer {
    const p = coseProtected(kid)
    const m: CoseMessage = { tag: COSE_SIGN1_TAG, bodyProtected: p, payload, signatures: [{ protectedBytes: p, kid, signature: Buffer.alloc(64) }] }
    m.signatures[0].signature = Buffer.from(ed25519.sign(toBeSigned(m, 0), SECRET))
    return encodeCose(m)
}

test("a COSE_Sign1 made by cose-ts decodes here and its Sig_structure verifies with @noble (kid unprotected)", () => {
    const payload = new TextEncoder().encode("trustmeter interop")
    const key = Ed25519Key.fromSecret(new Uint8Array(SECRET))
    // raw kid bytes (fromSecret's kid argument would store the kid CBOR-encoded)
    key.kid = new Uint8Array([7])
    const bytes = Buffer.from(Sign1Message.withTag(new Sign1Message(payload).toBytes(key)))
    const m = decoded(bytes)
    assert.equal(m.tag, COSE_SIGN1_TAG)
    assert.deepEqual(m.signatures[0].kid, Buffer.from([7]))
    assert.deepEqual(m.payload, Buffer.from(payload))
    assert.equal(ed25519.verify(m.signatures[0].signature, toBeSigned(m, 0), PUBLIC, strict), true)
    const other = Buffer.from(toBeSigned(m, 0))
    other[other.length - 1] ^= 1
    assert.equal(ed25519.verify(m.signatures[0].signature, other, PUBLIC, strict), false)
})

test("cose-ts with the kid protected writes byte for byte what we write", () => {
    const payload = h("a201487e570000000000010601")
    const key = Ed25519Key.fromSecret(new Uint8Array(SECRET))
    const prot = new Header().setParam(1, -8).setParam(4, new Uint8Array([2]))
    const theirs = Buffer.from(Sign1Message.withTag(new Sign1Message(new Uint8Array(payload), prot, new Header()).toBytes(key)))
    assert.equal(theirs.toString("hex"), ourSign1(Buffer.from([2]), payload).toString("hex"))
})

test("a COSE_Sign1 made here (signed with @noble) verifies in cose-ts", () => {
    const payload = h(ours.valid[0].payload)
    const bytes = ourSign1(Buffer.from([2]), payload)
    const key = Ed25519Key.fromPublic(new Uint8Array(PUBLIC))
    const m = Sign1Message.fromBytes(key, new Uint8Array(bytes))
    assert.deepEqual(Buffer.from(m.payload), payload)
    assert.equal(m.protected?.getInt(1), -8)
    // and refuses it once a payload byte changes
    const bad = Buffer.from(bytes)
    bad[bad.indexOf(payload) + 3] ^= 1
    assert.throws(() => Sign1Message.fromBytes(key, new Uint8Array(bad)), /signature mismatch/)
})

test("the COSE WG EdDSA examples: our Sig_structure is theirs; Ed25519 verifies strictly, Ed448 with our CBOR and @noble", () => {
    for (const x of wg.examples) {
        const msg = h(x.cbor)
        const pub = h(x.publicKey)
        if (x.curve === "Ed25519") {
            const m = decoded(msg)
            assert.equal(m.tag, x.structure === "COSE_Sign1" ? COSE_SIGN1_TAG : COSE_SIGN_TAG)
            assert.equal(m.signatures[0].kid.toString("hex"), x.kid)
            assert.equal(m.payload.toString("hex"), x.payload)
            assert.equal(toBeSigned(m, 0).toString("hex"), x.toBeSigned, x.file)
            assert.equal(ed25519.verify(m.signatures[0].signature, toBeSigned(m, 0), pub, strict), true, x.file)
            continue
        }
        // Ed448: a 114-byte signature is outside the trustmeter profile ...
        assert.equal(decodeCose(msg), CoseReason.BadSignatureSize, x.file)
        // ... but the CBOR decoder and the Sig_structure builder still get it right
        const d = decodeCbor(msg, [COSE_SIGN1_TAG, COSE_SIGN_TAG])
        assert.equal(d.reason, CborReason.Ok)
        const [body, , payload, last] = (d.value as any).value
        const sign = x.structure === "COSE_Sign1" ? null : (last[0][0] as Buffer)
        const sig = x.structure === "COSE_Sign1" ? (last as Buffer) : (last[0][2] as Buffer)
        const tbs = sigStructure(body, sign, payload)
        assert.equal(tbs.toString("hex"), x.toBeSigned, x.file)
        assert.equal(ed448.verify(sig, tbs, pub), true, x.file)
    }
})

test("our command vectors: each signature verifies with @noble, the bytes come back, the malformed are refused", () => {
    for (const x of ours.valid) {
        const m = decoded(h(x.hex))
        assert.equal(encodeCose(m).toString("hex"), x.hex)
        m.signatures.forEach((s, i) => {
            assert.equal(s.kid.toString("hex"), x.kids[i])
            assert.equal(toBeSigned(m, i).toString("hex"), x.toBeSigned[i])
            assert.equal(ed25519.verify(s.signature, toBeSigned(m, i), h(x.publicKeys[i]), strict), true)
        })
        const p = decodeCbor(m.payload, [])
        assert.equal(p.reason, CborReason.Ok)
        assert.equal(((p.value as CborMap).get(1) as Buffer).toString("hex"), "7e57000000000001")
    }
    for (const x of ours.invalid) assert.equal(decodeCose(h(x.hex)), x.code, x.name)
})
