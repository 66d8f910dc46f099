// The protocol-level meter (sim/src/protocol/) against the head-end's ingestion in memory
// (headend/src/ingest.ts) and the firmware's command vectors: what the fleet simulator
// puts on the wire is what the firmware does, before any broker or database is involved.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { HeadEnd, CloneAlert } from "../../headend/src/ingest.ts"
import { verifyChain } from "../../headend/src/chain.ts"
import { addMeter, chainKeyOf, createKeystore } from "../../headend/src/keystore.ts"
import { anchorRing } from "../../headend/src/provision.ts"
import { signOpcode } from "../../headend/src/operations.ts"
import { parseAck } from "../../headend/src/commands.ts"
import { Opcode, Verdict } from "../../src/wire/opcodes"
import { privacyArgs, timeSyncArgs } from "../../src/wire/envelope"
import { RecordKind } from "../../src/wire/record"
import { IntervalStatus, decodeInterval } from "../../src/wire/interval"
import { AlertKind } from "../../src/wire/report"
import { CommandEndpoint } from "../../sim/src/protocol/commands.ts"
import { MeterImage, ProtocolMeter, provisionedImage } from "../../sim/src/protocol/meter.ts"
import { connectBytes } from "../../sim/src/protocol/mqtt.ts"
import { recordHash } from "../../sim/src/protocol/store.ts"
import { Direction, FrameConst, deriveFrameKey, readHeader, sealFrame } from "../../src/wire/frame"
import { encodeAck } from "../../src/wire/report"
import { nodeCrypto } from "../../headend/src/crypto.ts"

const vectors = JSON.parse(readFileSync(new URL("../vectors/envelope.json", import.meta.url), "utf8"))

test("the command endpoint gives every verdict of the firmware's command vectors (test/vectors/envelope.json)", async () => {
    let now = 0
    let clock = 0
    const records: number[] = []
    const ep = new CommandEndpoint(
        {
            meterId: Buffer.from(vectors.meterId, "hex"),
            boardId: "simulator",
            utcNow: () => (clock ? now : 0),
            setClock: t => (clock = t),
            record: kind => records.push(kind),
            raiseAlert: () => {},
            rollEpoch: () => {},
            schedule: () => {},
            cancelSchedule: () => {},
            random: () => 0,
            millis: () => 0,
        },
        CommandEndpoint.provisioned(Buffer.from(vectors.anchor, "hex"))
    )
    assert.equal(ep.boot(), true)
    for (const s of vectors.steps) {
        now = s.now
        const ack = parseAck(await ep.handleCommand(Buffer.from(s.hex, "hex")))
        assert.equal(ack.verdict, s.verdict, s.name)
    }
    assert.ok(records.includes(RecordKind.CommandAccepted) && records.includes(RecordKind.CommandRejected))
})

/** A keystore with one meter and a protocol meter wired to an in-memory head-end. */
function rig(opts: { image?: MeterImage; ackTimeoutMs?: number } = {}) {
    const ks = createKeystore()
    const entry = addMeter(ks, "meter-1")
    const image = opts.image ?? provisionedImage(entry, anchorRing(ks), 1)
    const clones: CloneAlert[] = []
    const he = new HeadEnd({ secretOf: id => (id === entry.meterId ? Buffer.from(entry.secret, "hex") : undefined), chainKeyOf: id => (id === entry.meterId ? chainKeyOf(entry) : undefined), onClone: a => clones.push(a) })
    let up = true
    let dropAcks = false
    const sent: Buffer[] = []
    // acks travel after the publish returns, as on a network
    const inbox: Buffer[] = []
    const link = {
        connected: () => up,
        publish: (f: Buffer) => {
            sent.push(f)
            const r = he.ingest(f)
            if (r.ok && r.ack && !dropAcks) inbox.push(r.ack)
            return true
        },
        reconnect: () => {},
    }
    const deliver = async () => {
        while (inbox.length) await meter.onDownlink(inbox.shift()!)
    }
    const meter = new ProtocolMeter(image, link, { ackTimeoutMs: opts.ackTimeoutMs ?? 20000 })
    let sim = Date.UTC(2026, 10, 25, 9, 0, 0)
    let commands = 0
    let real = 1_000_000
    meter.boot(sim, real)
    return {
        ks,
        entry,
        he,
        meter,
        clones,
        sent,
        setUp: (v: boolean) => (up = v),
        dropAcks: (v: boolean) => (dropAcks = v),
        /** advances `minutes` of simulated time in one-minute ticks, one second of real time each */
        async run(minutes: number) {
            for (let i = 0; i < minutes; i++) {
                sim += 60_000
                real += 1000
                meter.tick(sim, real)
                await deliver()
            }
        },
        sim: () => sim,
        async command(opcode: number, args: Buffer, o: { role?: "root" | "supplier" | "networkOperator"; forge?: boolean } = {}) {
            const t = Math.floor(sim / 1000)
            // signer counters are µs since 1970 within the envelope's reach (docs/commands.md §4)
            const env = signOpcode(ks, entry, opcode, args, { role: o.role, now: t, validSeconds: 3600, counter: BigInt(t) * 1_000_000n + BigInt(++commands) })
            if (o.forge) env[env.length - 3] ^= 1
            await meter.onDownlink(he.commandFrame(entry.meterId, env))
            meter.tick(sim, real)
            await deliver()
            return parseAck(meter.answers[meter.answers.length - 1])
        },
    }
}

test("a protocol meter's chain reaches the head-end whole: genesis, power-up, time sync, intervals; records freed only by authentic acks", async () => {
    const r = rig()
    await r.run(1)
    // the first frame: genesis and power-up, acked
    assert.equal(r.he.readings(r.entry.meterId).length, 2)
    const sync = await r.command(Opcode.TimeSync, timeSyncArgs(Math.floor(r.sim() / 1000)), { role: "networkOperator" })
    assert.equal(sync.verdict, Verdict.Accepted)
    await r.run(24 * 60)
    const recs = r.he.readings(r.entry.meterId)
    const kinds = recs.map(x => x.data[1])
    assert.deepEqual(kinds.slice(0, 2), [RecordKind.Genesis, RecordKind.PowerUp])
    assert.ok(kinds.includes(RecordKind.TimeSet) && kinds.includes(RecordKind.CommandAccepted))
    // each interval record carries the register block at its close, as the firmware's (16 + 62 bytes)
    for (const x of recs) if (x.data[1] === RecordKind.IntervalClose) assert.equal(x.data[10], 78)
    const intervals = recs.filter(x => x.data[1] === RecordKind.IntervalClose).map(x => decodeInterval(x.data.subarray(11, 11 + x.data[10])))
    assert.ok(intervals.length >= 48, `${intervals.length} intervals in a day`)
    // the fragment before the sync was measured without time; after it, whole half hours aligned to UTC
    assert.ok(intervals[0].status & IntervalStatus.TimeUnknown)
    const whole = intervals.filter(i => i.status === IntervalStatus.Complete)
    assert.ok(whole.length >= 46)
    for (const i of whole) assert.equal(i.start % 1800, 0)
    const v = verifyChain(recs.map(x => x.data), chainKeyOf(r.entry))
    assert.equal(v.ok, true, JSON.stringify(v))
    const st = r.meter.chainState()
    assert.equal(st.acked, st.head)
    assert.equal(r.meter.image.ledger.seqs.length, intervals.length)
    assert.equal(r.clones.length, 0)
    assert.equal(r.meter.stats.resends, 0)
})

test("a lost ack: resent after the timeout with a new counter and the anchor; a full store writes StoreFull, refuses intervals, raises the alert", async () => {
    const r = rig({ ackTimeoutMs: 5000 })
    await r.run(1)
    await r.command(Opcode.TimeSync, timeSyncArgs(Math.floor(r.sim() / 1000)), { role: "networkOperator" })
    await r.run(5)
    r.dropAcks(true)
    await r.run(40 * 30)
    const st = r.meter.chainState()
    assert.equal(st.full, true)
    assert.ok(r.meter.image.ledger.refused > 0, "intervals refused by the full store")
    assert.ok(r.meter.stats.resends > 10)
    r.dropAcks(false)
    await r.run(60)
    const recs = r.he.readings(r.entry.meterId)
    assert.ok(recs.some(x => x.data[1] === RecordKind.StoreFull))
    assert.equal(r.meter.chainState().full, false)
    const v = verifyChain(recs.map(x => x.data), chainKeyOf(r.entry))
    assert.equal(v.ok, true)
    assert.equal(r.clones.length, 0)
    // every interval the store took reached the head-end
    const have = new Set(recs.map(x => x.seq))
    for (const s of r.meter.image.ledger.seqs) assert.ok(have.has(s), `interval #${s} stored`)
})

test("an authentic ack frees a record only when it names its hash (a clone's record under the same seq frees nothing), as the firmware's store", async () => {
    const r = rig({ ackTimeoutMs: 5000 })
    await r.run(1)
    await r.command(Opcode.TimeSync, timeSyncArgs(Math.floor(r.sim() / 1000)), { role: "networkOperator" })
    await r.run(2)
    // the head-end's acks get lost; the meter's next interval frame waits in flight
    r.dropAcks(true)
    const acked = r.meter.chainState().acked
    await r.run(31)
    const st = r.meter.chainState()
    assert.ok(st.head > acked, "a record waits for its ack")
    const frame = r.sent[r.sent.length - 1]
    const upCounter = readHeader(frame).counter
    const name = recordHash(r.meter.storedRecord(st.head)!).subarray(0, 16)
    // downlink frames sealed with the meter's own key (authentic: the network operator's or a clone's head-end session)
    const downKey = deriveFrameKey(nodeCrypto, Buffer.from(r.entry.secret, "hex"), Buffer.from(r.entry.meterId, "hex"), Direction.Downlink, 0)
    let dl = 4_000_000
    const ack = (hash: Buffer) =>
        sealFrame(nodeCrypto, downKey, { version: FrameConst.Version, direction: Direction.Downlink, meterId: Buffer.from(r.entry.meterId, "hex"), epoch: 0, counter: ++dl }, encodeAck(st.head, upCounter, hash))
    // the same seq, another record's name (a clone wrote a different record st.head): nothing is freed, the frame stays in flight
    const other = Buffer.from(name)
    other[15] ^= 1
    const sentBefore = r.sent.length
    const acksBefore = r.meter.stats.acks
    await r.meter.onDownlink(ack(other))
    assert.equal(r.meter.chainState().acked, acked, "an ack naming another record frees nothing")
    assert.equal(r.meter.stats.acks, acksBefore, "nor answers the frame in flight")
    await r.run(6)
    assert.ok(r.sent.length > sentBefore && r.meter.stats.resends >= 1, "the frame was still in flight: resent after the timeout")
    // the ack naming the very record frees it
    await r.meter.onDownlink(ack(name))
    assert.equal(r.meter.chainState().acked, st.head)
    assert.equal(r.meter.stats.downlinkRejected, 0)
})

test("forged downlinks and commands are refused with the meter's verdicts; privacy switches the uplink to aggregates", async () => {
    const r = rig()
    await r.run(1)
    await r.command(Opcode.TimeSync, timeSyncArgs(Math.floor(r.sim() / 1000)), { role: "networkOperator" })
    // a forged signature, a role that may not sign, a replay of a spent envelope
    assert.equal((await r.command(Opcode.Disconnect, Buffer.alloc(0), { forge: true })).verdict, Verdict.BadSignature)
    assert.equal((await r.command(Opcode.TimeSync, timeSyncArgs(Math.floor(r.sim() / 1000)), { role: "supplier" })).verdict, Verdict.OpcodeNotAllowed)
    const d = await r.command(Opcode.Disconnect, Buffer.alloc(0))
    assert.equal(d.verdict, Verdict.Accepted)
    assert.ok(d.detail <= 600)
    await r.run(11)
    assert.equal(r.meter.control().state, 0, "the relay opened after its random offset")
    // bytes on the downlink topic that are not an authentic frame: the bad-downlink alert
    await r.meter.onDownlink(Buffer.from("not a frame at all, but long enough to parse"))
    assert.equal(r.meter.stats.downlinkRejected, 1)
    assert.equal((await r.command(Opcode.SetPrivacy, privacyArgs(1))).verdict, Verdict.Accepted)
    const before = r.sent.length
    await r.run(24 * 60)
    const aggs = [...r.he.meters.get(r.entry.meterId)!.aggregates.values()]
    assert.ok(aggs.length >= 2, `${aggs.length} aggregates`)
    // the alerts travelled and were cleared by the ack
    assert.deepEqual(r.meter.image.up.alerts.filter(x => x > 0), [])
    assert.ok(r.sent.length - before < 20, "daily privacy: only aggregate frames")
    assert.ok(r.meter.stats.commandsRefused >= 2)
    assert.ok(AlertKind.BadDownlink > 0)
})

test("the flash image survives JSON and a reboot: counters resume above their block, no replay or clone alarm, the chain goes on", async () => {
    const r = rig()
    await r.run(1)
    await r.command(Opcode.TimeSync, timeSyncArgs(Math.floor(r.sim() / 1000)), { role: "networkOperator" })
    await r.run(120)
    r.meter.powerCut()
    const image = JSON.parse(JSON.stringify(r.meter.snapshot())) as MeterImage
    const sent: Buffer[] = []
    const inbox: Buffer[] = []
    const link = {
        connected: () => true,
        publish: (f: Buffer) => {
            sent.push(f)
            const res = r.he.ingest(f)
            assert.ok(res.ok, `frame accepted after the reboot: ${JSON.stringify(res)}`)
            if (res.ok && res.ack) inbox.push(res.ack)
            return true
        },
        reconnect: () => {},
    }
    const m2 = new ProtocolMeter(image, link)
    m2.boot(r.sim(), 5_000_000)
    for (let i = 1; i <= 3; i++) {
        m2.tick(r.sim() + i * 60_000, 5_000_000 + i * 1000)
        while (inbox.length) await m2.onDownlink(inbox.shift()!)
    }
    assert.equal(m2.chainState().acked, m2.chainState().head)
    assert.ok(sent.length >= 1)
    const recs = r.he.readings(r.entry.meterId)
    const kinds = recs.map(x => x.data[1])
    assert.equal(kinds.filter(k => k === RecordKind.PowerUp).length, 2)
    assert.ok(recs.some(x => x.data[1] === RecordKind.IntervalClose && decodeInterval(x.data.subarray(11, 27)).status & IntervalStatus.PowerDown))
    assert.equal(r.clones.length, 0)
    assert.equal(verifyChain(recs.map(x => x.data), chainKeyOf(r.entry)).ok, true)
})

test("CONNECT and SUBSCRIBE are the firmware client's bytes", () => {
    // src/comms/mqtt_client.ts: clean session, keep-alive 255, client id tm-<id>, SUBSCRIBE packet id 1 at QoS 0
    const b = connectBytes("tm-7e57000000000001", 255, "d/flcAAAAAAAE")
    assert.equal(b.toString("hex"), "101f00044d5154540402" + "00ff" + "0013" + Buffer.from("tm-7e57000000000001").toString("hex") + "82120001000d" + Buffer.from("d/flcAAAAAAAE").toString("hex") + "00")
})
