/**
 * The dashboard's HTTP server over a fixed read model, without a browser: who may read
 * (loopback host names, the operator token by header or cookie), who may act (POST, JSON,
 * same origin), what is served (the page, uPlot from node_modules, nothing else on disk),
 * the live stream, and the `npm start` options that refuse an unguarded binding.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { request } from "node:http"
import { ROOT } from "../../tools/devs.ts"
import { checkWebBinding, isLoopback, startDashboard, WebOptionError } from "../../headend/src/web/server.ts"
import type { ActionInfo, DashboardActions, DashboardReadModel, MeterDetail } from "../../headend/src/web/model.ts"

const METER: MeterDetail = {
    name: "meter-1",
    meterId: "7e57000000000001",
    relay: "connected",
    chain: { state: "verified", head: 3 },
    frames: 4,
    records: 4,
    refused: 0,
    alerts: 0,
    intervals: [{ seq: 1, start: 1_795_600_000, lengthMin: 30, importMWh: 144_300, exportMWh: 0, status: 0, timeKnown: true }],
    registers: [],
    commands: [],
    alertLog: [],
}

function fixture() {
    const listeners = new Set<() => void>()
    const acted: { meterId: string; action: string; args: string[] }[] = []
    const model: DashboardReadModel = {
        fleet: () => ({ title: "test fleet", now: Date.now(), meters: [METER], log: [] }),
        meter: id => (id === METER.meterId ? METER : undefined),
        subscribe: f => {
            listeners.add(f)
            return () => listeners.delete(f)
        },
    }
    const list: ActionInfo[] = [{ name: "disconnect", label: "Disconnect", scope: "meter", signedBy: "supplier", describe: "open the relay" }]
    const actions: DashboardActions = {
        list: () => list,
        act: async (meterId, action, args) => {
            acted.push({ meterId, action, args })
            return { ok: true, message: "sent" }
        },
    }
    return { model, actions, acted, changed: () => listeners.forEach(f => f()) }
}

interface Reply {
    status: number
    headers: Record<string, string | string[] | undefined>
    body: string
}

/** One request with exactly the headers given (fetch would add an Origin or refuse a Host). */
function http(url: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
        const req = request(url, { method: o.method ?? "GET", headers: o.headers }, res => {
            let body = ""
            res.on("data", d => (body += d))
            res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }))
        })
        req.on("error", reject)
        req.end(o.body)
    })
}

test("binding: loopback needs nothing; any other host needs a token of 16 characters or more, refused in one line", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) assert.ok(isLoopback(h), h)
    for (const h of ["0.0.0.0", "::", "192.168.1.10", "example.org", "127.0.0.1.example.org"]) assert.ok(!isLoopback(h), h)
    assert.doesNotThrow(() => checkWebBinding("127.0.0.1", undefined))
    assert.doesNotThrow(() => checkWebBinding("0.0.0.0", "a-long-operator-token"))
    assert.throws(() => checkWebBinding("0.0.0.0", undefined), (e: Error) => e instanceof WebOptionError && /--web-token/.test(e.message) && !e.message.includes("\n"))
    assert.throws(() => checkWebBinding("0.0.0.0", "short"), /at least 16 characters/)
    assert.throws(() => checkWebBinding("127.0.0.1", "short"), /at least 16 characters/)
})

test("loopback: the page, its scripts and uPlot from node_modules with a strict CSP; only those files; a foreign Host name is refused", async () => {
    const f = fixture()
    const web = await startDashboard({ model: f.model, actions: f.actions, port: 0 })
    try {
        assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
        const page = await http(web.url)
        assert.equal(page.status, 200)
        assert.match(page.body, /<script src="\/uplot\/uPlot\.iife\.min\.js"/)
        assert.match(String(page.headers["content-security-policy"]), /script-src 'self'/)
        assert.equal(page.headers["x-frame-options"], "DENY")
        for (const p of ["/dashboard.js", "/dashboard.css", "/uplot/uPlot.iife.min.js", "/uplot/uPlot.min.css"]) assert.equal((await http(web.url + p.slice(1))).status, 200, p)
        assert.match((await http(web.url + "uplot/uPlot.iife.min.js")).body, /uPlot/)
        for (const p of ["/../package.json", "/%2e%2e/package.json", "/static/index.html", "/server.ts", "/uplot/../package.json", "/.keystore.json"]) assert.equal((await http(web.url.slice(0, -1) + p)).status, 404, p)
        const fleet = JSON.parse((await http(web.url + "api/fleet")).body)
        assert.equal(fleet.meters[0].meterId, METER.meterId)
        assert.equal(JSON.parse((await http(web.url + "api/meters/7e57000000000001")).body).intervals[0].importMWh, 144_300)
        assert.equal((await http(web.url + "api/meters/7e57000000000009")).status, 404)
        assert.equal((await http(web.url + "api/meters/not-hex")).status, 404)
        // the labels' OBIS names (docs/obis.md), from the head-end's one table
        const obis = JSON.parse((await http(web.url + "api/obis")).body)
        assert.equal(obis.codes.importTotal, "1.0.1.8.0")
        assert.equal(obis.codes.loadProfile, "1.0.99.1.0")
        assert.ok(obis.table.some((e: { code: string; name: string }) => e.code === "1.0.1.6.0" && /maximum demand/.test(e.name)))
        // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own name
        const rebound = await http(web.url + "api/fleet", { headers: { Host: `evil.example:${web.port}` } })
        assert.equal(rebound.status, 421)
        assert.equal((await http(web.url + "api/fleet", { headers: { Host: `localhost:${web.port}` } })).status, 200)
    } finally {
        await web.close()
    }
})

test("actions: POST of JSON from the page's own origin only; anything else is refused and nothing is signed", async () => {
    const f = fixture()
    const web = await startDashboard({ model: f.model, actions: f.actions, port: 0 })
    const origin = web.url.slice(0, -1)
    const body = JSON.stringify({ meterId: METER.meterId, action: "disconnect", args: [] })
    const json = { "Content-Type": "application/json" }
    try {
        const refused: [string, Reply][] = [
            ["no Origin", await http(web.url + "api/actions", { method: "POST", headers: json, body })],
            ["another origin", await http(web.url + "api/actions", { method: "POST", headers: { ...json, Origin: "http://evil.example" }, body })],
            ["another port", await http(web.url + "api/actions", { method: "POST", headers: { ...json, Origin: "http://127.0.0.1:1" }, body })],
            ["cross-site fetch metadata", await http(web.url + "api/actions", { method: "POST", headers: { ...json, Origin: origin, "Sec-Fetch-Site": "cross-site" }, body })],
            ["a form's content type", await http(web.url + "api/actions", { method: "POST", headers: { "Content-Type": "text/plain", Origin: origin }, body })],
            ["not JSON", await http(web.url + "api/actions", { method: "POST", headers: { ...json, Origin: origin }, body: "disconnect" })],
            ["unknown action", await http(web.url + "api/actions", { method: "POST", headers: { ...json, Origin: origin }, body: JSON.stringify({ meterId: METER.meterId, action: "wipe", args: [] }) })],
            ["args not strings", await http(web.url + "api/actions", { method: "POST", headers: { ...json, Origin: origin }, body: JSON.stringify({ meterId: METER.meterId, action: "disconnect", args: [1] }) })],
            ["too large", await http(web.url + "api/actions", { method: "POST", headers: { ...json, Origin: origin }, body: JSON.stringify({ meterId: METER.meterId, action: "disconnect", args: ["x".repeat(5000)] }) })],
        ]
        for (const [why, r] of refused) assert.ok(r.status >= 400 && r.status < 500, `${why}: ${r.status} ${r.body}`)
        assert.equal((await http(web.url + "api/fleet", { method: "POST", headers: { ...json, Origin: origin }, body })).status, 405)
        assert.equal((await http(web.url + "api/actions", { method: "PUT", headers: { ...json, Origin: origin }, body })).status, 405)
        assert.deepEqual(f.acted, [], "nothing reached the actions")
        const ok = await http(web.url + "api/actions", { method: "POST", headers: { ...json, Origin: origin, "Sec-Fetch-Site": "same-origin" }, body: JSON.stringify({ meterId: METER.meterId, action: "disconnect", args: [] }) })
        assert.equal(ok.status, 200, ok.body)
        assert.deepEqual(JSON.parse(ok.body), { ok: true, message: "sent" })
        assert.deepEqual(f.acted, [{ meterId: METER.meterId, action: "disconnect", args: [] }])
    } finally {
        await web.close()
    }
})

test("token: every request carries it (bearer header, or the cookie /?token= sets and then leaves the address); without it nothing is served", async () => {
    const f = fixture()
    const token = "operator-token-0123456789"
    // 0.0.0.0 with a token: any Host name is served, the token guards it (the test talks to 127.0.0.1)
    const web = await startDashboard({ model: f.model, actions: f.actions, host: "0.0.0.0", port: 0, token })
    const base = `http://127.0.0.1:${web.port}/`
    try {
        for (const p of ["", "dashboard.js", "uplot/uPlot.iife.min.js", "api/fleet", "api/meters/7e57000000000001", "api/actions", "api/events"]) {
            const r = await http(base + p)
            assert.equal(r.status, 401, p)
            assert.ok(!r.body.includes(METER.meterId), p)
            assert.equal((await http(base + p, { headers: { Authorization: "Bearer wrong-token-0123456789" } })).status, 401, p)
        }
        assert.equal((await http(base + "?token=wrong-token-0123456789")).status, 401)
        const bearer = await http(base + "api/fleet", { headers: { Authorization: `Bearer ${token}`, Host: "meters.example:8090" } })
        assert.equal(bearer.status, 200)
        const first = await http(base + `?token=${token}`)
        assert.equal(first.status, 303)
        assert.equal(first.headers.location, "/")
        const cookie = String(first.headers["set-cookie"]).split(";")[0]
        assert.match(String(first.headers["set-cookie"]), /HttpOnly; SameSite=Strict/)
        assert.equal((await http(base, { headers: { Cookie: cookie } })).status, 200)
        const origin = `http://127.0.0.1:${web.port}`
        const body = JSON.stringify({ meterId: METER.meterId, action: "disconnect", args: [] })
        assert.equal((await http(base + "api/actions", { method: "POST", headers: { "Content-Type": "application/json", Origin: origin }, body })).status, 401)
        assert.deepEqual(f.acted, [])
        assert.equal((await http(base + "api/actions", { method: "POST", headers: { "Content-Type": "application/json", Origin: origin, Cookie: cookie }, body })).status, 200)
        assert.equal(f.acted.length, 1)
    } finally {
        await web.close()
    }
})

test("live stream: a fleet event at once and after each change, throttled", async () => {
    const f = fixture()
    const web = await startDashboard({ port: 0 })
    // before the read model is attached the fleet is "starting"
    assert.equal((await http(web.url + "api/fleet")).status, 503)
    web.attach(f.model, f.actions)
    const events: string[] = []
    const done = new Promise<void>((resolve, reject) => {
        const req = request(web.url + "api/events", res => {
            assert.equal(res.headers["content-type"], "text/event-stream; charset=utf-8")
            res.on("data", d => {
                events.push(...String(d).split("\n\n").filter(e => e.startsWith("event: fleet")))
                if (events.length === 1) for (let i = 0; i < 20; i++) f.changed()
                if (events.length === 2) {
                    req.destroy()
                    resolve()
                }
            })
        })
        req.on("error", e => (events.length >= 2 ? resolve() : reject(e)))
        req.end()
    })
    try {
        await done
        assert.equal(JSON.parse(events[0].split("\ndata: ")[1]).meters[0].name, "meter-1")
    } finally {
        await web.close()
    }
})

test("npm start refuses --web-host beyond loopback without a token, and a short token, in one line (exit 2)", () => {
    const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, ["--import", "tsx", "sim/src/start.ts", ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, TRUSTMETER_WEB_TOKEN: "", ...env }, timeout: 30_000 })
    const open = run(["--web-host", "0.0.0.0"])
    assert.equal(open.status, 2, open.stderr)
    assert.equal(open.stderr.trim().split("\n").length, 1)
    assert.match(open.stderr, /^trustmeter: --web-host 0\.0\.0\.0 .*--web-token or TRUSTMETER_WEB_TOKEN/)
    const short = run(["--web-host", "0.0.0.0", "--web-token", "short"])
    assert.equal(short.status, 2)
    assert.match(short.stderr, /at least 16 characters/)
    const port = run(["--web-port", "70000"])
    assert.equal(port.status, 2)
    assert.match(port.stderr, /--web-port takes 0 to 65535/)
    const help = run(["--help"])
    assert.equal(help.status, 0)
    assert.match(help.stdout, /--web-port N/)
    assert.match(help.stdout, /--web-token T/)
})
