/**
 * Driving the DeviceScript tool (`devs`) from Node: builds, headless test runs, the
 * devtools server and long-running simulated meters. Used by the test runner, the
 * benchmark runner, `npm start` and the head-end's fleet.
 */
import { spawn, ChildProcess } from "node:child_process"
import { connect } from "node:net"
import { mkdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
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
