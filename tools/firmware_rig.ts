/**
 * One real meter on the bench, in the simulator: the firmware (src/main.ts) as a
 * long-running `devs run --device-id` device with its own flash file, provisioned by the
 * head-end (headend/src/provision.ts, over the devtools Jacdac bus), talking MQTT to a
 * broker (mosquitto when installed, else the embedded aedes) where the real ingestion
 * service (headend/src/station.ts → service.ts, embedded database) decides, stores and
 * acknowledges. Used by the power-cut test on the real firmware
 * (test/node/powercut_firmware.test.ts) and the store benchmark (bench/node/store_flash.bench.ts).
 *
 * - Time is accelerated with the firmware's own clock scale (`mt.scale`, src/metrology/clock.ts);
 *   the head-end's simulated UTC (`simNow`) runs at the same speed.
 * - Every flash save is all-or-nothing, and with `wear` accounted at the flash
 *   (tools/flash_wear.cjs): one JSON line per settings write or compaction in `<flash>.wear`.
 * - `acks: false`: the broker drops the head-end's acknowledgements (commands still pass),
 *   so nothing the meter stores is ever freed (filling the store).
 *
 * - `sharedDevtools`: several rigs on one devtools bus (the caller starts and stops it), each
 *   meter with its own id (`meterId`), flash, broker and head-end.
 *
 * Starts `devs devtools` (ports 8081-8083) unless it is shared: callers run under
 * `flock /tmp/trustmeter-devtools.lock` when other runs may share the machine.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, Server, Socket } from "node:net"
import { spawn, spawnSync, ChildProcess } from "node:child_process"
import { tmpdir } from "node:os"
import { join } from "node:path"
import mqtt, { MqttClient } from "mqtt"
import { Aedes } from "aedes"
import { ROOT, SimulatedDevice, buildCached, killTree, runSimulatedDevice, startDevtools, trackChild, waitForPort } from "./devs.ts"
import { checkDevtoolsPorts } from "../sim/src/fleet.ts"
import { provisionSimulatedMeter } from "../sim/src/provision.ts"
import { meterSettings } from "../headend/src/provision.ts"
import { Keystore, MeterEntry, addMeter, createKeystore } from "../headend/src/keystore.ts"
import { Station, StationEvents } from "../headend/src/station.ts"
import { openDatabase } from "../headend/src/db/index.ts"
import { signOpcode } from "../headend/src/operations.ts"
import { Opcode } from "../src/wire/opcodes"
import { timeSyncArgs } from "../src/wire/envelope"
import { downlinkTopic, uplinkTopic } from "../src/wire/report"

export interface RigOptions {
    /** meter seconds per real second (the firmware's `mt.scale`) */
    scale: number
    /** real ms between metrology ticks (`mt.tickMs`; default 100) */
    tickMs?: number
    /** false: the broker drops the head-end's acks (default true) */
    acks?: boolean
    /** account every flash save in `<flash>.wear` */
    wear?: boolean
    /** "embedded": aedes even when mosquitto is installed (needed for `acks: false`) */
    broker?: "mosquitto" | "embedded"
    /** more settings for the meter (JSON values as bytes) */
    settings?: Record<string, Buffer>
    events?: StationEvents
    log?: (line: string) => void
    /** the meter's id (16 hex characters; default the keystore's first) */
    meterId?: string
    /**
     * true: the caller started `devs devtools` (tools/devs.ts startDevtools) and stops it;
     * several rigs then share its bus, each meter its own id, flash, broker and head-end
     */
    sharedDevtools?: boolean
}

/** A broker the rig started: its URL, and whether it passes a downlink frame on. */
interface RigBroker {
    url: string
    close(): Promise<void>
    /** mosquitto's process (left to kill at exit if the test dies) */
    child?: ChildProcess
}

/** the largest downlink frame that can be an acknowledgement (src/wire/frame.ts, report.ts encodeAck) */
const ACK_FRAME_MAX = 24 + 25 + 16

export const MOSQUITTO = (() => {
    const r = spawnSync("sh", ["-c", "command -v mosquitto || ls /usr/sbin/mosquitto 2>/dev/null"], { encoding: "utf8" })
    return r.status === 0 ? r.stdout.trim().split("\n")[0] || undefined : undefined
})()

async function freePort(): Promise<number> {
    return new Promise(res => {
        const s = createServer().listen(0, "127.0.0.1", () => {
            const p = (s.address() as { port: number }).port
            s.close(() => res(p))
        })
    })
}

async function startMosquitto(dir: string): Promise<RigBroker> {
    const port = await freePort()
    const conf = join(dir, "mosquitto.conf")
    writeFileSync(conf, [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "log_dest none", ""].join("\n"))
    const child = trackChild(spawn(MOSQUITTO!, ["-c", conf], { stdio: "ignore", detached: true }))
    await waitForPort(port, 10_000)
    return {
        url: `mqtt://127.0.0.1:${port}`,
        child,
        close: async () => {
            killTree(child, "SIGKILL")
            await new Promise<void>(r => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("close", () => r())))
        },
    }
}

/** aedes on a free loopback port; `pass(topic, payload)` false drops a publish. */
async function startAedes(pass: (topic: string, payload: Buffer) => boolean): Promise<RigBroker> {
    const aedes = await Aedes.createBroker({
        authorizePublish: (_client, packet, done) => {
            if (!pass(packet.topic, Buffer.from(packet.payload as Buffer))) return done(new Error("dropped by the rig"))
            done(null)
        },
    })
    const server: Server = createServer(aedes.handle as any)
    const sockets = new Set<Socket>()
    server.on("connection", s => {
        sockets.add(s)
        s.on("close", () => sockets.delete(s))
    })
    await new Promise<void>(res => server.listen(0, "127.0.0.1", () => res()))
    const port = (server.address() as { port: number }).port
    return {
        url: `mqtt://127.0.0.1:${port}`,
        close: () =>
            new Promise<void>(res => {
                for (const s of sockets) s.destroy()
                server.close(() => aedes.close(() => res()))
            }),
    }
}

/**
 * src/main.ts's bytecode at `file`: from the run's build cache when `npm test` built it
 * already (tools/devs.ts buildCached, keyed by the sources' digest), else built in a private
 * directory (a concurrent build elsewhere cannot swap the image).
 */
export async function buildFirmware(file: string) {
    await buildCached("src/main.ts", { to: file })
}

export class FirmwareRig {
    readonly dir: string
    readonly ks: Keystore
    readonly entry: MeterEntry
    station!: Station
    broker!: RigBroker
    /** a client that sees every frame on the meter's topics: [time, topic, payload] */
    spy!: MqttClient
    device?: SimulatedDevice
    /** console lines of the running device (without "WASM> "), listeners called per line */
    private lineListeners: ((line: string) => void)[] = []
    private devtools?: ChildProcess
    private firmware = ""
    /** real ms (host) and UTC seconds at which simulated time started */
    private t0 = Date.now()
    private utc0 = Math.floor(Date.now() / 1000)
    /** false: the broker drops the head-end's acknowledgements (options.acks; may change while running) */
    acks: boolean

    private constructor(readonly o: RigOptions) {
        this.dir = mkdtempSync(join(tmpdir(), "tm-rig-"))
        this.ks = createKeystore()
        this.entry = addMeter(this.ks, "meter-1", o.meterId)
        this.acks = o.acks !== false
    }

    get meterId(): string {
        return this.entry.meterId
    }

    /** the meter's flash file */
    get flashFile(): string {
        return join(this.dir, "meter", ".devicescript/flash/sim.bin")
    }

    static async start(o: RigOptions): Promise<FirmwareRig> {
        const r = new FirmwareRig(o)
        try {
            await r.boot()
        } catch (e) {
            await r.stop()
            throw e
        }
        return r
    }

    /** Simulated UTC seconds: `scale` times faster than the host clock. */
    simNow(): number {
        return this.utc0 + Math.floor(((Date.now() - this.t0) / 1000) * this.o.scale)
    }

    onLine(l: (line: string) => void) {
        this.lineListeners.push(l)
    }

    private async boot() {
        const log = this.o.log ?? (() => {})
        this.firmware = join(this.dir, "firmware.devs")
        log("building src/main.ts")
        await buildFirmware(this.firmware)
        const embedded = this.o.broker === "embedded" || this.o.acks === false || !MOSQUITTO
        this.broker = embedded
            ? await startAedes((topic, payload) => {
                  if (this.acks || topic !== downlinkTopic(this.meterId)) return true
                  // commands pass, acknowledgements do not. Told apart by size (the body is
                  // encrypted): an ack frame is header (14-24 B) + 25-byte body + 16-byte tag,
                  // a command's body is its signed envelope (a 64-byte signature alone). A
                  // count of expected commands let an ack through in a command's place.
                  return payload.length > ACK_FRAME_MAX
              })
            : await startMosquitto(this.dir)
        log(`broker ${this.broker.url} (${embedded ? "embedded aedes" : "mosquitto"})`)
        // the embedded database opened now (initdb takes seconds), not at the meter's first frame
        const dbDir = join(this.dir, "db")
        this.station = await Station.connect(this.broker.url, this.ks, this.o.events ?? {}, 5000, { database: () => openDatabase({ backend: "pglite", dir: dbDir }) })
        this.spy = await mqtt.connectAsync(this.broker.url, { clientId: `tm-rig-spy-${process.pid}` })
        await this.spy.subscribeAsync([uplinkTopic(this.meterId), downlinkTopic(this.meterId)], { qos: 0 })
        if (!this.o.sharedDevtools) {
            await checkDevtoolsPorts()
            this.devtools = await startDevtools(90_000)
        }
        const b = new URL(this.broker.url)
        const settings = {
            ...meterSettings(this.ks, this.entry, { broker: { host: b.hostname, port: Number(b.port) }, clockScale: this.o.scale, seed: 1 }),
            "mt.tickMs": Buffer.from(JSON.stringify(this.o.tickMs ?? 100)),
            "sim.press": Buffer.from("0"),
            ...(this.o.settings ?? {}),
        }
        log("provisioning the meter")
        await provisionSimulatedMeter(join(this.dir, "meter"), this.meterId, settings, 60_000)
        // provisioning wrote the flash without accounting: the image now is the baseline
        if (existsSync(this.flashFile + ".wear")) rmSync(this.flashFile + ".wear")
        this.t0 = Date.now()
    }

    /** Powers the meter on (a fresh `devs run` of the firmware on its flash). */
    powerOn(): SimulatedDevice {
        const preload = `--require ${join(ROOT, "tools/flash_wear.cjs")}`
        const saved = { opts: process.env.NODE_OPTIONS, wear: process.env.TM_FLASH_WEAR }
        process.env.NODE_OPTIONS = [saved.opts, preload].filter(Boolean).join(" ")
        if (this.o.wear) process.env.TM_FLASH_WEAR = "1"
        let dev: SimulatedDevice
        try {
            dev = runSimulatedDevice(this.firmware, join(this.dir, "meter"), this.meterId)
        } finally {
            if (saved.opts === undefined) delete process.env.NODE_OPTIONS
            else process.env.NODE_OPTIONS = saved.opts
            if (saved.wear === undefined) delete process.env.TM_FLASH_WEAR
            else process.env.TM_FLASH_WEAR = saved.wear
        }
        let seen = 0
        const feed = () => {
            const out = dev.output()
            const nl = out.lastIndexOf("\n")
            if (nl < seen) return
            for (const l of out.slice(seen, nl).split("\n")) {
                const line = l.startsWith("WASM> ") ? l.slice(6) : l
                if (line.trim()) for (const f of this.lineListeners) f(line)
            }
            seen = nl + 1
        }
        dev.child.stdout!.on("data", () => feed())
        dev.child.stderr!.on("data", () => feed())
        dev.child.on("close", () => feed())
        this.device = dev
        return dev
    }

    /** kill -9: a power cut; resolves once the process is gone. */
    async powerCut() {
        const dev = this.device
        if (!dev) return
        dev.powerCut()
        await new Promise<void>(r => (dev.child.exitCode !== null || dev.child.signalCode !== null ? r() : dev.child.once("close", () => r())))
        this.device = undefined
    }

    /** Signs a time sync (network operator, as `npm start` does) for `utc` (default now) and sends it. */
    async timeSync(utc = this.simNow()): Promise<Buffer> {
        const env = signOpcode(this.ks, this.entry, Opcode.TimeSync, timeSyncArgs(utc), { role: "networkOperator", now: utc, validSeconds: 3600 })
        await this.station.sendCommand(this.entry, env)
        return env
    }

    async stop() {
        await this.powerCut().catch(() => {})
        const gone = (c?: ChildProcess) => new Promise<void>(r => (!c || c.exitCode !== null || c.signalCode !== null ? r() : c.once("close", () => r())))
        if (this.devtools) {
            killTree(this.devtools)
            await gone(this.devtools)
        }
        await this.spy?.endAsync(true).catch(() => {})
        await this.station?.close().catch(() => {})
        await this.broker?.close().catch(() => {})
        rmSync(this.dir, { recursive: true, force: true })
    }
}
