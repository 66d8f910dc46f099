import { test } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseSuiteOutput, readSuiteTags } from "../../tools/devs.ts"

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
