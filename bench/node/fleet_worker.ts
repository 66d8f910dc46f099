/**
 * One head-end worker of a scaled-out head-end: the ingestion service
 * (headend/src/service.ts) on a shared PostgreSQL, fed by an MQTT 5 shared subscription
 * (`$share/<group>/u/+`, MQTT 5.0 §4.8.2) so that several workers split the uplink.
 *
 *   node --import tsx bench/node/fleet_worker.ts --broker mqtt://127.0.0.1:PORT --database postgres://… --keystore FILE [--group trustmeter]
 *
 * A shared subscription hands each message to one subscriber of the group: mosquitto in
 * turn, so consecutive frames of one meter reach different workers. The `MeterRouter`
 * (./fleet_router.ts) keeps a meter's frames in order and drops its state when another
 * worker moved it on; the service reloads it in one statement (db/meter_state.ts
 * loadMeterState). Downlink counters come from blocks reserved inside each batch's
 * transaction (db/downlink.ts reserveDownlinkBlocksIn: no round trip of their own), of one
 * counter per ack on the shared subscription (`--counter-block 1`, the default): every
 * reservation is above every earlier one of any worker, so acks and commands of different
 * workers reach the meter in growing order. What the database already guarantees keeps
 * ingestion idempotent when one frame reaches two workers, or a worker dies mid-batch:
 * a frame is applied once per (meter, epoch, counter), a record once per (meter, seq),
 * and an ack leaves only after its commit.
 *
 * With a parent process (fork), it reports through IPC: `ready`, events the operator needs
 * (a meter powered up, set its clock, answered commands) and `stats` on request; it sends
 * a signed command to a meter on request (`command`).
 */
import { parseArgs } from "node:util"
import mqtt from "mqtt"
import { chainKeyOf, loadKeystore } from "../../headend/src/keystore.ts"
import { parseBrokerUrl } from "../../headend/src/broker.ts"
import { HeadEndService } from "../../headend/src/service.ts"
import { MeterRouter } from "./fleet_router.ts"
import { migrate, openPostgres } from "../../headend/src/db/index.ts"
import { RecordKind } from "../../src/wire/record"

const { values: a } = parseArgs({
    options: {
        broker: { type: "string" },
        database: { type: "string" },
        keystore: { type: "string" },
        group: { type: "string", default: "trustmeter" },
        name: { type: "string", default: `worker-${process.pid}` },
        "max-batch": { type: "string", default: "1000" },
        pool: { type: "string", default: "8" },
        "counter-block": { type: "string", default: "1" },
        partition: { type: "string" },
    },
})
if (!a.broker || !a.database || !a.keystore) {
    console.error("usage: node --import tsx bench/node/fleet_worker.ts --broker mqtt://host:port --database postgres://… --keystore FILE [--group G] [--name N]")
    process.exit(2)
}

const ks = loadKeystore(a.keystore)
const secrets = new Map(ks.meters.map(m => [m.meterId, Buffer.from(m.secret, "hex")]))
const chainKeys = new Map(ks.meters.map(m => [m.meterId, chainKeyOf(m)]))
/** A message to the parent over IPC; dropped once the parent is gone (no EPIPE, no uncaught 'error': the 'disconnect' handler ends this process). */
function toParent(msg: object) {
    if (process.connected) process.send!(msg, undefined, undefined, () => {})
}

const db = await openPostgres(a.database, { max: Number(a.pool) })
await migrate(db)

/** What the operator hears about, batched into one IPC message every 100 ms. */
const events: { powerUp: string[]; timeSet: string[]; answers: { meterId: string; verdict: number; opcode: number; counter: string }[]; clones: string[] } = { powerUp: [], timeSet: [], answers: [], clones: [] }
const refused: Record<string, number> = {}

const service = HeadEndService.open({
    db,
    ownsDatabase: true,
    secretOf: id => secrets.get(id),
    chainKeyOf: id => chainKeys.get(id),
    counterBlock: Number(a["counter-block"]),
    keepRecords: 16,
    maxBatch: Number(a["max-batch"]),
    log: line => toParent({ type: "log", line: `${a.name}: ${line}` }),
    events: {
        accepted(v) {
            for (const r of v.fresh) {
                if (r.data[1] === RecordKind.PowerUp) events.powerUp.push(v.meterId)
                if (r.data[1] === RecordKind.TimeSet) events.timeSet.push(v.meterId)
            }
            for (const x of v.change.responses ?? [])
                if (x.verdict !== undefined) events.answers.push({ meterId: v.meterId, verdict: x.verdict, opcode: x.opcode ?? 0, counter: String(x.counter ?? 0) })
        },
        refused(v) {
            refused[v.reason] = (refused[v.reason] ?? 0) + 1
        },
        clone(c) {
            events.clones.push(c.meterId)
        },
    },
})

const router = new MeterRouter(service)
/**
 * `--partition i/n`: instead of a shared subscription, every worker subscribes to all of
 * `u/+` and keeps the frames of the meters whose id ends in a number ≡ i (mod n): a static
 * split for brokers that only share round-robin. The broker sends each frame n times; no
 * meter's state ever moves between workers, so blocks of downlink counters are safe again.
 */
const part = a.partition ? a.partition.split("/").map(Number) : undefined
const mine = (payload: Buffer) => !part || (payload.length >= 9 && payload.readUInt16BE(7) % part[1] === part[0])
const b = parseBrokerUrl(a.broker)
const client = await mqtt.connectAsync(b.url, { protocolVersion: 5, clientId: `tm-${a.name}`, clean: true, reconnectPeriod: 1000, username: b.username, password: b.password })
client.on("error", () => {})
service.setPublisher((topic, frame) => client.publishAsync(topic, frame, { qos: 0 }).then(() => {}))
client.on("message", (topic, payload) => {
    if (mine(payload)) void router.frame(topic, Buffer.from(payload))
})
await client.subscribeAsync(part ? "u/+" : `$share/${a.group}/u/+`, { qos: 0 })

function stats() {
    const s = service.stats
    const cpu = process.cpuUsage()
    return { name: a.name, received: s.received, accepted: s.accepted, refused: { ...refused }, errors: s.errors, batches: s.batches, commitFailures: s.commitFailures, reloads: router.reloads, cpuS: (cpu.user + cpu.system) / 1e6 }
}

if (process.send) {
    setInterval(() => {
        if (!events.powerUp.length && !events.timeSet.length && !events.answers.length && !events.clones.length) return
        toParent({ type: "events", ...events })
        events.powerUp = []
        events.timeSet = []
        events.answers = []
        events.clones = []
    }, 100)
    process.on("message", async (m: { type: string; id?: number; meterId?: string; envelope?: string }) => {
        if (m.type === "stats") toParent({ type: "stats", id: m.id, stats: stats() })
        else if (m.type === "command") {
            try {
                await router.run(m.meterId!, () => service.sendCommand(m.meterId!, Buffer.from(m.envelope!, "hex")))
                toParent({ type: "commandSent", id: m.id })
            } catch (e) {
                toParent({ type: "commandFailed", id: m.id, error: (e as Error).message })
            }
        } else if (m.type === "stop") {
            await client.endAsync(true).catch(() => {})
            await service.close()
            toParent({ type: "stopped", id: m.id, stats: stats() })
            setTimeout(() => process.exit(0), 20)
        }
    })
    process.on("disconnect", () => process.exit(0))
    toParent({ type: "ready", name: a.name })
} else console.log(`${a.name}: serving ${part ? `u/+ partition ${a.partition}` : `$share/${a.group}/u/+`} from ${b.url}`)
