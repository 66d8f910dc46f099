// Starts `devs devtools` (ports 8081-8083): run under `flock /tmp/trustmeter-devtools.lock`.
/**
 * The headless demo as a smoke test: `npm start -- --headless` with 2 meters running the
 * real firmware in the simulator, the embedded broker and the head-end, for a short run.
 * Asserts the summary line by line: fleet provisioned, firmware booted, readings arrived,
 * chains verified, every attack refused, no crash; and that the exit code agrees.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ROOT } from "../../tools/devs.ts"

/** The checks that need the firmware's uplink and command path, wired in src/app.ts. */
const END_TO_END = ["readings arrived", "chains verified", "attack: forged command", "attack: replayed command", "attack: command for another meter", "attack: mass disconnect", "attack: tampered uplink", "attack: tampered stored record"]

function headless(args: string[], timeoutMs: number): Promise<{ code: number; out: string }> {
    return new Promise(res => {
        const child = spawn(process.execPath, ["--import", "tsx", "sim/src/start.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true })
        let out = ""
        child.stdout.on("data", d => (out += d))
        child.stderr.on("data", d => (out += d))
        const t = setTimeout(() => {
            try {
                process.kill(-child.pid!, "SIGKILL")
            } catch {}
        }, timeoutMs)
        child.on("close", code => {
            clearTimeout(t)
            res({ code: code ?? 137, out })
        })
    })
}

let run: Promise<{ code: number; out: string; checks: Map<string, string> }> | undefined
/** One headless run shared by the tests below (it takes about a minute). */
function smokeRun() {
    run ??= (async () => {
        const d = mkdtempSync(join(tmpdir(), "tm-smoke-"))
        const r = await headless(["--headless", "--duration", "50s", "--interval", "5s", "--meters", "2", "--keystore", join(d, "ks.json"), "--dir", join(d, "meters")], 240_000)
        const checks = new Map<string, string>()
        for (const m of r.out.matchAll(/^  (PASS|FAIL|WAIT)  ([^:]+(?:: [a-z -]+)?): (.*)$/gm)) checks.set(m[2], m[1] + " " + m[3])
        return { ...r, checks }
    })()
    return run
}

test("headless demo: the fleet is provisioned, boots the firmware, runs without a crash, and the exit code agrees with the summary", { timeout: 250_000 }, async () => {
    const r = await smokeRun()
    assert.match(r.out, /^RESULT: /m, `no summary; output:\n${r.out.slice(-3000)}`)
    assert.equal(r.code, /^  FAIL/m.test(r.out) ? 1 : 0, r.out.slice(-2000))
    for (const name of ["fleet provisioned", "firmware booted", "no meter crashed"]) assert.match(r.checks.get(name) ?? "missing", /^PASS/, `${name}: ${r.checks.get(name)}\n${r.out.slice(-3000)}`)
})

test("headless demo end to end: readings arrived, chains verified, every attack refused", { timeout: 250_000 }, async t => {
    const r = await smokeRun()
    const app = readFileSync(join(ROOT, "src/app.ts"), "utf8")
    if (!/comms|Uplink/.test(app) || !/commands|Verifier/.test(app)) {
        t.skip(`src/app.ts does not start the uplink and the command verifier yet (${END_TO_END.map(n => `${n}: ${r.checks.get(n)?.split(" ")[0]}`).join(", ")})`)
        return
    }
    for (const name of END_TO_END) assert.match(r.checks.get(name) ?? "missing", /^PASS/, `${name}: ${r.checks.get(name)}\n${r.out.slice(-4000)}`)
})
