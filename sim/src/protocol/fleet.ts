/**
 * A fleet of protocol-level meters in one Node process (sim/src/protocol/meter.ts): each
 * with its own identity from the keystore (provisioned as `trustmeter provision` does:
 * METER_ID, METER_SECRET and the anchor ring of headend/src/provision.ts), its own MQTT
 * connection, counters and chain; simulated UTC running `scale` times faster than the
 * host's clock; one state file per fleet (the meters' flash images, written atomically) so
 * that a fleet stops and resumes (a resume is a power cycle of every meter).
 *
 * Disturbances, each on a random share of the meters (`disturb`): network outages, power
 * cycles, clones (a second device with a copy of the flash and the same secret), forged
 * downlink frames (random, tampered and replayed bytes on `d/<id>`), and frames the
 * network delivers twice.
 *
 *   const fleet = await ProtocolFleet.start({ keystore, meters, broker: { host, port }, scale: 90 })
 *   fleet.disturb({ outage: 0.02, outageMs: 30_000, reboot: 0.01 })
 *   await fleet.stop()            // saves the state file when `statePath` is set
 */
import { existsSync, readFileSync } from "node:fs"
import { randomBytes } from "node:crypto"
import { Keystore, MeterEntry, writeFileAtomic } from "../../../headend/src/keystore.ts"
import { anchorRing } from "../../../headend/src/provision.ts"
import { downlinkTopic } from "../../../src/wire/report"
import { MeterImage, MeterOptions, MeterStats, ProtocolMeter, provisionedImage } from "./meter.ts"
import { MeterConnection } from "./mqtt.ts"

export const FLEET_STATE_FORMAT = "trustmeter-protocol-fleet/v1"

export interface BrokerTarget {
    host: string
    port: number
    username?: string
    password?: string
}

export interface ProtocolFleetOptions {
    keystore: Keystore
    /** the meters to run (keystore entries) */
    meters: MeterEntry[]
    broker: BrokerTarget
    /** simulated ms per real ms (180: a 30-minute interval in 10 s) */
    scale: number
    /** simulated UTC at the start, ms (default: now); a resumed fleet continues from its saved time */
    startUtcMs?: number
    /** the fleet's state file: resumed when it exists, written by `save` and `stop` */
    statePath?: string
    meter?: MeterOptions
    /** first connections per second (default 2000): a whole fleet connecting at once is a SYN flood */
    connectRate?: number
    /** the fleet's tick, real ms (default 100) */
    tickMs?: number
    log?: (line: string) => void
}

/** The share of meters each disturbance hits (0..1). */
export interface Disturbance {
    /** the network goes down for `outageMs` real ms (default 30 s) */
    outage?: number
    outageMs?: number
    /** power cycle: RAM lost, the flash kept, back on after `offMs` real ms (default 0) */
    reboot?: number
    offMs?: number
    /** a second device starts with a copy of the flash and the same secret */
    clone?: number
    /** three forged downlink frames each: random bytes, a tampered frame, a replayed one */
    forged?: number
    /** from now on the network delivers each of their frames twice */
    duplicate?: number
}

export interface FleetMember {
    entry: MeterEntry
    meter: ProtocolMeter
    conn: MeterConnection
    /** index of the meter this one is a clone of */
    cloneOf?: number
    /** publish every frame twice */
    duplicate: boolean
    /** real ms when a simulated outage ends */
    outageUntil?: number
    /** real ms when a power cut ends */
    offUntil?: number
    /** the last downlink frame seen, for a replay */
    lastDownlink?: Buffer
    /** real ms of this member's next tick (0: at the next one) */
    due: number
}

/** What `status` reports. */
export interface FleetStatus {
    /** original meters, and how many of them have a clone running (their figures are apart) */
    meters: number
    cloned: number
    simUtcMs: number
    /** meters (not cloned) connected, with the clock set, with everything acknowledged */
    connected: number
    synced: number
    drained: number
    stats: MeterStats
    /** interval records sealed, and intervals a full store refused (the firmware's StoreFull) */
    intervals: number
    refusedIntervals: number
    /** CPU seconds of this process */
    cpuS: number
}

interface StateFile {
    format: typeof FLEET_STATE_FORMAT
    savedAt: string
    simUtcMs: number
    scale: number
    meters: MeterImage[]
    clones: { of: number; image: MeterImage }[]
}

export class ProtocolFleet {
    readonly members: FleetMember[] = []
    private timer?: NodeJS.Timeout
    private simAtStart: number
    private realAtStart: number
    private readonly scale: number
    private stopped = false
    private attacker?: MeterConnection
    /** the members' indices in the order of the next tick */
    private order: number[] = []

    private constructor(private o: ProtocolFleetOptions) {
        this.scale = o.scale
        this.simAtStart = o.startUtcMs ?? Date.now()
        this.realAtStart = Date.now()
    }

    /** Provisions (or resumes from the state file) and boots every meter; connections start at `connectRate`. */
    static async start(o: ProtocolFleetOptions): Promise<ProtocolFleet> {
        const f = new ProtocolFleet(o)
        f.load()
        f.timer = setInterval(() => f.tick(), o.tickMs ?? 100)
        return f
    }

    /** Simulated UTC now, ms. */
    simNow(realMs = Date.now()): number {
        return this.simAtStart + (realMs - this.realAtStart) * this.scale
    }

    /** Real ms at which simulated UTC reaches `simMs`. */
    realAt(simMs: number): number {
        return this.realAtStart + (simMs - this.simAtStart) / this.scale
    }

    /** The clock's parameters, so another process can compute `simNow` (the operator's time syncs). */
    clock(): { simAtStart: number; realAtStart: number; scale: number } {
        return { simAtStart: this.simAtStart, realAtStart: this.realAtStart, scale: this.scale }
    }

    /** The member running meter `meterId` (the original, not a clone). */
    member(meterId: string): FleetMember | undefined {
        return this.members.find(m => m.entry.meterId === meterId && m.cloneOf === undefined)
    }

    status(): FleetStatus {
        const cpu = process.cpuUsage()
        const s: FleetStatus = { meters: 0, cloned: 0, simUtcMs: this.simNow(), connected: 0, synced: 0, drained: 0, stats: emptyStats(), intervals: 0, refusedIntervals: 0, cpuS: (cpu.user + cpu.system) / 1e6 }
        const sim = this.simNow()
        const cloned = new Set(this.members.filter(m => m.cloneOf !== undefined).map(m => m.cloneOf!))
        for (const [i, m] of this.members.entries()) {
            if (m.cloneOf !== undefined) continue
            s.meters++
            if (cloned.has(i)) {
                s.cloned++
                continue
            }
            if (m.conn.connected()) s.connected++
            if (m.meter.isOn() && m.meter.utc(sim) > 0) s.synced++
            if (m.meter.isOn() && m.meter.drained()) s.drained++
            for (const k of Object.keys(s.stats) as (keyof MeterStats)[]) s.stats[k] += m.meter.stats[k]
            s.intervals += m.meter.image.ledger.seqs.length
            s.refusedIntervals += m.meter.image.ledger.refused
        }
        return s
    }

    /** Every (publish, ack) pair of real ms since the last call, flattened. */
    takeAckLog(): number[] {
        const out: number[] = []
        for (const m of this.members) {
            if (!m.meter.ackLog.length) continue
            for (const x of m.meter.ackLog) out.push(x)
            m.meter.ackLog = []
        }
        return out
    }

    /** Applies disturbances to random shares of the original meters; returns the indices hit by each. */
    disturb(d: Disturbance): Record<string, number[]> {
        const originals = this.members.map((m, i) => i).filter(i => this.members[i].cloneOf === undefined)
        const pick = (share = 0) => shuffle(originals).slice(0, Math.round(share * originals.length))
        const hit: Record<string, number[]> = {}
        const now = Date.now()
        hit.outage = pick(d.outage)
        for (const i of hit.outage) this.outage(i, d.outageMs ?? 30_000, now)
        hit.reboot = pick(d.reboot)
        for (const i of hit.reboot) this.powerCycle(i, d.offMs ?? 0)
        hit.clone = pick(d.clone)
        for (const i of hit.clone) this.clone(i)
        hit.forged = pick(d.forged)
        for (const i of hit.forged) this.forgeDownlinks(i)
        hit.duplicate = pick(d.duplicate)
        for (const i of hit.duplicate) this.members[i].duplicate = true
        for (const [k, v] of Object.entries(hit)) if (v.length) this.log(`disturbance: ${k} on ${v.length} meter(s)`)
        return hit
    }

    /** Takes member `i`'s network away for `ms` real ms. */
    outage(i: number, ms: number, now = Date.now()) {
        const m = this.members[i]
        m.outageUntil = now + ms
        m.conn.setNetwork(false, now)
        m.due = 0
    }

    /** Power cut, then (after `offMs`) power back on: the meter boots from its flash. */
    powerCycle(i: number, offMs = 0) {
        const m = this.members[i]
        m.meter.powerCut()
        m.conn.reconnect()
        m.offUntil = Date.now() + offMs
        m.due = 0
        if (offMs === 0) this.powerOn(m)
    }

    /** A second device with a copy of member `i`'s flash and secret, on its own connection (same client id). */
    clone(i: number): number {
        const orig = this.members[i]
        const image = JSON.parse(JSON.stringify(orig.meter.snapshot())) as MeterImage
        const m = this.member_(orig.entry, image)
        m.cloneOf = i
        this.members.push(m)
        this.powerOn(m)
        m.conn.start(Date.now())
        return this.members.length - 1
    }

    /**
     * Forged downlink frames to member `i`, as an attacker on the broker can send: random
     * bytes, the last real downlink frame with one bit flipped, and that frame replayed.
     * The meter must refuse all three (its "bad downlink" alert).
     */
    forgeDownlinks(i: number) {
        const m = this.members[i]
        const a = this.attackerLink()
        const topic = downlinkTopic(m.entry.meterId)
        const frames = [randomBytes(60)]
        if (m.lastDownlink) {
            const t = Buffer.from(m.lastDownlink)
            t[t.length - 5] ^= 1
            frames.push(t, Buffer.from(m.lastDownlink))
        }
        for (const f of frames) a.publishTo(topic, f)
    }

    /** Writes the state file (atomically: temp file, fsync, rename). */
    save(path = this.o.statePath) {
        if (!path) throw new Error("no state file: pass statePath")
        const st: StateFile = {
            format: FLEET_STATE_FORMAT,
            savedAt: new Date().toISOString(),
            simUtcMs: this.simNow(),
            scale: this.scale,
            meters: this.members.filter(m => m.cloneOf === undefined).map(m => m.meter.snapshot()),
            clones: this.members.filter(m => m.cloneOf !== undefined).map(m => ({ of: m.cloneOf!, image: m.meter.snapshot() })),
        }
        writeFileAtomic(path, JSON.stringify(st), 0o600)
    }

    /** Stops every meter (power cut), closes the connections, saves the state file when there is one. */
    async stop() {
        if (this.stopped) return
        this.stopped = true
        if (this.timer) clearInterval(this.timer)
        for (const m of this.members) m.meter.powerCut()
        if (this.o.statePath) this.save()
        for (const m of this.members) m.conn.close()
        this.attacker?.close()
    }

    // ---------------------------------------------------------------------------------------

    private log(line: string) {
        this.o.log?.(line)
    }

    private load() {
        const ks = this.o.keystore
        let saved: StateFile | undefined
        if (this.o.statePath && existsSync(this.o.statePath)) {
            saved = JSON.parse(readFileSync(this.o.statePath, "utf8")) as StateFile
            if (saved.format !== FLEET_STATE_FORMAT) throw new Error(`${this.o.statePath} is not a fleet state file (${saved.format})`)
            // the meters were off while the fleet was stopped: time goes on from where it was
            this.simAtStart = Math.max(saved.simUtcMs, this.o.startUtcMs ?? 0)
            this.log(`resuming ${saved.meters.length} meter(s) from ${this.o.statePath}`)
        }
        const byId = new Map(saved?.meters.map(m => [m.meterId, m]) ?? [])
        // provisioned as `trustmeter provision` provisions a meter (headend/src/provision.ts
        // meterSettings): its id, its secret and the anchor ring, which is the same for every
        // meter (the utility's three role keys) and so derived once
        let anchor: Buffer | undefined
        this.o.meters.forEach((entry, i) => {
            let image = byId.get(entry.meterId)
            if (!image) {
                anchor ??= anchorRing(ks)
                image = provisionedImage(entry, anchor, i + 1)
            }
            this.members.push(this.member_(entry, image))
        })
        for (const c of saved?.clones ?? []) {
            const orig = this.members[c.of]
            if (!orig) continue
            const m = this.member_(orig.entry, c.image)
            m.cloneOf = c.of
            this.members.push(m)
        }
        const now = Date.now()
        const rate = this.o.connectRate ?? 2000
        this.members.forEach((m, i) => {
            this.powerOn(m)
            m.conn.start(now + Math.floor((i / rate) * 1000))
        })
    }

    private member_(entry: MeterEntry, image: MeterImage): FleetMember {
        const b = this.o.broker
        let m: FleetMember
        const conn = new MeterConnection({
            host: b.host,
            port: b.port,
            meterIdHex: entry.meterId,
            username: b.username,
            password: b.password,
            onFrame: f => {
                m.lastDownlink = f
                m.meter.catchUp(this.simNow())
                void m.meter.onDownlink(f)
            },
            onReady: () => {
                m.due = 0
                m.meter.wakeUp()
            },
        })
        const link = {
            connected: () => conn.connected(),
            publish: (frame: Buffer) => {
                const ok = conn.publish(frame)
                if (ok && m.duplicate) conn.publish(frame)
                return ok
            },
            reconnect: () => conn.reconnect(),
        }
        m = { entry, meter: new ProtocolMeter(image, link, { scale: this.scale, ...this.o.meter }), conn, duplicate: false, due: 0 }
        m.meter.onWake = () => (m.due = 0)
        return m
    }

    private powerOn(m: FleetMember) {
        m.offUntil = undefined
        m.due = 0
        const now = Date.now()
        m.meter.boot(this.simNow(now), now)
    }

    private tick() {
        const now = Date.now()
        const sim = this.simNow(now)
        // a new order every tick: meters whose intervals close together reach the broker in a
        // different order each time, as a real fleet's do (a fixed order would hand each meter
        // to the same worker of a round-robin shared subscription every interval)
        if (this.order.length !== this.members.length) this.order = this.members.map((_, i) => i)
        const order = this.order
        for (let i = order.length - 1; i > 0; i--) {
            const j = Math.floor(Math.random() * (i + 1))
            const x = order[i]
            order[i] = order[j]
            order[j] = x
        }
        for (const k of order) {
            const m = this.members[k]
            // only the meters with something to do: a wake-up, a timer of theirs, an interval boundary
            if (now < m.due) continue
            if (m.outageUntil !== undefined && now >= m.outageUntil) {
                m.outageUntil = undefined
                m.conn.setNetwork(true, now)
            }
            if (m.offUntil !== undefined && now >= m.offUntil) this.powerOn(m)
            m.conn.maintain(now)
            try {
                m.meter.tick(sim, now)
            } catch (e) {
                this.log(`meter ${m.entry.name} failed: ${(e as Error).stack}`)
                throw e
            }
            const d = m.meter.due(now)
            m.due = Math.min(m.conn.due(), d.realMs, this.realAt(d.simMs), m.outageUntil ?? Infinity, m.offUntil ?? Infinity)
        }
        this.attacker?.maintain(now)
    }

    /** One connection for the attacker's forged frames (any client may publish on `d/<id>` unless the broker's ACLs forbid it). */
    private attackerLink(): { publishTo(topic: string, frame: Buffer): void } {
        if (!this.attacker) {
            this.attacker = new MeterConnection({ host: this.o.broker.host, port: this.o.broker.port, meterIdHex: "a77ac4e700000000", username: this.o.broker.username, password: this.o.broker.password, onFrame: () => {} })
            this.attacker.start(Date.now())
        }
        const a = this.attacker
        return { publishTo: (topic, frame) => a.publishTo(topic, frame) }
    }
}

function emptyStats(): MeterStats {
    return { framesSent: 0, resends: 0, acks: 0, downlinkRejected: 0, commandsAccepted: 0, commandsRefused: 0 }
}

function shuffle<T>(xs: T[]): T[] {
    const a = xs.slice()
    for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1))
        ;[a[i], a[j]] = [a[j], a[i]]
    }
    return a
}

