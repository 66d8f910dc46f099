/**
 * The operator's dashboard over HTTP (node:http): the page and its scripts, uPlot from
 * node_modules (the head-end needs no internet), JSON from the read model, a live stream
 * of changes (Server-Sent Events) and operator actions (POST).
 *
 *   GET  /                      the page            GET  /api/fleet          FleetView
 *   GET  /dashboard.js, .css    its script, style   GET  /api/meters/<id>    MeterDetail
 *                                                   GET  /api/obis           OBIS codes and names (model.ts OBIS_VIEW)
 *   GET  /uplot/uPlot.*         the chart library   GET  /api/actions        ActionInfo[]
 *   GET  /api/events            SSE: `fleet` events POST /api/actions        {meterId, action, args}
 *
 * Who may use it (docs/headend.md, "Dashboard"). The actions sign commands with the
 * utility's keys, and the read side shows every meter's consumption, so:
 * - it listens on 127.0.0.1 unless told otherwise; then only requests naming a loopback
 *   host are served (a page on another site that rebinds its DNS name to 127.0.0.1 names
 *   its own host, and is refused);
 * - any other address needs an operator token, and then every request carries it (a
 *   bearer header, or the cookie that `/?token=` sets once);
 * - an action is a POST of JSON from the page's own origin (Origin header, Fetch
 *   metadata): a form or script on another site cannot send one, even to 127.0.0.1.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http"
import { createHash, timingSafeEqual } from "node:crypto"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { DashboardActions, DashboardReadModel } from "./model.ts"
import { OBIS_VIEW } from "./model.ts"

/** The default port: fixed, so the address stays the same from one run to the next. */
export const DEFAULT_WEB_PORT = 8090
export const DEFAULT_WEB_HOST = "127.0.0.1"
/** A token shorter than this is refused: it is all that guards the signing keys on a network. */
export const MIN_TOKEN_LENGTH = 16
const TOKEN_COOKIE = "trustmeter_token"
/** Server-Sent Events: at most one `fleet` event per this many ms, and a comment line every 15 s to keep proxies from closing the stream. */
const SSE_THROTTLE_MS = 250
const SSE_KEEPALIVE_MS = 15_000
const MAX_BODY = 4096

export interface DashboardOptions {
    /** the read model; `attach` can give it later (the page says "starting" until then) */
    model?: DashboardReadModel
    actions?: DashboardActions
    /** default 127.0.0.1 */
    host?: string
    /** default 8090; 0 picks a free port */
    port?: number
    /** the operator token; required when `host` is not a loopback address */
    token?: string
}

export interface Dashboard {
    /** the address to open, e.g. http://127.0.0.1:8090/ */
    readonly url: string
    readonly port: number
    /** gives the read model and actions to a dashboard started without them */
    attach(model: DashboardReadModel, actions?: DashboardActions): void
    close(): Promise<void>
}

/** A refused option, said in one line. */
export class WebOptionError extends Error {}

/**
 * Checks the binding rule: a host other than loopback needs a token of at least
 * MIN_TOKEN_LENGTH characters. Throws WebOptionError with one line otherwise.
 */
export function checkWebBinding(host: string, token: string | undefined): void {
    if (token !== undefined && token.length < MIN_TOKEN_LENGTH) throw new WebOptionError(`the dashboard token must be at least ${MIN_TOKEN_LENGTH} characters (it alone guards the signing keys on a network)`)
    if (!isLoopback(host) && !token)
        throw new WebOptionError(`--web-host ${host} serves the dashboard beyond this machine: give an operator token (--web-token or TRUSTMETER_WEB_TOKEN, at least ${MIN_TOKEN_LENGTH} characters), or keep the default 127.0.0.1`)
}

/** Starts the dashboard; resolves once it listens. Throws one line if the port is taken. */
export async function startDashboard(o: DashboardOptions = {}): Promise<Dashboard> {
    const host = o.host ?? DEFAULT_WEB_HOST
    checkWebBinding(host, o.token)
    const web = new DashboardServer(o.token, !isLoopback(host))
    if (o.model) web.attach(o.model, o.actions)
    const server = createServer((req, res) => web.handle(req, res))
    await new Promise<void>((resolve, reject) => {
        server.once("error", (e: NodeJS.ErrnoException) =>
            reject(new WebOptionError(e.code === "EADDRINUSE" ? `port ${o.port ?? DEFAULT_WEB_PORT} on ${host} is in use: give the dashboard another --web-port (0 picks a free one)` : `the dashboard cannot listen on ${host}:${o.port ?? DEFAULT_WEB_PORT}: ${e.message}`))
        )
        server.listen(o.port ?? DEFAULT_WEB_PORT, host, () => resolve())
    })
    const port = (server.address() as { port: number }).port
    const shown = host.includes(":") ? `[${host}]` : host
    return {
        url: `http://${shown}:${port}/`,
        port,
        attach: (m, a) => web.attach(m, a),
        close: () => web.close(server),
    }
}

/** True for the addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
    const h = host.replace(/^\[|\]$/g, "").toLowerCase()
    return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

const HERE = dirname(fileURLToPath(import.meta.url))
const UPLOT_DIR = join(dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist")

/** The only files served, by path: nothing else on disk is reachable. */
const STATIC: Record<string, { file: string; type: string }> = {
    "/": { file: join(HERE, "static", "index.html"), type: "text/html; charset=utf-8" },
    "/dashboard.js": { file: join(HERE, "static", "dashboard.js"), type: "text/javascript; charset=utf-8" },
    "/dashboard.css": { file: join(HERE, "static", "dashboard.css"), type: "text/css; charset=utf-8" },
    "/uplot/uPlot.iife.min.js": { file: join(UPLOT_DIR, "uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
    "/uplot/uPlot.min.css": { file: join(UPLOT_DIR, "uPlot.min.css"), type: "text/css; charset=utf-8" },
}

const SECURITY_HEADERS: Record<string, string> = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

class DashboardServer {
    private model?: DashboardReadModel
    private actions?: DashboardActions
    private streams = new Set<ServerResponse>()
    private unsubscribe?: () => void
    private pending?: NodeJS.Timeout
    private keepalive: NodeJS.Timeout
    private tokenDigest?: Buffer
    private files = new Map<string, Buffer>()

    constructor(
        token: string | undefined,
        /** served beyond loopback: the token guards it, any Host name is fine */
        private open: boolean
    ) {
        if (token) this.tokenDigest = digest(token)
        this.keepalive = setInterval(() => {
            for (const s of this.streams) s.write(": keepalive\n\n")
        }, SSE_KEEPALIVE_MS)
        this.keepalive.unref()
    }

    attach(model: DashboardReadModel, actions?: DashboardActions) {
        this.unsubscribe?.()
        this.model = model
        this.actions = actions
        this.unsubscribe = model.subscribe(() => this.changed())
        this.changed()
    }

    async close(server: Server) {
        this.unsubscribe?.()
        clearInterval(this.keepalive)
        clearTimeout(this.pending)
        for (const s of this.streams) s.end()
        this.streams.clear()
        await new Promise<void>(res => {
            server.close(() => res())
            server.closeAllConnections()
        })
    }

    handle(req: IncomingMessage, res: ServerResponse) {
        this.route(req, res).catch(e => {
            if (!res.headersSent) send(res, 500, { error: `the dashboard failed: ${(e as Error).message.split("\n")[0]}` })
            else res.end()
        })
    }

    private async route(req: IncomingMessage, res: ServerResponse) {
        const url = new URL(req.url ?? "/", "http://dashboard.invalid")
        if (!this.open && !isLoopback(hostName(req.headers.host))) return send(res, 421, { error: "this dashboard answers only to 127.0.0.1 or localhost" })
        if (this.tokenDigest) {
            // the first visit carries the token in the address; it moves into a cookie and leaves the address bar
            if (req.method === "GET" && url.pathname === "/" && url.searchParams.has("token")) {
                if (!this.tokenMatches(url.searchParams.get("token")!)) return send(res, 401, { error: "wrong token" })
                res.writeHead(303, { ...SECURITY_HEADERS, Location: "/", "Set-Cookie": `${TOKEN_COOKIE}=${encodeURIComponent(url.searchParams.get("token")!)}; HttpOnly; SameSite=Strict; Path=/` })
                return void res.end()
            }
            if (!this.tokenMatches(requestToken(req))) return send(res, 401, { error: "this dashboard needs the operator token: open /?token=<token> once, or send Authorization: Bearer <token>" })
        }
        if (url.pathname === "/api/actions" && req.method === "POST") return this.act(req, res)
        if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, { error: `${req.method} is not allowed here` }, { Allow: "GET, HEAD" })
        const file = STATIC[url.pathname]
        if (file) return this.sendFile(res, file.file, file.type)
        if (url.pathname === "/api/events") return this.stream(req, res)
        if (url.pathname === "/api/actions") return send(res, 200, this.actions?.list() ?? [])
        if (url.pathname === "/api/obis") return send(res, 200, OBIS_VIEW)
        if (!this.model) return send(res, 503, { error: "the fleet is starting" })
        if (url.pathname === "/api/fleet") return send(res, 200, await this.model.fleet())
        const m = /^\/api\/meters\/([0-9a-f]{16})$/.exec(url.pathname)
        if (m) {
            const d = await this.model.meter(m[1])
            return d ? send(res, 200, d) : send(res, 404, { error: `no meter ${m[1]}` })
        }
        return send(res, 404, { error: "not found" })
    }

    /** POST /api/actions: JSON {meterId, action, args} from this page's origin only. */
    private async act(req: IncomingMessage, res: ServerResponse) {
        const origin = req.headers.origin
        // Fetch metadata, where the browser sends it, and the Origin header must both name this site
        const site = req.headers["sec-fetch-site"]
        if (!origin || origin !== `http://${req.headers.host}` || (site !== undefined && site !== "same-origin"))
            return send(res, 403, { error: "actions are accepted only from the dashboard's own page" })
        // a cross-site form cannot send this type without a CORS preflight, which is never answered
        if (!/^application\/json\b/.test(req.headers["content-type"] ?? "")) return send(res, 415, { error: "actions are JSON" })
        if (!this.actions) return send(res, 503, { error: "no operator actions on this dashboard" })
        let body: unknown
        try {
            body = JSON.parse(await readBody(req))
        } catch (e) {
            return send(res, 400, { error: `not an action: ${(e as Error).message}` }, { Connection: "close" })
        }
        const b = body as { meterId?: unknown; action?: unknown; args?: unknown }
        const args = b.args ?? []
        if (typeof b.meterId !== "string" || typeof b.action !== "string" || !Array.isArray(args) || !args.every(a => typeof a === "string"))
            return send(res, 400, { error: "an action is {meterId: string, action: string, args: string[]}" })
        if (!this.actions.list().some(a => a.name === b.action)) return send(res, 400, { error: `no action "${b.action}"` })
        const r = await this.actions.act(b.meterId, b.action, args as string[])
        return send(res, r.ok ? 200 : 409, r)
    }

    /** GET /api/events: a `fleet` event now and after every change (throttled). */
    private stream(req: IncomingMessage, res: ServerResponse) {
        res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "text/event-stream; charset=utf-8", Connection: "keep-alive" })
        res.write("retry: 1000\n\n")
        this.streams.add(res)
        req.on("close", () => this.streams.delete(res))
        this.changed()
    }

    private changed() {
        if (this.pending || !this.model || !this.streams.size) return
        this.pending = setTimeout(async () => {
            this.pending = undefined
            if (!this.model || !this.streams.size) return
            try {
                const data = `event: fleet\ndata: ${JSON.stringify(await this.model.fleet())}\n\n`
                for (const s of this.streams) s.write(data)
            } catch {
                // the read model failed this time; the next change tries again
            }
        }, SSE_THROTTLE_MS)
    }

    private sendFile(res: ServerResponse, file: string, type: string) {
        let body = this.files.get(file)
        if (!body) {
            body = readFileSync(file)
            this.files.set(file, body)
        }
        res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": type, "Content-Length": body.length })
        res.end(body)
    }

    private tokenMatches(t: string | undefined): boolean {
        // compared as digests in constant time: the comparison leaks neither the token nor its length
        return !!t && !!this.tokenDigest && timingSafeEqual(digest(t), this.tokenDigest)
    }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    const data = Buffer.from(JSON.stringify(body))
    res.writeHead(status, { ...SECURITY_HEADERS, ...headers, "Content-Type": "application/json; charset=utf-8", "Content-Length": data.length })
    res.end(data)
}

function digest(s: string): Buffer {
    return createHash("sha256").update(s, "utf8").digest()
}

/** The token of a request: `Authorization: Bearer …` or the cookie. */
function requestToken(req: IncomingMessage): string | undefined {
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")
    if (auth) return auth[1]
    for (const part of (req.headers.cookie ?? "").split(";")) {
        const [k, ...v] = part.trim().split("=")
        if (k === TOKEN_COOKIE)
            try {
                return decodeURIComponent(v.join("="))
            } catch {
                return undefined
            }
    }
    return undefined
}

/** The host name of a Host header, without the port ("[::1]:8090" → "::1"). */
function hostName(h: string | undefined): string {
    if (!h) return ""
    const m = /^\[([^\]]+)\](?::\d+)?$/.exec(h) ?? /^([^:]+)(?::\d+)?$/.exec(h)
    return m ? m[1] : ""
}

function readBody(req: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
        let size = 0
        const parts: Buffer[] = []
        req.on("data", (d: Buffer) => {
            size += d.length
            // too large: answered at once, the rest is read and dropped, and the connection closes after the answer
            if (size > MAX_BODY) reject(new Error(`more than ${MAX_BODY} bytes`))
            else parts.push(d)
        })
        req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")))
        req.on("error", reject)
    })
}
