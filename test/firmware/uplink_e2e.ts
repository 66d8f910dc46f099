/**
 * Helpers for the uplink end-to-end tests (test/node/e2e_uplink_*.test.ts): the test
 * firmware (test/firmware/uplink_meter.ts) in the simulator, provisioned over the Jacdac
 * bus like the fleet (sim/src/provision.ts), a broker, and the head-end with its bridge.
 */
import { copyFileSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { BYTECODE, build, killTree, runSimulatedDevice, startDevtools, SimulatedDevice } from "../../sim/src/devs.ts"
import { provisionSimulatedMeter } from "../../sim/src/provision.ts"
import { HeadEnd, CloneAlert } from "../../sim/src/headend/ingest.ts"
import { startBridge, Bridge } from "../../sim/src/headend/bridge.ts"
import { chainKey0, verifyChain } from "../../sim/src/chain.ts"

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

export async function waitUntil(what: string, cond: () => boolean, timeoutMs: number, dump?: () => string) {
    const end = Date.now() + timeoutMs
    while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}${dump ? "\n" + dump() : ""}`)
        await sleep(200)
    }
}

/** Builds the test firmware and returns a private copy of its bytecode. */
export async function buildMeterFirmware(): Promise<string> {
    await build("test/firmware/uplink_meter.ts")
    const code = join(mkdtempSync(join(tmpdir(), "tm-uplink-")), "meter.devs")
    copyFileSync(BYTECODE, code)
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

/** Starts devtools, provisions a fresh meter that talks to host:port and sets up a head-end. */
export async function setup(code: string, broker: { host: string; port: number }, intervalMs = 2000): Promise<E2E> {
    const devtools = await startDevtools()
    const meterId = "7e57" + randomBytes(6).toString("hex")
    const secret = randomBytes(32)
    const dir = mkdtempSync(join(tmpdir(), "tm-meter-"))
    const json = (v: unknown) => Buffer.from(JSON.stringify(v))
    try {
        await provisionSimulatedMeter(dir, meterId, {
            METER_ID: json(meterId),
            METER_SECRET: json(secret.toString("hex")),
            UP_HOST: json(broker.host),
            UP_PORT: json(broker.port),
            "tf.iv": json(intervalMs),
        })
    } catch (e) {
        killTree(devtools)
        throw e
    }
    const clones: CloneAlert[] = []
    const headEnd = new HeadEnd({ secretOf: id => (id === meterId ? secret : undefined), onClone: a => clones.push(a) })
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
                chainKey0(secret, Buffer.from(meterId, "hex"))
            )
            if (!v.ok) throw new Error(`stored chain does not verify: ${JSON.stringify(v)}`)
        },
        async stop() {
            e.meter?.powerCut()
            await e.bridge?.close()
            killTree(devtools)
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
