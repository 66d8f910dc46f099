/**
 * Hardware in the loop: runs firmware programs (device test suites, benchmarks) on a
 * DeviceScript device reached through `devs devtools` — a board on a serial port or USB,
 * or a simulated device started here — and reads their console output back.
 *
 * How a program gets onto the device: the runner compiles a small entry (a marker line,
 * then the suite) and hands the bytecode to `devs deploy`, the CLI's deploy-over-devtools
 * command, which streams it to the one DeviceScript device on the devtools bus (the same
 * path VS Code uses). A deployed `@devicescript/test` suite needs no flag to run: each
 * `describe()` schedules `runTests()`, which prints "tests: N, pass: P, error: E" and then
 * restarts the program, so the suite repeats until the next deploy. The marker carries a
 * fresh nonce per deploy, so this run's output is never confused with the last program's.
 *
 * Console output comes back on two paths: a board's log (the runtime's dmesg, streamed
 * with the Jacdac frames over serial/USB) is printed by devtools as `DEV> …` lines; the
 * simulated device prints `WASM> …` lines itself.
 */
import { spawn, ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { connect } from "node:net"
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative, resolve } from "node:path"
import {
    DEVS,
    DEVTOOLS_PORT,
    ROOT,
    SuiteResult,
    SuiteTags,
    killTree,
    parseSuiteOutput,
    waitForPort,
} from "./devs.ts"

/** How the device is reached: `devs devtools --serial`, `--usb`, or a simulated device. */
export type Transport = "serial" | "usb" | "sim"

/** What a device offers, for deciding which tagged suites can run on it. */
export interface DeviceTraits {
    /** a real board with relay, button, pulse input and metering IC wired (docs/hil.md) */
    board: boolean
    /** the device reaches the network (and the test broker) */
    network: boolean
}

export interface DeviceRun {
    /** console text printed by this deploy, from its marker line on */
    output: string
    /** true when `until` was seen; false on a timeout or a restart before it */
    finished: boolean
    /** why the run did not finish */
    reason?: string
}

/** The device stopped answering (deploy failed or timed out, devtools or simulator died). */
export class DeviceGone extends Error {}

/** The summary line `@devicescript/test` prints after the last test of a suite. */
export const SUITE_SUMMARY = /tests: \d+, pass: \d+, error: \d+/

/** Why a suite with these tags cannot run on this device, or undefined when it can. */
export function suiteSkipReason(tags: SuiteTags, device: DeviceTraits): string | undefined {
    if (tags.needs.includes("hardware") && !device.board)
        return "needs hardware: runs only on a real board (npm run test:hil -- --serial or --usb)"
    if (tags.needs.includes("network") && !device.network)
        return device.board
            ? "needs network: this board is run without it (pass --network if it has WiFi and reaches the broker)"
            : "needs network: this device is run without it (--no-network)"
    return undefined
}

/**
 * A DeviceScript device behind a devtools server this process started. `open` it, `run`
 * programs on it one after another, `close` it (kills devtools and the simulator).
 */
export class HilDevice {
    private lines: string[] = []
    private partial = new Map<ChildProcess, string>()
    private waiters: (() => void)[] = []
    private gone: string | undefined
    private deployed = 0
    private readonly work = mkdtempSync(join(tmpdir(), "tm-hil-"))
    private devtools: ChildProcess | undefined
    private simulator: ChildProcess | undefined
    private devtoolsOutput = ""

    private constructor(
        readonly transport: Transport,
        private readonly connectTimeoutMs: number
    ) {}

    /**
     * Starts `devs devtools` with the transport (and, for "sim", a simulated device that
     * waits for a deploy). Throws DeviceGone when devtools cannot start (e.g. the `usb`
     * package or `udevadm` is missing); a board that is absent shows at the first `run`.
     */
    static async open(transport: Transport, opts: { connectTimeoutMs?: number } = {}): Promise<HilDevice> {
        const dev = new HilDevice(transport, opts.connectTimeoutMs ?? 30_000)
        try {
            await dev.start()
        } catch (e) {
            await dev.close()
            throw e
        }
        return dev
    }

    /** Whether tagged suites can run here: a board has the hardware, the simulator the network. */
    traits(network?: boolean): DeviceTraits {
        const board = this.transport !== "sim"
        return { board, network: network ?? !board }
    }

    /** Everything the device printed so far (console text, prefixes stripped). */
    console(): string {
        return this.lines.join("\n")
    }

    /**
     * Compiles `file` (a firmware entry: a test suite or a benchmark), deploys it and
     * waits up to `timeoutMs` for a console line matching `until`. Resolves with what
     * the program printed; throws DeviceGone when the device did not take the program.
     */
    async run(file: string, until: RegExp, timeoutMs: number): Promise<DeviceRun> {
        if (this.gone) throw new DeviceGone(this.gone)
        const nonce = randomBytes(6).toString("hex")
        const marker = `hil: run ${nonce}`
        const entry = this.entryFor(file, nonce, marker)
        const from = this.lines.length
        // the first deploy also waits for the board to enumerate on the bus
        const limit = this.deployed === 0 ? this.connectTimeoutMs : 30_000
        // `devs deploy` compiles the entry and streams it to the device; it runs its own
        // VM as a bus client, whose (empty) flash lives in the work directory. Both VMs use
        // devtools' TCP proxy (--tcp): over its websocket, frames from a VM arrive
        // corrupted under load (the device logs "invalid CRC" and the transfer stalls;
        // 8 of 8 deploys of a 47 KB suite here, 0 of 4 over TCP). TCP is better, not
        // perfect: a deploy that still stalls for 30 s is tried again, three times in all
        let r = await this.deploy(entry, limit)
        // (the simulated device is known to be there; a board only once it took a program)
        const stalledOnDevice = () => this.deployed > 0 || this.transport === "sim"
        for (let again = 0; again < 2 && r.code === 124 && stalledOnDevice() && !this.gone; again++)
            r = await this.deploy(entry, limit)
        for (const f of [entry, join(this.work, `marker_${nonce}.ts`)]) rmSync(f, { force: true })
        if (this.gone) throw new DeviceGone(this.gone)
        if (!/remote-deployed/.test(r.output))
            // it never got to deploying: the program does not compile, the device is fine
            return { output: tail(r.output, 40), finished: false, reason: "the program did not compile" }
        if (r.code === 124 && stalledOnDevice() && (await this.answers())) {
            // the device takes a small program but not this one: most likely it does not
            // fit the device's program flash (the simulated device's is small)
            const size = /(\d+) bytes/.exec(r.output)?.[1]
            return {
                output: tail(this.lines.slice(from).join("\n"), 10),
                finished: false,
                reason: `three deploys of the program${size ? ` (${size} bytes)` : ""} stalled, ` +
                    "but the device takes a small one: is it larger than the device's program flash?",
            }
        }
        if (r.code !== 0) {
            const why =
                r.code === 124
                    ? !stalledOnDevice()
                        ? `no DeviceScript device took the program within ${limit / 1000} s over ${this.transport}: ` +
                          "is a board plugged in and flashed with the DeviceScript runtime (docs/hil.md)?"
                        : `the device stopped answering: three deploys timed out (${limit / 1000} s each); its last lines:\n` +
                          tail(this.lines.slice(from).join("\n"), 10)
                    : `deploy failed:\n${tail(r.output)}`
            this.gone = why
            throw new DeviceGone(why)
        }
        this.deployed++
        return this.watch(from, marker, `hil: done ${nonce}`, until, timeoutMs)
    }

    /** Whether the device still takes (and runs) a program that only prints its marker. */
    private async answers(): Promise<boolean> {
        const nonce = randomBytes(6).toString("hex")
        const marker = `hil: run ${nonce}`
        writeFileSync(join(this.work, `marker_${nonce}.ts`), markerModule(nonce, marker))
        const entry = join(this.work, `hil_${nonce}.ts`)
        writeFileSync(entry, `import "./marker_${nonce}"\n`)
        const r = await this.deploy(entry, 60_000)
        for (const f of [entry, join(this.work, `marker_${nonce}.ts`)]) rmSync(f, { force: true })
        if (r.code !== 0 || this.gone) return false
        return this.untilRaw(new RegExp(marker), 30_000).then(
            () => true,
            () => false
        )
    }

    /** Stops devtools and the simulated device and removes the work files. */
    async close() {
        for (const c of [this.simulator, this.devtools]) if (c) killTree(c)
        await Promise.all(
            [this.simulator, this.devtools].map(c =>
                c && c.exitCode === null && c.signalCode === null ? new Promise(r => c.once("close", r)) : undefined
            )
        )
        rmSync(this.work, { recursive: true, force: true })
    }

    private async start() {
        // a devtools server someone else runs would take our deploys: refuse to share
        if (await portTaken(DEVTOOLS_PORT))
            throw new DeviceGone(`port ${DEVTOOLS_PORT} is taken (another devs devtools or VS Code?): stop it first`)
        // the work directory is a project of its own that compiles against this one's
        // packages, so deploys never touch this tree's .devicescript (others build there)
        for (const f of ["devsconfig.json", "package.json"]) copyFileSync(join(ROOT, f), join(this.work, f))
        symlinkSync(join(ROOT, "node_modules"), join(this.work, "node_modules"), "dir")
        const flag = this.transport === "serial" ? ["--serial"] : this.transport === "usb" ? ["--usb"] : []
        this.devtools = this.spawnTapped(["devtools", ...flag], ROOT, true)
        await Promise.race([waitForPort(DEVTOOLS_PORT, 30_000).then(() => waitForPort(DEVTOOLS_TCP, 30_000)), this.untilGone()])
        if (this.transport !== "sim") return
        // the simulated device: a DeviceScript VM connected to devtools that waits for a
        // deploy; its flash lives in the work directory, so it never sees another meter's
        const dir = join(this.work, "device")
        mkdirSync(dir)
        this.simulator = this.spawnTapped(["run", "--wait", "--tcp", "--device-id", "00000000484c0001"], dir, false)
        await Promise.race([this.untilRaw(/waiting for external deploy/, 30_000), this.untilGone()])
    }

    private raw = ""

    /** Resolves when the raw output of devtools or the simulator matches `re`. */
    private untilRaw(re: RegExp, timeoutMs: number): Promise<void> {
        return new Promise((res, rej) => {
            const check = () => {
                if (!re.test(this.raw)) return
                clearTimeout(t)
                this.waiters.splice(this.waiters.indexOf(check), 1)
                res()
            }
            const t = setTimeout(() => {
                this.waiters.splice(this.waiters.indexOf(check), 1)
                rej(new DeviceGone(`no ${re} after ${timeoutMs} ms:\n${tail(this.raw)}`))
            }, timeoutMs)
            this.waiters.push(check)
            check()
        })
    }

    /** Rejects with DeviceGone once devtools or the simulator has exited. */
    private untilGone(): Promise<never> {
        return new Promise((_, rej) => {
            const check = () => {
                if (!this.gone) return
                this.waiters.splice(this.waiters.indexOf(check), 1)
                rej(new DeviceGone(this.gone))
            }
            this.waiters.push(check)
            check()
        })
    }

    /** Spawns `devs args` and feeds its console lines (and raw output) to this device. */
    private spawnTapped(args: string[], cwd: string, isDevtools: boolean): ChildProcess {
        // CI=1: the CLI must not stop to ask whether to install a missing transport package
        const child = spawn(DEVS, [...args, "--no-colors"], {
            cwd,
            env: { ...process.env, CI: "1" },
            stdio: ["ignore", "pipe", "pipe"],
            detached: true,
        })
        const onData = (d: Buffer) => {
            const s = d.toString()
            if (isDevtools) this.devtoolsOutput = (this.devtoolsOutput + s).slice(-20_000)
            this.raw = (this.raw + s).slice(-20_000)
            const text = (this.partial.get(child) ?? "") + s
            const parts = text.split("\n")
            this.partial.set(child, parts.pop()!)
            for (const l of parts) {
                const text = consoleText(l)
                if (text !== undefined) this.lines.push(text)
            }
            for (const w of [...this.waiters]) w()
        }
        child.stdout!.on("data", onData)
        child.stderr!.on("data", onData)
        child.on("close", () => {
            this.gone ??= isDevtools
                ? `devs devtools exited:\n${tail(this.devtoolsOutput)}${hint(this.devtoolsOutput)}`
                : "the simulated device exited"
            for (const w of [...this.waiters]) w()
        })
        return child
    }

    /**
     * Runs `devs deploy entry`: compile, then stream to the device. The deploy (not the
     * compile) must finish within `limitMs`; code 124 when it did not.
     */
    private deploy(entry: string, limitMs: number): Promise<{ code: number; output: string }> {
        return new Promise(res => {
            const child = spawn(DEVS, ["deploy", entry, "--tcp", "--no-colors"], {
                cwd: this.work,
                stdio: ["ignore", "pipe", "pipe"],
                detached: true,
            })
            let output = ""
            let timer = setTimeout(() => killTree(child), 180_000) // the compile itself hangs
            const onData = (d: Buffer) => {
                const compiled = /remote-deployed/.test(output)
                output += d
                if (!compiled && /remote-deployed/.test(output)) {
                    clearTimeout(timer)
                    timer = setTimeout(() => {
                        output += `\n[deploy timed out after ${limitMs} ms]`
                        code = 124
                        killTree(child)
                    }, limitMs)
                }
            }
            let code: number | undefined
            child.stdout!.on("data", onData)
            child.stderr!.on("data", onData)
            child.on("close", c => {
                clearTimeout(timer)
                res({ code: code ?? c ?? 1, output })
            })
        })
    }

    /**
     * Writes an entry that runs a marker module and then imports `file` (imports run in
     * order, and the marker's top-level await holds back the program's own top level).
     *
     * The marker makes a deploy run its program once: `@devicescript/test` restarts the
     * program after its summary, and a program restarting in a loop makes the next deploy
     * fail (the image arrives with an invalid CRC). So the marker records its nonce in a
     * setting (`hil.ran`); after the restart it finds it and idles until the next deploy.
     */
    private entryFor(file: string, nonce: string, marker: string): string {
        let target = relative(this.work, resolve(ROOT, file)).split("\\").join("/").replace(/\.ts$/, "")
        if (!target.startsWith(".")) target = "./" + target
        writeFileSync(join(this.work, `marker_${nonce}.ts`), markerModule(nonce, marker))
        const entry = join(this.work, `hil_${nonce}.ts`)
        writeFileSync(entry, `import "./marker_${nonce}"\nimport "${target}"\n`)
        return entry
    }

    /** Waits for `marker`, then for `until`, in the console lines from index `from` on. */
    private watch(from: number, marker: string, restarted: string, until: RegExp, timeoutMs: number): Promise<DeviceRun> {
        return new Promise(res => {
            const done = (r: DeviceRun) => {
                clearTimeout(timer)
                this.waiters.splice(this.waiters.indexOf(check), 1)
                res(r)
            }
            const output = (start: number, end = this.lines.length) => this.lines.slice(start, end).join("\n")
            const check = () => {
                const start = this.lines.indexOf(marker, from)
                if (start >= 0) {
                    for (let i = start + 1; i < this.lines.length; i++) {
                        if (until.test(this.lines[i])) return done({ output: output(start, i + 1), finished: true })
                        // the program started over without reaching `until`: it crashed
                        if (this.lines[i] === marker || this.lines[i] === restarted)
                            return done({ output: output(start, i), finished: false, reason: "the program restarted before finishing (crash?)" })
                    }
                }
                if (this.gone) done({ output: start >= 0 ? output(start) : "", finished: false, reason: this.gone })
            }
            // only this program's lines count: before its marker the last one may still print
            const timer = setTimeout(() => {
                const start = this.lines.indexOf(marker, from)
                const reason = `timed out after ${timeoutMs} ms${start < 0 ? " (the program never printed its first line)" : ""}`
                done({ output: start >= 0 ? output(start) : "", finished: false, reason })
            }, timeoutMs)
            this.waiters.push(check)
            check()
        })
    }
}

/**
 * The program's console text in one output line of devtools or the simulator, or
 * undefined for the tools' own lines. devtools prints a board's log lines (dmesg, console
 * output marked `> `) as `DEV> text`; the simulated device prints `WASM> text`; a VM that
 * devtools starts for VS Code prints `VM> text`.
 */
export function consoleText(line: string): string | undefined {
    const m = /^(?:WASM|DEV|VM)> ?(.*)$/.exec(line.replace(/\r$/, ""))
    return m ? m[1] : undefined
}

/**
 * Runs one device test suite on the device and reads its result the way `npm test` does
 * (`parseSuiteOutput`): a suite that times out, crashes or restarts before its summary
 * counts as one failure.
 */
export async function runSuiteOnDevice(dev: HilDevice, file: string, tags: SuiteTags): Promise<SuiteResult> {
    const r = await dev.run(file, SUITE_SUMMARY, tags.timeoutMs)
    const output = r.finished ? r.output : `${r.output}\n[${r.reason}]`
    return parseSuiteOutput(relative(ROOT, resolve(ROOT, file)), { code: r.finished ? 0 : 124, output })
}

/**
 * Runs firmware benchmarks (programs that print `BENCH <metric> <n>` lines and then
 * `BENCH_DONE`) one after another on a device; returns each one's console output.
 */
export async function runBenchesOnDevice(
    dev: HilDevice,
    files: string[],
    timeoutMs = 600_000
): Promise<{ file: string; output: string; error?: string }[]> {
    const out: { file: string; output: string; error?: string }[] = []
    for (const file of files) {
        const r = await dev.run(file, /BENCH_DONE/, timeoutMs)
        out.push({ file, output: r.output, error: r.finished ? undefined : r.reason })
    }
    return out
}

/**
 * Parses the device options shared by `npm run test:hil` and `npm run bench -- --device`:
 * `--serial`, `--usb`, `--sim`, or `--device=serial|usb|sim`. Undefined: none given.
 */
export function transportOption(args: string[]): Transport | undefined {
    for (const a of args) {
        const m = /^--(?:device=)?(serial|usb|sim)$/.exec(a)
        if (m) return m[1] as Transport
    }
    return undefined
}

/**
 * Looks for a board on the serial ports: Raspberry Pi (RP2040, USB id 2e8a) or Espressif
 * (ESP32-C3 USB serial/JTAG, 303a). Returns its port, or undefined (also when the ports
 * cannot be listed, e.g. no udev in a container).
 */
export async function findSerialBoard(): Promise<string | undefined> {
    try {
        const { SerialPort } = await import("serialport")
        const ports = await SerialPort.list()
        const p = ports.find(p => /^(2e8a|303a)$/i.test(p.vendorId ?? "") || /^(PX|JD)/.test(p.serialNumber ?? ""))
        return p ? `${p.path}${p.manufacturer ? ` (${p.manufacturer})` : ""}` : undefined
    } catch {
        return undefined
    }
}

function tail(s: string, n = 15): string {
    return s.trimEnd().split("\n").slice(-n).join("\n")
}

/** A hint for the usual reasons devtools cannot open a transport. */
function hint(out: string): string {
    if (/require package "usb"/.test(out)) return "\nhint: --usb needs the `usb` package: npm install --no-save usb"
    if (/udevadm/.test(out)) return "\nhint: listing serial ports needs udev (udevadm), e.g. apt-get install udev"
    if (/EADDRINUSE|address already in use/i.test(out)) return `\nhint: port ${DEVTOOLS_PORT} is taken (another devtools or VS Code?)`
    return ""
}

/** The marker module of a deploy (see HilDevice.entryFor). */
function markerModule(nonce: string, marker: string): string {
    return `import * as ds from "@devicescript/core"
import { readSetting, writeSetting } from "@devicescript/settings"

if ((await readSetting("${RAN_KEY}", "")) === "${nonce}") {
    console.log("hil: done ${nonce}")
    for (;;) await ds.sleep(3600000)
}
await writeSetting("${RAN_KEY}", "${nonce}")
console.log("${marker}")
`
}

/** devtools' TCP proxy (length-prefixed Jacdac frames), hard-coded in `devs devtools`. */
const DEVTOOLS_TCP = 8082

/** The setting where a deployed program notes that it has run (keys are at most 13 chars). */
const RAN_KEY = "hil.ran"

/** Whether something accepts connections on `port` (127.0.0.1). */
function portTaken(port: number): Promise<boolean> {
    return new Promise(res => {
        const s = connect(port, "127.0.0.1")
        s.once("connect", () => {
            s.destroy()
            res(true)
        })
        s.once("error", () => res(false))
    })
}
