// Privacy levels against the head-end (issue 14, docs/uplink.md §8), both ends: the
// protocol meter (sim/src/protocol/meter.ts, the firmware's uplink rule: src/wire/report.ts
// privacyCover, checked against the firmware in test/node/fleet_firmware_compat.test.ts and
// test/device/uplink_privacy.test.ts) and the head-end's ingestion (headend/src/ingest.ts).
//  - a head-end that acks one record at a time at the daily level learns nothing but the
//    registers at the close of each UTC day (on the old code: a sliding window of sums, and
//    the running registers with every frame, from which every half-hour follows);
//  - records taken while the level was daily never reach the head-end as records after the
//    level is set back to half-hourly (on the old code: all of them did);
//  - daily → half-hourly → daily and half-hourly → daily → half-hourly: the uplink keeps
//    flowing and the store drains (on the old code: the meter resent forever, then "store full").
import { test } from "node:test"
import assert from "node:assert/strict"
import { HeadEnd, CloneAlert } from "../../headend/src/ingest.ts"
import { addMeter, chainKeyOf, createKeystore } from "../../headend/src/keystore.ts"
import { anchorRing } from "../../headend/src/provision.ts"
import { signOpcode } from "../../headend/src/operations.ts"
import { parseAck } from "../../headend/src/commands.ts"
import { Opcode, Verdict } from "../../src/wire/opcodes"
import { privacyArgs, timeSyncArgs } from "../../src/wire/envelope"
import { RecordKind } from "../../src/wire/record"
import { AlertKind, Report, encodeAck, privacyPeriod } from "../../src/wire/report"
import { readHeader } from "../../src/wire/frame"
import { ProtocolMeter, provisionedImage } from "../../sim/src/protocol/meter.ts"
import { recordHash } from "../../sim/src/protocol/store.ts"

/** One protocol meter and a head-end; `attack`: the head-end acks one record at a time, naming it. */
function rig(o: { attack?: boolean } = {}) {
    const ks = createKeystore()
    const entry = addMeter(ks, "meter-1")
    const image = provisionedImage(entry, anchorRing(ks), 1)
    const clones: CloneAlert[] = []
    const he = new HeadEnd({
        secretOf: id => (id === entry.meterId ? Buffer.from(entry.secret, "hex") : undefined),
        chainKeyOf: id => (id === entry.meterId ? chainKeyOf(entry) : undefined),
        onClone: a => clones.push(a),
    })
    const reports: Report[] = []
    const inbox: Buffer[] = []
    const link = {
        connected: () => true,
        publish: (f: Buffer) => {
            const r = he.ingest(f)
            if (r.ok) reports.push(r.report)
            if (!o.attack) {
                if (r.ok && r.ack) inbox.push(r.ack)
            } else {
                // the attacker's ack: the next record only, named by its hash (the strongest such
                // head-end: it knows every record's name), answering this frame
                const seq = meter.chainState().acked + 1
                const rec = meter.storedRecord(seq)
                const st = he.meters.get(entry.meterId)!
                if (rec && seq <= meter.chainState().head) inbox.push(he.sealDownlink(entry.meterId, 0, encodeAck(seq, readHeader(f).counter, recordHash(rec)), ++st.downCounter))
            }
            return true
        },
        reconnect: () => {},
    }
    const meter = new ProtocolMeter(image, link, { ackTimeoutMs: 20000 })
    let sim = Date.UTC(2026, 10, 25, 9, 0, 0)
    let real = 1_000_000
    let commands = 0
    /** every record the meter wrote, by seq (read before the store frees it) */
    const chain = new Map<number, Buffer>()
    const keep = () => {
        const h = meter.chainState().head
        for (let s = h; s >= 0 && !chain.has(s); s--) {
            const d = meter.storedRecord(s)
            if (d) chain.set(s, Buffer.from(d))
        }
    }
    meter.boot(sim, real)
    const r = {
        he,
        entry,
        meter,
        clones,
        reports,
        chain,
        async deliver() {
            while (inbox.length) await meter.onDownlink(inbox.shift()!)
        },
        async run(minutes: number) {
            for (let i = 0; i < minutes; i++) {
                sim += 60_000
                real += 1000
                meter.tick(sim, real)
                keep()
                await r.deliver()
                keep()
            }
        },
        sim: () => sim,
        async command(opcode: number, args: Buffer, role?: "root" | "supplier" | "networkOperator") {
            const t = Math.floor(sim / 1000)
            const env = signOpcode(ks, entry, opcode, args, { role, now: t, validSeconds: 3600, counter: BigInt(t) * 1_000_000n + BigInt(++commands) })
            await meter.onDownlink(he.commandFrame(entry.meterId, env))
            meter.tick(sim, real)
            keep()
            await r.deliver()
            keep()
            return parseAck(meter.answers[meter.answers.length - 1])
        },
        /** time sync now, then run to the next UTC midnight + `minutes` */
        async start() {
            await r.run(1)
            assert.equal((await r.command(Opcode.TimeSync, timeSyncArgs(Math.floor(sim / 1000)), "networkOperator")).verdict, Verdict.Accepted)
            await r.run(5)
        },
    }
    return r
}

/** The interval records of `chain` whose successor interval lies on another UTC day: each day's last. */
function dayEnds(chain: Map<number, Buffer>): Buffer[] {
    const ivs = [...chain.entries()].sort((a, b) => a[0] - b[0]).map(e => e[1]).filter(d => d[1] === RecordKind.IntervalClose && d[10] === 78 && d.readUInt32BE(6) !== 0)
    const out: Buffer[] = []
    for (let i = 0; i + 1 < ivs.length; i++) if (Math.floor(ivs[i].readUInt32BE(6) / 86400) !== Math.floor(ivs[i + 1].readUInt32BE(6) / 86400)) out.push(ivs[i])
    return out
}

const u48 = (b: Buffer, off: number) => b.readUIntLE(off, 6)

test("daily level: a head-end that acks one record at a time gets each UTC day's registers at its close, nothing finer", async () => {
    const r = rig({ attack: true })
    await r.start()
    assert.equal((await r.command(Opcode.SetPrivacy, privacyArgs(1), "supplier")).verdict, Verdict.Accepted)
    const from = r.reports.length
    await r.run(3 * 24 * 60)
    const ends = dayEnds(r.chain)
    assert.ok(ends.length >= 3, `${ends.length} day ends`)
    // what the day's last interval record says at its close: import and export Wh, and the register block
    const reads = new Set(ends.map(d => `${Math.floor(u48(d, 29) / 1000)}/${Math.floor(u48(d, 35) / 1000)}`))
    const blocks = new Set(ends.map(d => d.subarray(27, 89).toString("hex")))
    const got = r.reports.slice(from)
    assert.ok(got.length > 3, `${got.length} frames`)
    let values = 0
    for (const rep of got) {
        assert.equal(rep.records, undefined, "no record leaves the meter at the daily level")
        if (rep.registers) assert.ok(blocks.has(rep.registers.toString("hex")), "a register block is only ever a day end's")
        for (const g of rep.aggregates ?? []) {
            if (g.importWh === 0xffffffff && g.exportWh === 0xffffffff) continue // a passage: no values
            assert.ok(reads.has(`${g.importWh}/${g.exportWh}`), `aggregate ${g.firstSeq}..${g.lastSeq}: ${g.importWh}/${g.exportWh} Wh is not a day end's registers`)
            values++
        }
    }
    assert.ok(values >= 3, `${values} reads`)
    // one read per day, each at the day's last interval record, whatever the acks
    const heState = r.he.meters.get(r.entry.meterId)!
    const stored = [...heState.aggregates.values()].filter(g => g.importWh !== 0xffffffff)
    assert.deepEqual(
        stored.map(g => g.lastSeq),
        ends.filter(d => stored.some(g => g.lastSeq === d.readUInt32BE(2))).map(d => d.readUInt32BE(2))
    )
    assert.equal(r.meter.chainState().full, false)
})

test("records taken while the level was daily are never sent as records after it is set back to half-hourly", async () => {
    const r = rig()
    await r.start()
    await r.run(60)
    assert.equal((await r.command(Opcode.SetPrivacy, privacyArgs(1), "supplier")).verdict, Verdict.Accepted)
    await r.run(5 * 60)
    assert.equal((await r.command(Opcode.SetPrivacy, privacyArgs(0), "supplier")).verdict, Verdict.Accepted)
    await r.run(3 * 60)
    // the two level changes in the chain: CommandAccepted of SetPrivacy, detail old × 256 + new
    const changes = [...r.chain.entries()].filter(([, d]) => d[1] === RecordKind.CommandAccepted && d[11] === Opcode.SetPrivacy).map(([s]) => s)
    assert.equal(changes.length, 2)
    const [toDaily, toHh] = changes.sort((a, b) => a - b)
    const held = r.he.readings(r.entry.meterId).map(x => x.seq)
    const leaked = held.filter(s => s > toDaily && s < toHh && r.chain.get(s)![1] === RecordKind.IntervalClose)
    assert.deepEqual(leaked, [], "interval records taken at the daily level reached the head-end")
    assert.equal(r.chain.get(toDaily)!.readUInt32BE(11 + 10), 0 * 256 + 1)
    assert.equal(r.chain.get(toHh)!.readUInt32BE(11 + 10), 1 * 256 + 0)
    // half-hourly again: the records after the change reach the head-end, and the store drains
    assert.ok(held.some(s => s > toHh && r.chain.get(s)![1] === RecordKind.IntervalClose))
    const st = r.meter.chainState()
    assert.equal(st.acked, st.head)
    assert.equal(r.clones.length, 0)
})

for (const order of [
    [1, 0, 1],
    [0, 1, 0, 1, 0],
    [2, 1, 0, 2, 0],
]) {
    test(`switching levels ${order.join(" → ")} never wedges the uplink: acks keep coming, the store drains`, async () => {
        const r = rig()
        await r.start()
        for (const level of order) {
            assert.equal((await r.command(Opcode.SetPrivacy, privacyArgs(level), "supplier")).verdict, Verdict.Accepted)
            const acks = r.meter.stats.acks
            await r.run(10 * 60)
            assert.ok(r.meter.stats.acks > acks, `acks at level ${level}`)
            const st = r.meter.chainState()
            assert.equal(st.full, false)
            // at half-hourly everything is delivered; at a privacy level at most a passage's worth waits
            if (level === 0) assert.equal(st.acked, st.head, `store drained at level ${level}`)
            else assert.ok(st.head - st.acked < 24, `store waiting ${st.head - st.acked} at level ${level}`)
        }
        assert.ok(r.meter.stats.resends <= 2 * order.length, `${r.meter.stats.resends} resends`)
        assert.deepEqual(r.meter.image.up.alerts.filter((x, k) => x > 0 && k === AlertKind.StoreFull), [])
        assert.ok(![...r.chain.values()].some(d => d[1] === RecordKind.StoreFull), "no StoreFull record")
        assert.equal(r.clones.length, 0)
    })
}

test("the monthly period is the UTC calendar month for every u32 time (2100 is no leap year), the daily one the UTC day", () => {
    let prevKey = privacyPeriod(0, 2)
    let prevMonth = 1970 * 12
    for (let day = 1; day * 86400 <= 0xffffffff; day++) {
        const t = day * 86400
        const d = new Date(t * 1000)
        const month = d.getUTCFullYear() * 12 + d.getUTCMonth()
        const key = privacyPeriod(t, 2)
        assert.equal(key, prevKey + (month - prevMonth), d.toISOString())
        assert.equal(privacyPeriod(t - 1, 2), prevKey, d.toISOString())
        assert.equal(privacyPeriod(t, 1), day)
        prevKey = key
        prevMonth = month
    }
    assert.equal(privacyPeriod(0xffffffff, 2), prevKey)
})
