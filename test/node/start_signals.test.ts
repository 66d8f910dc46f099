// Starts `devs devtools` (ports 8081-8083): run under `flock /tmp/trustmeter-devtools.lock`.
import { test } from "node:test"
import assert from "node:assert/strict"
import { ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, readdirSync, readlinkSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { BUILD_CACHE_ENV, ROOT } from "../../tools/devs.ts"

const PORTS = [8081, 8082, 8083]

/** `npm start` (the same entry, without npm in between) with its output collected. */
function start(args: string[], env: NodeJS.ProcessEnv = process.env) {
    const child = spawn(process.execPath, ["--import", "tsx", "sim/src/start.ts", ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout!.on("data", d => (out += d))
    child.stderr!.on("data", d => (err += d))
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(res => child.on("exit", (code, signal) => res({ code, signal })))
    return { child, out: () => out, err: () => err, exited }
}

/** Waits for `re` in the fleet's output; fails at once, with its stderr, if it exited first. */
async function waitForOutput(s: ReturnType<typeof start>, re: RegExp, timeoutMs: number) {
    const end = Date.now() + timeoutMs
    while (!re.test(s.out())) {
        if (s.child.exitCode !== null || s.child.signalCode) throw new Error(`npm start exited (${s.child.exitCode ?? s.child.signalCode}) before printing ${re}; output:\n${s.out()}\n${s.err()}`)
        if (Date.now() > end) throw new Error(`no ${re} after ${timeoutMs} ms; output:\n${s.out()}\n${s.err()}`)
        await new Promise(r => setTimeout(r, 100))
    }
}

/** Every process below `root` now (detached ones included: their parent is still `root`). */
function descendants(root: number): number[] {
    const parent = new Map<number, number>()
    for (const e of readdirSync("/proc")) {
        if (!/^\d+$/.test(e)) continue
        try {
            const stat = readFileSync(`/proc/${e}/stat`, "utf8")
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
            parent.set(Number(e), ppid)
        } catch {}
    }
    const out: number[] = []
    const walk = (p: number) => {
        for (const [c, pp] of parent) if (pp === p) out.push(c), walk(c)
    }
    walk(root)
    return out
}

/** Alive = exists and is not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
        return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
    } catch {
        return false
    }
}

async function portFree(port: number): Promise<boolean> {
    return new Promise(res => {
        const s = createServer()
        s.once("error", () => res(false))
        s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => res(true)))
    })
}

/**
 * The pids holding a listening TCP socket on `port` (from /proc/net/tcp{,6} and each
 * process's fds). Other helpers' devtools may take the port the moment ours frees it, so
 * "free" is checked as: nobody holds it, or nobody of ours.
 */
function portHolders(port: number): number[] {
    const inodes = new Set<string>()
    for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
        let t = ""
        try {
            t = readFileSync(f, "utf8")
        } catch {}
        for (const l of t.split("\n").slice(1)) {
            const c = l.trim().split(/\s+/)
            if (c.length > 9 && c[3] === "0A" && parseInt(c[1].split(":")[1], 16) === port) inodes.add(c[9])
        }
    }
    const out: number[] = []
    for (const e of readdirSync("/proc")) {
        if (!/^\d+$/.test(e)) continue
        try {
            for (const fd of readdirSync(`/proc/${e}/fd`)) {
                const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${e}/fd/${fd}`))
                if (m && inodes.has(m[1])) out.push(Number(e))
            }
        } catch {}
    }
    return out
}

async function assertAllEnded(pids: number[], what: string) {
    const end = Date.now() + 5000
    let left = pids.filter(alive)
    while (left.length && Date.now() < end) {
        await new Promise(r => setTimeout(r, 100))
        left = pids.filter(alive)
    }
    assert.deepEqual(
        left.map(p => `${p} ${readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0/g, " ").slice(0, 120)}`),
        [],
        `${what}: child processes survived`
    )
    for (const p of PORTS) {
        if (await portFree(p)) continue
        const ours = portHolders(p).filter(h => pids.includes(h))
        assert.deepEqual(ours, [], `${what}: port ${p} is still held by our child`)
    }
}

function fleetArgs() {
    const d = mkdtempSync(join(tmpdir(), "tm-sig-"))
    return { d, args: ["--headless", "--duration", "120s", "--interval", "5s", "--meters", "1", "--keystore", join(d, "ks.json"), "--dir", join(d, "meters")] }
}

test("precondition: the devtools ports are free (run this file under the devtools flock)", async () => {
    for (const p of PORTS) assert.ok(await portFree(p), `port ${p} is taken before the test by pid ${portHolders(p).join(", ")}`)
})

/** Interrupts a fleet with SIGINT once `phase` shows, and checks that nothing of it survives. */
async function interruptDuring(phase: RegExp, minChildren: number, what: string, env = process.env) {
    const { args } = fleetArgs()
    const s = start(args, env)
    try {
        // a loaded machine (other suites building in parallel) can take minutes to get there
        await waitForOutput(s, phase, 240_000)
        await new Promise(r => setTimeout(r, 1000))
        const pids = descendants(s.child.pid!)
        assert.ok(pids.length >= minChildren, `${what}: expected ${minChildren}+ child processes, found ${pids}`)
        s.child.kill("SIGINT")
        const r = await s.exited
        assert.equal(r.code, 130, s.err())
        assert.match(s.err(), /interrupted \(SIGINT\) while starting/)
        assert.equal(s.err().trim().split("\n").length, 1, s.err())
        await assertAllEnded(pids, what)
    } finally {
        if (s.child.exitCode === null) s.child.kill("SIGTERM")
    }
}

test("Ctrl-C while the firmware builds ends every child (the build) and leaves the ports free", { timeout: 300_000 }, async () => {
    // without npm test's build cache: src/main.ts is compiled now, whatever was built before
    const env = { ...process.env }
    delete env[BUILD_CACHE_ENV]
    await interruptDuring(/building the firmware/, 1, "SIGINT during the build", env)
})

test("Ctrl-C while provisioning ends devtools and the provisioning VM", { timeout: 420_000 }, async () => {
    await interruptDuring(/provisioning 1 meter/, 2, "SIGINT during provisioning")
})

test("a second instance gets one line naming what is in use; SIGTERM while running ends every child", { timeout: 600_000 }, async () => {
    const { d, args } = fleetArgs()
    const a = start(args)
    let pids: number[] = []
    try {
        await waitForOutput(a, /meter\(s\) running the firmware/, 420_000)
        pids = descendants(a.child.pid!)
        // the same meters directory: the lock names the running instance
        const same = spawnSync(process.execPath, ["--import", "tsx", "sim/src/start.ts", ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 })
        assert.equal(same.status, 1, same.stderr)
        const sameErr = same.stderr.trim().split("\n")
        assert.equal(sameErr.length, 1, same.stderr)
        assert.match(sameErr[0], new RegExp(`another npm start \\(pid ${a.child.pid}\\) is running the meters in ${join(d, "meters")}`))
        // another directory: devtools' port is named
        const other = fleetArgs()
        const b = spawnSync(process.execPath, ["--import", "tsx", "sim/src/start.ts", ...other.args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 })
        assert.equal(b.status, 1, b.stderr)
        const bErr = b.stderr.trim().split("\n")
        assert.equal(bErr.length, 1, b.stderr)
        assert.match(bErr[0], /port 8081 on 127\.0\.0\.1 is in use/)
        // the first instance is unharmed: still running
        assert.equal(a.child.exitCode, null)
    } finally {
        a.child.kill("SIGTERM")
    }
    const r = await a.exited
    assert.equal(r.code, 143, a.err())
    await assertAllEnded(pids, "SIGTERM while running")
})

test("an uncaught exception ends the tracked children too (tools/devs.ts exit hook)", async () => {
    const script = `
        import { spawn } from "node:child_process"
        import { trackChild } from "./tools/devs.ts"
        const c = trackChild(spawn("sleep", ["300"], { detached: true, stdio: ["ignore", "pipe", "pipe"] }))
        console.log(c.pid)
        setTimeout(() => { throw new Error("boom") }, 200)
    `
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 20_000 })
    assert.equal(r.status, 1)
    assert.match(r.stderr, /boom/)
    const pid = Number(r.stdout.trim())
    assert.ok(pid > 0, r.stdout)
    await assertAllEnded([pid], "uncaught exception")
})
