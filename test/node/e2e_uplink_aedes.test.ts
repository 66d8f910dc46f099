import { test } from "node:test"
import assert from "node:assert/strict"
import { startBroker } from "../../sim/src/broker.ts"
import { buildMeterFirmware, setup, waitUntil } from "../firmware/uplink_e2e.ts"
import * as U from "../../sim/src/uplink.ts"

// Firmware in the simulator → embedded aedes broker → head-end, end to end.
test("e2e (aedes): every closed interval reaches the head-end exactly once and is acknowledged", { timeout: 150_000 }, async () => {
    const code = await buildMeterFirmware()
    const broker = await startBroker()
    const e = await setup(code, broker)
    try {
        await e.connectHeadEnd(broker.url)
        const m = e.boot()
        await m.waitFor(/UPLINK boot/, 30_000)
        await waitUntil("6 records acknowledged", () => e.meterAcked() >= 6, 60_000, () => m.output().slice(-2000))
        // a forged ack (random key) and a replayed ack on the meter's downlink topic
        const forged = U.sealFrame(Buffer.alloc(32, 1), { version: 1, direction: 2, meterId: Buffer.from(e.meterId, "hex"), epoch: 0, counter: 999999 }, U.encodeAck(1000, 1))
        await e.bridge!.send(e.meterId, forged)
        const head = e.meterHead()
        await waitUntil("the meter to keep sending", () => e.meterHead() >= head + 2 && e.meterAcked() >= head + 1, 30_000, () => m.output().slice(-2000))
        const acked = e.meterAcked()
        e.checkStored(acked + 1)
        assert.ok(/rej=[1-9]/.test(e.last(/UPLINK status/)!), "the forged ack was counted as rejected")
        assert.equal(e.clones.length, 0)
        assert.equal(e.headEnd.rejected["bad-tag"] ?? 0, 0)
    } finally {
        await e.stop()
        await broker.close()
    }
})
