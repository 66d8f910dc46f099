/**
 * The demo's controller (`npm start`): broker, keystore, fleet, head-end station,
 * operator actions, attacks and checks, all writing to one DemoState that the terminal
 * view or the headless summary shows.
 */
import { existsSync, rmSync } from "node:fs"
import { join } from "node:path"
import { EmbeddedBroker, parseBrokerUrl, startBroker } from "../../headend/src/broker.ts"
import { CommandAck, Opcode, Verdict, commandSummary, opcodeName, verdictName } from "../../headend/src/commands.ts"
import { Fleet, FleetMeter, METERS_DIR, checkDevtoolsPorts, lockMetersDir } from "./fleet.ts"
import { Station } from "../../headend/src/station.ts"
import { Keystore, KeystoreError, MeterEntry, Role, addMeter, createKeystore, loadKeystore, nextRoleKey, saveKeystore } from "../../headend/src/keystore.ts"
import { buildCommand, keyChangeCommand, signOpcode } from "../../headend/src/operations.ts"
import { timeSyncArgs } from "../../headend/src/commands.ts"
import { DemoState, MeterStatus } from "./ui/state.ts"
import { openDemoDatabase } from "./headend_db.ts"
import { flashWipeReason } from "./provision.ts"
import { meterSettings } from "../../headend/src/provision.ts"
import { describeTarget } from "../../headend/src/db/index.ts"
import { AlertKind } from "../../src/wire/report"
import { RecordKind, describeRecord } from "../../headend/src/records.ts"

export interface DemoOptions {
    meters: number
    /** real seconds per 30-minute metering interval */
    intervalS: number
    brokerUrl?: string
    keystorePath: string
    /** wipe the meters' flash first */
    fresh?: boolean
    /** where the meters live (default .meters/) */
    dir?: string
    /** compiled firmware to run instead of building src/main.ts */
    firmware?: string
    /** the head-end's database: a directory (PGlite) or postgres://…; default $DATABASE_URL, else PGlite in <dir>/.headend/db */
    database?: string
    log?: (msg: string) => void
}

/** Simulated seconds a new run starts after the newest record stored by an earlier one (6 h: a backlog at ×180). */
const SIM_TIME_MARGIN_S = 6 * 3600

const ALERT_NAME: Record<number, string> = { [AlertKind.Tamper]: "tamper", [AlertKind.CommandRejected]: "command rejected", [AlertKind.StoreFull]: "store full", [AlertKind.SourceFault]: "source fault", [AlertKind.BadDownlink]: "bad downlink" }

export class Demo {
    readonly state = new DemoState()
    ks!: Keystore
    fleet!: Fleet
    station!: Station
    broker?: EmbeddedBroker
    brokerUrl = ""
    /** meter clock speed-up */
    scale = 180
    private t0 = Date.now()
    private utc0 = Math.floor(Date.now() / 1000)
    private synced = new Set<string>()
    private lastSync = new Map<string, number>()
    private ackWaiters: { meterId: string; counter: bigint; res: (a: CommandAck) => void }[] = []
    private tariffs = new Map<string, string>()
    private releaseLock?: () => void
    /** envelopes sent, newest last */
    readonly sent: { meter: MeterEntry; envelope: Buffer; opcode: number }[] = []
    /** envelopes a meter accepted, newest last: the replay attack resends one */
    readonly accepted: { meter: MeterEntry; envelope: Buffer; opcode: number }[] = []

    private constructor(private opts: DemoOptions) {}

    static async start(opts: DemoOptions): Promise<Demo> {
        const d = new Demo(opts)
        try {
            await d.boot()
        } catch (e) {
            await d.stop()
            throw e
        }
        return d
    }

    /** Simulated UTC: the meters' clocks run `scale` times faster than the host's after the time sync. */
    simNow(): number {
        return this.utc0 + Math.floor(((Date.now() - this.t0) / 1000) * this.scale)
    }

    meterEntry(nameOrId: string): MeterEntry {
        const m = this.ks.meters.find(x => x.name === nameOrId || x.meterId === nameOrId)
        if (!m) throw new Error(`no meter ${nameOrId}`)
        return m
    }

    fleetMeter(m: MeterEntry): FleetMeter {
        return this.fleet.meters.find(x => x.entry.meterId === m.meterId)!
    }

    /**
     * Signs and sends an operator command; resolves with the meter's acknowledgement, or
     * undefined if none came within `waitMs`.
     */
    async command(meter: MeterEntry, name: string, args: string[] = [], opts: { role?: Role; cosign?: Role; waitMs?: number } = {}): Promise<CommandAck | undefined> {
        const env = buildCommand(this.ks, meter, name, args, { role: opts.role, cosign: opts.cosign, now: this.simNow(), validSeconds: 6 * 3600 })
        return this.sendEnvelope(meter, env, `${name}${args.length ? " " + args.join(" ") : ""} (${opts.role ?? "default role"})`, opts.waitMs)
    }

    /** Sends a ready envelope and waits for its acknowledgement (matched by counter). */
    async sendEnvelope(meter: MeterEntry, env: Buffer, label: string, waitMs = this.ackWaitMs()): Promise<CommandAck | undefined> {
        const { counter, opcode } = commandSummary(env)
        this.sent.push({ meter, envelope: env, opcode })
        this.state.addLog("command", `→ ${meter.name}: ${label}`)
        const ack = new Promise<CommandAck | undefined>(res => {
            const w = { meterId: meter.meterId, counter, res }
            this.ackWaiters.push(w)
            setTimeout(() => {
                const i = this.ackWaiters.indexOf(w)
                if (i >= 0) {
                    this.ackWaiters.splice(i, 1)
                    res(undefined)
                }
            }, waitMs)
        })
        await this.station.sendCommand(meter, env)
        return ack
    }

    /** How long to wait for an acknowledgement: it rides on the meter's next report, at most an interval away. */
    ackWaitMs(): number {
        return Math.round(this.opts.intervalS * 1000 + 5000)
    }

    /** Replaces a role's key on every meter (root-signed), then in the keystore. */
    async rotateKey(role: Role): Promise<boolean> {
        const next = nextRoleKey(this.ks, role)
        const acks = await Promise.all(
            this.ks.meters.map(m => this.sendEnvelope(m, keyChangeCommand(this.ks, m, role, next, { now: this.simNow(), validSeconds: 6 * 3600 }), `replace ${role} key (id ${next.keyId})`))
        )
        const ok = acks.every(a => a?.verdict === Verdict.Accepted)
        if (ok) {
            this.ks.roles[role] = next
            if (role === "root") this.ks.nextKeyId = Math.max(this.ks.nextKeyId, next.keyId + 1)
            saveKeystore(this.ks, this.opts.keystorePath)
            this.state.addLog("info", `${role} key replaced on every meter; keystore updated`)
        } else this.state.addLog("error", `${role} key change not confirmed by every meter: keystore unchanged`)
        return ok
    }

    /** The next tariff preset for `meter` (the demo alternates day-night and flat). */
    nextTariff(meter: MeterEntry): string {
        const t = this.tariffs.get(meter.meterId) === "day-night" ? "flat" : "day-night"
        this.tariffs.set(meter.meterId, t)
        return t
    }

    /** The consumer presses the meter's button (see Fleet.pressButton for the path). */
    async pressButton(meter: MeterEntry) {
        await this.fleet.pressButton(this.fleetMeter(meter))
        this.state.addLog("info", `${meter.name}: the consumer pressed the meter's button (setting sim.press written over the Jacdac bus)`)
    }

    async stop() {
        await this.station?.close().catch(() => {})
        await this.fleet?.stop().catch(() => {})
        await this.broker?.close().catch(() => {})
        this.releaseLock?.()
    }

    private async boot() {
        const log = this.opts.log ?? (() => {})
        this.scale = Math.max(1, Math.round(1800 / this.opts.intervalS))
        // everything that can fail fast (keystore readable, broker reachable) before anything is written
        const created = this.openKeystore()
        this.ks = created.ks
        const entries: MeterEntry[] = []
        for (let i = 1; i <= this.opts.meters; i++) entries.push(addMeter(this.ks, `meter-${i}`))
        for (const m of entries)
            this.state.meters.push({ name: m.name, meterId: m.meterId, process: "booting", chain: { state: "unknown" }, relay: "?", frames: 0, records: 0, refused: 0 })
        // brokerUrl is shown and logged: never the password, which only the station and the meters' settings get
        let fullUrl: string
        if (this.opts.brokerUrl) {
            fullUrl = this.opts.brokerUrl
        } else {
            this.broker = await startBroker({ host: "127.0.0.1", port: 0 })
            fullUrl = this.broker.url
        }
        const b = parseBrokerUrl(fullUrl)
        this.brokerUrl = b.url
        const dir = this.opts.dir ?? METERS_DIR
        // the broker answers first (one line and nothing written otherwise); then the meters
        // directory is ours, and the head-end's database opens before the station serves
        const openStore = async () => {
            // one fleet per meters directory, and devtools' ports free, before anything is written
            this.releaseLock = lockMetersDir(dir)
            await checkDevtoolsPorts()
            if (created.isNew) log(`created the fleet's keys in ${this.opts.keystorePath} (mode 0600, git-ignored)`)
            saveKeystore(this.ks, this.opts.keystorePath)
            log(`broker ${this.brokerUrl}${this.broker ? " (embedded aedes)" : ""}`)
            if (this.opts.fresh)
                for (const m of entries) {
                    const mdir = join(dir, m.name)
                    if (!existsSync(mdir)) continue
                    log(`${m.name}: wiping its flash (--fresh): its chain starts again from genesis`)
                    rmSync(mdir, { recursive: true, force: true })
                }
            const flashKept = (m: MeterEntry) =>
                existsSync(join(dir, m.name, ".devicescript", "flash")) && !flashWipeReason(join(dir, m.name), meterSettings(this.ks, m, { broker: b, clockScale: this.scale, seed: entries.indexOf(m) + 1 }))
            const { db, target } = await openDemoDatabase({ runDir: dir, database: this.opts.database, meters: entries, flashKept, log })
            log(`head-end database: ${describeTarget(target)}`)
            return db
        }
        this.station = await Station.connect(fullUrl, this.ks, {
            error: line => this.state.addLog("error", line),
            brokerLost: url => this.state.addLog("error", `broker ${url} lost: the head-end and the meters retry every second; meters keep their records until acknowledged`),
            brokerBack: (url, ms) => this.state.addLog("info", `broker ${url} back after ${(ms / 1000).toFixed(1)} s without it`),
            report: (m, r, fresh) => this.onReport(m, r, fresh),
            refused: (m, why) => {
                if (m) this.status(m).refused++
                this.state.addLog("rejected", `head-end refused a frame${m ? ` claiming ${m.name}` : ""}: ${why}`)
            },
            chainBroken: (m, at, why) => {
                this.status(m).chain = { state: "broken", at, reason: why }
                this.state.addLog("alert", `${m.name}: chain BROKEN at record ${at} (${why})`)
            },
            response: (m, a) => this.onAck(m, a),
            clone: (m, d) => {
                this.status(m).lastAlert = `CLONE: ${d}`
                this.state.addLog("alert", `${m.name}: clone alert: ${d}`)
            },
        }, 5000, { database: openStore })
        // simulated time goes on from the last run: a meter refuses a time sync before the
        // newest time on its record (docs/commands.md §5), and an earlier run at ×180 left its
        // records hours ahead of the real clock. The margin covers what the meters recorded
        // after the newest record the head-end stored (their unacknowledged backlog).
        const stored = Math.max(0, ...entries.map(m => this.station.records(m.meterId).at(-1)?.time ?? 0))
        if (stored) this.utc0 = Math.max(this.utc0, stored + SIM_TIME_MARGIN_S)
        this.fleet = await Fleet.start({
            keystore: this.ks,
            meters: entries,
            broker: b,
            clockScale: this.scale,
            firmware: this.opts.firmware,
            dir: this.opts.dir,
            log,
        })
        this.t0 = Date.now()
        this.fleet.onLine((fm, line) => this.onConsole(fm, line))
        this.fleet.onExit(fm => {
            this.status(fm.entry).process = "crashed"
            this.state.addLog("error", `${fm.entry.name}: the simulated meter exited: ${fm.device.output().slice(-300).replace(/\s+/g, " ")}`)
        })
        for (const s of this.state.meters) s.process = "running"
        this.state.changed()
    }

    private openKeystore(): { ks: Keystore; isNew: boolean } {
        try {
            return { ks: loadKeystore(this.opts.keystorePath), isNew: false }
        } catch (e) {
            if (e instanceof KeystoreError && /no keystore/.test(e.message)) return { ks: createKeystore(), isNew: true }
            throw e
        }
    }

    private status(m: MeterEntry): MeterStatus {
        return this.state.meter(m.meterId)!
    }

    private onConsole(fm: FleetMeter, line: string) {
        const s = this.status(fm.entry)
        if (/^(using devs|connected to ws|self-deployed|disconnect undefined)/.test(line)) return
        s.console = line.slice(0, 120)
        // the firmware's status line (src/app.ts: "METER status import=… export=… power=… relay=0|1 head=… acked=… up=… utc=…")
        const st = /^METER status import=(\d+) export=(\d+) power=(-?[\d.]+) relay=([01]) head=(-?\d+) acked=(-?\d+) up=([01])/.exec(line)
        if (st) {
            s.registers = `import ${(Number(st[1]) / 1000).toFixed(1)} Wh, export ${(Number(st[2]) / 1000).toFixed(1)} Wh, ${Math.round(Number(st[3]))} W, store head #${st[5]} acked #${st[6]}${st[7] === "1" ? "" : ", OFFLINE"}`
            // the status line says open or closed; the acknowledgements say pending or armed
            if (st[4] === "1") {
                if (!/^disconnecting/.test(s.relay)) s.relay = "connected"
            } else if (s.relay !== "armed") s.relay = "disconnected"
        }
        // a rebooted meter has no clock until the next authenticated time sync (DeviceScript has no RTC)
        const utc = /^METER status .* utc=(\d+)/.exec(line)
        if (utc && utc[1] === "0" && this.synced.has(fm.entry.meterId) && Date.now() - (this.lastSync.get(fm.entry.meterId) ?? 0) > this.ackWaitMs()) {
            this.lastSync.set(fm.entry.meterId, Date.now())
            this.utcSync(fm.entry).catch(() => {})
        }
        if (/^METER event /.test(line)) this.state.addLog("info", `${fm.entry.name}: ${line.slice(6)}`)
        if (/^button: pressed/.test(line)) this.state.addLog("info", `${fm.entry.name}: ${line}`)
        if (/tamper|chain ok=0/i.test(line)) {
            s.consoleAlert = line
            this.state.addLog("alert", `${fm.entry.name} says: ${line}`)
        }
        this.state.changed()
    }

    private onReport(m: MeterEntry, r: import("../../src/wire/report").Report, fresh: import("../../headend/src/station.ts").StoredRecord[]) {
        const s = this.status(m)
        s.frames++
        s.records = this.station.records(m.meterId).length
        if (s.chain.state !== "broken") {
            const h = this.station.head(m.meterId)
            if (h) s.chain = { state: "verified", head: h.seq }
        }
        if (r.registers) s.registers = r.registers.toString("hex")
        for (const rec of fresh) {
            if (rec.kind === RecordKind.IntervalClose) s.lastInterval = describeRecord(rec)
            if (rec.kind === RecordKind.Tamper) {
                s.lastAlert = describeRecord(rec).replace(/^#\d+ /, "") + ` (record #${rec.seq} of the meter's chain)`
                this.state.addLog("alert", `${m.name}: the meter reports ${s.lastAlert}`)
            }
        }
        if (!s.lastInterval && fresh.length) s.lastInterval = describeRecord(fresh[fresh.length - 1])
        for (const a of r.alerts ?? []) {
            s.lastAlert = `${ALERT_NAME[a.kind] ?? `alert ${a.kind}`} ×${a.count}`
            this.state.addLog("alert", `${m.name}: ${s.lastAlert}`)
        }
        if (!this.synced.has(m.meterId)) {
            // first contact: the network operator sets the meter's clock (time-bound commands need it)
            this.synced.add(m.meterId)
            this.lastSync.set(m.meterId, Date.now())
            this.utcSync(m).catch(() => {})
        }
        this.state.changed()
    }

    private async utcSync(m: MeterEntry) {
        const now = this.simNow()
        // a meter without a clock accepts a time only from an envelope expiring within the hour after it (docs/commands.md §5)
        const env = signOpcode(this.ks, m, Opcode.TimeSync, timeSyncArgs(now), { role: "networkOperator", now, validSeconds: 3600 })
        await this.sendEnvelope(m, env, `time sync ${new Date(now * 1000).toISOString()}`)
    }

    private onAck(m: MeterEntry, a: CommandAck) {
        const s = this.status(m)
        const what = `${opcodeName(a.opcode)} from key ${a.signerKeyId}`
        if (a.verdict === Verdict.Accepted) {
            this.state.addLog("accepted", `← ${m.name}: accepted ${what}${a.opcode === Opcode.Disconnect ? `, relay opens in ${a.detail} s` : ""}`)
            if (a.opcode === Opcode.Disconnect) s.relay = `disconnecting in ${a.detail}s`
            if (a.opcode === Opcode.ReconnectArm) s.relay = "armed"
        } else {
            this.state.addLog("rejected", `← ${m.name}: REFUSED ${what}: ${verdictName(a.verdict)}`)
            s.lastAlert = `refused ${opcodeName(a.opcode)}: ${verdictName(a.verdict)}`
        }
        if (a.verdict === Verdict.Accepted) {
            const e = this.sent.find(x => {
                const c = commandSummary(x.envelope)
                return x.meter.meterId === m.meterId && c.counter === a.counter && c.signerKeyId === a.signerKeyId
            })
            if (e) this.accepted.push(e)
        }
        for (const w of [...this.ackWaiters])
            if (w.meterId === m.meterId && w.counter === a.counter) {
                this.ackWaiters.splice(this.ackWaiters.indexOf(w), 1)
                w.res(a)
            }
        this.state.changed()
    }
}
