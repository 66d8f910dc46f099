import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ROOT } from "../../tools/devs.ts"

/** `npm start` with `args`: exit code and stderr lines. Bad input fails before any simulator starts. */
function start(...args: string[]) {
    const r = spawnSync(process.execPath, ["--import", "tsx", "sim/src/start.ts", ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 })
    return { code: r.status, err: r.stderr.trim().split("\n").filter(Boolean) }
}

test("npm start: bad options are one line and exit 2", () => {
    for (const [args, re] of [
        [["--meters", "0"], /--meters takes 1 to 9/],
        [["--meters"], /--meters needs a value/],
        [["--interval", "soon"], /bad --interval "soon"/],
        [["--headless"], /--headless needs --duration/],
        [["--broker", "localhost:1883"], /bad broker address .*mqtt:\/\/host:port/],
        [["--frobnicate"], /unknown option "--frobnicate"; usage: npm start/],
        [["--database", "mysql://user:secretpw@host/db"], /^trustmeter: --database mysql:\/\/…: only postgres:\/\/ URLs, or a directory for the embedded database$/],
        [["--database"], /--database needs a value/],
    ] as [string[], RegExp][]) {
        const r = start(...args)
        assert.equal(r.code, 2, args.join(" "))
        assert.equal(r.err.length, 1, `${args.join(" ")}: ${r.err.join(" | ")}`)
        assert.match(r.err[0], re)
    }
})

test("npm start: an unreachable broker or a damaged keystore stops it with one line, writing nothing", async () => {
    const d = mkdtempSync(join(tmpdir(), "tm-start-"))
    // a port that was free a moment ago: nothing listens there
    const port = await new Promise<number>(res => {
        const s = createServer().listen(0, "127.0.0.1", () => {
            const p = (s.address() as { port: number }).port
            s.close(() => res(p))
        })
    })
    const ks = join(d, "ks.json")
    const r = start("--broker", `mqtt://127.0.0.1:${port}`, "--keystore", ks, "--dir", join(d, "meters"))
    assert.equal(r.code, 1)
    assert.equal(r.err.length, 1)
    assert.match(r.err[0], /cannot reach the MQTT broker at mqtt:\/\/127.0.0.1:\d+ .*: start it, or omit --broker/)
    assert.ok(!existsSync(ks), "no keystore written")
    assert.ok(!existsSync(join(d, "meters")), "no meter directory created")
    writeFileSync(ks, "{]")
    const k = start("--keystore", ks, "--dir", join(d, "meters"))
    assert.equal(k.code, 1)
    assert.match(k.err.join("\n"), /keystore .* is not valid JSON: restore it/)
    assert.equal(k.err.length, 1)
})
