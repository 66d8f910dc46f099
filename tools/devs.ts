/**
 * Driving the DeviceScript tool (`devs`) from Node: builds, headless test runs, the
 * devtools server and long-running simulated meters. Used by the test runner, the
 * benchmark runner, `npm start` and the head-end's fleet.
 */
import { spawn, ChildProcess } from "node:child_process"
import { connect } from "node:net"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from "node:fs"
import { createHash } from "node:crypto"
import { tmpdir } from "node:os"
import { basename, dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

/** The repository root (this file lives in tools/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..")
export const DEVS = join(ROOT, "node_modules/.bin/devs")
/** Where `devs build` leaves the bytecode of the last build. */
export const BYTECODE = join(ROOT, ".devicescript/bin/bytecode.devs")
export const DEVTOOLS_PORT = 8081

export interface RunResult {
    code: number
    output: string
}

/** Runs `devs` with `args` in `cwd` (default: the repository root) and collects its output. */
export function devs(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return new Promise(res => {
        const child = trackChild(
            spawn(DEVS, [...args, "--no-colors"], {
                cwd: opts.cwd ?? ROOT,
                stdio: ["ignore", "pipe", "pipe"],
                detached: true,
            })
        )
        let output = ""
        child.stdout.on("data", d => (output += d))
        child.stderr.on("data", d => (output += d))
        let timedOut = false
        const timer = opts.timeoutMs
            ? setTimeout(() => {
                  timedOut = true
                  killTree(child)
              }, opts.timeoutMs)
            : undefined
        child.on("close", code => {
            if (timer) clearTimeout(timer)
            if (timedOut) output += `\n[timed out after ${opts.timeoutMs} ms]\n`
            res({ code: timedOut ? 124 : (code ?? 1), output })
        })
    })
}

/**
 * Every detached child this process started (builds, devtools, simulated devices) and
 * whose output has not closed yet. A detached child has its own process group, so neither
 * Ctrl-C in the terminal nor our own death ends it: it would keep the devtools ports and
 * the next run would fail. `endAllChildren` ends them, and runs by itself when this process
 * exits — on process.exit(), the end of the event loop, or an uncaught exception (a
 * program that wants the same on SIGINT/SIGTERM installs handlers that call
 * process.exit, as `npm start` does before it starts its first child).
 */
const liveChildren = new Set<ChildProcess>()
let exitHookInstalled = false

/** Registers a detached child for `endAllChildren`; returns it. */
export function trackChild<C extends ChildProcess>(child: C): C {
    if (child.pid === undefined) return child
    liveChildren.add(child)
    // "close": the child and every process holding its output pipes (its group) are gone
    child.once("close", () => liveChildren.delete(child))
    if (!exitHookInstalled) {
        exitHookInstalled = true
        process.once("exit", endAllChildren)
    }
    return child
}

/** Synchronously sends SIGKILL to the process group of every tracked child still running. */
export function endAllChildren() {
    for (const c of liveChildren) {
        try {
            process.kill(-c.pid!, "SIGKILL")
        } catch {
            try {
                c.kill("SIGKILL")
            } catch {}
        }
    }
    liveChildren.clear()
}

/** How many tracked children are still running (tests). */
export function liveChildCount(): number {
    return liveChildren.size
}

/** Kills a process started with `detached: true` together with its children. */
export function killTree(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL") {
    if (child.pid === undefined || child.exitCode !== null) return
    try {
        process.kill(-child.pid, signal)
    } catch {
        try {
            child.kill(signal)
        } catch {}
    }
}

/** Compiles an entry file to bytecode; throws with the compiler's output on failure. */
export async function build(entry = "src/main.ts"): Promise<RunResult> {
    const r = await devs(["build", entry], { timeoutMs: 120_000 })
    if (r.code !== 0) throw new Error(`devs build ${entry} failed:\n${r.output}`)
    return r
}

/**
 * Where `buildCached` keeps images: `TRUSTMETER_BUILD_CACHE` names a directory (`npm test`
 * sets a fresh one for its run and removes it at the end, so one source tree is compiled
 * once per run); unset, every build compiles.
 */
export const BUILD_CACHE_ENV = "TRUSTMETER_BUILD_CACHE"

/**
 * A digest of everything `devs build entry` reads: src/, boards/, the entry's own folder
 * when it lives outside src/ (test or bench firmware), devsconfig.json, package.json and
 * the compiler's version (it writes the builtin @devicescript packages itself).
 */
export function firmwareDigest(entry: string): string {
    const h = createHash("sha256")
    const walk = (dir: string) => {
        let names: string[] = []
        try {
            names = readdirSync(dir).sort()
        } catch {
            return
        }
        for (const e of names) {
            const p = join(dir, e)
            if (statSync(p).isDirectory()) walk(p)
            else if (/\.(ts|json)$/.test(e)) h.update(relative(ROOT, p)).update("\0").update(readFileSync(p)).update("\0")
        }
    }
    const abs = resolve(ROOT, entry)
    h.update(relative(ROOT, abs)).update("\0")
    walk(join(ROOT, "src"))
    walk(join(ROOT, "boards"))
    if (!abs.startsWith(join(ROOT, "src") + "/")) walk(dirname(abs))
    for (const f of ["devsconfig.json", "package.json", "node_modules/@devicescript/cli/package.json"])
        if (existsSync(join(ROOT, f))) h.update(f).update("\0").update(readFileSync(join(ROOT, f))).update("\0")
    return h.digest("hex").slice(0, 32)
}

/** Where the build cache `cacheDir` keeps the image of `entry` as its sources are now. */
export function cachedImagePath(cacheDir: string, entry: string, digest = firmwareDigest(entry)): string {
    return join(cacheDir, `${relative(ROOT, resolve(ROOT, entry)).replace(/[^\w.-]+/g, "_").replace(/\.ts$/, "")}-${digest}.devs`)
}

/**
 * Whether a Node test file needs the machine's devtools ports (8081-8083) to itself: it
 * starts `devs devtools` or simulated devices, directly or through npm start, the fleet,
 * the HIL runner or the e2e helpers. Such files say so in their first lines ("Starts `devs
 * devtools`"); the patterns catch those that do not. `npm test` runs these one at a time.
 */
export function needsDevtools(testSource: string): boolean {
    return /devtools|startDevtools|runSimulatedDevice|Fleet\.start|sim\/src\/(start|fleet|demo)\.ts|tools\/hil\.ts|uplink_e2e|firmware_rig/.test(testSource)
}

/** Private build directories still on disk: removed when this process exits (Ctrl-C mid-build). */
const buildDirs = new Set<string>()
let buildDirHook = false

/**
 * Compiles `entry` (a path relative to the repository root) in a private directory whose
 * src/, boards/, package.json, devsconfig.json and node_modules are symlinks to the
 * checkout, so no concurrent build (another test, another person) can swap its output,
 * and returns the path of an image nobody else writes:
 *
 * - with a cache directory (`opts.cacheDir`, else `$TRUSTMETER_BUILD_CACHE`), the image is
 *   kept there under `firmwareDigest(entry)`: the same sources compile once. The digest is
 *   taken again after the build; if a source changed meanwhile the image is not cached.
 *   Cached images are never rewritten (written beside, then renamed): copy one before
 *   changing it.
 * - without one, it is a fresh file in the temp directory.
 *
 * `opts.to`: copy the image there (written beside, then renamed) and return that path.
 *
 * `log` hears "building the firmware (entry)..." before a compile, or which cached image
 * is used.
 */
export async function buildCached(entry: string, opts: { cacheDir?: string; to?: string; log?: (msg: string) => void } = {}): Promise<string> {
    const log = opts.log ?? (() => {})
    const cacheDir = opts.cacheDir ?? (process.env[BUILD_CACHE_ENV] || undefined)
    const key = cacheDir ? firmwareDigest(entry) : ""
    const name = cacheDir ? basename(cachedImagePath(cacheDir, entry, key)) : ""
    const deliver = (image: string) => {
        if (!opts.to) return image
        copyFileSync(image, `${opts.to}.${process.pid}.tmp`)
        renameSync(`${opts.to}.${process.pid}.tmp`, opts.to)
        return opts.to
    }
    if (cacheDir && existsSync(join(cacheDir, name))) {
        log(`firmware (${entry}) from the build cache, built from the same sources: ${join(cacheDir, name)}`)
        return deliver(join(cacheDir, name))
    }
    log(`building the firmware (${entry})...`)
    const dir = mkdtempSync(join(tmpdir(), "tm-build-"))
    buildDirs.add(dir)
    if (!buildDirHook) {
        buildDirHook = true
        process.once("exit", () => buildDirs.forEach(d => rmSync(d, { recursive: true, force: true })))
    }
    try {
        for (const f of ["src", "boards", "package.json", "devsconfig.json", "node_modules"]) symlinkSync(join(ROOT, f), join(dir, f))
        const abs = resolve(ROOT, entry)
        // entries outside src/ (bench, test firmware) are compiled where they are
        const arg = abs.startsWith(join(ROOT, "src") + "/") ? abs.slice(ROOT.length + 1) : abs
        const r = await devs(["build", arg], { cwd: dir, timeoutMs: 180_000 })
        if (r.code !== 0) throw new Error(`devs build ${entry} failed:\n${r.output}`)
        const image = join(dir, ".devicescript/bin/bytecode.devs")
        if (cacheDir && firmwareDigest(entry) === key) {
            mkdirSync(cacheDir, { recursive: true })
            const tmp = join(cacheDir, `${name}.${process.pid}.tmp`)
            copyFileSync(image, tmp)
            renameSync(tmp, join(cacheDir, name))
            return deliver(join(cacheDir, name))
        }
        if (opts.to) return deliver(image)
        const out = join(mkdtempSync(join(tmpdir(), "tm-image-")), "bytecode.devs")
        copyFileSync(image, out)
        return out
    } finally {
        rmSync(dir, { recursive: true, force: true })
        buildDirs.delete(dir)
    }
}

/**
 * The DeviceScript runtime refuses an image whose function code ends beyond 64 KB from the
 * image start (runtime/devicescript/verify.c, check 1051). Returns that end offset for a
 * compiled .devs file: the header's functions_data section start + length.
 */
export function imageCodeEnd(devsFile: string): number {
    const b = readFileSync(devsFile)
    return b.readUInt32LE(40) + b.readUInt32LE(44)
}
export const IMAGE_CODE_LIMIT = 65536

/** What a device test file declares in its header comments. */
export interface SuiteTags {
    /** `// @timeout 60000`: the suite's time limit in ms */
    timeoutMs: number
    /** `// @needs hardware` / `// @needs network`: what the suite needs to run */
    needs: string[]
}

export function readSuiteTags(file: string): SuiteTags {
    const head = readFileSync(file, "utf8").split("\n").slice(0, 20).join("\n")
    const t = /\/\/\s*@timeout\s+(\d+)/.exec(head)
    const needs = [...head.matchAll(/\/\/\s*@needs\s+([\w ,-]+)/g)].flatMap(m =>
        m[1].split(/[ ,]+/).filter(Boolean)
    )
    return { timeoutMs: t ? Number(t[1]) : 60_000, needs }
}

export interface SuiteResult {
    file: string
    passed: number
    failed: number
    /** true when the run ended without the test framework's summary (crash, timeout) */
    aborted: boolean
    output: string
}

/**
 * Runs one `@devicescript/test` file headless in the simulator (GC stress on) and reads
 * the framework's "tests: N, pass: P, error: E" line. A run that dies before that line
 * counts as one failure, so a crashing suite can never pass.
 */
export async function runDeviceSuite(file: string, timeoutMs: number): Promise<SuiteResult> {
    const r = await devs(["run", file, "--test", "--test-self-exit", "-T", String(timeoutMs)], {
        timeoutMs: timeoutMs + 30_000,
    })
    return parseSuiteOutput(file, r)
}

export function parseSuiteOutput(file: string, r: RunResult): SuiteResult {
    const m = /tests: (\d+), pass: (\d+), error: (\d+)/.exec(r.output)
    if (!m) return { file, passed: 0, failed: 1, aborted: true, output: r.output }
    const passed = Number(m[2])
    let failed = Number(m[3])
    // the framework reported success but the process failed (e.g. a later panic)
    if (failed === 0 && r.code !== 0) failed = 1
    return { file, passed, failed, aborted: false, output: r.output }
}

/** Resolves once something accepts TCP connections on `port`, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 20_000, host = "127.0.0.1") {
    const end = Date.now() + timeoutMs
    for (;;) {
        const ok = await new Promise<boolean>(res => {
            const s = connect(port, host)
            s.once("connect", () => {
                s.destroy()
                res(true)
            })
            s.once("error", () => res(false))
        })
        if (ok) return
        if (Date.now() > end) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`)
        await new Promise(r => setTimeout(r, 200))
    }
}

/** Starts `devs devtools` (the local server simulated devices connect to). */
export async function startDevtools(timeoutMs = 20_000): Promise<ChildProcess> {
    const child = trackChild(
        spawn(DEVS, ["devtools", "--no-colors"], {
            cwd: ROOT,
            stdio: ["ignore", "ignore", "pipe"],
            detached: true,
        })
    )
    let err = ""
    child.stderr!.on("data", d => (err += d))
    try {
        await waitForPort(DEVTOOLS_PORT, timeoutMs)
    } catch (e) {
        killTree(child)
        throw new Error(`devs devtools did not start (is port ${DEVTOOLS_PORT} taken?): ${err}`)
    }
    return child
}

export interface SimulatedDevice {
    child: ChildProcess
    /** everything the device printed so far (console lines start with "WASM> ") */
    output(): string
    /**
     * Resolves with the first output line matching `re`; rejects after `timeoutMs`, or as
     * soon as the device panics or dies (so a crash never costs the whole timeout).
     */
    waitFor(re: RegExp, timeoutMs?: number): Promise<string>
    /** `kill -9`: for the device this is a power cut */
    powerCut(): void
}

/**
 * Runs compiled bytecode as a long-running simulated device (no GC stress) connected to a
 * running devtools server. Its flash persists in `<dir>/.devicescript/flash/sim.bin`, so
 * give each simulated meter its own `dir`.
 */
export function runSimulatedDevice(bytecode: string, dir: string, deviceId: string): SimulatedDevice {
    mkdirSync(dir, { recursive: true })
    const child = trackChild(
        spawn(DEVS, ["run", bytecode, "--device-id", deviceId, "--no-colors"], {
            cwd: dir,
            stdio: ["ignore", "pipe", "pipe"],
            detached: true,
        })
    )
    let out = ""
    const waiters: { re: RegExp; res: (l: string) => void; rej: (e: Error) => void }[] = []
    let dead: string | undefined
    const fatal = /Unhandled exception|PANIC \d+|InfiniteLoop/
    const check = () => {
        for (const w of [...waiters]) {
            const m = out.split("\n").find(l => w.re.test(l))
            if (m !== undefined) {
                waiters.splice(waiters.indexOf(w), 1)
                w.res(m)
            } else if (dead) {
                waiters.splice(waiters.indexOf(w), 1)
                w.rej(new Error(`device ${deviceId} ${dead} before printing ${w.re}; output:\n${out.slice(-3000)}`))
            }
        }
    }
    const onData = (d: Buffer) => {
        out += d
        if (!dead && fatal.test(out)) dead = "crashed"
        check()
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.on("close", () => {
        dead = dead ?? "exited"
        check()
    })
    return {
        child,
        output: () => out,
        waitFor(re, timeoutMs = 30_000) {
            return new Promise((res, rej) => {
                const t = setTimeout(() => {
                    waiters.splice(waiters.indexOf(w), 1)
                    rej(new Error(`device ${deviceId}: no line ${re} after ${timeoutMs} ms; output:\n${out.slice(-3000)}`))
                }, timeoutMs)
                const w = {
                    re,
                    res: (l: string) => {
                        clearTimeout(t)
                        res(l)
                    },
                    rej: (e: Error) => {
                        clearTimeout(t)
                        rej(e)
                    },
                }
                waiters.push(w)
                check()
            })
        },
        powerCut: () => killTree(child, "SIGKILL"),
    }
}
