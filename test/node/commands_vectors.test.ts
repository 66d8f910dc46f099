import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { ed25519 } from "@noble/curves/ed25519.js"
import { generate, JSON_PATH, jsonText, TS_PATH, tsText } from "../vectors/envelope_gen.ts"
import { decode as cbor2Decode, Tag } from "cbor2"
import { CoseMessage, decodeCose, toBeSigned } from "../../src/wire/cose"
import { parseEnvelope } from "../../src/wire/envelope"
import { buildEnvelope, encodeKeyEntry, headEndKey, maskOf, Opcode, parseAck, Role, Verdict } from "../../headend/src/commands.ts"

const v = generate()

test("the command vectors and the firmware's copy are up to date", () => {
    assert.equal(readFileSync(JSON_PATH, "utf8"), jsonText(v), "run: npx tsx test/vectors/envelope_gen.ts")
    assert.equal(readFileSync(TS_PATH, "utf8"), tsText(v), "run: npx tsx test/vectors/envelope_gen.ts")
})

/** The signatures of a command: [key id, signature, the bytes it signs]. */
function split(hex: string) {
    const m = decodeCose(Buffer.from(hex, "hex")) as CoseMessage
    assert.equal(typeof m, "object")
    return { sigs: m.signatures.map((s, i) => [s.kid[0], s.signature, toBeSigned(m, i)] as [number, Buffer, Buffer]) }
}

test("accepted steps carry signatures that strict noble verification accepts; forged ones fail", () => {
    const key = (name: string) => Buffer.from(v.keys.find(k => k.name === name)!.publicKey, "hex")
    // the key in force for each id, following the scenario's key changes
    const inForce: Record<number, string> = { 1: "root", 2: "supplier", 3: "netop" }
    let checked = 0
    for (const s of v.steps) {
        if (s.verdict !== Verdict.Accepted && s.verdict !== Verdict.BadSignature) continue
        const { sigs } = split(s.hex)
        const ok = sigs.every(([id, sig, msg]) => ed25519.verify(sig, msg, key(inForce[id]), { zip215: false }))
        assert.equal(ok, s.verdict === Verdict.Accepted, s.name)
        if (s.verdict === Verdict.Accepted) assert.equal(s.verifies, sigs.length, s.name)
        checked++
        if (s.name.startsWith("change of supplier")) inForce[2] = "supplier2"
        if (s.name.startsWith("root rotation")) {
            delete inForce[1]
            inForce[5] = "root2"
        }
    }
    assert.ok(checked >= 12)
})

test("commands signed by @ldclabs/cose-ts parse with the meter's parser and verify with @noble; the flipped one does not", () => {
    const key = (name: string) => Buffer.from(v.keys.find(k => k.name === name)!.publicKey, "hex")
    assert.ok(v.coseTs.length >= 5)
    let unprotectedKid = 0
    for (const s of v.coseTs) {
        const b = Buffer.from(s.hex, "hex")
        const m = decodeCose(b) as CoseMessage
        assert.equal(typeof m, "object", s.name)
        assert.equal(typeof parseEnvelope(b), "object", s.name)
        if (!m.signatures[0].protectedBytes.includes(Buffer.from("04", "hex"))) unprotectedKid++
        const pub = key(m.signatures[0].kid[0] === 2 ? "supplier" : "netop")
        assert.equal(ed25519.verify(m.signatures[0].signature, toBeSigned(m, 0), pub, { zip215: false }), s.verdict !== Verdict.BadSignature, s.name)
    }
    assert.ok(unprotectedKid >= 1)
})

/** A decoded map's entries, byte strings in hex. */
const entries = (m: unknown) => [...(m as Map<number, unknown>).entries()].map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v])

test("the command layout matches docs/commands.md and docs/formats.cddl, read by cbor2", () => {
    const k = headEndKey(7, Role.Supplier, maskOf([Opcode.Disconnect]), new Uint8Array(32).fill(1))
    const k2 = headEndKey(9, Role.NetworkOperator, maskOf([Opcode.Disconnect]), new Uint8Array(32).fill(2))
    const f = {
        meterId: Buffer.from("0102030405060708", "hex"),
        signer: k,
        // a counter within one command's reach of its expiry in µs (docs/commands.md §4)
        counter: 0x000e0d0c0b0a0908n,
        notBefore: 0x11223344,
        expiry: 0xf5667788,
        opcode: Opcode.SetPrivacy,
        args: Buffer.from([2]),
    }
    const env = buildEnvelope(f)
    // 18([<<{1: -8, 4: h'07'}>>, {}, <<{1: h'…', 2: 7, 3: counter, 4: nb, 5: exp, 6: op, 7: h'02'}>>, sig])
    const t = cbor2Decode(env) as Tag
    assert.equal(t.tag, 18)
    const [prot, unprot, payload, sig] = t.contents as [Uint8Array, Map<number, unknown>, Uint8Array, Uint8Array]
    assert.deepEqual(entries(cbor2Decode(prot)), [[1, -8], [4, "07"]])
    assert.equal(Buffer.from(prot).toString("hex"), "a201270441" + "07")
    void unprot
    // tag 18, array of 4, bstr(6) {1: -8, 4: h'07'}, unprotected {} (a0)
    assert.equal(env.subarray(0, 10).toString("hex"), "d28446a201270441" + "07a0")
    const p = cbor2Decode(payload) as Map<number, unknown>
    assert.deepEqual([...p.keys()], [1, 2, 3, 4, 5, 6, 7])
    assert.equal(Buffer.from(p.get(1) as Uint8Array).toString("hex"), "0102030405060708")
    assert.equal(p.get(2), 7)
    assert.equal(BigInt(p.get(3) as number), 0x000e0d0c0b0a0908n)
    assert.equal(p.get(4), 0x11223344)
    assert.equal(p.get(5), 0xf5667788)
    assert.equal(p.get(6), Opcode.SetPrivacy)
    assert.equal(Buffer.from(p.get(7) as Uint8Array).toString("hex"), "02")
    // the Sig_structure of RFC 9052 §4.4, written with cbor2's encoder here
    const tbs = Buffer.concat([Buffer.from("846a5369676e617475726531", "hex"), Buffer.from([0x46]), prot, Buffer.from([0x40, 0x58, payload.length]), payload])
    assert.ok(ed25519.verify(sig, tbs, k.publicKey, { zip215: false }))
    // dual control: COSE_Sign, body protected h'', one [protected, {}, signature] per signer
    const dual = cbor2Decode(buildEnvelope({ ...f, opcode: Opcode.Disconnect, args: Buffer.alloc(0), cosigner: k2 })) as Tag
    assert.equal(dual.tag, 98)
    const [bodyProt, , dualPayload, signers] = dual.contents as [Uint8Array, unknown, Uint8Array, [Uint8Array, unknown, Uint8Array][]]
    assert.equal(bodyProt.length, 0)
    assert.equal(signers.length, 2)
    for (const [i, key] of [k, k2].entries()) {
        const [sp, , s] = signers[i]
        assert.deepEqual(entries(cbor2Decode(sp)), [[1, -8], [4, key.id.toString(16).padStart(2, "0")]])
        const tbs2 = Buffer.concat([Buffer.from("85695369676e6174757265", "hex"), Buffer.from([0x40, 0x46]), sp, Buffer.from([0x40, 0x58, dualPayload.length]), dualPayload])
        assert.ok(ed25519.verify(s, tbs2, key.publicKey, { zip215: false }), `signature ${i}`)
    }
    assert.equal(encodeKeyEntry(k).length, 38)
    assert.throws(() => buildEnvelope({ meterId: Buffer.alloc(8), signer: k, counter: 1n, notBefore: 0, expiry: 1, opcode: 3, args: Buffer.alloc(513) }))
    assert.throws(() => buildEnvelope({ ...f, counter: 1n << 53n }), /2\^53/)
})

test("acknowledgements are read back: CBOR, and the 16 bytes of earlier firmware", () => {
    assert.deepEqual(parseAck(Buffer.from("850a010205" + "19012c", "hex")), { verdict: Verdict.Replay, opcode: 1, signerKeyId: 2, counter: 5n, detail: 300 })
    const a = Buffer.alloc(16)
    a[0] = 1
    a[1] = Verdict.Replay
    a[2] = Opcode.Disconnect
    a[3] = 2
    a.writeBigUInt64BE(5n, 4)
    a.writeUInt32BE(300, 12)
    assert.deepEqual(parseAck(a), { verdict: Verdict.Replay, opcode: 1, signerKeyId: 2, counter: 5n, detail: 300 })
    assert.throws(() => parseAck(a.subarray(0, 15)))
})
