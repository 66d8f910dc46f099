/**
 * The fleet bench (`npm run bench -- --fleet`, not part of the default run): 10,000
 * protocol-level meters (sim/src/protocol/) through a real mosquitto into head-end workers
 * on MQTT 5 shared subscriptions over one real PostgreSQL (bench/node/fleet_cluster.ts),
 * on a simulated clock where a half-hour interval lasts `intervalS` real seconds.
 *
 * Every meter's clock is set by the network operator's time sync, so the whole fleet closes
 * its interval at the same instant, as a real fleet does at every :00 and :30: each
 * boundary is a burst of one frame per meter. Per burst: frames acknowledged per second
 * from its first publish to its 99th percentile ack, and each frame's latency from
 * the meter's publish to the meter's receipt of its authenticated ack (broker, worker batch,
 * database commit, ack, broker). Three bursts (after one to settle) each with one worker,
 * with two workers on a static split (each subscribes to `u/+` and keeps half the meters:
 * no meter moves), and with two workers on the MQTT 5 shared subscription (mosquitto deals
 * frames in turn, so about every other frame of a meter reaches the worker that did not
 * see its previous one, which reloads the meter's state in one statement; frames acked
 * within the burst's half hour: `fleet_acked_share_2_workers_shared`). Then a disturbed
 * stretch (outages, power cycles, duplicated frames, forged downlinks, a worker killed with
 * SIGKILL in a burst and replaced) on the shared subscription when it kept up, else on the
 * static split (`fleet_disturbed_on_shared`), the drain, and the check of every interval
 * and every chain against the database: `fleet_lost_intervals` and
 * `fleet_duplicate_intervals` must be 0.
 *
 * CPU per frame of each part over the measured bursts (workers, PostgreSQL server,
 * mosquitto, the fleet process) says what the arithmetic to a larger fleet needs
 * (docs/scale.md); on a shared 2-core machine wall-clock rates measure the share of the
 * cores the scheduler gave.
 */
import { FleetCluster, WorkerStats } from "./fleet_cluster.ts"

export interface FleetBenchOptions {
    meters?: number
    /** real seconds per simulated half hour */
    intervalS?: number
    /** measured bursts per worker count */
    bursts?: number
    /** measured bursts on the shared subscription (default `bursts`) */
    sharedBursts?: number
    log?: (line: string) => void
}

type Mode = "1 worker" | "2 workers, partitioned" | "2 workers, shared"

interface Burst {
    mode: Mode
    /** frames the meters published in the burst's half hour, resends included */
    published: number
    /** frames acknowledged (the ack reached the meter) among those */
    frames: number
    seconds: number
    emitS: number
    perS: number
    p50: number
    p99: number
    cpu: { workers: number; postgres: number; mosquitto: number; fleet: number }
    reloads: number
    accepted: number
}

const HALF_HOUR = 1_800_000
const sleep = (ms: number) => new Promise(r => setTimeout(r, Math.max(0, ms)))

export async function runFleetBench(o: FleetBenchOptions = {}): Promise<Record<string, number>> {
    const meters = o.meters ?? 10_000
    const intervalS = o.intervalS ?? 30
    const bursts = o.bursts ?? 3
    const sharedBursts = o.sharedBursts ?? bursts
    const log = o.log ?? (() => {})
    const t0 = Date.now()
    const say = (l: string) => log(`fleet +${((Date.now() - t0) / 1000).toFixed(0)} s: ${l}`)
    const c = await FleetCluster.start({
        meters,
        workers: 1,
        // one head-end: its meters never move, downlink counters in blocks of 256
        firstWorker: { counterBlock: 256 },
        scale: HALF_HOUR / (intervalS * 1000),
        fastSignatures: true,
        tickMs: 200,
        // the workers' routine head-end lines are left out, their failures are not
        log: l => (/^worker-\d+: head-end/.test(l) && !/failed/.test(l) ? undefined : say(l)),
    })
    try {
        say(`warm-up: ${meters} meters connect, send genesis and power-up, get their clocks set`)
        await c.waitUntil("every meter synced and drained", s => s.synced === s.meters && s.drained === s.meters, 30 * 60_000)
        say(`warm-up done: ${c.syncsSent} time syncs`)
        const results: Burst[] = []
        const measure = async (mode: Mode, n = bursts) => {
            await burst(c, mode) // workers that just started load their meters once
            for (let i = 0; i < n; i++) {
                const b = await burst(c, mode)
                say(`${mode}: ${b.published} frames published (resends included), ${b.frames} acked in the burst's half hour (published in ${b.emitS.toFixed(2)} s), 99 % acked ${b.seconds.toFixed(2)} s after the first = ${b.perS.toFixed(0)}/s, p50 ${b.p50} ms, p99 ${b.p99} ms, accepted by the workers ${b.accepted}, reloads ${b.reloads}, CPU s workers ${b.cpu.workers.toFixed(2)} postgres ${b.cpu.postgres.toFixed(2)} mosquitto ${b.cpu.mosquitto.toFixed(2)} fleet ${b.cpu.fleet.toFixed(2)}`)
                results.push(b)
            }
        }
        const replaceWorkers = async (n: number, o: { partition?: (i: number) => string; counterBlock: number }) => {
            for (const w of c.workers.slice()) await c.stopWorker(w.name)
            for (let i = 0; i < n; i++) await c.startWorker({ partition: o.partition?.(i), counterBlock: o.counterBlock })
        }
        await measure("1 worker")
        // a static split (each worker subscribes to u/+ and keeps its half): no meter moves
        await replaceWorkers(2, { partition: i => `${i}/2`, counterBlock: 256 })
        await measure("2 workers, partitioned")
        // MQTT 5 shared subscription: mosquitto hands out frames in turn, so a meter's frames
        // move between the workers and each move costs a reload of its state (one statement,
        // db/meter_state.ts loadMeterState); downlink counters one per ack, reserved inside
        // each batch's transaction
        await replaceWorkers(2, { counterBlock: 1 })
        await measure("2 workers, shared", sharedBursts)
        const sharedKept = results.filter(b => b.mode === "2 workers, shared").every(b => b.frames >= 0.99 * b.published)
        // the disturbed stretch on the shared subscription when it kept up (else on the static
        // split, whose workers drain a backlog without reloads)
        const shared = sharedKept
        if (!shared) {
            await replaceWorkers(2, { partition: i => `${i}/2`, counterBlock: 256 })
            await c.waitUntil("the backlog drained", s => s.drained === s.meters && s.synced === s.meters, 10 * 60_000)
        }

        say(`disturbed (${shared ? "shared subscription" : "static split"}): outages, power cycles, duplicated frames, forged downlinks, a worker killed in a burst and replaced`)
        await c.disturb({ outage: 0.02, outageMs: intervalS * 1500, reboot: 0.01, forged: 0.01, duplicate: 0.01 })
        await sleep(c.realAt(nextBoundary(c.simNow())) + 200 - Date.now())
        const killed = c.workers[0].name
        c.killWorker(killed)
        await sleep(3000)
        // its replacement joins the group (or takes over its half of the meters)
        await c.startWorker(shared ? { counterBlock: 1 } : { partition: "0/2", counterBlock: 256 })
        await sleep(intervalS * 2000)
        const drained = await c.waitUntil("every meter drained", s => s.drained === s.meters && s.synced === s.meters, 10 * 60_000)
        say(`drained: ${JSON.stringify(drained.stats)}`)
        const ws = await c.workerStats()
        say(`workers: ${JSON.stringify(ws.map(w => ({ name: w.name, accepted: w.accepted, refused: w.refused, reloads: w.reloads, errors: w.errors, commitFailures: w.commitFailures })))}`)
        const v = await c.verify()
        say(`verified: ${JSON.stringify({ ...v, cloned: v.cloned.length, cloneEvidence: v.cloneEvidence.length, brokenChains: v.brokenChains.slice(0, 5) })}`)
        if (v.brokenChains.length) throw new Error(`chains that do not verify: ${v.brokenChains.slice(0, 5).join("; ")}`)

        const one = results.filter(b => b.mode === "1 worker")
        const part = results.filter(b => b.mode === "2 workers, partitioned")
        const two = results.filter(b => b.mode === "2 workers, shared")
        const frames = (bs: Burst[]) => bs.reduce((n, b) => n + b.accepted, 0)
        const cpuPerFrame = (bs: Burst[], k: keyof Burst["cpu"]) => (bs.reduce((n, b) => n + b.cpu[k], 0) / Math.max(1, frames(bs))) * 1e6
        const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
        return {
            fleet_meters: meters,
            fleet_frames_per_s_1_worker: Math.round(median(one.map(b => b.perS))),
            // two workers as deployed on mosquitto: the static split (docs/scale.md)
            fleet_frames_per_s_2_workers: Math.round(median(part.map(b => b.perS))),
            fleet_frames_per_s_2_workers_shared: Math.round(median(two.map(b => b.perS))),
            fleet_acked_share_2_workers_shared: Number((two.reduce((n, b) => n + b.frames, 0) / Math.max(1, two.reduce((n, b) => n + b.published, 0))).toFixed(3)),
            fleet_ingest_p99_ms: Math.max(...part.map(b => b.p99)),
            fleet_ingest_p99_ms_1_worker: Math.max(...one.map(b => b.p99)),
            fleet_ingest_p99_ms_2_workers_shared: Math.max(...two.map(b => b.p99)),
            fleet_ingest_p50_ms: median(part.map(b => b.p50)),
            fleet_burst_publish_s: Number(median(results.map(b => b.emitS)).toFixed(2)),
            fleet_lost_intervals: v.lost,
            fleet_duplicate_intervals: v.duplicates,
            fleet_intervals_verified: v.intervalsSealed,
            // 1: the disturbed stretch (outages, reboots, duplicates, forgeries, a worker killed) ran on the shared subscription; 0: on the static split
            fleet_disturbed_on_shared: shared ? 1 : 0,
            // no meter of the bench is cloned: any clone evidence is a false alarm (docs/scale.md)
            fleet_clone_alarms: v.cloneEvidence.length,
            fleet_worker_cpu_us_per_frame_1_worker: Math.round(cpuPerFrame(one, "workers")),
            fleet_worker_cpu_us_per_frame_2_workers: Math.round(cpuPerFrame(part, "workers")),
            fleet_worker_cpu_us_per_frame_2_workers_shared: Math.round(cpuPerFrame(two, "workers")),
            fleet_postgres_cpu_us_per_frame_1_worker: Math.round(cpuPerFrame(one, "postgres")),
            fleet_postgres_cpu_us_per_frame_2_workers: Math.round(cpuPerFrame(part, "postgres")),
            fleet_postgres_cpu_us_per_frame_2_workers_shared: Math.round(cpuPerFrame(two, "postgres")),
            fleet_mosquitto_cpu_us_per_frame: Math.round(cpuPerFrame(one, "mosquitto")),
            fleet_sim_cpu_us_per_frame: Math.round(cpuPerFrame([...one, ...part, ...two], "fleet")),
            // reloads per frame the shared subscription's workers accepted (a meter's frame reached the other worker)
            fleet_reload_share_2_workers_shared: Number((two.reduce((n, b) => n + b.reloads, 0) / Math.max(1, frames(two))).toFixed(3)),
        }
    } finally {
        await c.stop()
    }
}

function nextBoundary(simMs: number): number {
    return (Math.floor(simMs / HALF_HOUR) + 1) * HALF_HOUR
}

/** Waits for the next interval boundary and measures its burst until just before the one after. */
async function burst(c: FleetCluster, mode: Mode): Promise<Burst> {
    const b = nextBoundary(c.simNow())
    const start = c.realAt(b)
    const end = c.realAt(b + HALF_HOUR)
    await sleep(start - 1000 - Date.now())
    await c.fleet("acklog") // what came before the burst
    const before = await snapshot(c)
    await sleep(end - 1500 - Date.now())
    const log = await c.fleet<number[]>("acklog")
    const after = await snapshot(c)
    const lat: number[] = []
    const acks: number[] = []
    const sent: number[] = []
    for (let i = 0; i < log.length; i += 2) {
        if (log[i] < start - 500) continue
        sent.push(log[i])
        acks.push(log[i + 1])
        lat.push(log[i + 1] - log[i])
    }
    lat.sort((x, y) => x - y)
    acks.sort((x, y) => x - y)
    sent.sort((x, y) => x - y)
    // from the burst's first publish to its 99th percentile ack (a meter whose clock was set
    // late closes its interval seconds after the others: a straggler says nothing about the
    // head-end's rate); `emitS`: how long the fleet took to publish the burst, a bound on it
    const hi = Math.max(0, Math.ceil(acks.length * 0.99) - 1)
    // no ack at all in the half hour: 0 frames/s, not NaN
    const seconds = acks.length ? Math.max(0.001, (acks[hi] - sent[0]) / 1000) : 1
    const counted = acks.length ? hi + 1 : 0
    const emitS = sent.length ? (sent[Math.max(0, Math.ceil(sent.length * 0.99) - 1)] - sent[0]) / 1000 : 0
    const sum = (ws: WorkerStats[], k: "cpuS" | "reloads" | "accepted") => ws.reduce((n, w) => n + w[k], 0)
    return {
        mode,
        published: after.framesSent - before.framesSent,
        frames: lat.length,
        seconds,
        emitS,
        perS: counted / seconds,
        // no ack in the half hour: the latency is at least the half hour
        p50: lat[Math.floor(lat.length * 0.5)] ?? end - start,
        p99: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] ?? end - start,
        cpu: {
            workers: sum(after.workers, "cpuS") - sum(before.workers, "cpuS"),
            postgres: after.server.postgres - before.server.postgres,
            mosquitto: after.server.mosquitto - before.server.mosquitto,
            fleet: after.fleetCpu - before.fleetCpu,
        },
        reloads: sum(after.workers, "reloads") - sum(before.workers, "reloads"),
        accepted: sum(after.workers, "accepted") - sum(before.workers, "accepted"),
    }
}

async function snapshot(c: FleetCluster) {
    const [workers, status] = await Promise.all([c.workerStats(), c.status()])
    return { workers, server: c.serverCpu(), fleetCpu: status.cpuS, framesSent: status.stats.framesSent }
}
