import { test } from "node:test"
import assert from "node:assert/strict"
import { startBroker } from "../../sim/src/broker.ts"
import { buildMeterFirmware, setup, sleep, waitUntil } from "../firmware/uplink_e2e.ts"

// The broker goes away for ≥ 30 s and the meter loses power in the middle of the outage:
// afterwards every interval is at the head-end exactly once (docs/uplink.md §7).
test("e2e outage: broker down 32 s with a power cut in the middle; nothing lost, nothing doubled", { timeout: 180_000 }, async () => {
    const code = await buildMeterFirmware()
    let broker = await startBroker()
    const port = broker.port
    const e = await setup(code, broker)
    try {
        await e.connectHeadEnd(broker.url)
        let m = e.boot()
        await m.waitFor(/UPLINK boot/, 30_000)
        await waitUntil("3 records acknowledged", () => e.meterAcked() >= 3, 60_000, () => m.output().slice(-2000))
        await broker.close()
        const t0 = Date.now()
        await sleep(14_000)
        const headBeforeCut = e.meterHead()
        m.powerCut()
        await sleep(1000)
        m = e.boot()
        await m.waitFor(/UPLINK boot/, 30_000)
        await sleep(Math.max(0, 32_000 - (Date.now() - t0)))
        assert.ok(e.meterHead() > headBeforeCut, "the meter kept closing intervals after the reboot")
        broker = await startBroker({ port })
        const headAtRestore = e.meterHead()
        await waitUntil(
            "the backlog to drain",
            () => e.meterAcked() >= headAtRestore + 1,
            60_000,
            () => m.output().slice(-2500)
        )
        const acked = e.meterAcked()
        e.checkStored(acked + 1)
        const stored = e.bridge!.results.reduce((n, r) => n + (r.ok ? r.stored : 0), 0)
        assert.equal(stored, e.headEnd.readings(e.meterId).length, "each record stored exactly once")
        assert.equal(e.clones.length, 0, "a power cut is not a clone")
    } finally {
        await e.stop()
        await broker.close()
    }
})
