import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { ed25519 } from "@noble/curves/ed25519.js"
import { generate, JSON_PATH, jsonText, TS_PATH, tsText } from "../vectors/envelope_gen.ts"
import {
    buildEnvelope,
    encodeKeyEntry,
    headEndKey,
    HEADER_SIZE,
    maskOf,
    Opcode,
    parseAck,
    Role,
    signedMessage,
    SIGNATURE_BLOCK_SIZE,
    Verdict,
} from "../../headend/src/commands.ts"

const v = generate()

test("the envelope vectors and the firmware's copy are up to date", () => {
    assert.equal(readFileSync(JSON_PATH, "utf8"), jsonText(v), "run: npx tsx test/vectors/envelope_gen.ts")
    assert.equal(readFileSync(TS_PATH, "utf8"), tsText(v), "run: npx tsx test/vectors/envelope_gen.ts")
})

/** The signature blocks of an envelope: [key id, signature]; and the signed message. */
function split(hex: string) {
    const b = Buffer.from(hex, "hex")
    const n = b.readUInt16BE(28)
    const count = b[27]
    const msg = signedMessage(b, HEADER_SIZE + n)
    const sigs: [number, Buffer][] = []
    for (let i = 0; i < count; i++) {
        const off = HEADER_SIZE + n + i * SIGNATURE_BLOCK_SIZE
        sigs.push([b[off], b.subarray(off + 1, off + SIGNATURE_BLOCK_SIZE)])
    }
    return { b, msg, sigs }
}

test("accepted steps carry signatures that strict noble verification accepts; forged ones fail", () => {
    const key = (name: string) => Buffer.from(v.keys.find(k => k.name === name)!.publicKey, "hex")
    // the key in force for each id, following the scenario's key changes
    const inForce: Record<number, string> = { 1: "root", 2: "supplier", 3: "netop" }
    let checked = 0
    for (const s of v.steps) {
        if (s.verdict !== Verdict.Accepted && s.verdict !== Verdict.BadSignature) continue
        const { msg, sigs } = split(s.hex)
        const ok = sigs.every(([id, sig]) => ed25519.verify(sig, msg, key(inForce[id]), { zip215: false }))
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

test("the envelope layout matches docs/commands.md", () => {
    const k = headEndKey(7, Role.Supplier, maskOf([Opcode.Disconnect]), new Uint8Array(32).fill(1))
    const env = buildEnvelope({
        meterId: Buffer.from("0102030405060708", "hex"),
        signer: k,
        // a counter within one command's reach of its expiry in µs (docs/commands.md §4)
        counter: 0x000e0d0c0b0a0908n,
        notBefore: 0x11223344,
        expiry: 0xf5667788,
        opcode: Opcode.SetPrivacy,
        args: Buffer.from([2]),
    })
    assert.equal(env.length, 30 + 1 + 65)
    assert.equal(env[0], 1)
    assert.equal(env.subarray(1, 9).toString("hex"), "0102030405060708")
    assert.equal(env[9], 7)
    assert.equal(env.readBigUInt64BE(10), 0x000e0d0c0b0a0908n)
    assert.equal(env.readUInt32BE(18), 0x11223344)
    assert.equal(env.readUInt32BE(22), 0xf5667788)
    assert.equal(env[26], Opcode.SetPrivacy)
    assert.equal(env[27], 1)
    assert.equal(env.readUInt16BE(28), 1)
    assert.equal(env[30], 2)
    assert.equal(env[31], 7)
    const msg = Buffer.concat([Buffer.from("trustmeter/cmd/v1"), env.subarray(0, 31)])
    assert.ok(ed25519.verify(env.subarray(32), msg, k.publicKey, { zip215: false }))
    assert.equal(encodeKeyEntry(k).length, 38)
    assert.throws(() => buildEnvelope({ meterId: Buffer.alloc(8), signer: k, counter: 1n, notBefore: 0, expiry: 1, opcode: 3, args: Buffer.alloc(513) }))
})

test("acknowledgements are read back", () => {
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
