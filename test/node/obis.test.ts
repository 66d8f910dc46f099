/**
 * OBIS names (issue 12, docs/obis.md): the head-end's one table (headend/src/obis.ts), the
 * storage that names every register, profile channel and log by it (migration
 * 003_obis.sql, on PGlite), and the record view's and the dashboard's labels.
 */
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, test } from "node:test"
import { randomBytes } from "node:crypto"
import { Database, commitFrame, openDatabase } from "../../headend/src/db/index.ts"
import { evolveKey, recordHash, sealRecord } from "../../headend/src/chain.ts"
import { chainKey0 } from "../fixtures/chain_k0.ts"
import { KIND_NAME, describeObis } from "../../headend/src/records.ts"
import { ALERT_KIND_OBIS, OBIS, OBIS_TABLE, RECORD_KIND_OBIS, REGISTER_BLOCK_ORDER, intervalDemandW, obisLabel, registersByObis } from "../../headend/src/obis.ts"
import { encodeInterval } from "../../src/wire/interval"
import { Registers, encodeRegisters } from "../../src/wire/registers"
import { AlertKind } from "../../src/wire/report"
import { registerPoint } from "../../headend/src/web/model.ts"

let dir = ""
let db: Database
before(async () => {
    dir = mkdtempSync(join(tmpdir(), "tm-obis-"))
    db = await openDatabase({ backend: "pglite", dir: join(dir, "db") })
})
after(async () => {
    await db?.close()
    rmSync(dir, { recursive: true, force: true })
})

const meterId = "7e570000000000b1"
const regs: Registers = { importMWh: 10_000_000 + 1234, exportMWh: 2_000_500, touImportMWh: [6_000_000, 4_000_000, 1234, 0], touExportMWh: [0, 2_000_000, 500, 0] }

/** A real chain: genesis, three intervals (the second with the highest demand), tamper, relay change, command accepted. */
function chain() {
    const secret = randomBytes(32)
    let key = chainKey0(secret, Buffer.from(meterId, "hex"))
    let prev: Buffer = Buffer.alloc(32)
    const out: { seq: number; data: Buffer }[] = []
    const add = (kind: number, time: number, payload: Buffer) => {
        const data = sealRecord(key, kind, out.length, time, payload, prev)
        key = evolveKey(key)
        prev = recordHash(data)
        out.push({ seq: out.length, data })
    }
    const t0 = 1_764_000_000
    add(0x01, 0, Buffer.from(meterId, "hex"))
    const imports = [150_000, 987_654, 3_000]
    imports.forEach((imp, i) =>
        add(0x10, t0 + i * 1800, Buffer.concat([encodeInterval({ start: t0 + i * 1800, lengthMin: 30, status: i === 2 ? 0x02 : 0, coveredS: 1800, importMWh: imp, exportMWh: i * 7 }), encodeRegisters(regs)]))
    )
    add(0x32, t0 + 6000, Buffer.from([2, 0, 0, 0, 1]))
    add(0x35, t0 + 6100, Buffer.from([0]))
    add(0x36, t0 + 6200, Buffer.alloc(20, 1))
    return { records: out, imports, t0 }
}

test("obis: the storage's code table and record kinds are headend/src/obis.ts's, and fixed", async () => {
    const byCode = (a: { code: string }, b: { code: string }) => (a.code < b.code ? -1 : 1)
    const codes = (await db.query<{ code: string; name: string; unit: string; class: string }>("SELECT code, name, unit, class FROM obis_codes")).sort(byCode)
    const want = [...OBIS_TABLE].map(e => ({ code: e.code, name: e.name, unit: e.unit, class: e.class })).sort(byCode)
    assert.deepEqual(codes, want)
    for (const c of ["1.0.1.8.0", "1.0.2.8.0", "1.0.1.8.1", "1.0.1.8.2", "1.0.1.8.3", "1.0.1.8.4", "1.0.1.6.0", "1.0.99.1.0", "0.0.99.98.0", "0.0.99.98.1"])
        assert.ok(codes.some(r => r.code === c), `${c} named in storage`)
    const kinds = await db.query<{ kind: number; name: string; obis: string }>("SELECT kind, name, obis FROM obis_record_kinds ORDER BY kind")
    assert.deepEqual(
        kinds.map(k => [k.kind, k.name, k.obis]),
        Object.entries(RECORD_KIND_OBIS).map(([k, o]) => [Number(k), KIND_NAME[Number(k)], o])
    )
    // every record kind the head-end can name has a log
    assert.deepEqual(Object.keys(KIND_NAME).sort(), Object.keys(RECORD_KIND_OBIS).sort())
    await assert.rejects(db.query("UPDATE obis_codes SET code = '1.0.1.8.9' WHERE code = '1.0.1.8.0'"), /fixed by migration/)
    await assert.rejects(db.query("INSERT INTO obis_record_kinds (kind, name, obis) VALUES (99, 'x', '1.0.1.8.0')"), /fixed by migration/)
})

test("obis: registers, load profile, maximum demand and logs of stored frames, named by their codes", async () => {
    const c = chain()
    const out = await commitFrame(db, {
        meterId,
        epoch: 0,
        counter: 1,
        tag: Buffer.alloc(16, 9),
        registers: encodeRegisters(regs),
        records: c.records,
        alerts: [{ kind: AlertKind.BadDownlink, count: 2 }, { kind: AlertKind.Tamper, count: 1 }],
        aggregates: [{ firstSeq: 1, lastSeq: 3, importWh: 1140, exportWh: 0 }],
    })
    assert.equal(out.stored, c.records.length + 1)
    const m = Buffer.from(meterId, "hex")

    // registers, from the frame's block and from each interval record's block at its close
    const regRows = await db.query<{ source: string; seq: number; obis: string; value_wh: string }>(
        "SELECT source, seq, obis, value_wh::text FROM obis_registers WHERE meter_id = $1 ORDER BY source, seq, obis",
        [m]
    )
    const want = registersByObis(regs)
    assert.equal(want["1.0.1.8.0"], 10_001.234)
    assert.equal(want["1.0.2.8.3"], 0.5)
    for (const source of ["frame", "interval"]) {
        const rows = regRows.filter(r => r.source === source)
        assert.equal(rows.length, source === "frame" ? REGISTER_BLOCK_ORDER.length : 3 * REGISTER_BLOCK_ORDER.length)
        for (const r of rows) assert.equal(Number(r.value_wh), want[r.obis], `${source} ${r.obis}`)
    }

    // load profile 1.0.99.1.0: its channels per interval
    const lp = await db.query<{ seq: number; profile: string; obis: string; value: string }>(
        "SELECT seq, profile, obis, value::text FROM obis_load_profile WHERE meter_id = $1 ORDER BY seq, obis",
        [m]
    )
    assert.equal(lp.length, 3 * 4)
    assert.ok(lp.every(r => r.profile === OBIS.loadProfile))
    const at = (seq: number, obis: string) => Number(lp.find(r => r.seq === seq && r.obis === obis)!.value)
    c.imports.forEach((imp, i) => {
        assert.equal(at(i + 1, OBIS.intervalImport), imp / 1000)
        assert.equal(at(i + 1, OBIS.intervalExport), (i * 7) / 1000)
        assert.equal(at(i + 1, OBIS.clock), c.t0 + i * 1800)
        assert.equal(at(i + 1, OBIS.profileStatus), i === 2 ? 2 : 0)
    })

    // a privacy aggregate: a read of the import and export registers at its last record's close (migration 005)
    const ag = await db.query<{ first_seq: number; last_seq: number; obis: string; value_wh: string }>(
        "SELECT first_seq, last_seq, obis, value_wh::text FROM obis_aggregates WHERE meter_id = $1 ORDER BY obis",
        [m]
    )
    assert.deepEqual(
        ag.map(a => [a.first_seq, a.last_seq, a.obis, Number(a.value_wh)]),
        [
            [1, 3, OBIS.importTotal, 1140],
            [1, 3, OBIS.exportTotal, 0],
        ]
    )

    // maximum demand 1.0.1.6.0: the firmware's formula over the stored intervals
    const [md] = await db.query<{ obis: string; value_w: number; seq: number }>("SELECT obis, value_w, seq FROM obis_max_demand WHERE meter_id = $1", [m])
    assert.deepEqual(md, { obis: OBIS.maxDemand, value_w: intervalDemandW(987_654, 30), seq: 2 })
    assert.equal(md.value_w, 1975)

    // event and security logs
    const ev = await db.query<{ obis: string; source: string; seq: number | null; event: string }>(
        "SELECT obis, source, seq, event FROM obis_event_log WHERE meter_id = $1 ORDER BY source DESC, seq, event",
        [m]
    )
    assert.deepEqual(
        ev.filter(e => e.source === "record").map(e => [e.seq, e.obis, e.event]),
        [
            [0, OBIS.standardLog, "genesis"],
            [4, OBIS.securityLog, "tamper"],
            [5, OBIS.disconnectorLog, "relay change"],
            [6, OBIS.securityLog, "command accepted"],
        ]
    )
    assert.deepEqual(
        ev.filter(e => e.source === "alert").map(e => [e.obis, e.event]),
        [
            [ALERT_KIND_OBIS[AlertKind.BadDownlink], "bad downlink x2"],
            [ALERT_KIND_OBIS[AlertKind.Tamper], "tamper x1"],
        ]
    )
    assert.equal(ALERT_KIND_OBIS[AlertKind.BadDownlink], OBIS.communicationLog)
})

test("obis: the record view and the dashboard's register JSON carry the codes", () => {
    assert.equal(describeObis(0x10), "1.0.99.1.0 load profile (interval records)")
    assert.equal(describeObis(0x32), "0.0.99.98.1 fraud detection log (security log)")
    assert.equal(describeObis(0x35), "0.0.99.98.2 disconnector control log")
    assert.equal(obisLabel("1.0.1.8.3"), "1.0.1.8.3 active energy import (+A), rate 3")
    const p = registerPoint(encodeRegisters(regs), 1)!
    assert.deepEqual(p.obis, registersByObis(regs))
    assert.equal(p.obis["1.0.1.8.1"], 6000)
})
