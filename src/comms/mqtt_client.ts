import * as ds from "@devicescript/core"
import { Socket, SocketConnectOptions, connect } from "@devicescript/net"

/**
 * A minimal MQTT 3.1.1 client (OASIS standard, 29 October 2014) for the uplink: clean
 * session, QoS 0 only, one subscription. It replaces `@devicescript/net`'s MQTTClient
 * (~6 KB of bytecode with the observables it pulls in) because the runtime refuses images
 * whose function code ends beyond 64 KB (docs/uplink.md "MQTT client").
 *
 * The codec (`encode*`, `packetLength`, `decodePublish`) is pure and tested byte for byte
 * (test/device/mqtt_client.test.ts); `MqttClient` is the socket shell around it.
 */
export interface MqttOptions {
    host: string
    port: number
    /** "tcp" or "tls" */
    proto: string
    clientId: string
    /** §3.1.2.10, seconds (1..65535): a PINGREQ goes out after 0.9 × this without sending */
    keepAliveS: number
    username?: string
    password?: string
    /** the topic filter subscribed at QoS 0 right after CONNECT (§3.8) */
    subscribe: string
    /** ms allowed for the socket connect, then again for CONNACK and SUBACK (default 10000) */
    timeout?: number
}

/** An incoming application message (§3.3). */
export interface MqttMessage {
    topic: string
    payload: Buffer
}

/** Fixed-header first bytes, type in the high nibble (§2.2.1) with its flags (§2.2.2). */
export const enum MqttPacket {
    Connect = 0x10, // §3.1
    ConnAck = 0x20, // §3.2
    Publish = 0x30, // §3.3: QoS 0, DUP 0, RETAIN 0 (§3.3.1)
    Subscribe = 0x82, // §3.8.1: flags 0010 are mandatory
    SubAck = 0x90, // §3.9
    PingReq = 0xc0, // §3.12
    PingResp = 0xd0, // §3.13
    Disconnect = 0xe0, // §3.14
}

/** Wire constants and the client's own bounds. */
export const enum MqttConst {
    ProtocolLevel = 4, // §3.1.2.2: 3.1.1
    FlagUserName = 0x80, // §3.1.2.8
    FlagPassword = 0x40, // §3.1.2.9
    FlagCleanSession = 0x02, // §3.1.2.4
    /** CONNACK bytes 2..3 (§3.2.2): session present 0 (clean session, §3.2.2.2), return code 0 (§3.2.2.3) */
    ConnAccepted = 0,
    SubAckFailure = 0x80, // §3.9.3
    SubscribePacketId = 1, // §2.3.1: non-zero; only one SUBSCRIBE per connection
    /** SUBACK bytes 1..4 as u32 little-endian: 03, 00 01 (packet id), 00 (QoS 0 granted, §3.9.3) */
    SubAckGranted = 0x00010003,
    /** incoming remaining length bound: a downlink frame (≤ 2048, frame.ts) plus its topic */
    MaxRemaining = 2176,
}

/** Fixed header (§2.2) + remaining length (§2.2.3, 1..4 bytes of 7 bits, low first) + body. */
export function encodePacket(first: number, body: Buffer): Buffer {
    const h = [first]
    let n = body.length
    for (;;) {
        const d = n & 127
        n = n >> 7
        h.push(n > 0 ? d + 128 : d)
        if (n === 0) break
    }
    return Buffer.from(h).concat(body)
}

/** CONNECT (§3.1): protocol "MQTT" level 4, clean session, optional user name/password. */
export function encodeConnect(clientId: string, keepAliveS: number, username?: string, password?: string): Buffer {
    let flags = MqttConst.FlagCleanSession
    let tail = Buffer.alloc(0)
    // §3.1.2.9: a password is only allowed together with a user name
    if (username) {
        flags += MqttConst.FlagUserName
        tail = mqttString(username)
        if (password) {
            flags += MqttConst.FlagPassword
            tail = tail.concat(mqttString(password))
        }
    }
    // §3.1.2.1 protocol name "MQTT", level, flags, keep-alive u16 big-endian
    const v = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, MqttConst.ProtocolLevel, flags, keepAliveS >> 8, keepAliveS & 255])
    return encodePacket(MqttPacket.Connect, Buffer.concat(v, mqttString(clientId), tail))
}

/** PUBLISH at QoS 0 (§3.3): topic name, no packet identifier (§3.3.2.2), then the payload. */
export function encodePublish(topic: string, payload: Buffer): Buffer {
    return encodePacket(MqttPacket.Publish, mqttString(topic).concat(payload))
}

/** SUBSCRIBE (§3.8) of one topic filter at requested QoS 0. */
export function encodeSubscribe(packetId: number, filter: string): Buffer {
    // packet id (§3.8.2), filter, requested QoS 0 (§3.8.3)
    const id = Buffer.from([packetId >> 8, packetId & 255])
    return encodePacket(MqttPacket.Subscribe, Buffer.concat(id, mqttString(filter), Buffer.alloc(1)))
}

/**
 * Length of the first whole packet in `buf`: > 0 when complete, 0 when more bytes are
 * needed, -1 when the remaining length is malformed (a 5th length byte, §2.2.3) or above
 * `maxRemaining` — then the connection must be dropped, nothing of it buffered.
 */
export function packetLength(buf: Buffer, maxRemaining: number): number {
    let n = 0
    let mul = 1
    for (let i = 1; i < 5; i++) {
        if (i >= buf.length) return 0
        const d = buf[i]
        n += (d & 127) * mul
        if (n > maxRemaining) return -1
        if (d < 128) return buf.length >= i + 1 + n ? i + 1 + n : 0
        mul *= 128
    }
    return -1
}

/**
 * Topic and payload of a whole PUBLISH packet, or null when it is not a QoS 0 PUBLISH
 * (we subscribe at QoS 0, so the server may not send more, §3.8.4) or its topic overruns.
 */
export function decodePublish(p: Buffer): MqttMessage {
    // RETAIN (bit 0) may be set on a retained message; DUP and QoS must be 0 (§3.3.1)
    if ((p[0] & 0xfe) !== MqttPacket.Publish) return null
    let off = 1
    while (p[off] > 127) off++
    off++
    const end = off + 2 + p[off] * 256 + p[off + 1]
    // also false for NaN: a packet cut inside its topic length
    if (!(end <= p.length)) return null
    return { topic: p.slice(off + 2, end).toString("utf-8"), payload: p.slice(end) }
}

/**
 * One broker connection with one subscription. Any socket error, timeout, oversized or malformed packet or
 * protocol violation closes it and leaves `connected` false for good: the owner polls
 * `connected` and makes a new client (MqttLink, with its backoff).
 */
export class MqttClient {
    /** true from an accepted CONNACK (and SUBACK) until the connection is lost or closed */
    connected = false
    /** called with each incoming application message on the subscribed topic */
    onMessage: (topic: string, payload: Buffer) => Promise<void>
    private opt: MqttOptions
    private sock: Socket
    private rx: Buffer
    private lastTx: number
    private pinged: boolean
    private subPending: boolean

    constructor(opt: MqttOptions) {
        this.opt = opt
    }

    /** Opens the socket, CONNECT (+ SUBSCRIBE), waits for CONNACK/SUBACK; false on any failure. */
    async connect(): Promise<boolean> {
        const o = this.opt
        try {
            this.rx = Buffer.alloc(0)
            this.sock = await connect(o as SocketConnectOptions)
            this.subPending = true
            // §3.1.4: packets may follow the CONNECT before the CONNACK: one write for both
            await this.send(encodeConnect(o.clientId, o.keepAliveS, o.username, o.password).concat(encodeSubscribe(MqttConst.SubscribePacketId, o.subscribe)))
            const until = ds.millis() + (o.timeout || 10000)
            while (!this.connected || this.subPending) {
                const p = await this.next(until - ds.millis())
                if (!p || !(await this.handle(p))) throw new Error("refused")
            }
        } catch (e) {
            await this.drop()
            return false
        }
        // a fiber of its own (a method reference is bound to its object in the VM)
        this.pump.start(this.sock)
        return true
    }

    /** PUBLISH at QoS 0; false (and the connection dropped) if it could not be written. */
    async publish(topic: string, payload: Buffer): Promise<boolean> {
        if (!this.connected) return false
        try {
            await this.send(encodePublish(topic, payload))
            return true
        } catch (e) {
            await this.drop()
            return false
        }
    }

    /** DISCONNECT (§3.14) and close the socket. */
    async disconnect() {
        if (this.connected) {
            try {
                await this.send(hex`e000`) // DISCONNECT, remaining length 0 (§3.14)
            } catch (e) {}
        }
        await this.drop()
    }

    private async send(b: Buffer) {
        this.lastTx = ds.millis()
        await this.sock.send(b)
    }

    private async drop() {
        this.connected = false
        const s = this.sock
        this.sock = undefined
        if (s) await s.close()
    }

    /** The next whole packet; undefined on timeout, null when the connection is unusable. */
    private async next(timeoutMs: number): Promise<Buffer> {
        for (;;) {
            const n = packetLength(this.rx, MqttConst.MaxRemaining)
            if (n < 0) return null
            if (n > 0) {
                const p = this.rx.slice(0, n)
                this.rx = this.rx.slice(n)
                return p
            }
            if (timeoutMs <= 0) return undefined
            const d = await this.sock.recv(timeoutMs)
            if (!d) return d
            this.rx = this.rx.concat(d)
        }
    }

    /** Acts on one incoming packet; false on a protocol violation or refusal. */
    private async handle(p: Buffer): Promise<boolean> {
        const t = p[0]
        if (!this.connected) {
            // §3.2: the first packet is a CONNACK with remaining length 2
            this.connected = t === MqttPacket.ConnAck && p.length === 4 && p.getAt(2, "u16") === MqttConst.ConnAccepted
            return this.connected
        }
        if (t === MqttPacket.SubAck) {
            // §3.9: remaining length 3, our packet id 1, one return code: QoS 0 granted
            this.subPending = false
            return p.length === 5 && p.getAt(1, "u32") === MqttConst.SubAckGranted
        }
        if (t === MqttPacket.PingResp) {
            this.pinged = false
            return p.length === 2
        }
        const m = decodePublish(p)
        if (!m) return false
        try {
            // the handler's own failure is no reason to drop the broker
            if (this.onMessage) await this.onMessage(m.topic, m.payload)
        } catch (e) {}
        return true
    }

    /** Reads and dispatches until the connection drops; keeps the session alive (§3.1.2.10). */
    private async pump(s: Socket) {
        try {
            const period = this.opt.keepAliveS * 900
            while (this.sock === s) {
                const wait = this.lastTx + period - ds.millis()
                if (wait <= 0) {
                    // a PINGREQ unanswered for a whole period: the link is dead (§3.1.2.10)
                    if (this.pinged) break
                    this.pinged = true
                    await this.send(hex`c000`) // PINGREQ, remaining length 0 (§3.12)
                    continue
                }
                const p = await this.next(wait)
                if (p === undefined) continue
                if (!p || !(await this.handle(p))) break
            }
        } catch (e) {}
        if (this.sock === s) await this.drop()
    }
}

/** UTF-8 string with its u16 big-endian length (§1.5.3). */
function mqttString(s: string): Buffer {
    const b = Buffer.from(s)
    return Buffer.from([b.length >> 8, b.length & 255]).concat(b)
}
