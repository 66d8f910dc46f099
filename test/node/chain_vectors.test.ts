// The golden vectors (generated independently with @noble/hashes by test/vectors/chain-gen.ts)
// against the one chain implementation, src/wire, as the head-end runs it (node:crypto);
// test/device/store_chain.test.ts checks the same vectors against it in the simulator.
import { test } from "node:test"
import assert from "node:assert/strict"
import { createHash, createHmac } from "node:crypto"
import { readFileSync } from "node:fs"
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js"
import { checkpointDigest, evolveKey, recordHash, sealRecord, verifyChain } from "../../headend/src/chain.ts"
import { generate, JSON_PATH, TS_PATH } from "../vectors/chain-gen.ts"

const V = JSON.parse(readFileSync(JSON_PATH, "utf8"))
const records = (hexes: string[]) => hexes.map(h => hexToBytes(h))
const all = records(V.records.map((r: any) => r.encoded))
const key0 = hexToBytes(V.key0)
const head = { seq: V.head.seq, hash: hexToBytes(V.head.hash) }
/** a verdict's head with its hash in hex, to compare across Buffer and Uint8Array */
const hexHead = (r: any) => (r.ok ? { ok: true, seq: r.head.seq, hash: bytesToHex(r.head.hash) } : r)

test("the vector files are up to date with their generator", () => {
    const { json, ts } = generate()
    assert.equal(readFileSync(JSON_PATH, "utf8"), json, "test/vectors/chain.json is stale: run npx tsx test/vectors/chain-gen.ts")
    assert.equal(readFileSync(TS_PATH, "utf8"), ts, "test/device/vectors/chain.ts is stale: run npx tsx test/vectors/chain-gen.ts")
})

test("key evolution from K_0, record and checkpoint hashes match node:crypto (independent implementation)", () => {
    const id = Buffer.from(V.meterId, "hex")
    // K_0 is an input (random per meter, issued at provisioning): nothing derives it
    assert.equal(V.secret, undefined)
    let k = Buffer.from(V.key0, "hex")
    for (const r of V.records) {
        assert.equal(k.toString("hex"), r.key)
        const enc = Buffer.from(r.encoded, "hex")
        const body = enc.subarray(0, enc.length - 16)
        assert.equal(createHmac("sha256", k).update(body).digest().subarray(0, 16).toString("hex"), enc.subarray(-16).toString("hex"))
        assert.equal(createHash("sha256").update(Buffer.from([0])).update(enc).digest("hex"), r.hash)
        k = createHash("sha256").update(Buffer.from([2])).update(k).digest()
        assert.equal(bytesToHex(evolveKey(hexToBytes(r.key))), k.toString("hex"))
    }
    const s = Buffer.alloc(4)
    s.writeUInt32BE(V.head.seq)
    const cp = createHash("sha256").update(Buffer.from([1])).update(id).update(s).update(Buffer.from(V.head.hash, "hex")).digest("hex")
    assert.equal(cp, V.checkpointDigest)
    assert.equal(bytesToHex(checkpointDigest(id, head)), cp)
    // domain separation: a checkpoint digest is never the record hash of the same bytes
    assert.notEqual(bytesToHex(recordHash(hexToBytes(V.head.hash))), cp)
})

test("the wire core seals the vector records byte for byte", () => {
    let prev: Uint8Array = new Uint8Array(32)
    for (const r of V.records) {
        const enc = sealRecord(hexToBytes(r.key), r.kind, r.seq, r.time, hexToBytes(r.payload), prev)
        assert.equal(bytesToHex(enc), r.encoded)
        prev = recordHash(enc)
        assert.equal(bytesToHex(prev), r.hash)
    }
})

test("the golden chain verifies, whole and from an anchor", () => {
    const ok = { ok: true, seq: V.head.seq, hash: V.head.hash }
    assert.deepEqual(hexHead(verifyChain(all, key0, { checkpoint: head })), ok)
    const a = { seq: 2, hash: hexToBytes(V.records[2].hash) }
    assert.deepEqual(hexHead(verifyChain(all.slice(3), key0, { anchor: a, checkpoint: head })), ok)
    // a later start without an anchor still checks every tag
    assert.equal(verifyChain(all.slice(3), key0).ok, true)
})

for (const c of V.tamper) {
    test(`head-end detects: ${c.name}`, () => {
        const r = verifyChain(records(c.records), key0, { checkpoint: head })
        assert.deepEqual(r, { ok: false, reason: c.headend.reason, at: c.headend.at })
    })
}

test("a wrong initial key fails on the first tag", () => {
    assert.deepEqual(verifyChain(all, new Uint8Array(32)), { ok: false, reason: "bad-tag", at: 0 })
})

test("a checkpoint ahead of an empty export is a truncation", () => {
    const a = { seq: 5, hash: head.hash }
    assert.deepEqual(verifyChain([], key0, { anchor: a, checkpoint: { seq: 7, hash: head.hash } }), { ok: false, reason: "truncated", at: 6 })
})

test("a checkpoint that names another version of an earlier record is a bad link", () => {
    const wrong = { seq: 3, hash: hexToBytes(V.records[2].hash) }
    assert.deepEqual(verifyChain(all, key0, { checkpoint: wrong }), { ok: false, reason: "bad-link", at: 3 })
})

test("oversized, truncated and empty records are malformed", () => {
    const cut = all.map(r => r.slice())
    cut[4] = cut[4].subarray(0, cut[4].length - 1)
    assert.deepEqual(verifyChain(cut, key0), { ok: false, reason: "malformed", at: 4 })
    const big = all.slice()
    big[1] = new Uint8Array(300)
    assert.deepEqual(verifyChain(big, key0), { ok: false, reason: "malformed", at: 1 })
    assert.deepEqual(verifyChain([new Uint8Array(0)], key0), { ok: false, reason: "malformed", at: 0 })
})
