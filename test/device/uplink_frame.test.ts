import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { nativeCrypto } from "../../src/crypto/native"
import { Direction, FrameConst, decodeHeader, deriveFrameKey, openFrame as openWith, sealFrame as sealWith } from "../../src/wire/frame"
import { BodyType, UplinkRecord, decodeDownlink, decodeReport, encodeAck, encodeCommand, encodeReport as encodeWith } from "../../src/wire/report"
import { topicId } from "../../src/wire/report"
import { uplinkVectors } from "./vectors/uplink"

// Golden vectors shared with the head-end (test/vectors/uplink.json, docs/uplink.md §11).
const V = uplinkVectors
const secret = Buffer.from(V.secret, "hex")
const meterId = Buffer.from(V.meterId, "hex")
const hex = (b: Buffer) => b.toString("hex")

// the one wire core (src/wire) with the firmware's crypto: the same code the head-end runs with node:crypto
function keyFor(direction: number, epoch: number) {
    return deriveFrameKey(nativeCrypto, secret, meterId, direction, epoch)
}
const openFrame = (key: Buffer, frame: Buffer, direction: number) => openWith(nativeCrypto, key, frame, direction)
const encodeReport = (r: any) => encodeWith(nativeCrypto, r)

function threw(f: () => void) {
    try {
        f()
    } catch (e) {
        return true
    }
    return false
}

describe("uplink frames: golden vectors", () => {
    test("HKDF key derivation per direction and epoch", () => {
        for (const k of V.keys) {
            expect(hex(keyFor(Direction.Uplink, k.epoch))).toBe(k.up)
            expect(hex(keyFor(Direction.Downlink, k.epoch))).toBe(k.down)
        }
    })
    test("the firmware seals every vector byte for byte", () => {
        for (const f of V.frames) {
            const sealed = sealWith(
                nativeCrypto,
                keyFor(f.direction, f.epoch),
                { version: FrameConst.Version, direction: f.direction, meterId: meterId, epoch: f.epoch, counter: f.counter },
                Buffer.from(f.body, "hex")
            )
            expect(hex(sealed)).toBe(f.frame)
        }
    })
    test("the firmware encodes the report vector from its stored records", () => {
        const i = V.report
        const recs: UplinkRecord[] = []
        for (const r of i.records) recs.push({ seq: r.seq, data: Buffer.from(r.data, "hex") })
        const body = encodeReport({
            privacyLevel: i.privacyLevel,
            registers: Buffer.from(i.registers, "hex"),
            checkpointSeq: i.checkpointSeq,
            checkpointHash: Buffer.from(i.checkpointHash, "hex"),
            records: recs,
            anchor: i.anchor,
            alerts: i.alerts,
            responses: [Buffer.from(i.responses[0], "hex")],
        })
        expect(hex(body)).toBe(V.frames[0].body)
        // steady state: the last record only, no anchor, checkpoint = that record
        const steady = encodeReport({
            privacyLevel: 0,
            registers: Buffer.from(i.registers, "hex"),
            checkpointSeq: 42,
            checkpointHash: Buffer.from(i.checkpointHash, "hex"),
            records: [recs[1]],
        })
        expect(hex(steady)).toBe(V.frames[1].body)
    })
    test("the firmware opens every vector and decodes its body", () => {
        for (const f of V.frames) {
            const frame = Buffer.from(f.frame, "hex")
            const h = decodeHeader(frame)
            expect(h.counter).toBe(f.counter)
            expect(h.epoch).toBe(f.epoch)
            const body = openFrame(keyFor(f.direction, f.epoch), frame, f.direction)
            expect(hex(body)).toBe(f.body)
            if (body[0] === BodyType.Report) decodeReport(body)
            else {
                const d = decodeDownlink(body)
                if (d.type === BodyType.Ack) expect(hex(encodeAck(d.ackSeq, d.upCounter, d.ackHash))).toBe(f.body)
                else expect(hex(encodeCommand(d.command))).toBe(f.body)
            }
        }
    })
    test("the report vector decodes to its fields", () => {
        const r = decodeReport(Buffer.from(V.frames[0].body, "hex"))
        expect(r.checkpointSeq).toBe(42)
        expect(r.checkpointAtLast).toBe(true)
        expect(r.anchor.length).toBe(32)
        expect(r.records.length).toBe(2)
        expect(r.records[1].seq).toBe(42)
        expect(r.records[1].time).toBe(1700075600)
        expect(r.alerts[0].kind).toBe(1)
        expect(r.responses[0].toString()).toBe("ok")
        const d = decodeDownlink(Buffer.from(V.frames[5].body, "hex"))
        expect(d.ackSeq).toBe(42)
        expect(hex(d.ackHash)).toBe("a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5")
        expect(d.upCounter).toBe(4294967295)
        expect(topicId(meterId)).toBe("flcAAAAAAAE")
    })
    test("a flipped bit anywhere in a frame never opens", async () => {
        const f = V.frames[0]
        const frame = Buffer.from(f.frame, "hex")
        let opened = 0
        for (let i = 0; i < frame.length; i += 3) {
            await ds.sleep(0)
            const t = frame.slice(0)
            t[i] = t[i] ^ 0x01
            try {
                // as a receiver does: the key of the meter id and epoch the header names (§2.3)
                const h = decodeHeader(t)
                openFrame(deriveFrameKey(nativeCrypto, secret, h.meterId, Direction.Uplink, h.epoch), t, Direction.Uplink)
                opened++
            } catch (e) {}
        }
        expect(opened).toBe(0)
    })
    test("truncated, oversized, wrong-version and garbage frames are rejected", () => {
        const key = keyFor(Direction.Uplink, 0)
        const frame = Buffer.from(V.frames[0].frame, "hex")
        const up = Direction.Uplink
        expect(threw(() => openFrame(key, frame.slice(0, 20), up))).toBe(true)
        expect(threw(() => openFrame(key, frame.slice(0, frame.length - 1), up))).toBe(true)
        expect(threw(() => openFrame(key, Buffer.alloc(3000), up))).toBe(true)
        const v1 = frame.slice(0)
        v1[0] = 1
        expect(threw(() => openFrame(key, v1, up))).toBe(true)
        expect(threw(() => openFrame(key, Buffer.alloc(0), up))).toBe(true)
        expect(threw(() => decodeReport(Buffer.from("01ff00", "hex")))).toBe(true)
        expect(threw(() => decodeReport(Buffer.from("014000", "hex")))).toBe(true)
        expect(threw(() => decodeDownlink(Buffer.from("8100", "hex")))).toBe(true)
        // a record that is not a v1 store record never goes on the wire
        expect(threw(() => encodeReport({ privacyLevel: 0, records: [{ seq: 0, data: Buffer.from("010203", "hex") }] }))).toBe(true)
    })
    test("a frame re-labelled as another epoch or reflected as a downlink does not open", () => {
        const frame = Buffer.from(V.frames[0].frame, "hex")
        // the header says epoch 7 but the body was sealed under epoch 0: key differs
        const e7 = frame.slice(0)
        e7[9] = 7
        expect(threw(() => openFrame(keyFor(Direction.Uplink, 7), e7, Direction.Uplink))).toBe(true)
        // an uplink frame presented as a downlink (reflection): other key and nonce
        expect(threw(() => openFrame(keyFor(Direction.Downlink, 0), frame, Direction.Downlink))).toBe(true)
        expect(threw(() => openFrame(keyFor(Direction.Uplink, 0), frame, Direction.Downlink))).toBe(true)
    })
})
