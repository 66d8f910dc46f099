/**
 * Power cuts on the real firmware (issue 13): src/main.ts — the real metrology, index store,
 * meter-state recovery, command handler and uplink — runs in the DeviceScript simulator as
 * a long-running device with its own flash (tools/firmware_rig.ts), on an accelerated clock
 * (`mt.scale` 1800: a half-hourly interval closes every real second). The real ingestion
 * service (headend/src/service.ts on its embedded database) receives its frames over MQTT
 * (mosquitto when installed, else the embedded broker), stores them and acknowledges them,
 * and the network operator's signed time syncs set its clock after every boot.
 *
 * The meter is cut (kill -9) CUTS times at random moments, chosen by a seeded generator
 * (the seed is printed: TM_POWERCUT_SEED=<seed> repeats the plan). Each life follows one
 * plan: cut during boot (chain verification, state recovery), during a time sync (after
 * the signed command was published and before the meter's answer reached the head-end),
 * during an acknowledgement (right after the head-end published an ack, while the meter
 * frees the records it names), or at a random moment of normal running. Some time syncs
 * go backwards (as after a head-end restart), within the meter's acceptance window.
 *
 * After every boot, once the meter's first frame of that life is stored (it carries the
 * register block and every record not acknowledged yet):
 * - the chain verifies on both ends: the meter's boot verdict (`METER chain ok=1`), and the
 *   head-end: no frame refused for a bad chain, no clone evidence, and the stored records
 *   verify from genesis (headend/src/chain_file.ts) with no tamper record in them;
 * - registers equal the chained intervals: the import register the meter reports is at least
 *   the sum of every interval it chained, and exceeds it by at most the open interval (plus
 *   one closing) at the household's highest power; when the records carry cumulative
 *   registers, each equals the previous one plus the interval's energy;
 * - no interval is stored twice (one record per UTC interval slot);
 * - at most the open interval's energy is lost per cut: the register after the boot is not
 *   below the intervals chained before the cut (the bound above, checked after every cut).
 *
 * Starts `devs devtools` (8081-8083): run under `flock /tmp/trustmeter-devtools.lock`.
 *
 * Runs only with TM_POWERCUT_FIRMWARE=1 for now (skipped, with the reason, otherwise): it has
 * not yet completed its 50 cuts on the current tree (a 6-cut run passed on fbb5724), and at
 * 6a8d61b the settings area overflows once 32 interval records of 137 bytes are stored
 * (docs/index-store.md, "Measuring capacity and wear"), which this test is expected to
 * catch until the compact record layout lands. Remove the guard when it passes.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { FirmwareRig } from "../../tools/firmware_rig.ts"
import { liveChildCount } from "../../tools/devs.ts"
import { verifyChainRecords } from "../../headend/src/chain_file.ts"
import { decodeRecord } from "../../headend/src/chain.ts"
import { RecordKind } from "../../src/wire/record"
import { IntervalStatus, decodeInterval } from "../../src/wire/interval"
import { decodeRegisters } from "../../src/wire/registers"
import type { Report } from "../../src/wire/report"

const CUTS = Number(process.env.TM_POWERCUT_CUTS ?? 50)
const SCALE = 1800
/** the simulated household's highest power (src/metrology/household.ts, no solar): base + fridge + lights + kettle */
const MAX_W = 180 + 95 + 320 + 2200
/** mWh of one half-hour interval at MAX_W */
const MAX_INTERVAL_MWH = MAX_W * 500
/** downlink frames shorter than this are acknowledgements (a signed command is longer) */
const ACK_MAX_BYTES = 120

function rng(seed: number) {
    let s = seed >>> 0
    return () => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0
        return s / 2 ** 32
    }
}
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

type Plan = "boot" | "sync" | "ack" | "run"

const skip = process.env.TM_POWERCUT_FIRMWARE === "1" ? false : "set TM_POWERCUT_FIRMWARE=1 (not yet in CI: see the file's header)"
if (skip) console.log(`# skipped powercut_firmware: ${skip}`)

test(`the real firmware survives ${CUTS} power cuts at random moments (boot, time sync, acknowledgement, running)`, { skip, timeout: 600_000 }, async () => {
    const seed = Number(process.env.TM_POWERCUT_SEED ?? Date.now() % 100000)
    console.log(`# seed ${seed} (TM_POWERCUT_SEED=${seed} repeats this plan)`)
    const random = rng(seed)
    const T0 = Date.now()

    // what the head-end saw
    const refused: string[] = []
    const clones: string[] = []
    let lastReport: { at: number; r: Report } | undefined
    const responses: number[] = [] // host time of each command answer
    const rig = await FirmwareRig.start({
        scale: SCALE,
        tickMs: 100,
        settings: { "mt.solarW": Buffer.from("0") },
        events: {
            report: (_m, r) => (lastReport = { at: Date.now(), r }),
            refused: (_m, why) => refused.push(why),
            chainBroken: (_m, at, why) => refused.push(`chain broken at ${at}: ${why}`),
            clone: (_m, d) => clones.push(d),
            response: () => responses.push(Date.now()),
        },
    })
    // host time of every acknowledgement (a downlink frame too short to carry a signed
    // command: an ack frame is ~60 bytes, a time sync's ~180) and of every uplink frame
    const downlinks: number[] = []
    const uplinks: number[] = []
    rig.spy.on("message", (topic, payload) => {
        if (process.env.TM_POWERCUT_DEBUG) console.log(`#   ${topic} ${payload.length} B`)
        if (!topic.startsWith("d/")) uplinks.push(Date.now())
        else if (payload.length < ACK_MAX_BYTES) downlinks.push(Date.now())
    })
    let lines: string[] = []
    rig.onLine(l => lines.push(l))

    const stats = { boot: 0, sync: 0, ack: 0, run: 0, duringSync: 0, duringAck: 0, backSyncs: 0, verdicts: 0, frames: 0 }
    let chainedBefore = 0 // Σ import of the intervals stored before the last cut
    try {
        for (let life = 0; life <= CUTS; life++) {
            const last = life === CUTS
            const plan: Plan = last ? "run" : life === 0 ? "run" : (["boot", "boot", "sync", "ack", "run"] as Plan[])[Math.floor(random() * 5)]
            lines = []
            const tOn = Date.now()
            rig.powerOn()
            if (plan === "boot") {
                // anywhere from the runtime's start to the first frames (chain check, recovery, PowerUp record)
                await sleep(300 + random() * 2500)
                stats.boot++
            } else {
                const reportsBefore = lastReport?.at ?? 0
                // the meter's first frame of this life: registers and every unacknowledged record
                const first = await waitUntil(() => (lastReport && lastReport.at > tOn && lastReport.at > reportsBefore && lastReport.r.registers ? lastReport : undefined), 60_000, () => `no frame from the meter after power-on (life ${life}); console:\n${lines.slice(-30).join("\n")}`)
                if (process.env.TM_POWERCUT_DEBUG) console.log(`#   first frame ${first.at - tOn} ms after power-on`)
                await checkAfterBoot(life, first.r)
                if (plan === "sync" || plan === "run" || plan === "ack") {
                    // a time sync; one in five goes back (as after a head-end restart), within the meter's window
                    const back = random() < 0.2 ? Math.floor(random() * 5400) : 0
                    if (back) stats.backSyncs++
                    const nResp = responses.length
                    await rig.timeSync(rig.simNow() - back)
                    if (plan === "sync") {
                        await sleep(random() * 1500)
                        if (responses.length === nResp) stats.duringSync++
                        stats.sync++
                    } else if (plan === "ack") {
                        // the next acknowledgement after the sync, then a cut within 0..80 ms of it
                        const nDown = downlinks.length
                        await waitUntil(() => (downlinks.length > nDown ? true : undefined), 30_000, () => "no acknowledgement after the time sync")
                        const tAck = downlinks[downlinks.length - 1]
                        await sleep(random() * 80)
                        // the meter has not sent a frame since the ack: it was still taking it in
                        if (!uplinks.some(u => u > tAck)) stats.duringAck++
                        stats.ack++
                    } else {
                        await sleep(last ? 4000 : 300 + random() * 2000)
                        stats.run++
                    }
                }
            }
            if (process.env.TM_POWERCUT_DEBUG) console.log(`# life ${life} ${plan}: ${Date.now() - tOn} ms; boot line at ${lines.findIndex(l => /METER chain/.test(l))}`)
            const verdict = lines.map(l => /^METER chain ok=(\d) head=(-?\d+)/.exec(l)).find(m => m)
            if (verdict) {
                stats.verdicts++
                assert.equal(verdict[1], "1", `life ${life}: the meter's boot verification failed: ${verdict[0]}`)
            }
            assert.ok(!lines.some(l => /Unhandled exception|PANIC|InfiniteLoop/.test(l)), `life ${life}: the firmware crashed:\n${lines.slice(-40).join("\n")}`)
            if (last) break
            chainedBefore = await storedImport()
            await rig.powerCut()
        }
        // the last life ran on: everything it stored is acknowledged and verified
        const records = await rig.station.service.records(rig.meterId)
        const v = verifyChainRecords(rig.entry, records.map(r => new Uint8Array(r.data)))
        assert.equal(v.status, "OK", `the head-end's copy of the chain: ${v.summary}`)
        const intervals = records.map(r => decodeRecord(r.data)!).filter(d => d.kind === RecordKind.IntervalClose)
        const powerUps = records.map(r => decodeRecord(r.data)!).filter(d => d.kind === RecordKind.PowerUp).length
        console.log(`# ${CUTS} cuts in ${((Date.now() - T0) / 1000).toFixed(0)} s: ${JSON.stringify(stats)}; head-end holds ${records.length} records, ${intervals.length} intervals, ${powerUps} power-ups; refusals: ${JSON.stringify(count(refused))}`)
        assert.ok(stats.boot + stats.sync + stats.ack + stats.run - 1 >= Math.min(CUTS, 50), "cuts made")
        if (CUTS >= 50) {
            assert.ok(stats.duringSync >= 3, `cuts during a time sync: ${stats.duringSync}`)
            assert.ok(stats.duringAck >= 3, `cuts during an acknowledgement: ${stats.duringAck}`)
            assert.ok(powerUps >= CUTS / 2, `power-up records: ${powerUps}`)
        }
    } finally {
        await rig.stop()
    }
    assert.equal(liveChildCount(), 0, "no process left behind")

    /** Σ import (mWh) of the intervals the head-end stored, or the last one's import register when they carry it. */
    async function storedImport(): Promise<number> {
        let n = 0
        let reg: number | undefined
        for (const r of await rig.station.service.records(rig.meterId)) {
            const d = decodeRecord(r.data)
            if (!d || d.kind !== RecordKind.IntervalClose) continue
            n += decodeInterval(Buffer.from(d.payload)).importMWh
            if (d.payload.length > 16) reg = decodeRegisters(Buffer.from(d.payload).subarray(16)).importMWh
        }
        return Math.max(n, reg ?? 0)
    }

    async function checkAfterBoot(life: number, report: Report) {
        stats.frames++
        assert.deepEqual(clones, [], `life ${life}: clone evidence`)
        assert.deepEqual(
            refused.filter(r => r !== "replay"),
            [],
            `life ${life}: the head-end refused frames`
        )
        const records = await rig.station.service.records(rig.meterId)
        // seqs 0..n, each once
        records.forEach((r, i) => assert.equal(r.seq, i, `life ${life}: stored seqs not contiguous at ${i}`))
        const v = verifyChainRecords(rig.entry, records.map(r => new Uint8Array(r.data)))
        assert.equal(v.status, "OK", `life ${life}: the stored chain: ${v.summary}`)
        let sum = 0
        let prevCum: number | undefined
        let chained = 0
        const slots = new Map<number, number>()
        for (const r of records) {
            const d = decodeRecord(r.data)!
            assert.notEqual(d.kind, RecordKind.Tamper, `life ${life}: a tamper record (${d.seq}) after plain power cuts`)
            if (d.kind !== RecordKind.IntervalClose) continue
            const iv = decodeInterval(Buffer.from(d.payload))
            sum += iv.importMWh
            if (!(iv.status & IntervalStatus.TimeUnknown)) {
                const before = slots.get(iv.start)
                assert.equal(before, undefined, `life ${life}: the interval slot ${iv.start} is stored twice (records ${before} and ${d.seq})`)
                slots.set(iv.start, d.seq)
            }
            // the register block at the interval's close (interval records since 1816ad4): it
            // is the previous one plus the interval's energy, exactly
            if (d.payload.length > 16) {
                const cum = decodeRegisters(Buffer.from(d.payload).subarray(16)).importMWh
                if (prevCum !== undefined) assert.equal(cum, prevCum + iv.importMWh, `life ${life}: record ${d.seq}: import register ${cum} is not ${prevCum} + ${iv.importMWh}`)
                else assert.ok(cum >= iv.importMWh, `life ${life}: record ${d.seq}: import register ${cum} below its interval's ${iv.importMWh}`)
                prevCum = cum
            }
        }
        chained = prevCum ?? sum
        assert.ok(report.registers, `life ${life}: the first frame after boot carries no registers`)
        const reg = decodeRegisters(Buffer.from(report.registers!))
        // nothing chained is counted twice or lost: the register covers every chained interval...
        assert.ok(reg.importMWh >= sum, `life ${life}: import register ${reg.importMWh} mWh below the chained intervals' ${sum} mWh`)
        assert.ok(reg.importMWh >= chained, `life ${life}: import register ${reg.importMWh} mWh below the last chained register ${chained} mWh`)
        // ... including all chained before the cut (at most the open interval lost)
        assert.ok(reg.importMWh >= chainedBefore, `life ${life}: import register ${reg.importMWh} mWh below the ${chainedBefore} mWh chained before the cut`)
        // ... and runs ahead of them by no more than the open interval (and one closing)
        assert.ok(reg.importMWh - sum <= 2 * MAX_INTERVAL_MWH, `life ${life}: import register ${reg.importMWh} mWh is ${reg.importMWh - sum} mWh ahead of the chained intervals`)
    }
})

async function waitUntil<T>(f: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> {
    const end = Date.now() + timeoutMs
    for (;;) {
        const v = f()
        if (v !== undefined) return v
        if (Date.now() > end) throw new Error(what())
        await sleep(20)
    }
}

function count(xs: string[]): Record<string, number> {
    const o: Record<string, number> = {}
    for (const x of xs) o[x] = (o[x] ?? 0) + 1
    return o
}
