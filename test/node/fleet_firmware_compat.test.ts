// Starts `devs devtools` (ports 8081-8083): run under `flock /tmp/trustmeter-devtools.lock`.
//
// One meter of each kind on one head-end: the real firmware (src/main.ts in the DeviceScript
// simulator, sim/src/fleet.ts) and a protocol-level meter (sim/src/protocol/), provisioned
// from one keystore, on one mosquitto (aedes when mosquitto is missing), with the ingestion
// service (headend/src/service.ts) on an embedded database. Both get the network operator's
// time sync on their power-up and a forged command. What they put on the wire must be the
// same protocol: frames that open and decode alike (header, body flags, sizes), the same
// record kinds with the same payload layouts, chains that verify at the head-end from K_0,
// and the same answers to the same commands.
// @timeout 180
import { test } from "node:test"
import assert from "node:assert/strict"
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync } from "node:fs"
import { createHash } from "node:crypto"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import mqtt from "mqtt"
import { ROOT, devs } from "../../tools/devs.ts"
import { Fleet, checkDevtoolsPorts } from "../../sim/src/fleet.ts"
import { ProtocolFleet } from "../../sim/src/protocol/fleet.ts"
import { addMeter, chainKeyOf, createKeystore } from "../../headend/src/keystore.ts"
import { openDatabase, readRecords } from "../../headend/src/db/index.ts"
import { HeadEndService } from "../../headend/src/service.ts"
import { verifyChain } from "../../headend/src/chain.ts"
import { signOpcode } from "../../headend/src/operations.ts"
import { parseAck } from "../../headend/src/commands.ts"
import { decodeCommandAck } from "../../src/wire/ack"
import { nodeCrypto } from "../../headend/src/crypto.ts"
import { Direction, deriveFrameKey, openFrame, readHeader } from "../../src/wire/frame"
import { ReportFlag, decodeReport } from "../../src/wire/report"
import { RecordKind } from "../../src/wire/record"
import { IntervalStatus, decodeInterval } from "../../src/wire/interval"
import { decodeRegisters } from "../../src/wire/registers"
import { timeSyncArgs } from "../../src/wire/envelope"
import { Opcode, Verdict } from "../../src/wire/opcodes"
import { haveMosquitto, startTestBroker } from "../firmware/uplink_e2e.ts"

const T0 = Date.now()
const phase = (what: string) => console.log(`# compat +${((Date.now() - T0) / 1000).toFixed(1)} s: ${what}`)
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/**
 * src/main.ts compiled in a private directory (a parallel build in the shared tree cannot
 * swap it), kept in the temp dir under a digest of the firmware sources: built once per tree.
 */
async function firmware(): Promise<string> {
    const h = createHash("sha256")
    const walk = (d: string) => {
        for (const e of readdirSync(d).sort()) {
            const p = join(d, e)
            if (statSync(p).isDirectory()) walk(p)
            else if (/\.(ts|json)$/.test(e)) h.update(relative(ROOT, p)).update(readFileSync(p))
        }
    }
    walk(join(ROOT, "src"))
    walk(join(ROOT, "boards"))
    for (const f of ["devsconfig.json", "package.json"]) h.update(readFileSync(join(ROOT, f)))
    const cached = join(tmpdir(), `tm-main-${h.digest("hex").slice(0, 24)}.devs`)
    if (existsSync(cached)) return cached
    const dir = mkdtempSync(join(tmpdir(), "tm-compat-build-"))
    try {
        for (const f of ["src", "boards", "package.json", "devsconfig.json", "node_modules"]) symlinkSync(join(ROOT, f), join(dir, f))
        const r = await devs(["build", "src/main.ts"], { cwd: dir, timeoutMs: 180_000 })
        if (r.code !== 0) throw new Error(`devs build src/main.ts failed:\n${r.output}`)
        copyFileSync(join(dir, ".devicescript/bin/bytecode.devs"), `${cached}.${process.pid}`)
        renameSync(`${cached}.${process.pid}`, cached)
    } finally {
        rmSync(dir, { recursive: true, force: true })
    }
    return cached
}

interface Seen {
    frames: Buffer[]
    answers: Buffer[]
}

test("a protocol-level meter and the real firmware on one head-end: the same frames, records, chains and answers", { timeout: 180_000 }, async () => {
    await checkDevtoolsPorts()
    const building = firmware()
    building.catch(() => {})
    const dir = mkdtempSync(join(tmpdir(), "tm-compat-"))
    const ks = createKeystore()
    const real = addMeter(ks, "real-1")
    const proto = addMeter(ks, "proto-1")
    const secret = (id: string) => Buffer.from(ks.meters.find(m => m.meterId === id)!.secret, "hex")
    const broker = await startTestBroker(haveMosquitto ? "mosquitto" : "aedes")
    const db = await openDatabase({ backend: "pglite", dir: join(dir, "db") })
    const seen = new Map<string, Seen>([real, proto].map(m => [m.meterId, { frames: [], answers: [] }]))
    const synced = new Set<string>()
    // the time sync each meter accepted, replayed later
    const syncs = new Map<string, Buffer>()
    let service: HeadEndService | undefined
    let observer: mqtt.MqttClient | undefined
    let realFleet: Fleet | undefined
    let protoFleet: ProtocolFleet | undefined
    // both run their clocks ×180: a half-hour interval every 10 s
    const scale = 180
    try {
        service = HeadEndService.open({
            db,
            secretOf: id => (seen.has(id) ? secret(id) : undefined),
            chainKeyOf: id => (seen.has(id) ? chainKeyOf(ks.meters.find(m => m.meterId === id)!) : undefined),
            events: {
                accepted(v) {
                    for (const r of v.change.responses ?? []) seen.get(v.meterId)!.answers.push(r.body)
                    // the network operator sets the clock of a meter that powered up (as npm start does)
                    if (v.fresh.some(r => r.data[1] === RecordKind.PowerUp) && !synced.has(v.meterId)) {
                        synced.add(v.meterId)
                        // the meter's own simulated time: the protocol fleet's clock, the firmware's host time (its clock then runs ×180 from it)
                        const now = Math.floor((v.meterId === proto.meterId ? protoFleet!.simNow() : Date.now()) / 1000)
                        const env = signOpcode(ks, ks.meters.find(m => m.meterId === v.meterId)!, Opcode.TimeSync, timeSyncArgs(now), { role: "networkOperator", now, validSeconds: 1800, counter: BigInt(now) * 1_000_000n })
                        syncs.set(v.meterId, env)
                        setTimeout(() => void service!.sendCommand(v.meterId, env).catch(e => phase(`time sync not sent: ${e.message}`)), 200)
                    }
                },
            },
        })
        await service.connect(broker.url)
        observer = await mqtt.connectAsync(broker.url, { clientId: `tm-compat-observer-${process.pid}` })
        observer.on("message", (_t, payload) => {
            const id = payload.length >= 9 ? payload.subarray(1, 9).toString("hex") : ""
            seen.get(id)?.frames.push(Buffer.from(payload))
        })
        await observer.subscribeAsync("u/+")
        phase(`head-end on ${broker.kind} at ${broker.url}`)

        protoFleet = await ProtocolFleet.start({ keystore: ks, meters: [proto], broker: { host: broker.host, port: broker.port }, scale })
        const code = await building
        phase("firmware built (or cached)")
        realFleet = await Fleet.start({ keystore: ks, meters: [real], broker: { host: broker.host, port: broker.port }, clockScale: scale, firmware: code, dir: join(dir, "meters"), log: l => phase(l) })
        phase("real meter booting")

        // what each must have stored: power-up, a time set, two whole intervals after it
        const ready = async (id: string) => {
            const recs = await readRecords(db, id)
            const kinds = recs.map(r => r.data[1])
            const whole = recs.filter(r => r.data[1] === RecordKind.IntervalClose && decodeInterval(r.data.subarray(11, 27)).status === IntervalStatus.Complete)
            return kinds.includes(RecordKind.TimeSet) && whole.length >= 2
        }
        for (let end = Date.now() + 150_000; !((await ready(real.meterId)) && (await ready(proto.meterId))); ) {
            if (Date.now() > end) throw new Error(`timed out: real ${JSON.stringify((await readRecords(db, real.meterId)).map(r => r.data[1]))}, protocol ${JSON.stringify((await readRecords(db, proto.meterId)).map(r => r.data[1]))}`)
            await sleep(500)
        }
        phase("both synced, two whole intervals each")

        // the same three bad commands to each, in authentic downlink frames: a broken
        // signature, an opcode the signer's role may not sign, the accepted time sync
        // replayed (two whole intervals later: past its half hour of validity on both clocks)
        for (const m of [real, proto]) {
            const now = Math.floor((m === proto ? protoFleet.simNow() : Date.now()) / 1000)
            const forged = signOpcode(ks, m, Opcode.Disconnect, Buffer.alloc(0), { role: "supplier", now, validSeconds: 86400 * 30, counter: BigInt(now) * 1_000_000n })
            forged[forged.length - 1] ^= 1
            const notAllowed = signOpcode(ks, m, Opcode.TimeSync, timeSyncArgs(now), { role: "supplier", now, validSeconds: 3600, counter: BigInt(now) * 1_000_000n + 1n })
            for (const env of [forged, notAllowed, syncs.get(m.meterId)!]) {
                await service.sendCommand(m.meterId, env)
                // one at a time: each answer rides the frame after it
                const n = seen.get(m.meterId)!.answers.length
                for (let end = Date.now() + 30_000; seen.get(m.meterId)!.answers.length <= n && Date.now() < end; ) await sleep(200)
            }
        }
        for (let end = Date.now() + 30_000; [real, proto].some(m => seen.get(m.meterId)!.answers.length < 4); ) {
            if (Date.now() > end) throw new Error(`answers: real ${seen.get(real.meterId)!.answers.length}, protocol ${seen.get(proto.meterId)!.answers.length}`)
            await sleep(300)
        }
        await sleep(1000)
        phase("both answered")

        // 1. the answers: the same verdicts, each a CBOR command-ack (src/wire/ack.ts, docs/formats.cddl)
        for (const id of [real.meterId, proto.meterId])
            for (const b of seen.get(id)!.answers) assert.ok(b[0] === 0x85 && decodeCommandAck(b) !== undefined, `an answer is a CBOR command-ack: ${b.toString("hex")}`)
        const answers = (id: string) => seen.get(id)!.answers.map(b => parseAck(b)).map(a => [a.opcode, a.verdict])
        phase(`answers: real ${JSON.stringify(answers(real.meterId))}, protocol ${JSON.stringify(answers(proto.meterId))}`)
        assert.deepEqual(answers(proto.meterId), answers(real.meterId))
        assert.deepEqual(answers(real.meterId), [
            [Opcode.TimeSync, Verdict.Accepted],
            [Opcode.Disconnect, Verdict.BadSignature],
            [Opcode.TimeSync, Verdict.OpcodeNotAllowed],
            [Opcode.TimeSync, Verdict.Expired],
        ])

        // 2. records: both chains verify from K_0; the same kinds, each with the same payload layout
        const stored = new Map<string, Buffer[]>()
        for (const m of [real, proto]) {
            const recs = (await readRecords(db, m.meterId)).map(r => r.data)
            const v = verifyChain(recs, chainKeyOf(m))
            assert.equal(v.ok, true, `${m.name}: ${JSON.stringify(v)}`)
            stored.set(m.meterId, recs)
        }
        const layout = (id: string) => {
            const byKind = new Map<number, Set<number>>()
            for (const r of stored.get(id)!) byKind.set(r[1], (byKind.get(r[1]) ?? new Set()).add(r[10]))
            return [...byKind.entries()].sort((a, b) => a[0] - b[0]).map(([k, lens]) => `${k.toString(16)}:${[...lens].sort().join("/")}`)
        }
        phase(`record kinds:payload sizes: real ${layout(real.meterId).join(" ")}, protocol ${layout(proto.meterId).join(" ")}`)
        assert.deepEqual(layout(proto.meterId), layout(real.meterId))
        for (const id of [real.meterId, proto.meterId])
            for (const r of stored.get(id)!) {
                if (r[1] !== RecordKind.IntervalClose) continue
                const iv = decodeInterval(r.subarray(11, 27))
                // time unknown: the record's time is 0; known: its time is the aligned start
                assert.equal(r.readUInt32BE(6), iv.status & IntervalStatus.TimeUnknown ? 0 : iv.start)
            }
        const statuses = (id: string) => [...new Set(stored.get(id)!.filter(r => r[1] === RecordKind.IntervalClose).map(r => decodeInterval(r.subarray(11, 27)).status))].sort()
        phase(`interval statuses: real ${statuses(real.meterId)}, protocol ${statuses(proto.meterId)}`)
        for (const s of [IntervalStatus.Complete, IntervalStatus.PartialPowerUp | IntervalStatus.TimeUnknown | IntervalStatus.ClockAdjusted]) {
            assert.ok(statuses(real.meterId).includes(s), `real: status ${s}`)
            assert.ok(statuses(proto.meterId).includes(s), `protocol: status ${s}`)
        }

        // 3. frames: the same header (version 2, 14 bytes at epoch 0), counters growing, bodies
        // that decode alike; the first frame and a steady interval frame with the same sections
        const shapes = (id: string) => {
            const key = deriveFrameKey(nodeCrypto, secret(id), Buffer.from(id, "hex"), Direction.Uplink, 0)
            let last = 0
            return seen.get(id)!.frames.map(f => {
                const h = readHeader(f)
                assert.equal(h.version, 2)
                assert.equal(h.size, 14)
                assert.ok(h.counter > last, "counters grow")
                last = h.counter
                const body = openFrame(nodeCrypto, key, f, Direction.Uplink)
                const r = decodeReport(body)
                if (r.registers) decodeRegisters(r.registers)
                return { flags: body[1], size: f.length, records: r.records?.length ?? 0, kinds: (r.records ?? []).map(x => x.kind), derived: (r.records ?? []).map(x => x.derived !== undefined) }
            })
        }
        const rs = shapes(real.meterId)
        const ps = shapes(proto.meterId)
        phase(`first frames: real ${JSON.stringify(rs[0])}, protocol ${JSON.stringify(ps[0])}`)
        assert.deepEqual(ps[0], rs[0], "the first frame after boot: genesis and power-up, registers, checkpoint at the last record")
        // a steady half-hourly frame: one interval record, its register block derived from the
        // interval before it (docs/uplink.md §4.1), the checkpoint its last record (no anchor, registers, alerts)
        const steady = (xs: typeof rs) => xs.find(x => x.records === 1 && x.kinds[0] === RecordKind.IntervalClose && x.derived[0] && x.flags === (ReportFlag.Records | ReportFlag.CheckpointAtLast))
        const rSteady = steady(rs)
        const pSteady = steady(ps)
        phase(`steady frames: real ${JSON.stringify(rSteady)}, protocol ${JSON.stringify(pSteady)}`)
        assert.ok(rSteady && pSteady, "both sent a steady interval frame")
        assert.deepEqual(pSteady, rSteady)
        assert.equal(pSteady!.size, 76, "14 header + 3 + 5 records header + 38 wire record (the register block derived) + 16 tag (docs/uplink.md §13)")
    } finally {
        const pids = realFleet?.processIds() ?? []
        await realFleet?.stop()
        await protoFleet?.stop()
        await observer?.endAsync(true).catch(() => {})
        await service?.close().catch(() => {})
        await db.close().catch(() => {})
        await broker.close()
        rmSync(dir, { recursive: true, force: true })
        // nothing left behind: the simulator and devtools process groups are gone, the ports free
        const alive = pids.filter(pid => {
            try {
                process.kill(-pid, 0)
                return true
            } catch {
                return false
            }
        })
        assert.deepEqual(alive, [], "process groups still running after the fleet stopped")
        await checkDevtoolsPorts()
    }
})
