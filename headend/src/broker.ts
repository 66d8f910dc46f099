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

/** A broker address from `--broker`, credentials apart so the address can be printed. */
export interface BrokerUrl {
    host: string
    port: number
    /** mqtt://host:port or mqtts://host:port, without credentials: safe to print and log */
    url: string
    /** mqtts://: TLS (it hides metadata; frames are protected end to end either way) */
    tls?: true
    /** MQTT 3.1.1 §3.1.3.4 user name and §3.1.3.5 password, from user:password@ */
    username?: string
    password?: string
}

/**
 * Parses the `--broker` option: `mqtt://host:port` or `mqtts://host:port` (TLS), with an
 * optional `user:password@` (percent-encoded, as in any URL). Throws a one-line
 * explanation otherwise. The returned `url` never holds the password.
 */
export function parseBrokerUrl(url: string): BrokerUrl {
    const m = /^(mqtts?):\/\/(?:([^:@/\s]*)(?::([^@/\s]*))?@)?([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\/?$/.exec(url)
    if (!m || Number(m[5]) < 1 || Number(m[5]) > 65535)
        throw new Error(`bad broker address "${redactBrokerUrl(url)}": write it as mqtt://host:port or mqtts://host:port, with user:password@ before the host if the broker wants them, e.g. mqtt://127.0.0.1:1883`)
    const b: BrokerUrl = { host: m[4], port: Number(m[5]), url: `${m[1]}://${m[4]}:${m[5]}` }
    if (m[1] === "mqtts") b.tls = true
    if (m[2] !== undefined) {
        try {
            b.username = decodeURIComponent(m[2])
            if (m[3] !== undefined) b.password = decodeURIComponent(m[3])
        } catch {
            throw new Error(`bad broker address "${redactBrokerUrl(url)}": the user name or password has a broken %-escape`)
        }
        // §3.1.2.9: no password without a user name
        if (b.username === "") throw new Error(`bad broker address "${redactBrokerUrl(url)}": a password needs a user name (user:password@host)`)
    }
    return b
}

/** `url` with any password replaced by *** (for messages and logs). */
export function redactBrokerUrl(url: string): string {
    return url.replace(/^([a-z]+:\/\/[^:@/\s]*):[^@/\s]*@/, "$1:***@")
}

/**
 * The uplink settings a meter needs beyond UP_HOST/UP_PORT for this broker
 * (src/comms/config.ts, docs/uplink.md §6): UP_PROTO "tls" for mqtts, UP_USER and UP_PASS.
 */
export function brokerSettings(b: Pick<BrokerUrl, "tls" | "username" | "password">): Record<string, Buffer> {
    // the meter reads a setting raw and only strips the quotes (src/comms/config.ts readRawSetting): no JSON escapes
    for (const [what, v] of [["user name", b.username], ["password", b.password]] as const)
        if (v !== undefined && /["\\\x00-\x1f]/.test(v)) throw new Error(`the broker's ${what} holds a quote, backslash or control character, which a meter's settings cannot carry: choose another`)
    const json = (v: unknown) => Buffer.from(JSON.stringify(v))
    const s: Record<string, Buffer> = {}
    if (b.tls) s.UP_PROTO = json("tls")
    if (b.username !== undefined) s.UP_USER = json(b.username)
    if (b.password !== undefined) s.UP_PASS = json(b.password)
    return s
}
