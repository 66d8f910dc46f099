import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import * as U from "../../sim/src/uplink.ts"
import { generate, render, JSON_FILE, TS_FILE } from "../vectors/uplink_gen.ts"

const V = JSON.parse(readFileSync(JSON_FILE, "utf8"))
const secret = Buffer.from(V.secret, "hex")
const meterId = Buffer.from(V.meterId, "hex")
const key = (dir: number, epoch: number) => U.deriveFrameKey(secret, meterId, dir, epoch)

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
        const body = U.openFrame(key(f.direction, f.epoch), frame)
        assert.equal(body.toString("hex"), f.body)
        const h = U.decodeHeader(frame)
        assert.equal(U.sealFrame(key(f.direction, f.epoch), h, body).toString("hex"), f.frame)
    }
})

test("every single-bit flip of a frame is rejected", () => {
    const f = V.frames[0]
    const frame = Buffer.from(f.frame, "hex")
    for (let bit = 0; bit < frame.length * 8; bit++) {
        const t = Buffer.from(frame)
        t[bit >> 3] ^= 1 << (bit & 7)
        // the receiver picks the key from the (possibly altered) header, as the head-end does
        const h = U.decodeHeader(t)
        const k = h.direction === 1 || h.direction === 2 ? U.deriveFrameKey(secret, h.meterId, h.direction, h.epoch) : key(1, 0)
        assert.throws(() => U.openFrame(k, t), RangeError, `bit ${bit} accepted`)
    }
})

test("a header re-labelled with another meter, epoch, counter or direction does not open", () => {
    const frame = Buffer.from(V.frames[0].frame, "hex")
    const relabel = (off: number, v: number) => {
        const t = Buffer.from(frame)
        t[off] = v
        return t
    }
    const other = Buffer.from("7e57000000000002", "hex")
    const asOther = relabel(9, 2)
    assert.throws(() => U.openFrame(U.deriveFrameKey(secret, other, 1, 0), asOther))
    assert.throws(() => U.openFrame(key(1, 7), relabel(13, 7)))
    assert.throws(() => U.openFrame(key(1, 0), relabel(17, 9)))
    assert.throws(() => U.openFrame(key(2, 0), relabel(1, 2)))
    // the same plaintext sealed by an attacker who knows only the public header: no key, no frame
    assert.throws(() => U.openFrame(key(1, 0), U.sealFrame(Buffer.alloc(32), U.decodeHeader(frame), Buffer.from("01000000", "hex"))))
})

test("truncated, oversized, wrong version, garbage and malformed bodies are rejected", () => {
    const frame = Buffer.from(V.frames[0].frame, "hex")
    const k = key(1, 0)
    for (const n of [0, 5, 17, 18, 51, frame.length - 1]) assert.throws(() => U.openFrame(k, frame.subarray(0, n)))
    assert.throws(() => U.openFrame(k, Buffer.concat([frame, Buffer.alloc(3000)])))
    const v2 = Buffer.from(frame)
    v2[0] = 2
    assert.throws(() => U.openFrame(k, v2), /version/)
    for (let i = 0; i < 200; i++) {
        const g = Buffer.from(Array.from({ length: (i * 7) % 300 }, (_, j) => (i * 31 + j * 17) & 255))
        assert.throws(() => U.openFrame(k, g))
        assert.throws(() => U.decodeReport(g))
    }
    // bodies: counts over the limits, trailing bytes, truncation
    assert.throws(() => U.decodeReport(Buffer.from("0104000021", "hex")), /count|truncated/)
    assert.throws(() => U.decodeReport(Buffer.concat([U.encodeReport({ privacyLevel: 0 }), Buffer.from([0])])), /trailing/)
    assert.throws(() => U.decodeDownlink(Buffer.from("81000000", "hex")), /truncated/)
    assert.throws(() => U.decodeDownlink(Buffer.from("7f", "hex")), /type/)
})

test("an MQTT PUBLISH's size counts fixed header, remaining length, topic and payload", () => {
    assert.equal(U.mqttPublishSize("a/b", 10), 1 + 1 + 2 + 3 + 10)
    assert.equal(U.mqttPublishSize("a/b", 200), 1 + 2 + 2 + 3 + 200)
})
