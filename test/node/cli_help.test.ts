import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { main } from "../../headend/src/cli.ts"
import { ROOT } from "../../tools/devs.ts"

async function run(...argv: string[]) {
    const out: string[] = []
    const err: string[] = []
    const code = await main(argv, s => out.push(s), s => err.push(s))
    return { code, out: out.join("\n"), err: err.join("\n") }
}

test("trustmeter --help and -h print the whole usage and exit 0", async () => {
    for (const h of ["--help", "-h", "help"]) {
        const r = await run(h)
        assert.equal(r.code, 0, `${h}: ${r.err}`)
        assert.equal(r.err, "")
        for (const c of ["keys init", "keys show", "provision", "sign", "verify-chain", "export-chain", "--keystore"]) assert.ok(r.out.includes(c), `${h} mentions ${c}`)
    }
})

test("trustmeter <command> --help prints that command's usage and exit 0, before touching any keystore", async () => {
    const cases: [string[], RegExp][] = [
        [["keys", "--help"], /trustmeter keys init \[--force\][\s\S]*trustmeter keys show/],
        [["keys", "init", "--help"], /trustmeter keys init \[--force\]/],
        [["provision", "--help"], /trustmeter provision <meter>[\s\S]*--broker/],
        [["sign", "--help"], /trustmeter sign <command>[\s\S]*disconnect[\s\S]*--counter[\s\S]*--valid/],
        [["sign", "disconnect", "--help"], /trustmeter sign <command>/],
        [["verify-chain", "-h"], /trustmeter verify-chain <file> --meter <meter>[\s\S]*--anchor/],
        [["export-chain", "--help"], /trustmeter export-chain <meter>/],
        [["help", "sign"], /trustmeter sign <command>/],
    ]
    for (const [argv, re] of cases) {
        const r = await run(...argv, "--keystore", "/nonexistent/ks.json")
        assert.equal(r.code, 0, `${argv.join(" ")}: ${r.err}`)
        assert.equal(r.err, "")
        assert.match(r.out, re, argv.join(" "))
    }
    // with no command at all: the usage, but as an error (exit 2)
    assert.equal((await run()).code, 2)
})

test("the trustmeter bin: --help exits 0", () => {
    const r = spawnSync(join(ROOT, "headend/bin/trustmeter.mjs"), ["--help"], { encoding: "utf8" })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /trustmeter sign/)
})

test("npm start -- --help (and -h) prints the usage and exits 0 without starting anything", () => {
    for (const h of ["--help", "-h"]) {
        const r = spawnSync(process.execPath, ["--import", "tsx", "sim/src/start.ts", h], { cwd: ROOT, encoding: "utf8", timeout: 30_000 })
        assert.equal(r.status, 0, r.stderr)
        assert.match(r.stdout, /usage: npm start -- \[--meters N\]/)
        for (const o of ["--interval", "--duration", "--headless", "--broker", "--keystore", "--dir", "--firmware", "--fresh"]) assert.ok(r.stdout.includes(o), o)
        assert.equal(r.stderr.replace(/npm warn.*\n?/g, ""), "")
    }
    const npm = spawnSync("npm", ["start", "--silent", "--", "--help"], { cwd: ROOT, encoding: "utf8", timeout: 60_000 })
    assert.equal(npm.status, 0, npm.stderr)
    assert.match(npm.stdout, /usage: npm start/)
})

test("--option=value keeps everything after the first = (a broker password may hold =)", async () => {
    const { mkdtempSync, readFileSync } = await import("node:fs")
    const { tmpdir } = await import("node:os")
    const d = mkdtempSync(join(tmpdir(), "tm-clieq-"))
    const ks = join(d, "ks.json")
    assert.equal((await run("keys", "init", `--keystore=${ks}`)).code, 0)
    const r = await run("provision", "m1", `--keystore=${ks}`, "--out", join(d, "m1.env"), "--broker=mqtt://u:a=b@10.0.0.1:1883")
    assert.equal(r.code, 0, r.err)
    assert.match(readFileSync(join(d, "m1.env"), "utf8"), /^UP_PASS="a=b"$/m)
})
