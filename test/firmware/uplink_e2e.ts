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
