import { test } from "node:test"
import assert from "node:assert/strict"
import { haveMosquitto, phase, setup, sleep, startTestBroker, waitUntil } from "../firmware/uplink_e2e.ts"

// End to end through a real mosquitto started by the test (.ci/run installs it; without it
// the same test runs on the embedded broker and says that the mosquitto run was skipped):
// the broker goes away for ≥ 30 s and the meter loses power in the middle of the outage;
// afterwards every interval is at the head-end exactly once (docs/uplink.md §7).
const kind = haveMosquitto ? "mosquitto" : "aedes"
if (!haveMosquitto) console.log("# skipped the mosquitto run of e2e_uplink_outage: mosquitto is not installed (apt-get install -y mosquitto; .ci/run installs it); running on the embedded broker instead")

test(`e2e outage (${kind}): broker down 31 s with a power cut in the middle; nothing lost, nothing doubled`, { timeout: 180_000 }, async () => {
    let broker = await startTestBroker(kind)
    const port = broker.port
    const e = await setup(broker)
    try {
        await e.connectHeadEnd(broker.url)
        let m = e.boot()
        await m.waitFor(/UPLINK boot/, 45_000)
        phase("meter booted")
        await waitUntil("2 records acknowledged", () => e.meterAcked() >= 2, 60_000, () => m.output().slice(-2000))
        // through this broker intervals arrive exactly once and the stored chain verifies
        e.checkStored(e.meterAcked() + 1)
        await broker.close()
        phase(`${kind} down`)
        const t0 = Date.now()
        await sleep(12_000)
        const headBeforeCut = e.meterHead()
        m.powerCut()
        await sleep(1000)
        m = e.boot()
        await m.waitFor(/UPLINK boot/, 45_000)
        phase("meter rebooted during the outage")
        await sleep(Math.max(0, 31_000 - (Date.now() - t0)))
        assert.ok(e.meterHead() > headBeforeCut, "the meter kept closing intervals after the reboot")
        broker = await startTestBroker(kind, port)
        phase(`${kind} back after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
        assert.ok(Date.now() - t0 >= 30_000, "the outage lasted at least 30 s")
        const headAtRestore = e.meterHead()
        await waitUntil(
            "the backlog to drain",
            () => e.meterAcked() >= headAtRestore + 1,
            60_000,
            () => m.output().slice(-2500)
        )
        const acked = e.meterAcked()
        phase(`backlog drained: ${acked + 1} records`)
        e.checkStored(acked + 1)
        const stored = e.bridge!.results.reduce((n, r) => n + (r.ok ? r.stored : 0), 0)
        assert.equal(stored, e.headEnd.readings(e.meterId).length, "each record stored exactly once")
        assert.equal(e.clones.length, 0, "a power cut is not a clone")
    } finally {
        await e.stop()
        await broker.close()
    }
})
