import { describe, test, expect } from "@devicescript/test"
import { Direction, decodeHeader, deriveFrameKey, openFrame, sealFrame } from "../../src/comms/frame"
import { BodyType, decodeDownlink, decodeReport, encodeAck, encodeCommand, encodeReport } from "../../src/comms/report"
import { uplinkVectors } from "./vectors/uplink"

// Golden vectors shared with the head-end (test/vectors/uplink.json, docs/uplink.md §11).
const V = uplinkVectors
const secret = Buffer.from(V.secret, "hex")
const meterId = Buffer.from(V.meterId, "hex")
const hex = (b: Buffer) => b.toString("hex")

function keyFor(direction: number, epoch: number) {
    return deriveFrameKey(secret, meterId, direction, epoch)
}

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
            const sealed = sealFrame(
                keyFor(f.direction, f.epoch),
                { version: 1, direction: f.direction, meterId: meterId, epoch: f.epoch, counter: f.counter },
                Buffer.from(f.body, "hex")
            )
            expect(hex(sealed)).toBe(f.frame)
        }
    })
    test("the firmware opens every vector and decodes its body", () => {
        for (const f of V.frames) {
            const frame = Buffer.from(f.frame, "hex")
            const h = decodeHeader(frame)
            expect(h.counter).toBe(f.counter)
            expect(h.epoch).toBe(f.epoch)
            const body = openFrame(keyFor(f.direction, f.epoch), frame)
            expect(hex(body)).toBe(f.body)
            if (body[0] === BodyType.Report) expect(hex(encodeReport(decodeReport(body)))).toBe(f.body)
            else {
                const d = decodeDownlink(body)
                if (d.type === BodyType.Ack) expect(hex(encodeAck(d.ackSeq, d.upCounter))).toBe(f.body)
                else expect(hex(encodeCommand(d.command))).toBe(f.body)
            }
        }
    })
    test("the report vector decodes to its fields", () => {
        const r = decodeReport(Buffer.from(V.frames[0].body, "hex"))
        expect(r.checkpointSeq).toBe(42)
        expect(r.records.length).toBe(2)
        expect(r.records[1].seq).toBe(42)
        expect(r.alerts[0].kind).toBe(1)
        expect(r.responses[0].toString()).toBe("ok")
        const d = decodeDownlink(Buffer.from(V.frames[3].body, "hex"))
        expect(d.ackSeq).toBe(42)
        expect(d.upCounter).toBe(4294967295)
    })
    test("a flipped bit anywhere in a frame never opens", async () => {
        const f = V.frames[0]
        const key = keyFor(Direction.Uplink, 0)
        const frame = Buffer.from(f.frame, "hex")
        let opened = 0
        for (let i = 0; i < frame.length; i += 3) {
            const t = frame.slice(0)
            t[i] = t[i] ^ 0x01
            try {
                openFrame(key, t)
                opened++
            } catch (e) {}
        }
        expect(opened).toBe(0)
    })
    test("truncated, oversized, wrong-version and garbage frames are rejected", () => {
        const key = keyFor(Direction.Uplink, 0)
        const frame = Buffer.from(V.frames[0].frame, "hex")
        expect(threw(() => openFrame(key, frame.slice(0, 20)))).toBe(true)
        expect(threw(() => openFrame(key, frame.slice(0, frame.length - 1)))).toBe(true)
        expect(threw(() => openFrame(key, Buffer.alloc(3000)))).toBe(true)
        const v2 = frame.slice(0)
        v2[0] = 2
        expect(threw(() => openFrame(key, v2))).toBe(true)
        expect(threw(() => openFrame(key, Buffer.alloc(0)))).toBe(true)
        expect(threw(() => decodeReport(Buffer.from("01ff00", "hex")))).toBe(true)
        expect(threw(() => decodeDownlink(Buffer.from("8100", "hex")))).toBe(true)
    })
    test("a frame re-labelled as another meter, epoch or direction does not open", () => {
        const frame = Buffer.from(V.frames[0].frame, "hex")
        // the header says epoch 7 but the body was sealed under epoch 0: key differs
        const e7 = frame.slice(0)
        e7[13] = 7
        expect(threw(() => openFrame(keyFor(Direction.Uplink, 7), e7))).toBe(true)
        // an uplink frame presented as a downlink (reflection) under the downlink key
        const dn = frame.slice(0)
        dn[1] = Direction.Downlink
        expect(threw(() => openFrame(keyFor(Direction.Downlink, 0), dn))).toBe(true)
    })
})
