import { test } from "node:test"
import assert from "node:assert/strict"
import { sha256 } from "@noble/hashes/sha2.js"
import { generate } from "../vectors/envelope_gen.ts"
import {
    CommandEnvelope,
    counterInReach,
    decodeManifest,
    encodeEnvelopeBody,
    envelopeArgs,
    firmwareManifestArgs,
    HEADER_SIZE,
    parseEnvelope,
    signatureAt,
    uplinkEpochArgs,
} from "../../src/wire/envelope"
import { decodeKeyEntry, decodeRing, encodeRing as encodeRingBody, KEY_ENTRY_SIZE } from "../../src/wire/keys"
import { CommandOutcome, decodeOutcome, encodeOutcome, OutcomeLayout } from "../../src/wire/ack"
import { buildEnvelope, defaultMask, encodeKeyEntry, headEndKey, Opcode, parseAck, Role, signedMessage, Verdict } from "../../headend/src/commands.ts"
import { describeRecord } from "../../headend/src/records.ts"

// The command formats are one implementation (src/wire/); these tests run it in Node, where
// the head-end uses it: the meter's parser over the head-end's golden envelopes, the
// builder's refusals, and the acknowledgement and record codecs. The same parser runs in
// the simulator in test/device/command.*.test.ts.

const v = generate()
const seed = (n: number) => new Uint8Array(32).fill(n)
const supplier = headEndKey(2, Role.Supplier, defaultMask(Role.Supplier), seed(2))
const netop = headEndKey(3, Role.NetworkOperator, defaultMask(Role.NetworkOperator), seed(3))
const METER = Buffer.from("7e57000000000001", "hex")

test("the meter's parser, in Node, over every golden envelope: only the malformed ones fail to parse", () => {
    for (const s of v.steps) {
        const p = parseEnvelope(Buffer.from(s.hex, "hex"))
        if (s.verdict === Verdict.Malformed || s.verdict === Verdict.BadVersion) assert.equal(p, s.verdict, s.name)
        else assert.equal(typeof p, "object", s.name)
    }
})

test("built and parsed: every field, a counter above 2^32 and 2^53, two signatures, the signed message", () => {
    const counter = 0xfedcba9876543210n
    // the builder refuses a counter beyond one command's reach (docs/commands.md §4): a meter
    // may still receive one, so it is written into a built envelope to check the parser
    assert.throws(() => buildEnvelope({ meterId: METER, signer: supplier, counter, notBefore: 7, expiry: 0xfffffffe, opcode: Opcode.Disconnect }), RangeError)
    const env = buildEnvelope({ meterId: METER, signer: supplier, cosigner: netop, counter: 1n, notBefore: 7, expiry: 0xfffffffe, opcode: Opcode.Disconnect })
    env.writeBigUInt64BE(counter, 10)
    const e = parseEnvelope(env) as CommandEnvelope
    assert.equal(typeof e, "object")
    assert.equal(e.signerKeyId, 2)
    assert.deepEqual(e.sigKeyIds, [2, 3])
    assert.equal((BigInt(e.counterHi) << 32n) | BigInt(e.counterLo), counter)
    assert.equal(e.notBefore, 7)
    assert.equal(e.expiry, 0xfffffffe)
    assert.equal(e.opcode, Opcode.Disconnect)
    assert.equal(envelopeArgs(e).length, 0)
    assert.equal(signedMessage(env, HEADER_SIZE).toString("hex"), Buffer.concat([Buffer.from("trustmeter/cmd/v1"), env.subarray(0, HEADER_SIZE)]).toString("hex"))
    assert.equal(signatureAt(e, 1).length, 64)
    // copies, not views: the meter may keep them while the envelope buffer is reused
    const sig = signatureAt(e, 0)
    env[HEADER_SIZE + 1] ^= 1
    assert.notEqual(sig[0], env[HEADER_SIZE + 1])
})

test("the builder refuses what a meter would call Malformed, instead of sending it", () => {
    const base = { meterId: METER, signer: supplier, counter: 1n, notBefore: 0, expiry: 100, opcode: Opcode.Disconnect }
    assert.throws(() => buildEnvelope({ ...base, expiry: 0 }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, notBefore: 101 }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, expiry: 2 ** 32 }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, opcode: 10 }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, counter: 1n << 64n }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, counter: -1n }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, meterId: Buffer.alloc(7) }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, signer: { ...supplier, id: 0 } }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, args: Buffer.alloc(513) }), RangeError)
    assert.equal(typeof parseEnvelope(buildEnvelope({ ...base, args: Buffer.alloc(512) })), "object")
    const body = encodeEnvelopeBody({ meterId: METER, signerKeyId: 2, counterHi: 0, counterLo: 1, notBefore: 0, expiry: 1, opcode: 2, signatureCount: 1, args: Buffer.alloc(0) })
    assert.equal(body.length, HEADER_SIZE)
})

test("one command's reach: the builder refuses a counter, epoch or sequence a meter would refuse (docs/commands.md §3, §4, §7)", () => {
    const MAX_COUNTER_STEP = 1n << 20n
    const h = (counter: bigint, expiry: number) => ({ counterHi: Number(counter >> 32n), counterLo: Number(counter & 0xffffffffn), expiry, notBefore: 0, signerKeyId: 2, opcode: 1, signatureCount: 1 })
    // the meter's rule, shared: at most 2^20 beyond max(last counter, expiry in µs)
    const expiry = 1_800_000_000
    const top = BigInt(expiry) * 1_000_000n + MAX_COUNTER_STEP
    assert.equal(counterInReach(h(top, expiry), 0, 0), true)
    assert.equal(counterInReach(h(top + 1n, expiry), 0, 0), false)
    const last = 0xfedcba9876543210n
    const lh = Number(last >> 32n)
    const ll = Number(last & 0xffffffffn)
    assert.equal(counterInReach(h(last + MAX_COUNTER_STEP, expiry), lh, ll), true)
    assert.equal(counterInReach(h(last + MAX_COUNTER_STEP + 1n, expiry), lh, ll), false)
    assert.equal(counterInReach(h(0xffffffffffffffffn, 0xffffffff), 0, 0), false)
    // across a carry of the low half
    const edge = 0x1fffffffen
    assert.equal(counterInReach(h(edge + MAX_COUNTER_STEP, 1), Number(edge >> 32n), Number(edge & 0xffffffffn)), true)
    assert.equal(counterInReach(h(edge + MAX_COUNTER_STEP + 1n, 1), Number(edge >> 32n), Number(edge & 0xffffffffn)), false)
    // the builder: the head-end's clock counter (µs) is within reach of the expiry it signs
    const base = { meterId: METER, signer: supplier, notBefore: 0, expiry, opcode: Opcode.Disconnect }
    assert.equal(typeof parseEnvelope(buildEnvelope({ ...base, counter: top })), "object")
    assert.throws(() => buildEnvelope({ ...base, counter: top + 1n }), /counter beyond what a meter accepts/)
    assert.throws(() => buildEnvelope({ ...base, counter: 0xffffffffffffffffn, expiry: 0xffffffff }), RangeError)
    // uplink epoch: current + 1 .. current + 16; firmware sequence: current + 1 .. current + 1024
    assert.equal(uplinkEpochArgs(16, 0).toString("hex"), "00000010")
    assert.equal(uplinkEpochArgs(0xffffffff, 0xfffffff0).toString("hex"), "ffffffff")
    for (const [e, cur] of [[17, 0], [0, 0], [5, 5], [4, 5], [0xffffffff, 0], [2 ** 32, 0xfffffff0]])
        assert.throws(() => uplinkEpochArgs(e, cur), /uplink epoch/, `${e} from ${cur}`)
    const m = { sequence: 1024, imageSize: 1000, digest: Buffer.alloc(32), board: "simulator" }
    assert.equal(decodeManifest(firmwareManifestArgs(m, 0))!.sequence, 1024)
    assert.throws(() => firmwareManifestArgs({ ...m, sequence: 1025 }, 0), /firmware manifest: from sequence 0/)
    assert.throws(() => firmwareManifestArgs({ ...m, sequence: 0xffffffff }, 0), RangeError)
    assert.throws(() => firmwareManifestArgs({ ...m, sequence: 7 }, 7), RangeError)
})

test("mutated envelopes never throw in the parser, and every parse keeps the length rule", () => {
    const base = buildEnvelope({ meterId: METER, signer: supplier, counter: 5n, notBefore: 0, expiry: 100, opcode: Opcode.SetPrivacy, args: Buffer.from([1]) })
    let state = 12345
    const rnd = (n: number) => {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0
        return state % n
    }
    for (let i = 0; i < 5000; i++) {
        const b = Buffer.from(base)
        for (let k = 0; k <= rnd(4); k++) b[rnd(b.length)] = rnd(256)
        const cut = rnd(3) === 0 ? b.subarray(0, rnd(b.length + 1)) : b
        const p = parseEnvelope(cut)
        if (typeof p === "object") assert.equal(cut.length, HEADER_SIZE + p.argsLength + 65 * p.signatureCount)
        else assert.ok(p === Verdict.Malformed || p === Verdict.BadVersion)
    }
})

test("acknowledgements: the meter's encoder, the head-end's reader, counters beyond 2^53", () => {
    const o: CommandOutcome = { verdict: Verdict.Replay, opcode: Opcode.Disconnect, signerKeyId: 2, counterHi: 0xffffffff, counterLo: 0xfffffffe, detail: 0xfffffffd }
    const ack = encodeOutcome(OutcomeLayout.Ack, o.verdict, o, o.detail)
    assert.equal(ack.length, 16)
    assert.equal(ack.toString("hex"), "010a0102fffffffffffffffefffffffd")
    assert.deepEqual(decodeOutcome(ack, OutcomeLayout.Ack), o)
    assert.deepEqual(parseAck(ack), { verdict: Verdict.Replay, opcode: 1, signerKeyId: 2, counter: 0xfffffffffffffffen, detail: 0xfffffffd })
    assert.equal(decodeOutcome(ack.subarray(0, 15), OutcomeLayout.Ack), undefined)
    const v2 = Buffer.from(ack)
    v2[0] = 2
    assert.equal(decodeOutcome(v2, OutcomeLayout.Ack), undefined)
    assert.throws(() => parseAck(v2))
})

test("command records: layouts of docs/commands.md §8, named by the head-end view", () => {
    const o: CommandOutcome = { verdict: Verdict.Accepted, opcode: Opcode.Disconnect, signerKeyId: 2, counterHi: 0, counterLo: 5, detail: 300 }
    const acc = encodeOutcome(OutcomeLayout.Accepted, o.verdict, o, o.detail)
    assert.equal(acc.length, 14)
    assert.equal(acc.toString("hex"), "01020000000000000005" + "0000012c")
    assert.deepEqual(decodeOutcome(acc, OutcomeLayout.Accepted), o)
    // the head-end view used to show these as "kind 0x36"
    assert.equal(describeRecord({ seq: 12, kind: 0x36, time: 0, payload: acc }), "#12 command accepted Disconnect by key 2, counter 5, detail 300")
    const rej = encodeOutcome(OutcomeLayout.Rejected, Verdict.BadSignature, { ...o, opcode: Opcode.TimeSync }, 4)
    assert.equal(rej.length, 15)
    assert.equal(rej[0], Verdict.BadSignature)
    assert.deepEqual(decodeOutcome(rej, OutcomeLayout.Rejected), { ...o, verdict: Verdict.BadSignature, opcode: Opcode.TimeSync, detail: 4 })
    assert.equal(describeRecord({ seq: 13, kind: 0x30, time: 0, payload: rej }), "#13 command rejected BadSignature: TimeSync by key 2, counter 5 (4 refusals before it not recorded)")
    const junk = encodeOutcome(OutcomeLayout.Rejected, Verdict.Malformed, undefined, 0)
    assert.equal(describeRecord({ seq: 14, kind: 0x30, time: 0, payload: junk }), "#14 command rejected Malformed")
    assert.equal(describeRecord({ seq: 15, kind: 0x36, time: 0, payload: Buffer.from([1, 2]) }), "#15 command accepted 0102")
})

test("key entries and ring bodies: one codec for the anchor and for key changes", () => {
    const entry = encodeKeyEntry(supplier)
    assert.equal(entry.length, KEY_ENTRY_SIZE)
    const k = decodeKeyEntry(entry)!
    assert.deepEqual([k.id, k.role, k.mask], [2, Role.Supplier, defaultMask(Role.Supplier)])
    assert.deepEqual(k.publicKey, Buffer.from(supplier.publicKey))
    assert.equal(decodeKeyEntry(entry.subarray(0, 37)), undefined)
    const odd = Buffer.from(entry)
    odd[5] |= 1 // bit 0 names no opcode
    assert.equal(decodeKeyEntry(odd), undefined)
    const ring = decodeRing(Buffer.from(v.anchor, "hex"))!
    assert.deepEqual(
        ring.map(x => x.role),
        [Role.Root, Role.Supplier, Role.NetworkOperator]
    )
    assert.equal(encodeRingBody(ring).toString("hex"), v.anchor)
    assert.equal(decodeRing(encodeRingBody([ring[1], ring[2]])), undefined, "a ring without a root")
    assert.throws(() => encodeKeyEntry({ ...supplier, mask: -1 }), RangeError)
})

test("firmware manifest arguments: encoder and the meter's decoder agree; bad board ids are refused", () => {
    const m = { sequence: 0xfffffff0, imageSize: 1000, digest: Buffer.from(sha256(new Uint8Array(1000))), board: "trustmeter_pico_w" }
    const args = firmwareManifestArgs(m, 0xffffffef)
    assert.deepEqual(decodeManifest(args), m)
    assert.equal(decodeManifest(args.subarray(0, args.length - 1)), undefined)
    assert.equal(decodeManifest(Buffer.concat([args, Buffer.from("x")])), undefined)
    const spaced = Buffer.from(args)
    spaced[args.length - 1] = 0x20
    assert.equal(decodeManifest(spaced), undefined)
    assert.throws(() => firmwareManifestArgs({ ...m, board: "" }, 0xffffffef), RangeError)
    assert.throws(() => firmwareManifestArgs({ ...m, board: "x".repeat(33) }, 0xffffffef), RangeError)
    assert.throws(() => firmwareManifestArgs({ ...m, board: "a b" }, 0xffffffef), RangeError)
    assert.throws(() => firmwareManifestArgs({ ...m, digest: Buffer.alloc(31) }, 0xffffffef), RangeError)
})
