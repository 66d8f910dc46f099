/**
 * Helpers for the uplink end-to-end tests (test/node/e2e_uplink_*.test.ts): the test
 * firmware (test/firmware/uplink_meter.ts) in the simulator, provisioned over the Jacdac
 * bus like the fleet (sim/src/provision.ts), a broker, and the head-end with its bridge.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { spawn, spawnSync, ChildProcess } from "node:child_process"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { BUILD_CACHE_ENV, buildCached, killTree, runSimulatedDevice, startDevtools, SimulatedDevice, waitForPort } from "../../tools/devs.ts"
import { startBroker } from "../../headend/src/broker.ts"
import { provisionSimulatedMeter } from "../../sim/src/provision.ts"
import { HeadEnd, CloneAlert } from "../../headend/src/ingest.ts"
import { startBridge, Bridge } from "../../headend/src/bridge.ts"
import { verifyChain } from "../../headend/src/chain.ts"

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

export async function waitUntil(what: string, cond: () => boolean, timeoutMs: number, dump?: () => string) {
    const end = Date.now() + timeoutMs
    while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}${dump ? "\n" + dump() : ""}`)
        await sleep(200)
    }
}

/** Milliseconds since this process loaded the helpers, for the tests' phase log. */
const T0 = Date.now()
export function phase(what: string) {
    console.log(`# e2e +${((Date.now() - T0) / 1000).toFixed(1)} s: ${what}`)
}

/**
 * Builds the test firmware and returns a private copy of its bytecode. The e2e tests run
 * one after the other with the same firmware: the build is private (tools/devs.ts
 * buildCached: another build in the checkout cannot swap it) and kept under a digest of
 * every firmware source (src/, test/firmware/, devsconfig.json, the compiler's version),
 * in npm test's build cache or else in the temp dir, so a source change always rebuilds
 * and an unchanged tree builds once.
 */
export async function buildMeterFirmware(): Promise<string> {
    const code = join(mkdtempSync(join(tmpdir(), "tm-uplink-")), "meter.devs")
    await buildCached("test/firmware/uplink_meter.ts", {
        cacheDir: process.env[BUILD_CACHE_ENV] || join(tmpdir(), "tm-firmware-cache"),
        to: code,
        log: m => phase(m.replace(/: \/.*/, "")),
    })
    return code
}

export interface E2E {
    meterId: string
    secret: Buffer
    dir: string
    code: string
    headEnd: HeadEnd
    clones: CloneAlert[]
    devtools: import("node:child_process").ChildProcess
    meter?: SimulatedDevice
    bridge?: Bridge
    /** boots (or reboots) the meter from its flash */
    boot(): SimulatedDevice
    connectHeadEnd(url: string): Promise<Bridge>
    /** the meter's newest line matching `re` */
    last(re: RegExp): string | undefined
    /** the meter's head seq from its last status line */
    meterHead(): number
    meterAcked(): number
    /** asserts the head-end holds exactly the records 0..n-1, once each, and the chain verifies */
    checkStored(n: number): void
    stop(): Promise<void>
}

/**
 * Starts devtools (once per process: the tests of a file share it), provisions a fresh
 * meter that talks to host:port and sets up a head-end.
 * The firmware build (or its cached bytecode) runs alongside devtools and provisioning,
 * which do not need it.
 */
export async function setup(broker: { host: string; port: number }, intervalMs = 1500): Promise<E2E> {
    const building = buildMeterFirmware()
    building.catch(() => {})
    const devtools = await sharedDevtools()
    const meterId = "7e57" + randomBytes(6).toString("hex")
    const secret = randomBytes(32)
    // the chain key K_0: random, written to st.k0 (the meter deletes it after genesis), kept here as the keystore escrows it
    const k0 = randomBytes(32)
    const dir = mkdtempSync(join(tmpdir(), "tm-meter-"))
    const json = (v: unknown) => Buffer.from(JSON.stringify(v))
    try {
        await provisionSimulatedMeter(dir, meterId, {
            METER_ID: json(meterId),
            METER_SECRET: json(secret.toString("hex")),
            "st.k0": json(k0.toString("hex")),
            UP_HOST: json(broker.host),
            UP_PORT: json(broker.port),
            "tf.iv": json(intervalMs),
        })
    } catch (e) {
        stopDevtools()
        throw e
    }
    phase("meter provisioned")
    let code: string
    try {
        code = await building
    } catch (e) {
        stopDevtools()
        throw e
    }
    const clones: CloneAlert[] = []
    const headEnd = new HeadEnd({ secretOf: id => (id === meterId ? secret : undefined), chainKeyOf: id => (id === meterId ? k0 : undefined), onClone: a => clones.push(a) })
    const e: E2E = {
        meterId,
        secret,
        dir,
        code,
        headEnd,
        clones,
        devtools,
        boot() {
            e.meter = runSimulatedDevice(code, dir, meterId)
            return e.meter
        },
        async connectHeadEnd(url: string) {
            e.bridge = await startBridge(headEnd, url)
            return e.bridge
        },
        last(re) {
            const lines = (e.meter?.output() ?? "").split("\n").filter(l => re.test(l))
            return lines[lines.length - 1]
        },
        meterHead() {
            const l = e.last(/UPLINK status/)
            return l ? Number(/head=(-?\d+)/.exec(l)![1]) : -1
        },
        meterAcked() {
            const l = e.last(/UPLINK status/)
            return l ? Number(/acked=(-?\d+)/.exec(l)![1]) : -1
        },
        checkStored(n: number) {
            const rs = headEnd.readings(meterId)
            const seqs = rs.map(r => r.seq)
            const want = Array.from({ length: n }, (_, i) => i)
            if (JSON.stringify(seqs.slice(0, n)) !== JSON.stringify(want))
                throw new Error(`head-end holds seqs ${JSON.stringify(seqs)}, expected 0..${n - 1}`)
            const v = verifyChain(
                rs.map(r => r.data),
                k0
            )
            if (!v.ok) throw new Error(`stored chain does not verify: ${JSON.stringify(v)}`)
        },
        async stop() {
            e.meter?.powerCut()
            await e.bridge?.close()
        },
    }
    return e
}

/** Splits an MQTT byte stream into whole control packets. */
export class MqttSplitter {
    private buf = Buffer.alloc(0)
    push(d: Buffer): Buffer[] {
        this.buf = Buffer.concat([this.buf, d])
        const out: Buffer[] = []
        for (;;) {
            if (this.buf.length < 2) break
            let len = 0
            let mul = 1
            let i = 1
            for (; i < 5 && i < this.buf.length; i++) {
                len += (this.buf[i] & 127) * mul
                mul *= 128
                if (!(this.buf[i] & 128)) break
            }
            if (i >= this.buf.length) break
            const total = i + 1 + len
            if (this.buf.length < total) break
            out.push(this.buf.subarray(0, total))
            this.buf = this.buf.subarray(total)
        }
        return out
    }
}

export type Tamper = (packet: Buffer, dir: "up" | "down") => Buffer[]

/**
 * A man-in-the-middle TCP proxy in front of a broker: every whole MQTT packet goes through
 * `tamper`, which returns what to forward instead (nothing = drop, several = replay).
 */
export async function startProxy(target: { host: string; port: number }, tamper: Tamper) {
    const net = await import("node:net")
    const sockets = new Set<import("node:net").Socket>()
    const server = net.createServer(client => {
        const upstream = net.connect(target.port, target.host)
        sockets.add(client)
        sockets.add(upstream)
        const up = new MqttSplitter()
        const down = new MqttSplitter()
        client.on("data", d => {
            for (const p of up.push(d)) for (const q of tamper(p, "up")) upstream.write(q)
        })
        upstream.on("data", d => {
            for (const p of down.push(d)) for (const q of tamper(p, "down")) client.write(q)
        })
        const end = () => {
            client.destroy()
            upstream.destroy()
        }
        client.on("error", end)
        upstream.on("error", end)
        client.on("close", end)
        upstream.on("close", end)
    })
    await new Promise<void>(r => server.listen(0, "127.0.0.1", () => r()))
    return {
        host: "127.0.0.1",
        port: (server.address() as { port: number }).port,
        close: () =>
            new Promise<void>(r => {
                for (const s of sockets) s.destroy()
                server.close(() => r())
            }),
    }
}

/** True for an MQTT PUBLISH packet. */
export const isPublish = (p: Buffer) => p[0] >> 4 === 3

let devtools: Promise<ChildProcess> | undefined
let devtoolsChild: ChildProcess | undefined

/** devs devtools for this process, started on first use; the test file stops it with stopDevtools. */
function sharedDevtools(): Promise<ChildProcess> {
    if (!devtools) {
        devtools = startDevtools().then(d => {
            devtoolsChild = d
            phase("devtools up")
            return d
        })
        devtools.catch(() => (devtools = undefined))
        process.once("exit", stopDevtools)
    }
    return devtools
}

/** Kills this process's devtools (call it in the test file's `after`). */
export function stopDevtools() {
    if (devtoolsChild) killTree(devtoolsChild)
    devtoolsChild = undefined
    devtools = undefined
}

export interface TestBroker {
    kind: "mosquitto" | "aedes"
    host: string
    port: number
    url: string
    close(): Promise<void>
}

/** True when a mosquitto binary is on the PATH (.ci/run installs it with apt). */
export const haveMosquitto = spawnSync("sh", ["-c", "command -v mosquitto"]).status === 0

/**
 * A broker for the e2e tests: a real mosquitto started here when installed, else the
 * embedded aedes. `port` 0 picks a free one; give the old port to restart after an outage.
 */
export async function startTestBroker(kind: "mosquitto" | "aedes", port = 0): Promise<TestBroker> {
    if (kind === "aedes") {
        const b = await startBroker({ port })
        return { kind, host: b.host, port: b.port, url: b.url, close: () => b.close() }
    }
    const p = port || (await freePort())
    const dir = mkdtempSync(join(tmpdir(), "tm-mosq-"))
    const conf = join(dir, "mosquitto.conf")
    writeFileSync(conf, `listener ${p} 127.0.0.1\nallow_anonymous true\npersistence false\n`)
    const mosq: ChildProcess = spawn("mosquitto", ["-c", conf], { stdio: "ignore", detached: true })
    await waitForPort(p, 10_000)
    return {
        kind,
        host: "127.0.0.1",
        port: p,
        url: `mqtt://127.0.0.1:${p}`,
        close: async () => {
            if (mosq.exitCode !== null) return
            const gone = new Promise(r => mosq.once("exit", r))
            killTree(mosq)
            await gone
        },
    }
}

async function freePort(): Promise<number> {
    const s = createServer()
    await new Promise<void>(r => s.listen(0, "127.0.0.1", () => r()))
    const p = (s.address() as { port: number }).port
    await new Promise(r => s.close(r))
    return p
}
