import { test } from "node:test"
import assert from "node:assert/strict"
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ROOT, buildCached, cachedImagePath, firmwareDigest, needsDevtools, parseSuiteOutput, readSuiteTags } from "../../tools/devs.ts"

test("a device suite's summary line is read", () => {
    const r = parseSuiteOutput("x", { code: 0, output: "WASM> tests: 7, pass: 6, error: 1\n" })
    assert.deepEqual([r.passed, r.failed, r.aborted], [6, 1, false])
})

test("a suite that dies before its summary counts as a failure", () => {
    const r = parseSuiteOutput("x", { code: 1, output: "WASM> Exception: InfiniteLoop\nPANIC\n" })
    assert.deepEqual([r.passed, r.failed, r.aborted], [0, 1, true])
})

test("a suite whose process fails after a clean summary counts as a failure", () => {
    const r = parseSuiteOutput("x", { code: 1, output: "tests: 3, pass: 3, error: 0\nPANIC 60005\n" })
    assert.equal(r.failed, 1)
})

test("suite tags come from the header comments", () => {
    const d = mkdtempSync(join(tmpdir(), "tm-"))
    const f = join(d, "a.test.ts")
    writeFileSync(f, "// @timeout 90000\n// @needs hardware, network\nimport x from 'y'\n")
    assert.deepEqual(readSuiteTags(f), { timeoutMs: 90000, needs: ["hardware", "network"] })
    writeFileSync(f, "import x from 'y'\n")
    assert.deepEqual(readSuiteTags(f), { timeoutMs: 60000, needs: [] })
})

test("build cache: an image is found under the digest of its sources, and any change of them is another key", async () => {
    // a firmware entry of its own outside src/: its folder is part of the digest
    const d = mkdtempSync(join(tmpdir(), "tm-fw-"))
    const entry = join(d, "fw.ts")
    writeFileSync(entry, "console.log(1)\n")
    writeFileSync(join(d, "lib.ts"), "export const x = 1\n")
    const cache = mkdtempSync(join(tmpdir(), "tm-cache-"))
    const first = cachedImagePath(cache, entry)
    assert.equal(cachedImagePath(cache, entry), first, "the same sources, the same key")
    // a cached image is used as it is: no compile (a compile of this stand-in would fail)
    writeFileSync(first, "IMAGE")
    const said: string[] = []
    const out = join(d, "copy.devs")
    assert.equal(await buildCached(entry, { cacheDir: cache, to: out, log: m => said.push(m) }), out)
    assert.equal(readFileSync(out, "utf8"), "IMAGE")
    assert.match(said.join("\n"), /from the build cache/)
    assert.doesNotMatch(said.join("\n"), /building/)
    // a change in a module beside the entry, or in the entry, is another key
    writeFileSync(join(d, "lib.ts"), "export const x = 2\n")
    const second = cachedImagePath(cache, entry)
    assert.notEqual(second, first)
    assert.ok(!existsSync(second))
    writeFileSync(entry, "console.log(2)\n")
    assert.notEqual(cachedImagePath(cache, entry), second)
    // the firmware's own digest covers src/, boards/ and the compiler: entries differ by name
    assert.notEqual(firmwareDigest("src/main.ts"), firmwareDigest("src/main_pico_w.ts"))
})

test("npm test runs the files that start devtools one at a time: each one is recognised", () => {
    const dir = join(ROOT, "test/node")
    const files = readdirSync(dir).filter(f => f.endsWith(".test.ts"))
    const text = (f: string) => readFileSync(join(dir, f), "utf8")
    // every file that says it starts devtools, and the ones known to start it without saying so
    for (const f of files.filter(f => /Starts `devs devtools`/.test(text(f)))) assert.ok(needsDevtools(text(f)), f)
    for (const f of ["smoke", "e2e_uplink", "hil", "dashboard", "powercut_firmware", "start_signals", "start_broker_e2e"])
        assert.ok(needsDevtools(text(`${f}.test.ts`)), f)
    for (const f of ["cbor", "headend_db", "fleet_small", "start_provision"]) assert.ok(!needsDevtools(text(`${f}.test.ts`)), f)
})
