import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import * as F from "../../src/wire/frame"
import * as U from "../../src/wire/report"
import { nodeCrypto as C } from "../../headend/src/crypto.ts"
import { mqttPublishSize } from "../../headend/src/uplink.ts"
import { generate, render, JSON_FILE, TS_FILE } from "../vectors/uplink_gen.ts"
import { recordHash } from "../../headend/src/chain.ts"

const V = JSON.parse(readFileSync(JSON_FILE, "utf8"))
const secret = Buffer.from(V.secret, "hex")
const meterId = Buffer.from(V.meterId, "hex")
const key = (dir: number, epoch: number) => F.deriveFrameKey(C, secret, meterId, dir, epoch)

test("the vector files are up to date with the generator", () => {
    const { json, ts } = render(generate())
    assert.equal(readFileSync(JSON_FILE, "utf8"), json, "run npx tsx test/vectors/uplink_gen.ts")
    assert.equal(readFileSync(TS_FILE, "utf8"), ts, "run npx tsx test/vectors/uplink_gen.ts")
})

test("keys match the vectors (HKDF-SHA256, salt = meter id, info = label ‖ u32be epoch)", () => {
    for (const k of V.keys) {
        assert.equal(key(1, k.epoch).toString("hex"), k.up)
        assert.equal(key(2, k.epoch).toString("hex"), k.down)
    }
})

test("Node's aes-256-ccm opens and re-seals every vector", () => {
    for (const f of V.frames) {
        const frame = Buffer.from(f.frame, "hex")
        const body = F.openFrame(C, key(f.direction, f.epoch), frame, f.direction)
        assert.equal(body.toString("hex"), f.body)
        const h = F.decodeHeader(frame)
        assert.equal(h.epoch, f.epoch)
        assert.equal(h.counter, f.counter)
        assert.equal(F.sealFrame(C, key(f.direction, f.epoch), { ...h, direction: f.direction }, body).toString("hex"), f.frame)
    }
})

test("the report vector is encoded from stored records, and the wire records rebuild them exactly", () => {
    const i = V.report
    const records = i.records.map((r: { seq: number; data: string }) => ({ seq: r.seq, data: Buffer.from(r.data, "hex") }))
    const report: U.Report = {
        ...i,
        registers: Buffer.from(i.registers, "hex"),
        checkpointHash: Buffer.from(i.checkpointHash, "hex"),
        records,
        responses: i.responses.map((x: string) => Buffer.from(x, "hex")),
    }
    assert.equal(U.encodeReport(C, report).toString("hex"), V.frames[0].body)
    const d = U.decodeReport(Buffer.from(V.frames[0].body, "hex"))
    assert.equal(d.checkpointAtLast, true)
    assert.equal(d.checkpointSeq, 42)
    assert.equal(d.checkpointHash, undefined)
    // the anchor is record 41's prev; record 42's prev is the hash of the rebuilt record 41
    const r41 = U.rebuildRecord(d.records![0], d.anchor!)
    assert.ok(r41.equals(records[0].data))
    const r42 = U.rebuildRecord(d.records![1], Buffer.from(recordHash(r41)))
    assert.ok(r42.equals(records[1].data))
    assert.equal(Buffer.from(recordHash(r42)).toString("hex"), i.checkpointHash)
    // no prev hash, no seq, no checkpoint hash on the wire: 38 bytes per 16-byte record instead of 76
    const steady = U.decodeReport(Buffer.from(V.frames[1].body, "hex"))
    assert.equal(steady.anchor, undefined)
    assert.equal(V.frames[1].body.length / 2, 3 + 9 + 5 + 38)
    // a checkpoint that is not the last record's hash travels in full
    const other = U.decodeReport(U.encodeReport(C, { ...report, checkpointHash: Buffer.alloc(32, 1) }))
    assert.ok(!other.checkpointAtLast && other.checkpointHash!.equals(Buffer.alloc(32, 1)))
})

test("every single-bit flip of a frame is rejected", () => {
    for (const f of [V.frames[0], V.frames[1], V.frames[3]]) {
        const frame = Buffer.from(f.frame, "hex")
        for (let bit = 0; bit < frame.length * 8; bit++) {
            const t = Buffer.from(frame)
            t[bit >> 3] ^= 1 << (bit & 7)
            // the receiver picks the key from the (possibly altered) header, as the head-end does
            let k = key(1, 0)
            try {
                const h = F.decodeHeader(t)
                k = F.deriveFrameKey(C, secret, h.meterId, 1, h.epoch)
            } catch {}
            assert.throws(() => F.openFrame(C, k, t, 1), RangeError, `${f.name}: bit ${bit} accepted`)
        }
    }
})

test("a header re-labelled with another meter, epoch, counter, version or direction does not open", () => {
    const frame = Buffer.from(V.frames[0].frame, "hex")
    const relabel = (off: number, v: number) => {
        const t = Buffer.from(frame)
        t[off] = v
        return t
    }
    const other = Buffer.from("7e57000000000002", "hex")
    assert.throws(() => F.openFrame(C, F.deriveFrameKey(C, secret, other, 1, 0), relabel(8, 2), 1))
    assert.throws(() => F.openFrame(C, key(1, 7), relabel(9, 7), 1))
    assert.throws(() => F.openFrame(C, key(1, 0), relabel(13, 9), 1))
    // reflection: an uplink frame offered to the meter as a downlink, under either key
    assert.throws(() => F.openFrame(C, key(2, 0), frame, 2))
    assert.throws(() => F.openFrame(C, key(1, 0), frame, 2))
    // the version is in the nonce: a v2 frame re-labelled v1 is refused, and would not open as v1
    assert.throws(() => F.openFrame(C, key(1, 0), relabel(0, 1), 1), /version/)
    const h = F.decodeHeader(frame)
    assert.throws(() => F.openParsed(C, key(1, 0), frame, { ...h, version: 1 }, 1))
    // the same plaintext sealed by an attacker who knows only the public header: no key, no frame
    assert.throws(() => F.openFrame(C, key(1, 0), F.sealFrame(C, Buffer.alloc(32), { ...h, direction: 1 }, Buffer.from("01000000", "hex")), 1))
    // a non-canonical epoch (0 written as 0x80 0x00) is refused before any key is derived
    const nc = Buffer.concat([frame.subarray(0, 9), Buffer.from([0x80]), frame.subarray(9)])
    assert.throws(() => F.decodeHeader(nc), /epoch/)
})

test("truncated, oversized, wrong version, garbage and malformed bodies are rejected", () => {
    const frame = Buffer.from(V.frames[0].frame, "hex")
    const k = key(1, 0)
    for (const n of [0, 5, 13, 14, 30, frame.length - 1]) assert.throws(() => F.openFrame(C, k, frame.subarray(0, n), 1))
    assert.throws(() => F.openFrame(C, k, Buffer.concat([frame, Buffer.alloc(3000)]), 1))
    const v1 = Buffer.from(frame)
    v1[0] = 1
    assert.throws(() => F.openFrame(C, k, v1, 1), /version/)
    for (let i = 0; i < 200; i++) {
        const g = Buffer.from(Array.from({ length: (i * 7) % 300 }, (_, j) => (i * 31 + j * 17) & 255))
        assert.throws(() => F.openFrame(C, k, g, 1))
        assert.throws(() => U.decodeReport(g))
    }
    // bodies: counts over the limits, trailing bytes, truncation, contradicting flags
    assert.throws(() => U.decodeReport(Buffer.from("0104000021", "hex")), /count|truncated/)
    assert.throws(() => U.decodeReport(Buffer.concat([U.encodeReport(C, { privacyLevel: 0 }), Buffer.from([0])])), /trailing/)
    assert.throws(() => U.decodeReport(Buffer.from("014000", "hex")), /flags/) // checkpoint-at-last without records
    assert.throws(() => U.decodeReport(Buffer.from("018000", "hex")), /flags/) // anchor without records
    assert.throws(() => U.decodeReport(Buffer.from("010003", "hex")), /privacy/)
    const big = Buffer.from(V.frames[1].body, "hex")
    big[3 + 9 + 5] = 200 // a payload length over 128
    assert.throws(() => U.decodeReport(big), /too long/)
    assert.throws(() => U.decodeDownlink(Buffer.from("81000000", "hex")), /not an ack/)
    assert.throws(() => U.decodeDownlink(Buffer.from("7f", "hex")), /type/)
    assert.throws(() => U.decodeDownlink(Buffer.alloc(0)), /type/)
    assert.throws(() => U.decodeDownlink(Buffer.concat([U.encodeAck(1, 2, Buffer.alloc(16)), Buffer.from([0])])), /not an ack/)
    // the ack is CBOR [u32, u32, bstr .size 16] (docs/formats.cddl downlink-ack), deterministic
    assert.equal(U.encodeAck(1, 2, Buffer.alloc(16, 9)).toString("hex"), "81830102" + "50" + "09".repeat(16))
    for (const bad of ["8183010250" + "09".repeat(15), "8183011802" + "50" + "09".repeat(16), "8184010203" + "50" + "09".repeat(16), "81831b0000000100000000" + "02" + "50" + "09".repeat(16), "818301024f" + "09".repeat(15)])
        assert.throws(() => U.decodeDownlink(Buffer.from(bad, "hex")), /not an ack/, bad)
    assert.throws(() => U.decodeDownlink(Buffer.from("8200", "hex")), /truncated/)
    assert.throws(() => U.decodeDownlink(Buffer.from("820003aabb", "hex")), /truncated/)
    assert.throws(() => U.decodeDownlink(Buffer.from("820001aabb", "hex")), /trailing/)
    assert.throws(() => U.decodeDownlink(U.encodeCommand(Buffer.alloc(1025))), /too long/)
    assert.deepEqual(U.decodeDownlink(U.encodeCommand(Buffer.alloc(1024, 7))).command, Buffer.alloc(1024, 7))
    assert.deepEqual(U.decodeDownlink(U.encodeCommand(Buffer.alloc(0))).command, Buffer.alloc(0))
    assert.deepEqual(U.decodeDownlink(U.encodeAck(4294967295, 7, Buffer.alloc(32, 3))), { type: U.BodyType.Ack, ackSeq: 4294967295, upCounter: 7, ackHash: Buffer.alloc(16, 3) })
    // an ack cut short is refused
    assert.throws(() => U.decodeDownlink(U.encodeAck(1, 2, Buffer.alloc(16)).subarray(0, 9)), /not an ack/)
    // and so is the 25-byte binary ack of earlier versions
    assert.throws(() => U.decodeDownlink(Buffer.from("81" + "00000001" + "00000002" + "09".repeat(16), "hex")), /not an ack/)
    // the meter refuses to put anything but a v1 store record of the right seq on the wire
    assert.throws(() => U.encodeReport(C, { privacyLevel: 0, records: [{ seq: 0, data: Buffer.from("010203", "hex") }] }), /v1 store record/)
})

test("topics carry the meter id in base64url: 13 characters", () => {
    assert.equal(U.uplinkTopic("7e57000000000001"), "u/flcAAAAAAAE")
    assert.equal(U.downlinkTopic("7e57000000000001"), "d/flcAAAAAAAE")
    assert.equal(F.claimedMeterId(Buffer.from(V.frames[0].frame, "hex")), "7e57000000000001")
})

test("an MQTT PUBLISH's size counts fixed header, remaining length, topic and payload", () => {
    assert.equal(mqttPublishSize("a/b", 10), 1 + 1 + 2 + 3 + 10)
    assert.equal(mqttPublishSize("a/b", 200), 1 + 2 + 2 + 3 + 200)
})
