// A small fleet through a real broker into a scaled-out head-end: 200 protocol-level meters
// (sim/src/protocol/) on a mosquitto started here, two head-end workers on MQTT 5 shared
// subscriptions sharing a PostgreSQL server started here (bench/node/fleet_cluster.ts).
// While it runs: network outages, power cycles, frames the network delivers twice, forged
// downlink frames, a clone, a forged command, and a worker killed with SIGKILL mid-run.
// Afterwards every interval the meters sealed is stored exactly once and every chain
// verifies. Skipped, with the reason, when mosquitto or PostgreSQL is not installed.
// @timeout 240
// @lane serial (test/run.ts: a 200-meter fleet on accelerated time needs the CPU to itself)
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { FleetCluster } from "../../bench/node/fleet_cluster.ts"
import { postgresSkipReason } from "../../tools/postgres.ts"
import { Opcode, Verdict } from "../../src/wire/opcodes"
import { timeSyncArgs } from "../../src/wire/envelope"

const skip = spawnSync("sh", ["-c", "command -v mosquitto"]).status !== 0 ? "mosquitto is not installed (apt-get install -y mosquitto)" : postgresSkipReason()
if (skip) console.log(`# skipped fleet_small: ${skip}`)

const T0 = Date.now()
const phase = (what: string) => console.log(`# fleet +${((Date.now() - T0) / 1000).toFixed(1)} s: ${what}`)
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

test("200 meters, two workers on shared subscriptions, outages, reboots, duplicates, forgeries, a clone and a killed worker: no interval lost or stored twice", { skip, timeout: 240_000 }, async () => {
    // a half-hour interval every 4 s of real time; acks time out after 3 s
    const c = await FleetCluster.start({ meters: 200, workers: 2, scale: 450, ackTimeoutMs: 3000, log: l => (/killed|disturbance|fleet of/.test(l) ? phase(l) : undefined) })
    try {
        phase("cluster up")
        await c.waitUntil("every meter synced and drained", s => s.synced === s.meters && s.drained === s.meters, 90_000)
        phase(`synced: ${c.syncsSent} time syncs sent`)

        // a forged command through the head-end: a valid downlink frame, a broken signature
        const victim = c.entries[10].meterId
        const now = Math.floor(c.simNow() / 1000)
        const forged = c.networkOperatorEnvelope(victim, Opcode.TimeSync, timeSyncArgs(now), now)
        forged[forged.length - 1] ^= 1
        await c.sendCommand(victim, forged)
        for (let i = 0; i < 100 && !c.answers.some(a => a.meterId === victim); i++) await sleep(100)

        await c.disturb({ outage: 0.05, outageMs: 8_000, reboot: 0.03, forged: 0.05, duplicate: 0.05 })
        const cloneIndex = 150
        await c.fleet("clone", { index: cloneIndex })
        const cloneId = c.entries[cloneIndex].meterId
        // the kill lands in the burst of an interval boundary, when both workers have batches in flight
        const half = 1_800_000
        await sleep(c.realAt((Math.floor(c.simNow() / half) + 1) * half) + 100 - Date.now())
        const [first] = c.workers
        c.killWorker(first.name)
        await sleep(2000)
        await c.startWorker()
        await c.disturb({ reboot: 0.02, forged: 0.02 })
        await sleep(8000)
        // the small fleet runs a minute: ≥ 15 half-hours of every meter's profile
        await sleep(Math.max(0, T0 + 60_000 - Date.now()))
        phase("disturbances done; draining")
        const s = await c.waitUntil("every meter (not cloned) drained again", s => s.drained === s.meters - s.cloned && s.synced === s.meters - s.cloned, 90_000)
        phase(`drained: ${JSON.stringify(s.stats)}`)
        const ws = await c.workerStats()
        phase(`workers: ${JSON.stringify(ws.map(w => ({ name: w.name, accepted: w.accepted, refused: w.refused, reloads: w.reloads, errors: w.errors })))}`)

        const v = await c.verify()
        phase(`verified: ${JSON.stringify({ ...v, brokenChains: v.brokenChains.slice(0, 5) })}`)
        // the fleet process answered "stop" and is exiting: a request now meets a closed channel
        // or an EPIPE, which must reject, not throw an uncaught 'error' (it ended this test twice)
        await assert.rejects(c.fleet("status"), /the fleet process cannot take "status"/)
        assert.equal(v.meters, 199)
        assert.ok(v.intervalsSealed > 199 * 10, `${v.intervalsSealed} intervals sealed`)
        assert.equal(v.lost, 0, "no interval lost")
        assert.equal(v.duplicates, 0, "no interval stored twice")
        assert.deepEqual(v.brokenChains, [])
        assert.equal(v.refusedByMeters, 0, "no store ran full")
        assert.ok(v.cloneEvidence.includes(cloneId), `clone evidence for ${cloneId}: ${v.cloneEvidence.join(", ")}`)
        const refusal = c.answers.find(a => a.meterId === victim && a.verdict !== Verdict.Accepted)
        assert.equal(refusal?.verdict, Verdict.BadSignature, "the meter refused the forged command")
        assert.ok(ws.every(w => w.errors === 0), "no handler failed")
        assert.ok(ws.reduce((n, w) => n + w.reloads, 0) > 0, "frames of one meter reached both workers")
    } finally {
        await c.stop()
    }
})
