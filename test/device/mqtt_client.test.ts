import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { MqttConst, MqttPacket, decodePublish, encodeConnect, encodePacket, encodePublish, encodeSubscribe, packetLength } from "../../src/comms/mqtt_client"

// The MQTT 3.1.1 codec of src/comms/mqtt_client.ts against bytes computed by hand from the
// OASIS standard (section numbers next to each vector). The broker path (socket, CONNACK,
// SUBACK, pings, reconnect) is exercised by test/node/e2e_uplink_*.test.ts with mosquitto.

const hex = (b: Buffer) => b.toString("hex")
const H = (s: string) => Buffer.from(s, "hex")
const MAX = MqttConst.MaxRemaining

/**
 * A PUBLISH with an n-byte body: its remaining-length bytes (k of them), its length and
 * what packetLength reads, as one line. Its buffers (up to 2 × 16 KB) die when it returns:
 * a loop that kept the last packet in a local held three of them at once, which a 64 KB
 * device heap without the test mode's GC stress could not place (OutOfMemory on
 * `npm run test:hil -- --sim`).
 */
function remainingLengthCase(n: number, k: number): string {
    const p = encodePacket(MqttPacket.Publish, Buffer.alloc(n))
    return `${hex(p.slice(1, 1 + k))} ${p.length} ${packetLength(p, 20000)}`
}

/** What the client's reader does with a byte stream: whole packets in order, or "drop". */
function frames(chunks: Buffer[]): string[] {
    const out: string[] = []
    let rx = Buffer.alloc(0)
    for (const c of chunks) {
        rx = rx.concat(c)
        for (;;) {
            const n = packetLength(rx, MAX)
            if (n < 0) {
                out.push("drop")
                return out
            }
            if (n === 0) break
            out.push(hex(rx.slice(0, n)))
            rx = rx.slice(n)
        }
    }
    return out
}

describe("mqtt codec: encoding (byte-exact)", () => {
    test("CONNECT without credentials (§3.1: 'MQTT', level 4, clean session, keep-alive)", () => {
        // 10 10 | 00 04 'MQTT' | 04 | flags 02 | keep-alive 00 ff | 00 04 'tm-1'
        expect(hex(encodeConnect("tm-1", 255))).toBe("101000044d5154540402" + "00ff" + "0004746d2d31")
    })
    test("CONNECT with user name and password (§3.1.2.8/9: flags c2, payload order)", () => {
        expect(hex(encodeConnect("tm-1", 30, "u", "p"))).toBe("101600044d51545404c2001e0004746d2d31" + "000175" + "000170")
    })
    test("CONNECT with a user name only, and a password without a user name is not sent (§3.1.2.9)", () => {
        expect(hex(encodeConnect("tm-1", 300, "u"))).toBe("101300044d5154540482012c0004746d2d31000175")
        expect(hex(encodeConnect("tm-1", 255, undefined, "p"))).toBe("101000044d5154540402" + "00ff" + "0004746d2d31")
    })
    test("PUBLISH QoS 0 (§3.3: no packet id) to a meter's uplink topic", () => {
        expect(hex(encodePublish("u/flcAAAAAAAE", H("010203")))).toBe("3012000d752f666c634141414141414145010203")
    })
    test("PUBLISH with a two-byte remaining length (§2.2.3: 203 = cb 01)", () => {
        const p = encodePublish("t", Buffer.alloc(200))
        expect(p.length).toBe(206)
        expect(hex(p.slice(0, 6))).toBe("30cb01000174")
    })
    test("SUBSCRIBE (§3.8.1: flags 0010, packet id, filter, QoS 0)", () => {
        expect(hex(encodeSubscribe(1, "d/x"))).toBe("82080001" + "0003642f78" + "00")
    })
    test("PINGREQ and DISCONNECT (§3.12, §3.14)", () => {
        expect(hex(encodePacket(MqttPacket.PingReq, Buffer.alloc(0)))).toBe("c000")
        expect(hex(encodePacket(MqttPacket.Disconnect, Buffer.alloc(0)))).toBe("e000")
    })
    test("remaining length at the §2.2.3 table's boundaries", () => {
        const cases = [0, "00", 127, "7f", 128, "8001", 16383, "ff7f", 16384, "808001"]
        for (let i = 0; i < cases.length; i += 2) {
            const n = cases[i] as number
            const enc = cases[i + 1] as string
            const total = 1 + enc.length / 2 + n
            // the header, the packet's length, and the decoder reading it back (with a large enough bound)
            expect(remainingLengthCase(n, enc.length / 2)).toBe(`${enc} ${total} ${total}`)
        }
    })
})

describe("mqtt codec: framing of TCP reads", () => {
    // CONNACK accepted, SUBACK (id 1, QoS 0), PUBLISH d/x "hi", PINGRESP
    const stream = ["20020000", "9003000100", "3007000364" + "2f78" + "6869", "d000"]
    const all = H(stream.join(""))

    test("merged: four packets in one read", () => {
        expect(frames([all]).join(",")).toBe(stream.join(","))
    })
    test("split: every cut into two reads, and one byte per read", () => {
        for (let cut = 0; cut <= all.length; cut++) {
            expect(frames([all.slice(0, cut), all.slice(cut)]).join(",")).toBe(stream.join(","))
        }
        const bytes: Buffer[] = []
        for (let i = 0; i < all.length; i++) bytes.push(all.slice(i, i + 1))
        expect(frames(bytes).join(",")).toBe(stream.join(","))
    })
    test("incomplete header or body waits for more bytes", () => {
        expect(packetLength(Buffer.alloc(0), MAX)).toBe(0)
        expect(packetLength(H("30"), MAX)).toBe(0)
        expect(packetLength(H("3080"), MAX)).toBe(0)
        expect(packetLength(H("30050001"), MAX)).toBe(0)
        expect(packetLength(H("d000d000"), MAX)).toBe(2)
    })
    test("the server's CONNACK, SUBACK and PUBLISH as the client's constants expect", () => {
        // CONNACK bytes 2..3 and SUBACK bytes 1..4 are compared as integers by the client
        expect(H(stream[0]).getAt(2, "u16")).toBe(MqttConst.ConnAccepted)
        expect(H(stream[1]).getAt(1, "u32")).toBe(MqttConst.SubAckGranted)
        expect(H("20020005").getAt(2, "u16") === MqttConst.ConnAccepted).toBe(false) // not authorized
        expect(H("20020100").getAt(2, "u16") === MqttConst.ConnAccepted).toBe(false) // session present
        expect(H("9003000180").getAt(1, "u32") === MqttConst.SubAckGranted).toBe(false) // failure
    })
})

describe("mqtt codec: oversized and malformed input", () => {
    test("remaining length above the bound is refused from its header alone", () => {
        // 2176 = 80 11 is the largest accepted; 2177 = 81 11 is refused before any body byte
        const ok = Buffer.concat(H("308011"), Buffer.alloc(MAX))
        expect(packetLength(ok, MAX)).toBe(3 + MAX)
        expect(packetLength(ok.slice(0, ok.length - 1), MAX)).toBe(0)
        expect(packetLength(H("308111"), MAX)).toBe(-1)
        expect(packetLength(H("30ffffff7f"), MAX)).toBe(-1)
        expect(frames([H("d000"), H("30ff7f"), H("d000")]).join(",")).toBe("d000,drop")
    })
    test("a fifth remaining-length byte is malformed (§2.2.3)", () => {
        expect(packetLength(H("308080808001"), 1000000000)).toBe(-1)
        expect(packetLength(H("3080808080"), 1000000000)).toBe(-1)
    })
    test("decodePublish: topic and payload, retained flag allowed", () => {
        const m = decodePublish(H("3007000364" + "2f78" + "6869"))
        expect(m.topic).toBe("d/x")
        expect(hex(m.payload)).toBe("6869")
        const r = decodePublish(H("310500036478" + "79"))
        expect(r.topic).toBe("dxy")
        expect(hex(r.payload)).toBe("")
        const big = decodePublish(encodePublish("d/x", Buffer.alloc(300)))
        expect(big.topic).toBe("d/x")
        expect(big.payload.length).toBe(300)
    })
    test("decodePublish refuses QoS > 0, DUP, other types, overrunning or cut topics", () => {
        expect(decodePublish(H("32070003642f780001"))).toBe(null) // QoS 1: never granted
        expect(decodePublish(H("34070003642f780001"))).toBe(null) // QoS 2
        expect(decodePublish(H("3807" + "0003642f786869"))).toBe(null) // DUP on QoS 0 (§3.3.1.1)
        expect(decodePublish(H("2007" + "0003642f786869"))).toBe(null) // not a PUBLISH
        expect(decodePublish(H("3003" + "0005" + "61"))).toBe(null) // topic longer than the packet
        expect(decodePublish(H("3001" + "00"))).toBe(null) // cut inside the topic length
        expect(decodePublish(H("30"))).toBe(null)
    })
    test("random bytes never throw and never yield a packet longer than the input", async () => {
        let x = 12345
        for (let k = 0; k < 300; k++) {
            const len = k % 12
            const b = Buffer.alloc(len)
            for (let i = 0; i < len; i++) {
                x = (x * 75 + 74) % 65537
                b[i] = x & 255
            }
            const n = packetLength(b, MAX)
            expect(n <= len).toBe(true)
            if (n > 0) decodePublish(b.slice(0, n))
            if (k % 50 === 0) await ds.sleep(0)
        }
    })
})
