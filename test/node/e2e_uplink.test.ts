import { after, test } from "node:test"
import assert from "node:assert/strict"
import { startBroker } from "../../headend/src/broker.ts"
import { haveMosquitto, isPublish, phase, setup, sleep, startProxy, startTestBroker, stopDevtools, waitUntil } from "../firmware/uplink_e2e.ts"
import * as F from "../../src/wire/frame"
import * as U from "../../src/wire/report"
import { nodeCrypto as C } from "../../headend/src/crypto.ts"

// The uplink end to end (docs/uplink.md §14): the test firmware (test/firmware/uplink_meter.ts)
// in the simulator, a real broker, the head-end. Both tests share one devtools and one build.
after(stopDevtools)

// End to end with the embedded broker (aedes) behind a man in the middle that flips bits
// in frames, replays and drops them, both ways; then behaves. Nothing corrupted may be
// accepted by either side, and once the proxy behaves nothing is lost (docs/uplink.md §12).
test("e2e MITM: flipped, replayed and dropped frames are rejected; nothing lost afterwards", { timeout: 180_000 }, async () => {
    const broker = await startBroker()
    let evil = true
    const count = { up: 0, down: 0 }
    const seenBy = { up: [] as Buffer[], down: [] as Buffer[] }
    const proxy = await startProxy(broker, (p, dir) => {
        if (!evil || !isPublish(p)) return [p]
        const n = ++count[dir]
        const seen = seenBy[dir]
        seen.push(Buffer.from(p))
        const k = n % 4
        if (k === 0) return [] // drop
        if (k === 1) {
            // flip one bit inside the frame (after the MQTT header and topic)
            const q = Buffer.from(p)
            q[q.length - 1 - (n % 40)] ^= 1 << n % 8
            return [q]
        }
        if (k === 2 && seen.length > 2) return [p, seen[seen.length - 3]] // replay an older frame too
        return [p]
    })
    const e = await setup({ host: proxy.host, port: proxy.port })
    try {
        await e.connectHeadEnd(broker.url)
        const m = e.boot()
        await m.waitFor(/UPLINK boot/, 45_000)
        phase("meter booted")
        await waitUntil("a first ack", () => e.meterAcked() >= 0, 60_000, () => m.output().slice(-2000))
        // a forged ack (wrong key) straight onto the meter's downlink topic
        const forged = F.sealFrame(C, Buffer.alloc(32, 1), { version: F.FrameConst.Version, direction: 2, meterId: Buffer.from(e.meterId, "hex"), epoch: 0, counter: 999999 }, U.encodeAck(1000, 1, Buffer.alloc(16)))
        await e.bridge!.send(e.meterId, forged)
        // 8 uplink publishes see each kind of tampering twice (flip, pass, replay, drop);
        // 6 downlink publishes see a flip, a drop and a replay of an ack
        await waitUntil("the proxy to tamper with frames both ways", () => count.up >= 8 && count.down >= 6, 90_000, () => m.output().slice(-2000))
        phase(`proxy behaves after ${count.up} uplink and ${count.down} downlink publishes`)
        evil = false
        const head = e.meterHead()
        await waitUntil("everything to be acknowledged", () => e.meterAcked() >= head + 1, 60_000, () => m.output().slice(-2500))
        const acked = e.meterAcked()
        phase(`all ${acked + 1} records acknowledged`)
        e.checkStored(acked + 1)
        const rej = e.headEnd.rejected
        assert.ok((rej["bad-tag"] ?? 0) > 0, `head-end rejected corrupted frames: ${JSON.stringify(rej)}`)
        assert.ok((rej["replay"] ?? 0) > 0, `head-end rejected replays: ${JSON.stringify(rej)}`)
        assert.equal(rej["bad-chain"] ?? 0, 0)
        assert.equal(e.clones.length, 0)
        const status = e.last(/UPLINK status/)!
        assert.ok(Number(/rej=(\d+)/.exec(status)![1]) > 0, "the meter rejected corrupted or forged downlink frames")
    } finally {
        await e.stop()
        await proxy.close()
        await broker.close()
    }
})

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
