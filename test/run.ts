/**
 * `npm test`: builds the firmware for the simulator and both boards, runs every device
 * suite (test/device/**\/*.test.ts) headless in the DeviceScript simulator and every Node
 * test (test/node/**\/*.test.ts), and ends with one line `N passed, N failed` over all.
 * A firmware build whose function code ends beyond 60 KB fails (tools/codesize.ts says
 * what counts); each build's line says how far it is from that gate and the 56 KB goal.
 *
 *   npm test                 everything
 *   npm test -- chain        only files whose path contains "chain"
 *   npm test -- --device     only device suites; --node: only Node tests; --build: only the
 *                            three firmware builds and their code size; --no-build
 */
import { spawn } from "node:child_process"
import { readdirSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { ROOT, readSuiteTags, runDeviceSuite, SuiteResult } from "../tools/devs.ts"
import { FIRMWARE_ENTRIES, buildPrivate, describeEnd, gateFailure } from "../tools/codesize.ts"

const args = process.argv.slice(2)
const filters = args.filter(a => !a.startsWith("--"))
const only = (k: string) => args.includes(`--${k}`)
// --build, --device, --node pick parts (any combination); none picks all, and the builds
// then run only for the whole suite (no path filter, no --no-build)
const picked = ["build", "device", "node"].some(only)
const wantDevice = picked ? only("device") : true
const wantNode = picked ? only("node") : true
const wantBuild = picked ? only("build") : !args.includes("--no-build") && filters.length === 0

let passed = 0
let failed = 0
let skipped = 0
const failures: string[] = []

function listTests(dir: string): string[] {
    const out: string[] = []
    let entries: string[] = []
    try {
        entries = readdirSync(dir)
    } catch {
        return out
    }
    for (const e of entries.sort()) {
        const p = join(dir, e)
        if (statSync(p).isDirectory()) out.push(...listTests(p))
        else if (e.endsWith(".test.ts")) out.push(p)
    }
    return out.filter(f => filters.length === 0 || filters.some(x => relative(ROOT, f).includes(x)))
}

async function builds() {
    // the same firmware for the simulator and each board; a board build proves the pin
    // names and the board JSON agree. Each builds in a private directory (tools/codesize.ts)
    // so a concurrent build cannot swap the image measured here. A build whose function
    // code ends beyond 60 KB fails: the runtime refuses 64 KB, and a fix in the field must
    // still fit.
    for (const entry of FIRMWARE_ENTRIES) {
        try {
            const b = await buildPrivate(entry)
            const over = gateFailure(b.codeEnd)
            if (over) {
                failed++
                failures.push(`build ${entry} (${over})`)
                console.log(`FAIL build ${entry}: ${over}`)
            } else {
                passed++
                console.log(`ok   build ${entry} (${describeEnd(b.codeEnd)})`)
            }
        } catch (e) {
            failed++
            failures.push(`build ${entry}`)
            console.log(`FAIL build ${entry}\n${(e as Error).message}`)
        }
    }
}

async function deviceSuites() {
    const files = listTests(join(ROOT, "test/device"))
    const queue = [...files]
    const results: SuiteResult[] = []
    // two simulators at a time: the CI machine has two cores
    const worker = async () => {
        for (let f = queue.shift(); f; f = queue.shift()) {
            const rel = relative(ROOT, f)
            const tags = readSuiteTags(f)
            if (tags.needs.includes("hardware")) {
                skipped++
                console.log(`skip ${rel} (needs hardware: run it with npm run test:hil on a board)`)
                continue
            }
            const t0 = Date.now()
            const r = await runDeviceSuite(rel, tags.timeoutMs)
            results.push(r)
            passed += r.passed
            failed += r.failed
            const secs = ((Date.now() - t0) / 1000).toFixed(1)
            if (r.failed) {
                failures.push(rel)
                console.log(`FAIL ${rel}: ${r.passed} passed, ${r.failed} failed${r.aborted ? " (aborted)" : ""} [${secs}s]`)
                console.log(r.output.split("\n").filter(l => !/^using devs|^fatal: Not a valid/.test(l)).slice(-60).join("\n"))
            } else console.log(`ok   ${rel}: ${r.passed} passed [${secs}s]`)
        }
    }
    await Promise.all([worker(), worker()])
    printFuzzSum(results)
}

/**
 * The envelope fuzzer's parts (test/device/fuzz*.test.ts) each print
 * `fuzz: N envelopes, M reached the signature check, A accepted`: repeat each part's line
 * and print the run's sum in the same words.
 */
function printFuzzSum(results: SuiteResult[]) {
    const re = /fuzz: (\d+) envelopes, (\d+) reached the signature check, (\d+) accepted/
    const parts: [string, RegExpExecArray][] = []
    for (const r of results)
        for (const line of r.output.replace(/\x1b\[[0-9;]*m/g, "").split("\n")) {
            const m = re.exec(line)
            if (m) parts.push([r.file, m])
        }
    if (parts.length === 0) return
    parts.sort((a, b) => (a[0] < b[0] ? -1 : 1))
    const sum = (i: number) => parts.reduce((n, [, m]) => n + Number(m[i]), 0)
    for (const [file, m] of parts) console.log(`     ${file}: ${m[0]}`)
    console.log(`fuzz: ${sum(1)} envelopes, ${sum(2)} reached the signature check, ${sum(3)} accepted`)
}

// One Node test file at a time: end-to-end tests share the devtools port (8081) and
// start simulators that need both cores.
function nodeTests(): Promise<void> {
    const files = listTests(join(ROOT, "test/node")).map(f => relative(ROOT, f))
    if (files.length === 0) return Promise.resolve()
    return new Promise(res => {
        const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files], {
            cwd: ROOT,
            stdio: ["ignore", "pipe", "inherit"],
        })
        let out = ""
        child.stdout.on("data", d => {
            out += d
            process.stdout.write(d)
        })
        child.on("close", code => {
            const num = (k: string) => Number(new RegExp(`^ℹ ${k} (\\d+)`, "m").exec(out)?.[1] ?? 0)
            const p = num("pass")
            let f = num("fail") + num("cancelled")
            skipped += num("skipped") + num("todo")
            if (code !== 0 && f === 0) f = 1 // the runner itself failed
            passed += p
            failed += f
            if (f) failures.push("node tests")
            res()
        })
    })
}

if (wantBuild) await builds()
if (wantDevice) await deviceSuites()
if (wantNode) await nodeTests()
if (failures.length) console.log(`\nfailed: ${failures.join(", ")}`)
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`)
process.exit(failed || passed === 0 ? 1 : 0)
