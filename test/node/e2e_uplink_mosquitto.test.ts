import { test } from "node:test"
import { spawn, spawnSync, ChildProcess } from "node:child_process"
import { createServer } from "node:net"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { killTree, waitForPort } from "../../sim/src/devs.ts"
import { buildMeterFirmware, setup, waitUntil } from "../firmware/uplink_e2e.ts"

// The same firmware against a real mosquitto started by the test (.ci/run installs it).
const have = spawnSync("sh", ["-c", "command -v mosquitto"]).status === 0
const skip = have ? false : "mosquitto is not installed (apt-get install -y mosquitto); .ci/run installs it"
if (skip) console.log(`# skipped e2e_uplink_mosquitto: ${skip}`)

async function freePort(): Promise<number> {
    const s = createServer()
    await new Promise<void>(r => s.listen(0, "127.0.0.1", () => r()))
    const p = (s.address() as { port: number }).port
    await new Promise(r => s.close(r))
    return p
}

test("e2e (mosquitto): intervals reach the head-end exactly once through a real broker", { timeout: 150_000, skip }, async () => {
    const code = await buildMeterFirmware()
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), "tm-mosq-"))
    const conf = join(dir, "mosquitto.conf")
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`)
    const mosq: ChildProcess = spawn("mosquitto", ["-c", conf], { stdio: "ignore", detached: true })
    await waitForPort(port, 10_000)
    const e = await setup(code, { host: "127.0.0.1", port })
    try {
        await e.connectHeadEnd(`mqtt://127.0.0.1:${port}`)
        const m = e.boot()
        await m.waitFor(/UPLINK boot/, 30_000)
        await waitUntil("5 records acknowledged", () => e.meterAcked() >= 5, 60_000, () => m.output().slice(-2000))
        e.checkStored(e.meterAcked() + 1)
    } finally {
        await e.stop()
        killTree(mosq)
    }
})
