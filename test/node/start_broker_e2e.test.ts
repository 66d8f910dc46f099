// Starts `devs devtools` (ports 8081-8083): run under `flock /tmp/trustmeter-devtools.lock`.
//
// npm start against a broker that wants a user name and password, over TLS (aedes with an
// authenticate hook behind a TLS server with a private CA), and against mosquitto with a
// password file when mosquitto is installed. The station and the simulated meters must both
// log in: readings arrive only if the meters could.
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { createServer as createNetServer, Socket } from "node:net"
import { createServer as createTlsServer } from "node:tls"
import { tmpdir, userInfo } from "node:os"
import { join } from "node:path"
import { Aedes } from "aedes"
import { ROOT, waitForPort } from "../../tools/devs.ts"

const USER = "trust"
const PASS = "s3cr:t@pw" // ':' and '@' percent-encoded in the URL below

function which(cmd: string): string | undefined {
    const r = spawnSync("sh", ["-c", `command -v ${cmd} || ls /usr/sbin/${cmd} 2>/dev/null`], { encoding: "utf8" })
    return r.status === 0 ? r.stdout.trim().split("\n")[0] || undefined : undefined
}

/** A private CA and a server certificate for 127.0.0.1, made with openssl. */
function makeCerts(d: string) {
    const run = (args: string[]) => {
        const r = spawnSync("openssl", args, { cwd: d, encoding: "utf8" })
        if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`)
    }
    run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=trustmeter test CA"])
    run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"])
    writeFileSync(join(d, "san.ext"), "subjectAltName=IP:127.0.0.1\n")
    run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"])
    return { ca: join(d, "ca.pem"), key: readFileSync(join(d, "server.key")), cert: readFileSync(join(d, "server.pem")) }
}

/** npm start headless with one meter; resolves with its exit code and output. */
function headless(d: string, broker: string, env: NodeJS.ProcessEnv = {}) {
    return new Promise<{ code: number | null; out: string }>(res => {
        const c = spawn(process.execPath, ["--import", "tsx", "sim/src/start.ts", "--headless", "--duration", "35s", "--interval", "5s", "--meters", "1", "--broker", broker, "--keystore", join(d, "ks.json"), "--dir", join(d, "meters")], {
            cwd: ROOT,
            env: { ...process.env, ...env },
            stdio: ["ignore", "pipe", "pipe"],
        })
        let out = ""
        c.stdout!.on("data", x => (out += x))
        c.stderr!.on("data", x => (out += x))
        const t = setTimeout(() => c.kill("SIGTERM"), 400_000)
        c.on("exit", code => {
            clearTimeout(t)
            res({ code, out })
        })
    })
}

function assertFleetWorked(out: string) {
    assert.match(out, /PASS {2}fleet provisioned/, out)
    assert.match(out, /PASS {2}readings arrived: meter-1: [1-9]/, out)
    assert.match(out, /PASS {2}chains verified/, out)
    assert.ok(!out.includes(PASS) && !out.includes("s3cr"), "the password is never printed")
}

test("npm start with mqtts://user:password@ (aedes, private CA via NODE_EXTRA_CA_CERTS): station and meters log in over TLS", { timeout: 480_000 }, async t => {
    if (!which("openssl")) return t.skip("openssl is not installed")
    const d = mkdtempSync(join(tmpdir(), "tm-brokere2e-"))
    const certs = makeCerts(d)
    const logins: string[] = []
    const aedes = await Aedes.createBroker({
        authenticate: (client, user, pass, done) => {
            const ok = user === USER && pass?.toString() === PASS
            logins.push(`${ok ? "ok" : "refused"} ${client.id}`)
            if (ok) return done(null, true)
            done(Object.assign(new Error("bad user name or password"), { returnCode: 4 }) as any, false)
        },
    })
    const sockets = new Set<Socket>()
    const server = createTlsServer({ key: certs.key, cert: certs.cert }, aedes.handle as any)
    server.on("secureConnection", s => {
        sockets.add(s)
        s.on("close", () => sockets.delete(s))
    })
    await new Promise<void>(res => server.listen(0, "127.0.0.1", () => res()))
    const port = (server.address() as { port: number }).port
    try {
        const r = await headless(d, `mqtts://${USER}:${encodeURIComponent(PASS)}@127.0.0.1:${port}`, { NODE_EXTRA_CA_CERTS: certs.ca })
        assertFleetWorked(r.out)
        assert.match(r.out, new RegExp(`broker mqtts://127\\.0\\.0\\.1:${port}`))
        assert.ok(logins.some(l => l.startsWith("ok trustmeter-headend")), logins.join(", "))
        assert.ok(logins.some(l => l.startsWith("ok") && !l.includes("trustmeter-headend")), `a meter logged in: ${logins.join(", ")}`)
        assert.deepEqual(logins.filter(l => l.startsWith("refused")), [])
    } finally {
        for (const s of sockets) s.destroy()
        await new Promise<void>(res => server.close(() => aedes.close(() => res())))
    }
})

test("npm start with mqtt://user:password@ against mosquitto with a password file", { timeout: 480_000 }, async t => {
    const mosquitto = which("mosquitto")
    const passwd = which("mosquitto_passwd")
    if (!mosquitto || !passwd) return t.skip("mosquitto is not installed")
    const d = mkdtempSync(join(tmpdir(), "tm-mosq-"))
    const pw = spawnSync(passwd, ["-b", "-c", join(d, "passwd"), USER, PASS], { encoding: "utf8" })
    assert.equal(pw.status, 0, pw.stderr)
    const port = await new Promise<number>(res => {
        const s = createNetServer().listen(0, "127.0.0.1", () => {
            const p = (s.address() as { port: number }).port
            s.close(() => res(p))
        })
    })
    // started as root, mosquitto drops to its own user unless told to stay: it must read the password file here
    writeFileSync(join(d, "mosquitto.conf"), `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${join(d, "passwd")}\nuser ${userInfo().username}\n`)
    const m = spawn(mosquitto, ["-c", join(d, "mosquitto.conf")], { stdio: ["ignore", "pipe", "pipe"] })
    let log = ""
    m.stdout!.on("data", x => (log += x))
    m.stderr!.on("data", x => (log += x))
    try {
        await waitForPort(port, 10_000).catch(e => {
            throw new Error(`mosquitto did not start: ${e.message}\n${log}`)
        })
        const r = await headless(d, `mqtt://${USER}:${encodeURIComponent(PASS)}@127.0.0.1:${port}`)
        assertFleetWorked(r.out)
        // a wrong password: one line, nothing started
        const bad = spawnSync(process.execPath, ["--import", "tsx", "sim/src/start.ts", "--broker", `mqtt://${USER}:nope@127.0.0.1:${port}`, "--keystore", join(d, "ks2.json"), "--dir", join(d, "m2")], { cwd: ROOT, encoding: "utf8", timeout: 60_000 })
        assert.equal(bad.status, 1, bad.stderr)
        const lines = bad.stderr.trim().split("\n")
        assert.equal(lines.length, 1, bad.stderr)
        assert.match(lines[0], /refused the head-end's login .*user name and password/)
        assert.ok(!bad.stderr.includes("nope"))
    } finally {
        m.kill("SIGTERM")
    }
})
