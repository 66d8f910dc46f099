import { test } from "node:test"
import assert from "node:assert/strict"
import { sha256 } from "@noble/hashes/sha2.js"
import { generate } from "../vectors/envelope_gen.ts"
import { CommandEnvelope, counterInReach, decodeManifest, MAX_COUNTER, parseEnvelope, SignedManifest, suitClassId, uplinkEpochArgs } from "../../src/wire/envelope"
import { nodeCrypto } from "../../headend/src/crypto.ts"
import { CborMap, CborTag, CborValue, decodeCbor, encodeCbor } from "../../src/wire/cbor"
import { COSE_SIGN_TAG, CoseMessage, coseProtected, decodeCose, encodeCose, toBeSigned } from "../../src/wire/cose"
import { decodeKeyEntry, decodeRing, encodeRing as encodeRingBody, KEY_ENTRY_SIZE } from "../../src/wire/keys"
import { CommandOutcome, decodeCommandAck, decodeOutcome, encodeCommandAck, encodeOutcome, OutcomeLayout } from "../../src/wire/ack"
import { decode as cbor2Decode } from "cbor2"
import { ALL_OPCODES, buildEnvelope, buildManifest, defaultMask, encodeKeyEntry, envelopeBody, headEndKey, Opcode, parseAck, Role, Verdict } from "../../headend/src/commands.ts"
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

test("the meter's parser, in Node, over every golden command: only the malformed ones fail to parse", () => {
    for (const s of v.steps) {
        const p = parseEnvelope(Buffer.from(s.hex, "hex"))
        if (s.verdict === Verdict.Malformed || s.verdict === Verdict.BadVersion) assert.equal(p, s.verdict, s.name)
        else assert.equal(typeof p, "object", s.name)
    }
})

/** `env` with its payload map's values replaced (`undefined`: left out; a longer array: extra keys 8, 9, …). */
function withPayload(env: Buffer, edit: (values: CborValue[]) => CborValue[]): Buffer {
    const m = decodeCose(env) as CoseMessage
    const p = decodeCbor(m.payload, []).value as CborMap
    const values = edit([...p.values])
    const keys: number[] = []
    const vals: CborValue[] = []
    values.forEach((x, i) => {
        if (x !== undefined) {
            keys.push(i + 1)
            vals.push(x)
        }
    })
    m.payload = encodeCbor(new CborMap(keys, vals))
    return encodeCose(m)
}

test("built and parsed: every field, a counter above 2^32 and up to 2^53 - 1, two signatures, what each signs", () => {
    const counter = BigInt(MAX_COUNTER)
    // the builder refuses a counter beyond one command's reach (docs/commands.md §4): a meter
    // may still receive one, so it is written into a built command to check the parser
    assert.throws(() => buildEnvelope({ meterId: METER, signer: supplier, counter, notBefore: 7, expiry: 0xfffffffe, opcode: Opcode.Disconnect }), RangeError)
    const built = buildEnvelope({ meterId: METER, signer: supplier, cosigner: netop, counter: 1n, notBefore: 7, expiry: 0xfffffffe, opcode: Opcode.Disconnect })
    const env = withPayload(built, v => ((v[2] = MAX_COUNTER), v))
    const e = parseEnvelope(env) as CommandEnvelope
    assert.equal(typeof e, "object")
    assert.equal(e.signerKeyId, 2)
    assert.deepEqual(e.sigKeyIds, [2, 3])
    assert.equal((BigInt(e.counterHi) << 32n) | BigInt(e.counterLo), counter)
    assert.equal(e.notBefore, 7)
    assert.equal(e.expiry, 0xfffffffe)
    assert.equal(e.opcode, Opcode.Disconnect)
    assert.equal(e.args.length, 0)
    assert.deepEqual(e.meterId, METER)
    assert.equal(e.cose.tag, COSE_SIGN_TAG)
    // each signature signs ["Signature", h'', its protected header, h'', payload] (RFC 9052 §4.4)
    const tbs = toBeSigned(e.cose, 1)
    assert.equal(tbs.subarray(0, 13).toString("hex"), "85695369676e6174757265" + "40" + "46")
    assert.deepEqual(tbs.subarray(13, 19), coseProtected(Buffer.from([3])))
    assert.equal(e.cose.signatures[1].signature.length, 64)
    // copies, not views: the meter may keep them while the message buffer is reused
    const sig = Buffer.from(e.cose.signatures[0].signature)
    env.fill(0)
    assert.deepEqual(e.cose.signatures[0].signature, sig)
})

test("the parser refuses every command outside docs/formats.cddl, with its verdict", () => {
    const one = buildEnvelope({ meterId: METER, signer: supplier, counter: 5n, notBefore: 0, expiry: 100, opcode: Opcode.SetPrivacy, args: Buffer.from([1]) })
    const dual = buildEnvelope({ meterId: METER, signer: supplier, cosigner: netop, counter: 5n, notBefore: 0, expiry: 100, opcode: Opcode.Disconnect })
    assert.equal(typeof parseEnvelope(one), "object")
    assert.equal(typeof parseEnvelope(dual), "object")
    const M = Verdict.Malformed
    const refuses = (b: Buffer, verdict: number, why: string) => assert.equal(parseEnvelope(b), verdict, why)
    const cose = (b: Buffer) => decodeCose(b) as CoseMessage
    // the payload map
    refuses(withPayload(one, v => [...v, 1]), M, "an eighth key")
    refuses(withPayload(one, v => v.slice(0, 6)), M, "no arguments key")
    refuses(withPayload(one, v => ((v[0] = Buffer.alloc(7)), v)), M, "a 7-byte meter id")
    refuses(withPayload(one, v => ((v[1] = 3), v)), M, "a signer that is not the first kid")
    refuses(withPayload(one, v => ((v[2] = -1), v)), M, "a negative counter")
    refuses(withPayload(one, v => ((v[2] = "5"), v)), M, "a text counter")
    refuses(withPayload(one, v => ((v[4] = 0), v)), M, "expiry 0")
    refuses(withPayload(one, v => ((v[4] = 2 ** 32), v)), M, "expiry beyond u32")
    refuses(withPayload(one, v => ((v[3] = 101), v)), M, "not-before after expiry")
    refuses(withPayload(one, v => ((v[5] = 10), v)), M, "an unknown opcode")
    refuses(withPayload(one, v => ((v[6] = Buffer.alloc(513)), v)), M, "arguments beyond 512 bytes")
    refuses(withPayload(one, v => ((v[6] = [1]), v)), M, "arguments not a byte string")
    // a counter of 2^53 or more is not an integer the wire core reads (written by hand: a7 … 03 1b 0020000000000000)
    const big = Buffer.from(withPayload(one, v => ((v[2] = 2 ** 52), v)).toString("hex").replace("031b0010000000000000", "031b0020000000000000"), "hex")
    refuses(big, M, "counter 2^53")
    // the COSE structure
    const m = cose(dual)
    refuses(encodeCose({ ...m, signatures: [m.signatures[0]] }), M, "a COSE_Sign stripped to one signature")
    refuses(encodeCose({ ...m, signatures: [m.signatures[1], m.signatures[0]] }), M, "the two signatures swapped (the counter's owner changes)")
    refuses(encodeCose({ ...m, signatures: [m.signatures[0], m.signatures[0]] }), M, "the same signer twice")
    const s1 = cose(one)
    const kid2 = Buffer.from([0, 2])
    refuses(encodeCose({ ...s1, bodyProtected: coseProtected(kid2), signatures: [{ ...s1.signatures[0], protectedBytes: coseProtected(kid2), kid: kid2 }] }), M, "a two-byte kid")
    const es256 = encodeCbor(new CborMap([1, 4], [-7, Buffer.from([2])]))
    refuses(encodeCose({ ...s1, bodyProtected: es256, signatures: [{ ...s1.signatures[0], protectedBytes: es256 }] }), Verdict.BadVersion, "alg ES256")
    const crit = encodeCbor(new CborMap([1, 2, 4], [-8, [99], Buffer.from([2])]))
    refuses(encodeCose({ ...s1, bodyProtected: crit, signatures: [{ ...s1.signatures[0], protectedBytes: crit }] }), Verdict.BadVersion, "a critical header")
    refuses(encodeCbor(new CborTag(18, [s1.bodyProtected, new CborMap([], []), null, s1.signatures[0].signature])), M, "a detached payload")
    refuses(encodeCbor([s1.bodyProtected, new CborMap([], []), s1.payload, s1.signatures[0].signature]), M, "untagged")
    refuses(Buffer.concat([one, Buffer.from([0])]), M, "a trailing byte")
    for (let n = 0; n < one.length; n++) refuses(one.subarray(0, n), M, `cut to ${n} bytes`)
    refuses(Buffer.alloc(0), M, "empty")
    refuses(Buffer.alloc(1100, 0x40), M, "oversized")
})

test("the builder refuses what a meter would call Malformed, instead of sending it", () => {
    const base = { meterId: METER, signer: supplier, counter: 1n, notBefore: 0, expiry: 100, opcode: Opcode.Disconnect }
    assert.throws(() => buildEnvelope({ ...base, expiry: 0 }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, notBefore: 101 }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, expiry: 2 ** 32 }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, opcode: 10 }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, counter: 1n << 53n }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, counter: -1n }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, meterId: Buffer.alloc(7) }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, signer: { ...supplier, id: 0 } }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, cosigner: supplier }), RangeError)
    assert.throws(() => buildEnvelope({ ...base, args: Buffer.alloc(513) }), RangeError)
    assert.equal(typeof parseEnvelope(buildEnvelope({ ...base, args: Buffer.alloc(512) })), "object")
    const body = envelopeBody(base)
    assert.equal(body.signatures.length, 1)
    assert.equal(body.tag, 18)
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
    assert.throws(() => buildEnvelope({ ...base, counter: BigInt(MAX_COUNTER), expiry: 0xffffffff }), RangeError)
    // uplink epoch: current + 1 .. current + 16; firmware sequence: current + 1 .. current + 1024
    assert.equal(uplinkEpochArgs(16, 0).toString("hex"), "00000010")
    assert.equal(uplinkEpochArgs(0xffffffff, 0xfffffff0).toString("hex"), "ffffffff")
    for (const [e, cur] of [[17, 0], [0, 0], [5, 5], [4, 5], [0xffffffff, 0], [2 ** 32, 0xfffffff0]])
        assert.throws(() => uplinkEpochArgs(e, cur), /uplink epoch/, `${e} from ${cur}`)
    const m = { sequence: 1024, imageSize: 1000, digest: Buffer.alloc(32), board: "simulator" }
    const root = headEndKey(1, Role.Root, ALL_OPCODES, new Uint8Array(32).fill(1))
    assert.equal((decodeManifest(buildManifest(m, 0, root), nodeCrypto) as SignedManifest).sequence, 1024)
    assert.throws(() => buildManifest({ ...m, sequence: 1025 }, 0, root), /firmware manifest: from sequence 0/)
    assert.throws(() => buildManifest({ ...m, sequence: 0xffffffff }, 0, root), RangeError)
    assert.throws(() => buildManifest({ ...m, sequence: 7 }, 7, root), RangeError)
})

test("mutated commands never throw in the parser; whatever parses is a command the wire core re-encodes byte for byte", () => {
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
        if (typeof p === "object") assert.equal(encodeCose(p.cose).toString("hex"), Buffer.from(cut).toString("hex"))
        else assert.ok(p === Verdict.Malformed || p === Verdict.BadVersion)
    }
})

test("acknowledgements: the meter's CBOR array, read by the head-end and by cbor2; the 16-byte layout of earlier firmware still read", () => {
    const o: CommandOutcome = { verdict: Verdict.Replay, opcode: Opcode.Disconnect, signerKeyId: 2, counterHi: 0x1fffff, counterLo: 0xfffffffe, detail: 0xfffffffd }
    const ack = encodeCommandAck(o.verdict, o, o.detail)
    // [10, 1, 2, 2^53 - 2, 2^32 - 3]
    assert.equal(ack.toString("hex"), "850a0102" + "1b001ffffffffffffe" + "1afffffffd")
    assert.deepEqual(cbor2Decode(ack), [10, 1, 2, 9007199254740990, 4294967293])
    assert.deepEqual(decodeCommandAck(ack), o)
    assert.deepEqual(parseAck(ack), { verdict: Verdict.Replay, opcode: 1, signerKeyId: 2, counter: 9007199254740990n, detail: 0xfffffffd })
    // a command that did not parse
    assert.equal(encodeCommandAck(Verdict.Malformed, undefined, 0).toString("hex"), "850100000000")
    // not an ack: truncated, trailing bytes, a fifth item out of range, four items, not deterministic
    for (const bad of ["850a0102051a", "850a010205000000", "850a0102051b0000000100000000", "840a010205", "850a01021805 00".replace(" ", "")])
        assert.equal(decodeCommandAck(Buffer.from(bad, "hex")), undefined, bad)
    assert.throws(() => parseAck(Buffer.from("840a010205", "hex")))
    // earlier firmware: version 1 ‖ verdict ‖ opcode ‖ signer ‖ counter (u64) ‖ detail (u32)
    const old = Buffer.from("010a0102fffffffffffffffefffffffd", "hex")
    assert.deepEqual(decodeOutcome(old, OutcomeLayout.Ack), { ...o, counterHi: 0xffffffff })
    assert.deepEqual(parseAck(old), { verdict: Verdict.Replay, opcode: 1, signerKeyId: 2, counter: 0xfffffffffffffffen, detail: 0xfffffffd })
    const v2 = Buffer.from(old)
    v2[0] = 2
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
    const root = headEndKey(1, Role.Root, ALL_OPCODES, new Uint8Array(32).fill(1))
    const m = { sequence: 0xfffffff0, imageSize: 1000, digest: Buffer.from(sha256(new Uint8Array(1000))), board: "trustmeter_pico_w" }
    const d = decodeManifest(buildManifest(m, 0xffffffef, root), nodeCrypto) as SignedManifest
    assert.deepEqual([d.sequence, d.imageSize, d.digest, d.classId], [m.sequence, m.imageSize, m.digest, suitClassId(nodeCrypto, m.board)])
    assert.throws(() => buildManifest({ ...m, board: "" }, 0xffffffef, root), RangeError)
    assert.throws(() => buildManifest({ ...m, board: "x".repeat(33) }, 0xffffffef, root), RangeError)
    assert.throws(() => buildManifest({ ...m, board: "a b" }, 0xffffffef, root), RangeError)
    assert.throws(() => buildManifest({ ...m, digest: Buffer.alloc(31) }, 0xffffffef, root), RangeError)
})
