/**
 * A fleet of simulated meters: the real firmware (src/main.ts) in the DeviceScript
 * simulator, one `devs run` process per meter, each with its own device id (= its meter
 * id) and its own flash file in `.meters/<name>/`, all on one `devs devtools`.
 *
 * One devtools is enough: the meters share a Jacdac bus, but DeviceScript binds a
 * device's settings client to its own settings service (checked: each device reads back
 * only what it wrote, across restarts), and their MQTT sockets are separate processes.
 */
import { ChildProcess } from "node:child_process"
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { lockRunDir } from "../../headend/src/run_lock.ts"
import { join } from "node:path"
import { ROOT, SimulatedDevice, buildCached, killTree, runSimulatedDevice, startDevtools } from "../../tools/devs.ts"
import { Keystore, MeterEntry } from "../../headend/src/keystore.ts"
import { BrokerAddress, meterSettings } from "../../headend/src/provision.ts"
import { provisionSimulatedMeter } from "./provision.ts"
import { BrokerUrl, brokerSettings } from "../../headend/src/broker.ts"
import { JacdacBus } from "../../tools/jacdac.ts"

import { METERS_DIR } from "../../headend/src/paths.ts"
export { METERS_DIR }

/** The ports `devs devtools` listens on, on 127.0.0.1: dashboard and websocket, TCP proxy, debugger. */
export const DEVTOOLS_PORTS = [8081, 8082, 8083]

/**
 * Throws one line naming the first devtools port that something already holds. Without
 * this check a second fleet would find the first one's devtools listening, join its bus,
 * and fail later without saying why (provisioning: "did not confirm setting").
 */
export async function checkDevtoolsPorts() {
    for (const port of DEVTOOLS_PORTS) {
        const err = await new Promise<NodeJS.ErrnoException | undefined>(res => {
            const srv = createServer()
            srv.once("error", e => res(e))
            srv.listen({ port, host: "127.0.0.1", exclusive: true }, () => srv.close(() => res(undefined)))
        })
        if (err?.code === "EADDRINUSE")
            throw new Error(`port ${port} on 127.0.0.1 is in use (devs devtools of another \`npm start\` or test, or another program): stop it first; the simulated meters need ports ${DEVTOOLS_PORTS.join(", ")}`)
        if (err) throw new Error(`cannot listen on port ${port} on 127.0.0.1 (${err.code}): devs devtools needs ports ${DEVTOOLS_PORTS.join(", ")}`)
    }
}

/** One fleet per meters directory (headend/src/run_lock.ts). */
export const lockMetersDir = lockRunDir

export interface FleetOptions {
    keystore: Keystore
    /** the meters to run (entries of the keystore) */
    meters: MeterEntry[]
    /** where the meters find the broker; TLS and login go into UP_PROTO, UP_USER, UP_PASS */
    broker: BrokerAddress & Pick<BrokerUrl, "tls" | "username" | "password">
    clockScale: number
    /** compiled firmware; default: build src/main.ts now */
    firmware?: string
    /** where the meters' directories live (default .meters/) */
    dir?: string
    /** progress messages */
    log?: (msg: string) => void
}

/** One running simulated meter. */
export interface FleetMeter {
    entry: MeterEntry
    dir: string
    device: SimulatedDevice
    /** console lines (without the "WASM> " prefix) are passed to the fleet's listeners */
    restarts: number
    presses?: number
}

export type LineListener = (meter: FleetMeter, line: string) => void

export class Fleet {
    readonly meters: FleetMeter[] = []
    private devtools?: ChildProcess
    private listeners: LineListener[] = []
    private stopping = false
    private firmware = ""
    private exitListeners: ((m: FleetMeter) => void)[] = []
    /** devices powered off on purpose: their exit is not a crash */
    private switchedOff = new WeakSet<SimulatedDevice>()

    private constructor(private opts: FleetOptions) {}

    /** Builds (unless given) the firmware, starts devtools, provisions and boots every meter. */
    static async start(opts: FleetOptions): Promise<Fleet> {
        const f = new Fleet(opts)
        try {
            await f.boot()
        } catch (e) {
            await f.stop()
            throw e
        }
        return f
    }

    /** Called with every console line a meter prints. */
    onLine(l: LineListener) {
        this.listeners.push(l)
    }

    /** Called when a meter's process ends while the fleet is running (crash). */
    onExit(l: (m: FleetMeter) => void) {
        this.exitListeners.push(l)
    }

    /** The meter's flash file (the simulator's stand-in for the board's flash chip). */
    flashFile(m: FleetMeter): string {
        return join(m.dir, ".devicescript/flash/sim.bin")
    }

    /** Power cut (kill -9) and power back on: the firmware reboots from its flash. */
    async powerCycle(m: FleetMeter) {
        const old = m.device
        this.switchedOff.add(old)
        old.powerCut()
        await new Promise(r => (old.child.exitCode !== null || old.child.signalCode ? r(0) : old.child.once("close", r)))
        m.restarts++
        m.device = this.run(m)
    }

    /**
     * Rewrites the meter's flash file while the meter is off (an attacker with the board
     * on the bench), then powers it back on. `mutate` gets and returns the flash image.
     */
    async tamperFlash(m: FleetMeter, mutate: (flash: Buffer) => Buffer) {
        const old = m.device
        this.switchedOff.add(old)
        old.powerCut()
        await new Promise(r => (old.child.exitCode !== null || old.child.signalCode ? r(0) : old.child.once("close", r)))
        const file = this.flashFile(m)
        const img = mutate(readFileSync(file))
        // the meter is off; write beside and rename so the image is never half-written
        writeFileSync(file + ".tmp", img)
        renameSync(file + ".tmp", file)
        m.restarts++
        m.device = this.run(m)
    }

    /**
     * The consumer presses the meter's local button (GB "Arm": closes an armed relay). The
     * simulated board's button is inside the firmware, so the head-end writes the setting
     * `sim.press` (a press counter) over the Jacdac bus, as provisioning does; the simulator
     * entry (src/main.ts) polls it and calls `board.armButton.press()` when it changes.
     */
    async pressButton(m: FleetMeter) {
        m.presses = (m.presses ?? 0) + 1
        const bus = await JacdacBus.connect()
        try {
            await bus.writeSettings(m.entry.meterId, { "sim.press": Buffer.from(JSON.stringify(Date.now() % 1_000_000_000)) }, 20_000)
        } finally {
            bus.close()
        }
    }

    /** The process ids (each a process group) of the meters' simulators and of devtools. */
    processIds(): number[] {
        return [...this.meters.map(m => m.device.child.pid), this.devtools?.pid].filter((p): p is number => p !== undefined)
    }

    /**
     * Powers every meter off and stops devtools; resolves when their processes have ended
     * (at most 10 s), so that the devtools ports are free when it returns.
     */
    async stop() {
        this.stopping = true
        const children = [...this.meters.map(m => m.device.child), ...(this.devtools ? [this.devtools] : [])]
        for (const m of this.meters) m.device.powerCut()
        if (this.devtools) killTree(this.devtools)
        const ended = (c: ChildProcess) => new Promise(r => (c.exitCode !== null || c.signalCode !== null ? r(0) : c.once("exit", r)))
        let timer: NodeJS.Timeout | undefined
        await Promise.race([Promise.all(children.map(ended)), new Promise(r => (timer = setTimeout(r, 10_000)))])
        clearTimeout(timer)
    }

    private async boot() {
        const log = this.opts.log ?? (() => {})
        const dir = this.opts.dir ?? METERS_DIR
        mkdirSync(dir, { recursive: true })
        if (this.opts.firmware) this.firmware = this.opts.firmware
        else {
            // a private build (nobody else's build can swap it), reused from the build cache
            // when one is set ($TRUSTMETER_BUILD_CACHE: npm test compiles src/main.ts once per run)
            this.firmware = await buildCached("src/main.ts", { to: join(dir, "firmware.devs"), log })
        }
        log("starting devs devtools (the simulators' Jacdac bus)...")
        // again right before: the build took a while, and a devtools already listening would be joined silently
        await checkDevtoolsPorts()
        // a loaded machine can take a while to start devtools (CI runs two cores)
        this.devtools = await startDevtools(90_000)
        log(`provisioning ${this.opts.meters.length} meter(s): id, secret, trust anchors, broker...`)
        await Promise.all(
            this.opts.meters.map((entry, i) =>
                provisionSimulatedMeter(
                    join(dir, entry.name),
                    entry.meterId,
                    // sim.press: the button's press counter (pressButton), present from the start so reading it never waits
                    {
                        ...meterSettings(this.opts.keystore, entry, { broker: this.opts.broker, clockScale: this.opts.clockScale, seed: i + 1 }),
                        // cleared first: a flash keeps the login and TLS of an earlier run's broker otherwise (an empty setting reads as absent)
                        UP_PROTO: Buffer.alloc(0),
                        UP_USER: Buffer.alloc(0),
                        UP_PASS: Buffer.alloc(0),
                        ...brokerSettings(this.opts.broker),
                        "sim.press": Buffer.from("0"),
                    },
                    undefined,
                    log
                )
            )
        )
        for (const entry of this.opts.meters) {
            const m = { entry, dir: join(dir, entry.name), restarts: 0 } as FleetMeter
            m.device = this.run(m)
            this.meters.push(m)
        }
        log(`${this.meters.length} meter(s) running the firmware in the simulator`)
    }

    private run(m: FleetMeter): SimulatedDevice {
        // each flash save all-or-nothing, as on a board, so a power cut never empties the flash
        const preload = `--require ${join(ROOT, "sim/src/atomic_flash.cjs")}`
        const saved = process.env.NODE_OPTIONS
        process.env.NODE_OPTIONS = [saved, preload].filter(Boolean).join(" ")
        let dev: SimulatedDevice
        try {
            dev = runSimulatedDevice(this.firmware, m.dir, m.entry.meterId)
        } finally {
            if (saved === undefined) delete process.env.NODE_OPTIONS
            else process.env.NODE_OPTIONS = saved
        }
        let seen = 0
        const feed = () => {
            const out = dev.output()
            const nl = out.lastIndexOf("\n")
            if (nl < seen) return
            for (const l of out.slice(seen, nl).split("\n")) {
                const line = l.startsWith("WASM> ") ? l.slice(6) : l
                if (line.trim()) for (const f of this.listeners) f(m, line)
            }
            seen = nl + 1
        }
        dev.child.stdout!.on("data", () => setImmediate(feed))
        dev.child.stderr!.on("data", () => setImmediate(feed))
        dev.child.on("close", () => {
            feed()
            if (!this.stopping && !this.switchedOff.has(dev)) for (const l of this.exitListeners) l(m)
        })
        return dev
    }
}
