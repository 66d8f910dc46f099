/**
 * Runs a fleet of protocol-level meters (sim/src/protocol/fleet.ts) as its own process.
 *
 *   npx tsx sim/src/protocol/run.ts --broker mqtt://127.0.0.1:1883 --keystore .keystore.json
 *       [--meters N] [--scale 180] [--state fleet-state.json] [--ack-timeout 20s] [--fast-signatures]
 *       [--outage 0.01] [--reboot 0.01] [--forged 0.01] [--duplicate 0.01]   (shares, applied every interval)
 *
 * The keystore's meters are the fleet (`--meters N` adds meters up to N and saves the
 * keystore, so the head-end knows them). With `--state` the fleet resumes from that file
 * and writes it back at the end (Ctrl-C). A status line every 10 s.
 *
 * Forked with an IPC channel (the bench and the tests: bench/node/fleet_cluster.ts) it takes
 * requests `{ id, op, ... }` and answers `{ id, result }` or `{ id, error }`:
 * `status`, `clock`, `acklog`, `disturb` (a Disturbance), `powerCycle`/`clone`/`forge`
 * (`index`), `stop` (saves the state file).
 */
import { parseArgs } from "node:util"
import { existsSync } from "node:fs"
import { addMeter, createKeystore, loadKeystore, saveKeystore } from "../../../headend/src/keystore.ts"
import { parseBrokerUrl } from "../../../headend/src/broker.ts"
import { Disturbance, ProtocolFleet } from "./fleet.ts"

const { values: a } = parseArgs({
    options: {
        broker: { type: "string" },
        keystore: { type: "string" },
        meters: { type: "string" },
        scale: { type: "string", default: "180" },
        state: { type: "string" },
        "ack-timeout": { type: "string" },
        "interval-min": { type: "string" },
        "connect-rate": { type: "string" },
        "tick-ms": { type: "string" },
        "start-utc": { type: "string" },
        "fast-signatures": { type: "boolean" },
        outage: { type: "string" },
        reboot: { type: "string" },
        forged: { type: "string" },
        duplicate: { type: "string" },
        help: { type: "boolean" },
    },
})

function ms(s: string): number {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s)
    if (!m) throw new Error(`bad duration "${s}": e.g. 20s, 500ms`)
    return Number(m[1]) * (m[2] === "m" ? 60000 : m[2] === "ms" ? 1 : 1000)
}

if (a.help || !a.broker || !a.keystore) {
    console.log("usage: npx tsx sim/src/protocol/run.ts --broker mqtt://host:port --keystore FILE [--meters N] [--scale 180] [--state FILE] [--ack-timeout 20s] [--fast-signatures] [--outage S] [--reboot S] [--forged S] [--duplicate S]")
    process.exit(a.help ? 0 : 2)
}

const ks = existsSync(a.keystore) ? loadKeystore(a.keystore) : createKeystore()
const want = a.meters ? Number(a.meters) : ks.meters.length
if (ks.meters.length < want || !existsSync(a.keystore)) {
    for (let i = ks.meters.length + 1; i <= want; i++) addMeter(ks, `meter-${i}`)
    saveKeystore(ks, a.keystore)
}
/** A message to the parent over IPC; dropped once the parent is gone (no EPIPE, no uncaught 'error': the 'disconnect' handler ends this process). */
function toParent(msg: object) {
    if (process.connected) process.send!(msg, undefined, undefined, () => {})
}

const b = parseBrokerUrl(a.broker)
const url = new URL(b.url)
const log = (l: string) => (process.send ? toParent({ log: l }) : console.log(l))
const fleet = await ProtocolFleet.start({
    keystore: ks,
    meters: ks.meters.slice(0, want),
    broker: { host: url.hostname, port: Number(url.port || 1883), username: b.username, password: b.password },
    scale: Number(a.scale),
    startUtcMs: a["start-utc"] ? Number(a["start-utc"]) : undefined,
    statePath: a.state,
    connectRate: a["connect-rate"] ? Number(a["connect-rate"]) : undefined,
    tickMs: a["tick-ms"] ? Number(a["tick-ms"]) : undefined,
    meter: {
        ackTimeoutMs: a["ack-timeout"] ? ms(a["ack-timeout"]) : undefined,
        intervalMin: a["interval-min"] ? Number(a["interval-min"]) : undefined,
        fastSignatures: a["fast-signatures"],
    },
    log,
})

const shares: Disturbance = {
    outage: a.outage ? Number(a.outage) : undefined,
    reboot: a.reboot ? Number(a.reboot) : undefined,
    forged: a.forged ? Number(a.forged) : undefined,
    duplicate: a.duplicate ? Number(a.duplicate) : undefined,
}
if (Object.values(shares).some(x => x)) {
    // once per simulated interval
    const every = ((Number(a["interval-min"] ?? 30) * 60_000) / Number(a.scale))
    setInterval(() => fleet.disturb(shares), every).unref()
}

let stopping = false
async function stop() {
    if (stopping) return
    stopping = true
    await fleet.stop()
}

if (process.send) {
    process.on("message", async (m: { id: number; op: string; [k: string]: unknown }) => {
        try {
            let result: unknown
            if (m.op === "status") result = fleet.status()
            else if (m.op === "clock") result = fleet.clock()
            else if (m.op === "acklog") result = fleet.takeAckLog()
            else if (m.op === "disturb") result = fleet.disturb(m.d as Disturbance)
            else if (m.op === "powerCycle") result = fleet.powerCycle(m.index as number, (m.offMs as number) ?? 0)
            else if (m.op === "clone") result = fleet.clone(m.index as number)
            else if (m.op === "forge") result = fleet.forgeDownlinks(m.index as number)
            else if (m.op === "answers") result = fleet.members[m.index as number].meter.answers.map(x => x.toString("hex"))
            else if (m.op === "stop") {
                await stop()
                result = fleet.status()
            } else throw new Error(`unknown op ${m.op}`)
            toParent({ id: m.id, result })
            if (m.op === "stop") setTimeout(() => process.exit(0), 50)
        } catch (e) {
            toParent({ id: m.id, error: (e as Error).message })
        }
    })
    process.on("disconnect", () => void stop().then(() => process.exit(0)))
    toParent({ ready: true, clock: fleet.clock() })
} else {
    const started = Date.now()
    setInterval(() => {
        const s = fleet.status()
        console.log(
            `${((Date.now() - started) / 1000).toFixed(0)} s  sim ${new Date(s.simUtcMs).toISOString().slice(0, 16)}  meters ${s.meters}  connected ${s.connected}  synced ${s.synced}  drained ${s.drained}  ` +
                `frames ${s.stats.framesSent}  acks ${s.stats.acks}  resends ${s.stats.resends}  intervals ${s.intervals}  refused-by-full-store ${s.refusedIntervals}`
        )
    }, 10_000).unref()
    for (const sig of ["SIGINT", "SIGTERM"] as const)
        process.on(sig, () => {
            void stop().then(() => process.exit(0))
        })
}
