/**
 * A whole scaled-out installation on this machine, for the fleet bench and the fleet tests:
 * a real mosquitto and a real PostgreSQL server, each on a free loopback port with its own
 * directory; head-end workers (bench/node/fleet_worker.ts: the ingestion service behind an
 * MQTT 5 shared subscription); a fleet of protocol-level meters in its own process
 * (sim/src/protocol/run.ts); and the operator the head-end needs, which sets each meter's
 * clock after it powers up (the network operator's signed TimeSync, as `npm start` does) and
 * can send any signed command.
 *
 * `verify()` compares what the meters sealed (the fleet's state file keeps every interval
 * record's seq and tag) with what the database holds: lost and duplicated intervals, and
 * every meter's stored chain verified from K_0 (headend/src/chain.ts verifyChain).
 *
 *   const c = await FleetCluster.start({ meters: 200, workers: 2, scale: 450 })
 *   await c.waitUntil("all synced", s => s.synced === s.meters - s.cloned)
 *   const v = await c.verify(); await c.stop()
 */
import { ChildProcess, fork, spawn } from "node:child_process"
import { createPrivateKey, sign, KeyObject } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ROOT, killTree, waitForPort } from "../../tools/devs.ts"
import { startPostgres, PostgresServer } from "../../tools/postgres.ts"
import { Keystore, MeterEntry, addMeter, chainKeyOf, createKeystore, saveKeystore } from "../../headend/src/keystore.ts"
import { verifyChain } from "../../headend/src/chain.ts"
import { nextCounter } from "../../headend/src/operations.ts"
import { Database, migrate, openPostgres } from "../../headend/src/db/index.ts"
import { signCommand, timeSyncArgs } from "../../src/wire/envelope"
import { Opcode } from "../../src/wire/opcodes"
import type { Disturbance, FleetStatus } from "../../sim/src/protocol/fleet.ts"
import type { MeterImage } from "../../sim/src/protocol/meter.ts"

export interface ClusterOptions {
    meters: number
    workers: number
    /** simulated ms per real ms */
    scale: number
    /** the meters' ack timeout, real ms (the firmware's 20000) */
    ackTimeoutMs?: number
    /** node:crypto signature checks in the meters (sim/src/protocol/commands.ts) */
    fastSignatures?: boolean
    connectRate?: number
    /** the fleet's tick, real ms (default 100) */
    tickMs?: number
    /** how the first workers run (FleetCluster.startWorker) */
    firstWorker?: { partition?: string; counterBlock?: number }
    log?: (line: string) => void
}

export interface WorkerStats {
    name: string
    received: number
    accepted: number
    refused: Record<string, number>
    errors: number
    batches: number
    commitFailures: number
    reloads: number
    cpuS: number
}

export interface Verification {
    meters: number
    /** meters left out: a clone ran with their identity */
    cloned: string[]
    intervalsSealed: number
    intervalsStored: number
    lost: number
    duplicates: number
    /** meters whose stored chain does not verify from K_0, with the reason */
    brokenChains: string[]
    /** intervals the meters' full stores refused (the firmware's StoreFull: not the head-end's loss) */
    refusedByMeters: number
    /** meters with clone evidence in the database */
    cloneEvidence: string[]
}

interface Worker {
    name: string
    child: ChildProcess
    /** "i/n": a static split's share (bench/node/fleet_worker.ts --partition) */
    partition?: string
}

/** Whether a worker on partition "i/n" keeps `meterId` (the frame bytes 7..8 its filter reads: the id's last two bytes). */
function owns(partition: string | undefined, meterId: string): boolean {
    if (!partition) return true
    const [i, n] = partition.split("/").map(Number)
    return parseInt(meterId.slice(12, 16), 16) % n === i
}

/** A mosquitto on a free loopback port, its config in `dir`; stopped with the cluster. */
async function startMosquitto(dir: string): Promise<{ port: number; child: ChildProcess; cpuSeconds(): number }> {
    const port = await freePort()
    const conf = join(dir, "mosquitto.conf")
    // QoS 0 to the workers: no per-client queue limit (a burst of a whole fleet's frames must not be dropped by the broker)
    writeFileSync(conf, [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "max_queued_messages 0", "set_tcp_nodelay true", "log_dest none", ""].join("\n"))
    const child = spawn("mosquitto", ["-c", conf], { stdio: "ignore", detached: true })
    await waitForPort(port, 10_000)
    return { port, child, cpuSeconds: () => procCpuSeconds(child.pid!) }
}

export class FleetCluster {
    readonly dir: string
    readonly keystore: Keystore
    readonly keystorePath: string
    brokerPort = 0
    databaseUrl = ""
    readonly workers: Worker[] = []
    /** meters that powered up and still wait for their clock */
    readonly unsynced = new Map<string, number>()
    /** command answers the workers saw: meter → [verdict, opcode] */
    readonly answers: { meterId: string; verdict: number; opcode: number; counter: string }[] = []
    readonly cloneAlerts = new Set<string>()
    syncsSent = 0
    private pg?: PostgresServer
    private mosq?: { port: number; child: ChildProcess; cpuSeconds(): number }
    private sim?: ChildProcess
    private simClock = { simAtStart: 0, realAtStart: 0, scale: 1 }
    private reqId = 0
    private pending = new Map<number, { res: (v: any) => void; rej: (e: Error) => void }>()
    private db?: Database
    private sweep?: NodeJS.Timeout
    private netopKey: KeyObject
    private netopId: number
    private workerSeq = 0

    private constructor(private o: ClusterOptions) {
        this.dir = mkdtempSync(join(tmpdir(), "tm-fleet-"))
        this.keystore = createKeystore()
        for (let i = 1; i <= o.meters; i++) addMeter(this.keystore, `meter-${i}`)
        this.keystorePath = join(this.dir, "keystore.json")
        saveKeystore(this.keystore, this.keystorePath)
        const k = this.keystore.roles.networkOperator
        this.netopId = k.keyId
        // Ed25519 signatures are deterministic (RFC 8032): node:crypto gives the same bytes as the CLI's @noble signer, 25 times faster
        this.netopKey = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(k.secretKey, "hex")]), format: "der", type: "pkcs8" })
    }

    /** Broker, database, workers and the fleet, started in that order. */
    static async start(o: ClusterOptions): Promise<FleetCluster> {
        const c = new FleetCluster(o)
        try {
            await c.boot()
        } catch (e) {
            await c.stop()
            throw e
        }
        return c
    }

    get entries(): MeterEntry[] {
        return this.keystore.meters
    }

    /** Simulated UTC now (ms) on the fleet's clock. */
    simNow(): number {
        const c = this.simClock
        return c.simAtStart + (Date.now() - c.realAtStart) * c.scale
    }

    /** Real ms at which the fleet's clock reaches `simMs`. */
    realAt(simMs: number): number {
        const c = this.simClock
        return c.realAtStart + (simMs - c.simAtStart) / c.scale
    }

    private log(l: string) {
        this.o.log?.(l)
    }

    private async boot() {
        const first = this.o.firstWorker ?? {}
        this.mosq = await startMosquitto(this.dir)
        this.brokerPort = this.mosq.port
        this.log(`mosquitto on 127.0.0.1:${this.brokerPort}`)
        this.pg = await startPostgres({ settings: { max_connections: "200", shared_buffers: "256MB", synchronous_commit: "on" } })
        this.databaseUrl = await this.pg.createDatabase("fleet")
        this.db = await openPostgres(this.databaseUrl, { max: 2 })
        await migrate(this.db)
        this.log(`${this.pg.version} on port ${this.pg.port}`)
        for (let i = 0; i < this.o.workers; i++) await this.startWorker(first)
        await this.startFleet()
        // the operator's fallback: meters whose power-up record is newer than their last time set
        this.sweep = setInterval(() => void this.sweepUnsynced().catch(() => {}), 20_000)
    }

    /**
     * Starts one more worker; resolves when it is subscribed. Default: on the shared
     * subscription with one-counter downlink blocks; `partition` "i/n": a static split
     * (bench/node/fleet_worker.ts); `counterBlock`: downlink counters reserved at once.
     */
    async startWorker(o: { partition?: string; counterBlock?: number } = {}): Promise<string> {
        const name = `worker-${++this.workerSeq}`
        const args = ["--broker", `mqtt://127.0.0.1:${this.brokerPort}`, "--database", this.databaseUrl, "--keystore", this.keystorePath, "--name", name, "--counter-block", String(o.counterBlock ?? 1)]
        if (o.partition) args.push("--partition", o.partition)
        const child = fork(join(ROOT, "bench/node/fleet_worker.ts"), args, {
            execArgv: ["--import", "tsx"],
            cwd: ROOT,
            stdio: ["ignore", "inherit", "inherit", "ipc"],
        })
        // IPC write failures go to ipcSend's callbacks; anything else is logged, never an uncaught 'error'
        child.on("error", e => this.log(`${name}: ${e.message}`))
        child.on("exit", (code, signal) => this.workerGone(name, code, signal))
        const w: Worker = { name, child, partition: o.partition }
        this.workers.push(w)
        await new Promise<void>((res, rej) => {
            const t = setTimeout(() => rej(new Error(`${name} did not start in 60 s`)), 60_000)
            child.on("message", (m: any) => {
                if (m.type === "ready") {
                    clearTimeout(t)
                    res()
                } else this.onWorkerMessage(w, m)
            })
            child.once("exit", code => {
                clearTimeout(t)
                rej(new Error(`${name} exited (${code})`))
            })
        })
        this.log(`${name} serving ${o.partition ? `u/+ partition ${o.partition}` : "$share/trustmeter/u/+"}`)
        return name
    }

    /** Kills worker `name` with SIGKILL (mid-batch, as a crash) and forgets it. */
    killWorker(name: string) {
        const i = this.workers.findIndex(w => w.name === name)
        if (i < 0) return
        const [w] = this.workers.splice(i, 1)
        w.child.kill("SIGKILL")
        this.log(`${name} killed (SIGKILL)`)
    }

    /** Stops worker `name` cleanly (finishes its batch); returns its last statistics. */
    async stopWorker(name: string): Promise<WorkerStats | undefined> {
        const i = this.workers.findIndex(w => w.name === name)
        if (i < 0) return undefined
        const [w] = this.workers.splice(i, 1)
        const st = await this.askWorker(w, { type: "stop" }, "stopped").catch(() => undefined)
        w.child.kill("SIGKILL")
        return st?.stats
    }

    async workerStats(): Promise<WorkerStats[]> {
        return Promise.all(this.workers.map(w => this.askWorker(w, { type: "stats" }, "stats").then(m => m.stats as WorkerStats)))
    }

    /** CPU seconds so far of the PostgreSQL server and of mosquitto. */
    serverCpu(): { postgres: number; mosquitto: number } {
        return { postgres: this.pg!.cpuSeconds(), mosquitto: this.mosq!.cpuSeconds() }
    }

    /** A request to the fleet process (sim/src/protocol/run.ts). */
    fleet<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
        const id = ++this.reqId
        return new Promise<T>((res, rej) => {
            this.pending.set(id, { res, rej })
            ipcSend(this.sim, { id, op, ...args }, e => {
                this.pending.delete(id)
                rej(new Error(`the fleet process cannot take "${op}": ${e.message}`))
            })
        })
    }

    status(): Promise<FleetStatus> {
        return this.fleet<FleetStatus>("status")
    }

    disturb(d: Disturbance): Promise<Record<string, number[]>> {
        return this.fleet("disturb", { d })
    }

    /** Polls the fleet's status until `cond` holds; throws with the last status after `timeoutMs`. */
    async waitUntil(what: string, cond: (s: FleetStatus) => boolean, timeoutMs: number): Promise<FleetStatus> {
        const end = Date.now() + timeoutMs
        for (;;) {
            const s = await this.status()
            if (cond(s)) return s
            if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}: ${JSON.stringify({ ...s, stats: s.stats })}`)
            await new Promise(r => setTimeout(r, 500))
        }
    }

    /** Signs `opcode` with `args` for `meterId` as the network operator and sends it through a worker. */
    async sendCommand(meterId: string, envelope: Buffer): Promise<void> {
        // on a static split, the worker that keeps the meter: another one would seal the
        // command under a newer downlink block than the owner's acks, which the meter then
        // refuses as replays until the owner's block runs out
        const mine = this.workers.filter(w => owns(w.partition, meterId))
        const w = mine[Math.floor(Math.random() * mine.length)]
        if (!w) throw new Error("no worker running")
        await this.askWorker(w, { type: "command", meterId, envelope: envelope.toString("hex") }, "commandSent")
    }

    /** A network-operator envelope (the role that may sign time syncs) valid for the hour after `now` (UTC s). */
    networkOperatorEnvelope(meterId: string, opcode: number, args: Buffer, now: number): Buffer {
        const counter = nextCounter()
        return signCommand(
            { meterId: Buffer.from(meterId, "hex"), keyIds: [this.netopId], counter: Number(counter), notBefore: 0, expiry: now + 3600, opcode, args },
            (_id, tbs) => sign(null, tbs, this.netopKey)
        )
    }

    /**
     * Stops the fleet (it writes its state file) and checks the database against it: every
     * interval record a meter sealed is stored once with its exact tag, nothing else is
     * stored as an interval of that meter, and each meter's stored chain verifies from K_0.
     */
    async verify(): Promise<Verification> {
        await this.fleet("stop")
        const state = JSON.parse(readFileSync(join(this.dir, "fleet-state.json"), "utf8")) as { meters: MeterImage[]; clones: { of: number; image: MeterImage }[] }
        const cloned = new Set(state.clones.map(c => state.meters[c.of].meterId))
        const db = this.db!
        const rows = await db.query<{ meter_id: Buffer; seq: number; tag: Buffer; payload: Buffer }>(
            "SELECT meter_id, seq, substring(data FROM length(data) - 15 FOR 16) AS tag, substring(data FROM 12 FOR 16) AS payload FROM records WHERE get_byte(data, 1) = 16"
        )
        const stored = new Map<string, Map<number, { tag: string; payload: string }>>()
        for (const r of rows) {
            const id = r.meter_id.toString("hex")
            let m = stored.get(id)
            if (!m) stored.set(id, (m = new Map()))
            m.set(r.seq, { tag: r.tag.toString("hex"), payload: r.payload.toString("hex") })
        }
        const v: Verification = { meters: 0, cloned: [...cloned], intervalsSealed: 0, intervalsStored: 0, lost: 0, duplicates: 0, brokenChains: [], refusedByMeters: 0, cloneEvidence: [] }
        for (const im of state.meters) {
            if (cloned.has(im.meterId)) continue
            v.meters++
            v.refusedByMeters += im.ledger.refused
            const have = stored.get(im.meterId) ?? new Map()
            const sealed = new Map(im.ledger.seqs.map((s, i) => [s, im.ledger.tags[i]]))
            v.intervalsSealed += sealed.size
            v.intervalsStored += have.size
            for (const [s, tag] of sealed) if (have.get(s)?.tag !== tag) v.lost++
            const payloads = new Set<string>()
            for (const [s, x] of have) {
                // stored but not sealed as this interval: a duplicate (or a foreign record)
                if (sealed.get(s) !== x.tag) v.duplicates++
                // the same interval stored twice under two seqs: counted twice
                if (payloads.has(x.payload)) v.duplicates++
                payloads.add(x.payload)
            }
        }
        // every stored chain, from K_0 (in pages, so 10,000 meters do not sit in memory at once)
        const ids = state.meters.filter(m => !cloned.has(m.meterId))
        for (let i = 0; i < ids.length; i += 500) {
            const page = ids.slice(i, i + 500)
            const recs = await db.query<{ meter_id: Buffer; data: Buffer }>("SELECT meter_id, data FROM records WHERE meter_id = ANY($1::bytea[]) ORDER BY meter_id, seq", [page.map(m => Buffer.from(m.meterId, "hex"))])
            const by = new Map<string, Buffer[]>()
            for (const r of recs) {
                const id = r.meter_id.toString("hex")
                by.set(id, [...(by.get(id) ?? []), r.data])
            }
            for (const m of page) {
                const chain = by.get(m.meterId) ?? []
                const res = verifyChain(chain, chainKeyOf(this.keystore.meters.find(e => e.meterId === m.meterId)!))
                if (!res.ok) v.brokenChains.push(`${m.meterId}: ${res.reason} at ${res.at}`)
                else if (m.store && res.head.seq !== m.store.headSeq) v.brokenChains.push(`${m.meterId}: stored up to ${res.head.seq}, the meter's head is ${m.store.headSeq}`)
            }
        }
        const ev = await db.query<{ meter_id: Buffer }>("SELECT DISTINCT meter_id FROM clone_evidence")
        v.cloneEvidence = ev.map(r => r.meter_id.toString("hex"))
        return v
    }

    /** Stops everything this cluster started and removes its directory. */
    async stop() {
        if (this.sweep) clearInterval(this.sweep)
        if (this.sim && this.sim.exitCode === null && this.sim.connected) {
            try {
                await Promise.race([this.fleet("stop"), new Promise(r => setTimeout(r, 10_000))])
            } catch {
                // already stopped
            }
            this.sim.kill("SIGKILL")
        }
        for (const w of this.workers.splice(0)) w.child.kill("SIGKILL")
        await this.db?.close().catch(() => {})
        if (this.mosq) killTree(this.mosq.child)
        await this.pg?.stop()
        rmSync(this.dir, { recursive: true, force: true })
    }

    // ---------------------------------------------------------------------------------------

    private async startFleet() {
        const args = [
            "--broker", `mqtt://127.0.0.1:${this.brokerPort}`,
            "--keystore", this.keystorePath,
            "--scale", String(this.o.scale),
            "--state", join(this.dir, "fleet-state.json"),
            "--connect-rate", String(this.o.connectRate ?? 2000),
        ]
        if (this.o.ackTimeoutMs) args.push("--ack-timeout", `${this.o.ackTimeoutMs}ms`)
        if (this.o.fastSignatures) args.push("--fast-signatures")
        if (this.o.tickMs) args.push("--tick-ms", String(this.o.tickMs))
        const sim = fork(join(ROOT, "sim/src/protocol/run.ts"), args, { execArgv: ["--import", "tsx", ...(process.env.TM_FLEET_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.TM_FLEET_PROF}`] : [])], cwd: ROOT, stdio: ["ignore", "inherit", "inherit", "ipc"] })
        this.sim = sim
        sim.on("error", e => this.log(`fleet process: ${e.message}`))
        await new Promise<void>((res, rej) => {
            const t = setTimeout(() => rej(new Error("the fleet did not start in 120 s")), 120_000)
            sim.on("message", (m: any) => {
                if (m.ready) {
                    this.simClock = m.clock
                    clearTimeout(t)
                    res()
                } else if (m.log) this.log(`fleet: ${m.log}`)
                else if (m.id !== undefined) {
                    const p = this.pending.get(m.id)
                    this.pending.delete(m.id)
                    if (m.error) p?.rej(new Error(m.error))
                    else p?.res(m.result)
                }
            })
            sim.once("exit", code => {
                clearTimeout(t)
                for (const p of this.pending.values()) p.rej(new Error(`the fleet process exited (${code})`))
                this.pending.clear()
                rej(new Error(`the fleet process exited (${code})`))
            })
        })
        this.log(`fleet of ${this.o.meters} meters started (clock ×${this.o.scale})`)
    }

    private workerWaits = new Map<number, { res: (m: any) => void; rej: (e: Error) => void; type: string; worker: string }>()

    /** A worker's process ended: its unanswered requests fail now, not after their 60 s. */
    private workerGone(name: string, code: number | null, signal: NodeJS.Signals | null) {
        for (const [id, wait] of this.workerWaits)
            if (wait.worker === name) {
                this.workerWaits.delete(id)
                wait.rej(new Error(`${name} ended (${signal ?? code}) before answering`))
            }
    }

    private askWorker(w: Worker, msg: Record<string, unknown>, reply: string): Promise<any> {
        const id = ++this.reqId
        return new Promise((res, rej) => {
            const t = setTimeout(() => {
                this.workerWaits.delete(id)
                rej(new Error(`${w.name} did not answer ${msg.type}`))
            }, 60_000)
            this.workerWaits.set(id, {
                res: m => {
                    clearTimeout(t)
                    res(m)
                },
                rej: e => {
                    clearTimeout(t)
                    rej(e)
                },
                type: reply,
                worker: w.name,
            })
            ipcSend(w.child, { ...msg, id }, e => {
                this.workerWaits.delete(id)
                clearTimeout(t)
                rej(new Error(`${w.name} cannot take ${msg.type}: ${e.message}`))
            })
        })
    }

    private onWorkerMessage(w: Worker, m: any) {
        if (m.type === "log") this.log(m.line)
        else if (m.type === "events") {
            for (const id of m.powerUp) this.needsSync(id)
            for (const id of m.timeSet) this.unsynced.delete(id)
            for (const a of m.answers) this.answers.push(a)
            for (const id of m.clones) this.cloneAlerts.add(id)
        } else if (m.id !== undefined) {
            const wait = this.workerWaits.get(m.id)
            if (!wait) return
            this.workerWaits.delete(m.id)
            if (m.type === "commandFailed") wait.rej(new Error(m.error))
            else wait.res(m)
        }
    }

    /** A meter powered up: its clock is unknown until the network operator's signed time sync (docs/commands.md §5). */
    private needsSync(meterId: string) {
        this.unsynced.set(meterId, Date.now())
        void this.sync(meterId)
    }

    private async sync(meterId: string, retry = true) {
        const t = Math.floor(this.simNow() / 1000)
        const env = this.networkOperatorEnvelope(meterId, Opcode.TimeSync, timeSyncArgs(t), t)
        this.syncsSent++
        await this.sendCommand(meterId, env).catch(e => {
            this.log(`time sync of ${meterId} not sent: ${(e as Error).message}`)
            // once more through another worker (the one asked was killed); then the sweep's turn
            if (retry) setTimeout(() => void (this.unsynced.has(meterId) && this.workers.length ? this.sync(meterId, false) : undefined), 2000).unref()
        })
    }

    /**
     * The operator's fallback, every 20 s: time syncs again for meters still waiting after
     * 60 s (a command refused as a downlink replay, a worker killed before it reported
     * the power-up), found in the database: a PowerUp record newer than any TimeSet.
     */
    private async sweepUnsynced() {
        const now = Date.now()
        const rows = await this.db!.query<{ meter_id: Buffer }>(
            `SELECT meter_id FROM records GROUP BY meter_id
             HAVING max(seq) FILTER (WHERE get_byte(data, 1) = 33) > coalesce(max(seq) FILTER (WHERE get_byte(data, 1) = 51), -1)`
        )
        for (const r of rows) {
            const id = r.meter_id.toString("hex")
            const since = this.unsynced.get(id)
            if (since === undefined) this.unsynced.set(id, now)
            else if (now - since > 60_000) {
                this.unsynced.set(id, now)
                void this.sync(id)
            }
        }
    }
}

/**
 * Sends `msg` to a child over its IPC channel. A child that exited, or is exiting (it answered
 * "stop" and calls process.exit), has a closed channel or a pipe whose write fails with EPIPE;
 * without a callback Node emits either as an 'error' event on the ChildProcess, an uncaught
 * exception that ends the test or bench (seen as `write EPIPE` in fleet_small on a loaded
 * machine). Here the failure always goes to `failed`, never to an event.
 */
export function ipcSend(child: ChildProcess | undefined, msg: object, failed: (e: Error) => void) {
    if (!child || !child.connected) {
        failed(new Error("the process has exited (IPC channel closed)"))
        return
    }
    child.send(msg, e => {
        if (e) failed(e)
    })
}

async function freePort(): Promise<number> {
    const s = createServer()
    await new Promise<void>(r => s.listen(0, "127.0.0.1", () => r()))
    const p = (s.address() as { port: number }).port
    await new Promise(r => s.close(r))
    return p
}

/** utime + stime of a process, from /proc (0 when it is gone). */
function procCpuSeconds(pid: number): number {
    try {
        const f = readFileSync(`/proc/${pid}/stat`, "utf8")
        const rest = f.slice(f.lastIndexOf(")") + 2).split(" ")
        return (Number(rest[11]) + Number(rest[12])) / 100
    } catch {
        return 0
    }
}
