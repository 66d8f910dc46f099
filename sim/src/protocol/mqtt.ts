/**
 * A meter's MQTT connection, byte for byte what the firmware's client sends
 * (src/comms/mqtt_client.ts, MQTT 3.1.1 OASIS 2014; docs/uplink.md §15): CONNECT with a
 * clean session, client id `tm-<meter id>`, keep-alive 255 s, and SUBSCRIBE `d/<id>` at
 * QoS 0 in the same write; CONNACK `20 02 00 00` and SUBACK `90 03 00 01 00` exactly;
 * QoS 0 PUBLISH both ways; PINGREQ after 0.9 × keep-alive without sending. Anything else
 * closes the connection, and the link reconnects with the firmware's backoff (MqttLink:
 * ceiling 1 s · 2^attempt up to 60 s, delay = ceil/2 + random·ceil/2).
 *
 * Thousands of these run in one process: no timers of their own, the fleet's tick drives
 * connects, timeouts and pings (`maintain`), one socket each.
 */
import { Socket, connect } from "node:net"
import { downlinkTopic, uplinkTopic } from "../../../src/wire/report"
import type { MeterLink } from "./meter.ts"

/** Packet types (MQTT 3.1.1 §2.2.1) the meter uses. */
const enum Packet {
    Connect = 0x10,
    ConnAck = 0x20,
    Publish = 0x30,
    Subscribe = 0x82,
    SubAck = 0x90,
    PingReq = 0xc0,
    PingResp = 0xd0,
    Disconnect = 0xe0,
}

/** Incoming remaining length bound (a 2048-byte downlink frame plus its topic), as the firmware. */
const MAX_REMAINING = 2176

/** A packet: the fixed header (type, remaining length §2.2.3) and the body. */
function packet(first: number, body: Buffer): Buffer {
    const h = [first]
    let n = body.length
    do {
        const d = n & 127
        n >>= 7
        h.push(n > 0 ? d | 128 : d)
    } while (n > 0)
    return Buffer.concat([Buffer.from(h), body])
}

function str(s: string): Buffer {
    const b = Buffer.from(s)
    const l = Buffer.alloc(2)
    l.writeUInt16BE(b.length)
    return Buffer.concat([l, b])
}

/** CONNECT (§3.1) + SUBSCRIBE (§3.8) as the firmware writes them, in one buffer. */
export function connectBytes(clientId: string, keepAliveS: number, subscribe: string, user?: string, pass?: string): Buffer {
    let flags = 0x02
    const payload = [str(clientId)]
    if (user) {
        flags |= 0x80
        payload.push(str(user))
        if (pass) {
            flags |= 0x40
            payload.push(str(pass))
        }
    }
    const vh = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, keepAliveS >> 8, keepAliveS & 255])
    const conn = packet(Packet.Connect, Buffer.concat([vh, ...payload]))
    const sub = packet(Packet.Subscribe, Buffer.concat([Buffer.from([0, 1]), str(subscribe), Buffer.from([0])]))
    return Buffer.concat([conn, sub])
}

export interface ConnectionOptions {
    host: string
    port: number
    meterIdHex: string
    keepAliveS?: number
    username?: string
    password?: string
    /** handed every downlink frame (the payload of a PUBLISH on `d/<id>`) */
    onFrame(frame: Buffer): void
    /** the connection became usable (after SUBACK) */
    onReady?(): void
}

type State = "idle" | "connecting" | "ready" | "backoff"

export class MeterConnection implements MeterLink {
    /** connections made and attempts that failed, since the start */
    connects = 0
    failures = 0
    bytesOut = 0
    bytesIn = 0
    /** false: the network is down for this meter (an outage): no connection can be made */
    network = true
    private state: State = "idle"
    private sock?: Socket
    private rx = Buffer.alloc(0)
    private deadline = 0
    private retryAt = 0
    private attempt = 0
    private lastSent = 0
    private pinged = false
    private queued: Buffer[] = []
    private readonly up: string
    private readonly down: string
    private readonly keepAliveMs: number

    constructor(private o: ConnectionOptions) {
        this.up = uplinkTopic(o.meterIdHex)
        this.down = downlinkTopic(o.meterIdHex)
        this.keepAliveMs = (o.keepAliveS ?? 255) * 1000
    }

    connected(): boolean {
        return this.state === "ready"
    }

    publish(frame: Buffer): boolean {
        if (this.state !== "ready" || !this.sock) return false
        const topic = str(this.up)
        this.send(packet(Packet.Publish, Buffer.concat([topic, frame])))
        return true
    }

    /** MqttLink.reconnect: drop the connection and connect again at once (not a failure: no backoff). */
    /** Publishes on another topic (the fleet's attacker); queued until the connection is ready. */
    publishTo(topic: string, payload: Buffer) {
        const p = packet(Packet.Publish, Buffer.concat([str(topic), payload]))
        if (this.state === "ready" && this.sock) this.send(p)
        else this.queued.push(p)
    }

    reconnect(): void {
        this.drop(0)
    }

    /** Closes for good (DISCONNECT first when connected). */
    close() {
        if (this.sock && this.state === "ready") this.sock.end(packet(Packet.Disconnect, Buffer.alloc(0)))
        this.sock?.destroy()
        this.sock = undefined
        this.state = "idle"
        this.retryAt = Infinity
    }

    /** Takes the network away (an outage) or gives it back. */
    setNetwork(up: boolean, realMs = Date.now()) {
        this.network = up
        if (!up) this.drop(this.backoff())
        else if (this.state === "backoff") this.retryAt = Math.min(this.retryAt, realMs + 1000 + Math.random() * 1000)
    }

    /** Starts connecting at `realMs` (the fleet staggers a large fleet's first connects). */
    start(realMs: number) {
        this.state = "backoff"
        this.retryAt = realMs
    }

    /** The real ms at which `maintain` has something to do (a retry, a timeout, a ping). */
    due(): number {
        if (this.state === "backoff") return this.retryAt
        if (this.state === "connecting") return this.deadline
        if (this.state === "ready") return this.lastSent + this.keepAliveMs * 0.9
        return Infinity
    }

    /** The connection's timers: connect and CONNACK/SUBACK timeout (10 s), reconnect backoff, keep-alive pings. */
    maintain(realMs: number) {
        if (this.state === "backoff" && realMs >= this.retryAt) this.open(realMs)
        else if (this.state === "connecting" && realMs > this.deadline) this.fail()
        else if (this.state === "ready" && realMs - this.lastSent >= this.keepAliveMs * 0.9) {
            // an unanswered PINGREQ for a whole period closes the connection (src/comms/mqtt_client.ts)
            if (this.pinged) return this.fail()
            this.pinged = true
            this.send(packet(Packet.PingReq, Buffer.alloc(0)))
        }
    }

    private open(realMs: number) {
        if (!this.network) return this.fail()
        this.state = "connecting"
        this.deadline = realMs + 10_000
        this.rx = Buffer.alloc(0)
        this.pinged = false
        const s = connect({ host: this.o.host, port: this.o.port, noDelay: true })
        this.sock = s
        s.on("connect", () => {
            if (this.sock !== s) return
            this.send(connectBytes(`tm-${this.o.meterIdHex}`, this.keepAliveMs / 1000, this.down, this.o.username, this.o.password))
        })
        s.on("data", d => {
            if (this.sock !== s) return
            this.bytesIn += d.length
            this.rx = this.rx.length ? Buffer.concat([this.rx, d]) : d
            this.parse()
        })
        s.on("error", () => {})
        s.on("close", () => {
            if (this.sock === s) this.fail()
        })
    }

    private send(b: Buffer) {
        this.bytesOut += b.length
        this.lastSent = Date.now()
        this.sock!.write(b)
    }

    /** Cuts the buffer into whole packets and handles them in order. */
    private parse() {
        for (;;) {
            const b = this.rx
            if (b.length < 2) return
            let len = 0
            let mul = 1
            let i = 1
            for (; ; i++) {
                if (i >= b.length) return
                if (i > 4) return this.fail()
                len += (b[i] & 127) * mul
                mul *= 128
                if ((b[i] & 128) === 0) break
            }
            if (len > MAX_REMAINING) return this.fail()
            const end = i + 1 + len
            if (b.length < end) return
            const type = b[0]
            const body = b.subarray(i + 1, end)
            this.rx = b.subarray(end)
            if (!this.handle(type, body)) return this.fail()
        }
    }

    private handle(type: number, body: Buffer): boolean {
        if (type === Packet.ConnAck) return this.state === "connecting" && body.length === 2 && body[0] === 0 && body[1] === 0
        if (type === Packet.SubAck) {
            if (this.state !== "connecting" || body.length !== 3 || body[0] !== 0 || body[1] !== 1 || body[2] !== 0) return false
            this.state = "ready"
            this.attempt = 0
            this.connects++
            for (const p of this.queued.splice(0)) this.send(p)
            this.o.onReady?.()
            return true
        }
        if (type === Packet.PingResp) {
            this.pinged = false
            return true
        }
        if (type === Packet.Publish) {
            // QoS 0 only, no DUP: anything else is a protocol violation (never granted)
            if (body.length < 2) return false
            const tl = body.readUInt16BE(0)
            if (2 + tl > body.length) return false
            try {
                this.o.onFrame(Buffer.from(body.subarray(2 + tl)))
            } catch {
                // a failing handler must not drop the connection (as the firmware)
            }
            return true
        }
        return false
    }

    private fail() {
        this.failures++
        this.drop(this.backoff())
    }

    /** The delay before the next attempt (MqttLink backoffDelay: full jitter over 1 s · 2^attempt, at most 60 s). */
    private backoff(): number {
        let ceil = 1000
        for (let i = 0; i < this.attempt && ceil < 60_000; i++) ceil *= 2
        ceil = Math.min(ceil, 60_000)
        if (this.attempt < 30) this.attempt++
        return Math.floor(ceil / 2 + (Math.random() * ceil) / 2)
    }

    /** Closes the socket and schedules the next attempt `delayMs` from now. */
    private drop(delayMs: number) {
        const s = this.sock
        this.sock = undefined
        s?.destroy()
        this.state = "backoff"
        this.retryAt = Date.now() + delayMs
    }
}
