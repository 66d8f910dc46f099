/**
 * The byte counter of the uplink wire bench (bench/node/uplink_bytes.bench.ts): a TCP
 * proxy in front of the MQTT broker that every client (meters and head-end) connects
 * through. It forwards bytes unchanged and logs every whole MQTT control packet with its
 * time, direction, type and size, attributed to the client id of the connection's CONNECT.
 */
import { createServer, connect, Socket } from "node:net"
import { MqttSplitter } from "../../test/firmware/uplink_e2e.ts"

/** MQTT 3.1.1 control packet types (§2.2.1). */
export const PacketType = { Connect: 1, ConnAck: 2, Publish: 3, Subscribe: 8, SubAck: 9, PingReq: 12, PingResp: 13, Disconnect: 14 } as const

export interface WirePacket {
    /** Date.now() when the proxy saw the whole packet */
    t: number
    /** "up": client → broker; "down": broker → client */
    dir: "up" | "down"
    type: number
    /** the whole control packet: fixed header, variable header, payload */
    bytes: number
}

export interface WireConnection {
    /** the client id of its CONNECT ("" until it arrived) */
    clientId: string
    /** the keep-alive of its CONNECT, seconds */
    keepAliveS: number
    packets: WirePacket[]
}

/** Reads client id and keep-alive from a CONNECT packet (MQTT 3.1.1 §3.1). */
export function parseConnect(p: Buffer): { clientId: string; keepAliveS: number } {
    let i = 1
    while (p[i] & 128) i++
    const v = i + 1 // variable header: protocol name (2 + 4), level, flags, keep-alive (2)
    const nameLen = p.readUInt16BE(v)
    const ka = v + 2 + nameLen + 2
    const idLen = p.readUInt16BE(ka + 2)
    return { keepAliveS: p.readUInt16BE(ka), clientId: p.subarray(ka + 4, ka + 4 + idLen).toString() }
}

export interface WireCounter {
    host: string
    port: number
    url: string
    connections: WireConnection[]
    /** the packets of every connection of `clientId` with `from <= t < to` */
    packets(clientId: string, from?: number, to?: number): WirePacket[]
    close(): Promise<void>
}

export async function startWireCounter(broker: { host: string; port: number }): Promise<WireCounter> {
    const connections: WireConnection[] = []
    const sockets = new Set<Socket>()
    const server = createServer(client => {
        const upstream = connect(broker.port, broker.host)
        sockets.add(client)
        sockets.add(upstream)
        const c: WireConnection = { clientId: "", keepAliveS: 0, packets: [] }
        connections.push(c)
        const up = new MqttSplitter()
        const down = new MqttSplitter()
        client.on("data", d => {
            for (const p of up.push(d)) {
                const type = p[0] >> 4
                if (type === PacketType.Connect) Object.assign(c, parseConnect(p))
                c.packets.push({ t: Date.now(), dir: "up", type, bytes: p.length })
            }
            upstream.write(d)
        })
        upstream.on("data", d => {
            for (const p of down.push(d)) c.packets.push({ t: Date.now(), dir: "down", type: p[0] >> 4, bytes: p.length })
            client.write(d)
        })
        const end = () => {
            client.destroy()
            upstream.destroy()
        }
        for (const s of [client, upstream]) {
            s.on("error", end)
            s.on("close", end)
            s.on("close", () => sockets.delete(s))
        }
    })
    await new Promise<void>(r => server.listen(0, "127.0.0.1", () => r()))
    const port = (server.address() as { port: number }).port
    return {
        host: "127.0.0.1",
        port,
        url: `mqtt://127.0.0.1:${port}`,
        connections,
        packets: (clientId, from = 0, to = Infinity) =>
            connections.filter(c => c.clientId === clientId).flatMap(c => c.packets.filter(p => p.t >= from && p.t < to)),
        close: () =>
            new Promise<void>(r => {
                for (const s of sockets) s.destroy()
                server.close(() => r())
            }),
    }
}
