/**
 * The embedded MQTT broker (aedes) `npm start` uses when no `--broker` is given.
 *
 * The broker is untrusted by design: every frame carries its own encryption and
 * authentication (docs/uplink.md), so any standard broker (mosquitto, EMQX) can replace it.
 * It listens on loopback only.
 */
import { createServer, Server } from "node:net"
import { Aedes } from "aedes"

export interface EmbeddedBroker {
    host: string
    port: number
    /** mqtt://host:port */
    url: string
    /** number of PUBLISH packets the broker routed so far */
    published(): number
    close(): Promise<void>
}

/** Starts aedes on `host:port` (port 0 = any free port). */
export async function startBroker(opts: { host?: string; port?: number } = {}): Promise<EmbeddedBroker> {
    const host = opts.host ?? "127.0.0.1"
    const aedes = await Aedes.createBroker()
    let count = 0
    aedes.on("publish", (_p, client) => {
        if (client) count++
    })
    const server: Server = createServer(aedes.handle as any)
    await new Promise<void>((res, rej) => {
        server.once("error", rej)
        server.listen(opts.port ?? 0, host, () => res())
    })
    const port = (server.address() as { port: number }).port
    const sockets = new Set<import("node:net").Socket>()
    server.on("connection", s => {
        sockets.add(s)
        s.on("close", () => sockets.delete(s))
    })
    return {
        host,
        port,
        url: `mqtt://${host}:${port}`,
        published: () => count,
        close: () =>
            new Promise<void>(res => {
                for (const s of sockets) s.destroy()
                server.close(() => aedes.close(() => res()))
            }),
    }
}

/** Parses `mqtt://host:port` (the `--broker` option); throws a one-line explanation otherwise. */
export function parseBrokerUrl(url: string): { host: string; port: number; url: string } {
    const m = /^mqtt:\/\/([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\/?$/.exec(url)
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
        throw new Error(`bad broker address "${url}": write it as mqtt://host:port, e.g. mqtt://127.0.0.1:1883`)
    return { host: m[1], port: Number(m[2]), url: `mqtt://${m[1]}:${m[2]}` }
}
