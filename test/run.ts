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
 *
 * Firmware is compiled once per run: the run sets a fresh build cache
 * ($TRUSTMETER_BUILD_CACHE, tools/devs.ts buildCached) that the builds below fill and the
 * tests inherit (npm start's fleet, the e2e tests), and removes it at the end.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { BUILD_CACHE_ENV, ROOT, buildCached, imageCodeEnd, needsDevtools, readSuiteTags, runDeviceSuite, SuiteResult } from "../tools/devs.ts"
import { FIRMWARE_ENTRIES, describeEnd, gateFailure } from "../tools/codesize.ts"

const args = process.argv.slice(2)
const filters = args.filter(a => !a.startsWith("--"))
const only = (k: string) => args.includes(`--${k}`)
// --build, --device, --node pick parts (any combination); none picks all, and the builds
// then run only for the whole suite (no path filter, no --no-build)
const picked = ["build", "device", "node"].some(only)
const wantDevice = picked ? only("device") : true
const wantNode = picked ? only("node") : true
const wantBuild = picked ? only("build") : !args.includes("--no-build") && filters.length === 0

// one cache per run (unless the caller names one): content-addressed, so reusing it within
// the run is exact, and nothing of it outlives the run
const ownCache = !process.env[BUILD_CACHE_ENV]
if (ownCache) {
    const dir = mkdtempSync(join(tmpdir(), "tm-build-cache-"))
    process.env[BUILD_CACHE_ENV] = dir
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }))
}

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
    // names and the board JSON agree. Each builds in a private directory (tools/devs.ts
    // buildCached) so a concurrent build cannot swap the image measured here; the image is
    // kept in the run's build cache, where the tests that run src/main.ts find it. A build
    // whose function code ends beyond 60 KB fails: the runtime refuses 64 KB, and a fix in
    // the field must still fit.
    // two at a time (the CI machine has two cores), reported in order
    const jobs = FIRMWARE_ENTRIES.map(entry => {
        let go!: () => void
        const gate = new Promise<void>(r => (go = r))
        return { entry, go, codeEnd: gate.then(() => buildCached(entry)).then(imageCodeEnd) }
    })
    let next = 0
    const launch = () => {
        const j = jobs[next++]
        if (!j) return
        j.go()
        j.codeEnd.then(launch, launch)
    }
    launch()
    launch()
    for (const { entry, codeEnd: pending } of jobs) {
        try {
            const codeEnd = await pending
            const over = gateFailure(codeEnd)
            if (over) {
                failed++
                failures.push(`build ${entry} (${over})`)
                console.log(`FAIL build ${entry}: ${over}`)
            } else {
                passed++
                console.log(`ok   build ${entry} (${describeEnd(codeEnd)})`)
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
    // longest first (by each suite's @timeout): the slow fuzz parts start at once and the
    // short suites fill the other lane, so no long suite is left alone at the end
    const queue = files
        .map((f, i) => ({ f, i, t: readSuiteTags(f).timeoutMs }))
        .sort((a, b) => b.t - a.t || a.i - b.i)
        .map(x => x.f)
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

/**
 * Node tests in two lanes at once: the files that start devtools or simulators one at a
 * time (they share port 8081, and their simulators are timed), and beside them the other
 * files, also one at a time. Both lanes together keep two test files running, as the
 * device phase keeps two simulators. The devtools lane prints as it goes; the other
 * lane's output is printed whole when it ends, so the two never interleave.
 */
async function nodeTests(): Promise<void> {
    const files = listTests(join(ROOT, "test/node")).map(f => relative(ROOT, f))
    if (files.length === 0) return
    // the devtools lane also takes files marked `@lane serial`: heavy, timing-bound runs (a
    // fleet, kill -9 at random moments) that must not share the CPU with another test
    const serial = files.filter(f => {
        const text = readFileSync(join(ROOT, f), "utf8")
        return needsDevtools(text) || /@lane serial\b/.test(text)
    })
    const other = files.filter(f => !serial.includes(f))
    const lanes = await Promise.all([nodeLane(serial, true), nodeLane(other, false)])
    if (other.length) {
        console.log(`\n# Node tests without devtools (${other.length} files, run beside the devtools lane in ${lanes[1].secs} s):`)
        process.stdout.write(lanes[1].out)
    }
    for (const [i, l] of lanes.entries()) {
        if (!l.ran) continue
        const num = (k: string) => Number(new RegExp(`^ℹ ${k} (\\d+)`, "m").exec(l.out)?.[1] ?? 0)
        const p = num("pass")
        let f = num("fail") + num("cancelled")
        skipped += num("skipped") + num("todo")
        if (l.code !== 0 && f === 0) f = 1 // the runner itself failed
        passed += p
        failed += f
        if (f) failures.push(i === 0 ? "node tests (devtools lane)" : "node tests")
    }
}

function nodeLane(files: string[], live: boolean): Promise<{ ran: boolean; code: number; out: string; secs: string }> {
    if (files.length === 0) return Promise.resolve({ ran: false, code: 0, out: "", secs: "0" })
    const t0 = Date.now()
    return new Promise(res => {
        const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files], {
            cwd: ROOT,
            stdio: ["ignore", "pipe", live ? "inherit" : "pipe"],
        })
        let out = ""
        child.stdout!.on("data", d => {
            out += d
            if (live) process.stdout.write(d)
        })
        child.stderr?.on("data", d => (out += d))
        child.on("close", code => res({ ran: true, code: code ?? 1, out, secs: ((Date.now() - t0) / 1000).toFixed(0) }))
    })
}

if (wantBuild) await builds()
if (wantDevice) await deviceSuites()
if (wantNode) await nodeTests()
if (failures.length) console.log(`\nfailed: ${failures.join(", ")}`)
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`)
process.exit(failed || passed === 0 ? 1 : 0)
