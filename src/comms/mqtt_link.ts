import * as ds from "@devicescript/core"
import { MqttClient } from "./mqtt_client"
import { UplinkTransport } from "./uplink"
import { downlinkTopic, uplinkTopic } from "../wire/report"

/**
 * The uplink's MQTT link (docs/uplink.md §9): one broker connection with QoS 0, topics
 * `u/<id>` (meter → head-end) and `d/<id>` (head-end → meter: acks and commands), `<id>` =
 * the meter id in base64url, reconnect with exponential backoff and full jitter.
 * TLS (`proto: "tls"`) only hides metadata; frames are protected end to end either way.
 */
export interface BrokerConfig {
    host: string
    port: number
    /** "tcp" or "tls" */
    proto: string
    username?: string
    password?: string
    /** MQTT keep-alive in seconds, ≤ 255 (default 255: fewest pings on the wire) */
    keepAliveS?: number
    /** first retry delay (default 1000 ms); doubles up to maxBackoffMs (default 60000) */
    minBackoffMs?: number
    maxBackoffMs?: number
}

/** Delay before retry `attempt` (0-based): full jitter over an exponential ceiling. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: number): number {
    let ceil = minMs
    for (let i = 0; i < attempt && ceil < maxMs; i++) ceil *= 2
    if (ceil > maxMs) ceil = maxMs
    // half fixed, half random: never a hot loop, and a fleet does not reconnect in step
    return Math.floor(ceil / 2 + (random * ceil) / 2)
}

export class MqttLink implements UplinkTransport {
    /** connection attempts that failed, since boot */
    failures = 0
    /** successful connections, since boot */
    connects = 0
    private cfg: BrokerConfig
    private id: string
    private client: MqttClient
    private handler: (f: Buffer) => Promise<void>
    private kick = ds.emitter<number>()
    private connected = false
    private started = false

    constructor(cfg: BrokerConfig, meterIdHex: string) {
        this.cfg = cfg
        this.id = meterIdHex
    }

    onDownlink(handler: (frame: Buffer) => Promise<void>) {
        this.handler = handler
    }

    isConnected() {
        return this.connected && !!this.client && this.client.connected
    }

    /** Starts the connection loop (returns at once; connects in the background). */
    start() {
        if (this.started) return
        this.started = true
        const self = this
        setTimeout(async () => {
            let attempt = 0
            const cfg = self.cfg
            for (;;) {
                if (!self.isConnected()) {
                    self.connected = false
                    const old = self.client
                    self.client = undefined
                    if (old) await old.disconnect()
                    const c = new MqttClient({
                        host: cfg.host,
                        port: cfg.port,
                        proto: cfg.proto,
                        username: cfg.username,
                        password: cfg.password,
                        clientId: `tm-${self.id}`,
                        keepAliveS: cfg.keepAliveS || 255,
                        subscribe: downlinkTopic(self.id),
                        timeout: 10000,
                    })
                    // a lost connection shows as c.connected = false: this loop polls it every second
                    c.onMessage = async (topic: string, payload: Buffer) => {
                        if (self.handler) await self.handler(payload)
                    }
                    if (await c.connect()) {
                        self.client = c
                        self.connected = true
                        console.log(`uplink: connected to ${cfg.host}:${cfg.port}`)
                        attempt = 0
                        self.connects++
                    } else {
                        self.failures++
                        const d = backoffDelay(attempt, cfg.minBackoffMs || 1000, cfg.maxBackoffMs || 60000, Math.random())
                        if (attempt < 30) attempt++
                        console.log(`uplink: broker ${cfg.host}:${cfg.port} unreachable, retry in ${d} ms`)
                        await ds.sleep(d)
                        continue
                    }
                }
                await ds.wait(self.kick, 1000)
            }
        }, 0)
    }

    async publish(frame: Buffer): Promise<boolean> {
        if (!this.isConnected()) return false
        try {
            const ok = await this.client.publish(uplinkTopic(this.id), frame)
            if (!ok) await this.reconnect()
            return ok
        } catch (e) {
            await this.reconnect()
            return false
        }
    }

    /** Drops the connection; the loop connects again. */
    async reconnect() {
        this.connected = false
        const c = this.client
        this.client = undefined
        if (c) await c.disconnect()
        this.kick.emit(1)
    }
}
