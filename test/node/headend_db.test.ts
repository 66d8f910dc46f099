/**
 * The head-end's storage layer (headend/src/db, docs/headend-storage.md), run against
 * PGlite always and against a real PostgreSQL server started here (tools/postgres.ts;
 * skipped, with the reason, when the binaries are not installed).
 *
 * Crash safety is tested for real: a child process (this file, with TM_DB_CHILD set)
 * reserves downlink counters or commits batches of frames in a loop and is killed with
 * SIGKILL at random moments, also between a reservation and the use of its counters;
 * the database is reopened and checked: no counter handed out twice, no half batch.
 */
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { after, before, describe, test } from "node:test"
import {
    Database,
    DatabaseTarget,
    DownlinkCounterPool,
    FrameChange,
    MIGRATIONS_DIR,
    classifyCounter,
    applyFrames,
    commitFrames,
    commitFramesWith,
    isUniqueViolation,
    databaseTarget,
    loadMeter,
    loadMigrations,
    logCommand,
    migrate,
    openDatabase,
    readCloneEvidence,
    readCommandLog,
    readMeterAlerts,
    readRecords,
    recordCloneEvidence,
    reserveDownlinkBlocks,
    reserveDownlinkCounters,
    storeRecords,
} from "../../headend/src/db/index.ts"
import { PostgresServer, postgresSkipReason, startPostgres } from "../../tools/postgres.ts"

const THIS_FILE = fileURLToPath(import.meta.url)

// ---- fixtures ---------------------------------------------------------------------------

/** A v1 store record (docs/index-store.md) of `seq` with a 16-byte payload filled with `fill`. */
function record(seq: number, fill = 0): Buffer {
    const b = Buffer.alloc(75)
    b[0] = 1
    b[1] = 0x10
    b.writeUInt32BE(seq, 2)
    b.writeUInt32BE(1_700_000_000 + seq * 1800, 6)
    b[10] = 16
    b.fill(fill, 11, 27)
    b.fill(seq & 0xff, 27, 59) // prev
    b.fill(0xaa ^ fill, 59, 75) // tag
    return b
}

const tag = (n: number, salt = 0) => {
    const t = Buffer.alloc(16, salt)
    t.writeUInt32BE(n, 0)
    return t
}

let meterNo = 0
/** A meter id not used by any other test. */
const newMeter = () => `7e57${(++meterNo).toString(16).padStart(12, "0")}`

/** Frames counters from..to of `meter`, each carrying record seq = counter − 1 and registers. */
function frames(meter: string, from: number, to: number, o: { epoch?: number; salt?: number } = {}): FrameChange[] {
    const out: FrameChange[] = []
    for (let c = from; c <= to; c++) {
        out.push({ meterId: meter, epoch: o.epoch ?? 0, counter: c, tag: tag(c, o.salt), registers: Buffer.alloc(16, c & 0xff), records: [{ seq: c - 1, data: record(c - 1) }] })
    }
    return out
}

// ---- backends ---------------------------------------------------------------------------

interface Backend {
    name: "pglite" | "postgres"
    skip: string | undefined
    setup(): Promise<void>
    teardown(): Promise<void>
    /** an empty database (no migrations applied) */
    fresh(tag: string): Promise<DatabaseTarget>
    server?: () => PostgresServer
}

function pgliteBackend(): Backend {
    let root = ""
    let template = ""
    return {
        name: "pglite",
        skip: undefined,
        async setup() {
            root = mkdtempSync(join(tmpdir(), "tm-pglite-"))
            template = join(root, "template")
            // initdb once (seconds); every fresh database is a copy of it
            const db = await openDatabase({ backend: "pglite", dir: template }, { migrate: false })
            await db.close()
        },
        async teardown() {
            if (root) rmSync(root, { recursive: true, force: true })
        },
        async fresh(name: string) {
            const dir = join(root, name)
            cpSync(template, dir, { recursive: true })
            return { backend: "pglite", dir }
        },
    }
}

function postgresBackend(): Backend {
    let server: PostgresServer | undefined
    const skip = postgresSkipReason()
    return {
        name: "postgres",
        skip,
        async setup() {
            server = await startPostgres()
            console.log(`# real PostgreSQL server: ${server.version} on 127.0.0.1:${server.port}`)
        },
        async teardown() {
            await server?.stop()
        },
        async fresh(name: string) {
            return { backend: "postgres", url: await server!.createDatabase(name) }
        },
        server: () => server!,
    }
}

// ---- child process (crash tests) ---------------------------------------------------------

/** frames per batch in the mid-commit crash test: a long transaction, so most kills land inside one */
const BATCH = 200

interface ChildJob {
    target: DatabaseTarget
    mode: "reserve" | "reserve-and-hang" | "commit"
    meter: string
}

/** Runs in the child: prints what it has committed, line by line, until it is killed. */
async function childMain(job: ChildJob) {
    const db = await openDatabase(job.target)
    const say = (s: string) => new Promise<void>(r => process.stdout.write(s + "\n", () => r()))
    await say("open")
    if (job.mode === "reserve" || job.mode === "reserve-and-hang") {
        for (;;) {
            const r = await reserveDownlinkCounters(db, job.meter, 0, 8)
            await say(`R ${r.first} ${r.last}`)
            if (job.mode === "reserve-and-hang") await new Promise(() => {}) // reserved, never used
            for (let c = r.first; c <= r.last; c++) await say(`U ${c}`)
        }
    }
    // commit: batches of BATCH frames, each one record; a batch is all or nothing
    for (;;) {
        const s = await loadMeter(db, job.meter)
        const from = s.window.lastCounter + 1
        await say(`B ${from}`)
        await commitFrames(db, frames(job.meter, from, from + BATCH - 1))
        await say(`C ${from + BATCH - 1}`)
    }
}

/**
 * Starts a child on `job`, waits for `lines` lines of output after "open" that start with
 * `prefix` (then a random 0–30 ms more), kills it with SIGKILL and returns everything it
 * printed.
 */
async function runAndKill(job: ChildJob, lines: number, prefix = ""): Promise<string[]> {
    const child = spawn(process.execPath, ["--import", "tsx", THIS_FILE], {
        env: { ...process.env, TM_DB_CHILD: JSON.stringify(job) },
        stdio: ["ignore", "pipe", "pipe"],
    })
    let stderr = ""
    child.stderr.on("data", d => (stderr += d))
    const out: string[] = []
    const exited = new Promise<void>(r => child.once("exit", () => r()))
    let killing = false
    let seen = 0
    for await (const line of createInterface({ input: child.stdout })) {
        out.push(line)
        if (out.length > 1 && line.startsWith(prefix)) seen++
        if (!killing && seen >= lines) {
            killing = true
            setTimeout(() => child.kill("SIGKILL"), Math.random() * 30)
        }
    }
    await exited
    assert.equal(child.signalCode, "SIGKILL", `child ended by itself: ${stderr.slice(-500)}`)
    assert.equal(out[0], "open", `child did not open the database: ${stderr.slice(-500)}`)
    return out
}

// ---- the suite, once per backend --------------------------------------------------------

function suite(b: Backend) {
    describe(`headend db on ${b.name}`, { skip: b.skip }, () => {
        let db: Database
        let shared: DatabaseTarget
        before(async () => {
            await b.setup()
            shared = await b.fresh("shared")
            db = await openDatabase(shared)
        })
        after(async () => {
            await db?.close()
            await b.teardown()
        })

        test("migrations: applied once in a transaction, recorded with checksums, idempotent on reopen", async () => {
            const target = await b.fresh("mig_once")
            const first = await openDatabase(target, { migrate: false })
            const all = loadMigrations()
            assert.deepEqual(await migrate(first), all.map(m => m.version))
            assert.deepEqual(await migrate(first), [])
            const rows = await first.query<{ version: number; checksum: string }>("SELECT version, checksum FROM schema_migrations ORDER BY version")
            assert.deepEqual(rows.map(r => [r.version, r.checksum]), all.map(m => [m.version, m.checksum]))
            await first.close()
            const again = await openDatabase(target) // migrates on open: nothing to do
            assert.deepEqual(await migrate(again), [])
            assert.equal((await again.query("SELECT * FROM schema_migrations")).length, all.length)
            await again.close()
        })

        test("migrations: a failing one leaves nothing behind; an edited or unknown one is refused", async () => {
            const target = await b.fresh("mig_fail")
            const dir = mkdtempSync(join(tmpdir(), "tm-mig-"))
            try {
                cpSync(join(MIGRATIONS_DIR, "001_initial.sql"), join(dir, "001_initial.sql"))
                writeFileSync(join(dir, "002_broken.sql"), "CREATE TABLE half_done (x int);\nINSERT INTO half_done VALUES (1);\nSELECT 1 / 0;\n")
                const d = await openDatabase(target, { migrate: false })
                await assert.rejects(migrate(d, loadMigrations(dir)), /division by zero/)
                // 001 went in its own transaction; 002 left neither its table nor its record
                assert.deepEqual((await d.query<{ version: number }>("SELECT version FROM schema_migrations")).map(r => r.version), [1])
                assert.equal((await d.query("SELECT 1 FROM pg_tables WHERE tablename = 'half_done'")).length, 0)
                // fixed (a never-applied migration may change): applies
                writeFileSync(join(dir, "002_broken.sql"), "CREATE TABLE half_done (x int);\n")
                assert.deepEqual(await migrate(d, loadMigrations(dir)), [2])
                // an applied migration edited afterwards: refused
                writeFileSync(join(dir, "002_broken.sql"), "CREATE TABLE half_done (x bigint);\n")
                await assert.rejects(migrate(d, loadMigrations(dir)), /was changed after it was applied/)
                // a database migrated by a newer head-end (its 002 unknown to one that has only 001): refused
                const older = mkdtempSync(join(tmpdir(), "tm-mig-old-"))
                cpSync(join(MIGRATIONS_DIR, "001_initial.sql"), join(older, "001_initial.sql"))
                await assert.rejects(migrate(d, loadMigrations(older)), /does not know/)
                rmSync(older, { recursive: true, force: true })
                // numbering with a gap: refused before touching the database
                rmSync(join(dir, "002_broken.sql"))
                writeFileSync(join(dir, "003_gap.sql"), "SELECT 1;\n")
                assert.throws(() => loadMigrations(dir), /without gaps/)
                await d.close()
            } finally {
                rmSync(dir, { recursive: true, force: true })
            }
        })

        test("records: committing the same frames again is a no-op", async () => {
            const m = newMeter()
            const batch = frames(m, 1, 10)
            const o1 = await commitFrames(db, batch)
            assert.ok(o1.every(o => o.applied && o.stored === 1 && o.duplicates === 0 && o.evidence.length === 0))
            const o2 = await commitFrames(db, batch)
            assert.ok(o2.every(o => !o.applied && o.stored === 0 && o.evidence.length === 0))
            // a resend of the same records in a new frame: duplicates, stored once
            const o3 = await commitFrames(db, [{ meterId: m, epoch: 0, counter: 11, tag: tag(11), records: [{ seq: 8, data: record(8) }, { seq: 9, data: record(9) }] }])
            assert.deepEqual(o3[0], { applied: true, stored: 0, duplicates: 2, evidence: [] })
            assert.deepEqual(await storeRecords(db, m, [{ seq: 3, data: record(3) }]), { applied: true, stored: 0, duplicates: 1, evidence: [] })
            const got = await readRecords(db, m)
            assert.deepEqual(got.map(r => r.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
            got.forEach(r => assert.ok(r.data.equals(record(r.seq))))
            assert.equal((await readCloneEvidence(db, m)).length, 0)
        })

        test("plain inserts: a held key fails them with a unique violation, and the commit falls back to insert-once", async () => {
            const m = newMeter()
            const batch = frames(m, 1, 4)
            await commitFrames(db, batch)
            // the plain path alone: the whole transaction fails, nothing of it is kept
            await assert.rejects(
                db.transaction(tx => applyFrames(tx, [...frames(m, 5, 6), ...batch.slice(2)], { plain: true })),
                (e: unknown) => isUniqueViolation(e)
            )
            assert.deepEqual((await readRecords(db, m)).map(r => r.seq), [0, 1, 2, 3])
            // through commitFramesWith: the same outcome as insert-once, and `also` runs in the committed transaction
            let conflicts = 0
            const [out, also] = await commitFramesWith(db, [...frames(m, 5, 6), ...batch.slice(2)], async tx => (await tx.query<{ n: number }>("SELECT count(*)::int AS n FROM records WHERE meter_id = $1", [Buffer.from(m, "hex")]))[0].n, { onConflict: () => conflicts++ })
            assert.equal(conflicts, 1)
            assert.equal(also, 6)
            assert.deepEqual(out.map(o => [o.applied, o.stored]), [[true, 1], [true, 1], [false, 0], [false, 0]])
            assert.deepEqual((await readRecords(db, m)).map(r => r.seq), [0, 1, 2, 3, 4, 5])
            // nothing held: the plain path commits at once
            const [fresh] = await commitFramesWith(db, frames(m, 7, 8), async () => undefined, { onConflict: () => conflicts++ })
            assert.equal(conflicts, 1)
            assert.ok(fresh.every(o => o.applied && o.stored === 1))
        })

        test("records: other bytes under a held seq are clone evidence, returned and kept, never written over", async () => {
            const m = newMeter()
            await commitFrames(db, frames(m, 1, 3))
            const forged = record(1, 0x55)
            const [o] = await commitFrames(db, [{ meterId: m, epoch: 0, counter: 4, tag: tag(4), records: [{ seq: 1, data: forged }, { seq: 3, data: record(3) }] }])
            assert.equal(o.applied, true)
            assert.equal(o.stored, 1) // seq 3 is new
            assert.equal(o.evidence.length, 1)
            assert.equal(o.evidence[0].kind, "forked-chain")
            assert.equal(o.evidence[0].atSeq, 1)
            assert.ok(o.evidence[0].stored!.equals(record(1)))
            assert.ok(o.evidence[0].offered!.equals(forged))
            assert.ok((await readRecords(db, m, 1, 1))[0].data.equals(record(1)), "the first copy stays")
            // offered again (outside a frame): evidence again, recorded once
            const again = await storeRecords(db, m, [{ seq: 1, data: forged }])
            assert.equal(again.evidence.length, 1)
            const ev = await readCloneEvidence(db, m)
            assert.equal(ev.length, 1)
            assert.ok(ev[0].offered!.equals(forged))
            assert.equal((await loadMeter(db, m)).cloneSuspected, true)
            // two copies of one new seq in one batch: the first is stored, the other is evidence
            const [a, c] = await commitFrames(db, [
                { meterId: m, epoch: 0, counter: 5, tag: tag(5), records: [{ seq: 4, data: record(4) }] },
                { meterId: m, epoch: 0, counter: 6, tag: tag(6), records: [{ seq: 4, data: record(4, 9) }] },
            ])
            assert.equal(a.stored, 1)
            assert.equal(c.evidence[0]?.kind, "forked-chain")
            assert.ok((await readRecords(db, m, 4, 1))[0].data.equals(record(4)))
            // and the database itself refuses to change or delete what is stored, whoever asks
            await assert.rejects(db.query("UPDATE records SET data = $1 WHERE seq = 1", [forged]), /append-only/)
            await assert.rejects(db.query("DELETE FROM records"), /append-only/)
            await assert.rejects(db.query("TRUNCATE records"), /append-only/)
            await assert.rejects(db.query("DELETE FROM clone_evidence"), /append-only/)
        })

        test("frames: a used counter with another tag is a clone, and nothing of that frame is applied", async () => {
            const m = newMeter()
            await commitFrames(db, frames(m, 1, 2))
            const [o] = await commitFrames(db, [{ meterId: m, epoch: 0, counter: 2, tag: tag(2, 7), registers: Buffer.alloc(16, 0xee), records: [{ seq: 2, data: record(2) }] }])
            assert.equal(o.applied, false)
            assert.equal(o.evidence[0].kind, "counter-regression")
            assert.equal(o.evidence[0].atSeq, 2)
            const s = await loadMeter(db, m)
            assert.ok(s.window.recent.get(2)!.equals(tag(2)))
            assert.ok(s.registers!.equals(Buffer.alloc(16, 2)))
            assert.equal(s.head!.seq, 1)
            // caller-found evidence is recorded once, however often it is passed
            const cp = { meterId: m, kind: "checkpoint-mismatch" as const, atSeq: 1, offered: Buffer.alloc(32, 1), detail: "checkpoint 1 names another record" }
            await recordCloneEvidence(db, [cp])
            await commitFrames(db, [{ meterId: m, epoch: 0, counter: 3, tag: tag(3), evidence: [cp] }])
            assert.deepEqual((await readCloneEvidence(db, m)).map(e => e.kind), ["counter-regression", "checkpoint-mismatch"])
        })

        test("replay window, registers, checkpoint, chain head and epoch survive a reopen", async () => {
            const target = await b.fresh("reopen")
            const m = newMeter()
            let d = await openDatabase(target)
            for (let c = 1; c <= 300; c += 100) await commitFrames(d, frames(m, c, c + 99))
            await commitFrames(d, [{ meterId: m, epoch: 0, counter: 301, tag: tag(301), checkpoint: { seq: 320, hash: Buffer.alloc(32, 3) } }])
            await d.close()

            d = await openDatabase(target)
            let s = await loadMeter(d, m)
            assert.equal(s.window.epoch, 0)
            assert.equal(s.window.lastCounter, 301)
            assert.equal(s.window.recent.size, 256)
            assert.equal(classifyCounter(s.window, 301, tag(301)), "replay")
            assert.equal(classifyCounter(s.window, 300, tag(300)), "replay")
            assert.equal(classifyCounter(s.window, 300, tag(300, 1)), "clone")
            assert.equal(classifyCounter(s.window, 10, tag(10, 1)), "replay") // older than the window
            assert.equal(classifyCounter(s.window, 302, tag(302)), "fresh")
            assert.ok(s.registers!.equals(Buffer.alloc(16, 300 & 0xff)), "registers of the newest frame that had them")
            assert.deepEqual({ seq: s.head!.seq, first: s.firstSeq, gapFree: s.gapFree }, { seq: 299, first: 0, gapFree: true })
            assert.ok(s.head!.data.equals(record(299)))
            assert.deepEqual(s.checkpoint, { seq: 320, hash: Buffer.alloc(32, 3) })
            // a newer epoch: its own window from counter 1
            await commitFrames(d, frames(m, 1, 2, { epoch: 1, salt: 1 }).map(f => ({ ...f, records: [] })))
            await d.close()
            d = await openDatabase(target)
            s = await loadMeter(d, m)
            assert.deepEqual([s.window.epoch, s.window.lastCounter, s.window.recent.size], [1, 2, 2])
            await assert.rejects(d.query("DELETE FROM uplink_frames"), /replay window/)
            await d.close()
        })

        test("aggregates, meter alerts and the command log: stored once, answers linked", async () => {
            const m = newMeter()
            const g = { firstSeq: 0, lastSeq: 23, importWh: 5000, exportWh: 10 }
            // an acknowledgement (accepted, opcode 2, signer 2, counter 7, detail 300) as ingestion decoded it
            const ack = { body: Buffer.from("01000202" + "0000000000000007" + "0000012c", "hex"), verdict: 0, opcode: 2, signerKeyId: 2, counter: 7n, detail: 300 }
            const f: FrameChange = { meterId: m, epoch: 0, counter: 1, tag: tag(1), aggregates: [g], alerts: [{ kind: 1, count: 2 }, { kind: 1, count: 1 }, { kind: 3, count: 1 }], responses: [ack, { body: Buffer.from("junk") }] }
            assert.deepEqual((await commitFrames(db, [f]))[0], { applied: true, stored: 1, duplicates: 0, evidence: [] })
            assert.equal((await commitFrames(db, [f]))[0].applied, false)
            const [dup] = await commitFrames(db, [{ meterId: m, epoch: 0, counter: 2, tag: tag(2), aggregates: [g] }])
            assert.equal(dup.duplicates, 1)
            const [bad] = await commitFrames(db, [{ meterId: m, epoch: 0, counter: 3, tag: tag(3), aggregates: [{ ...g, importWh: 1 }] }])
            assert.equal(bad.evidence[0]?.kind, "forked-chain")
            assert.equal((await loadMeter(db, m)).aggregatedUpTo, 23)
            assert.deepEqual((await readMeterAlerts(db, m)).map(a => [a.counter, a.kind, a.count]), [[1, 1, 3], [1, 3, 1]])

            const envelope = Buffer.from("envelope bytes")
            const sent = { meterId: m, signerKeyId: 2, counter: 7n, opcode: 2, envelope, downEpoch: 0, downCounter: 12 }
            await logCommand(db, sent)
            await logCommand(db, sent) // idempotent
            await assert.rejects(logCommand(db, { ...sent, envelope: Buffer.from("another") }), /never reused/)
            const log = await readCommandLog(db, m)
            assert.equal(log.length, 1)
            assert.equal(log[0].counter, 7n)
            assert.deepEqual(log[0].answers.map(a => [a.frameCounter, a.verdict, a.detail]), [[1, 0, 300]])
        })

        test("bad input is refused before anything is written", async () => {
            const m = newMeter()
            const good = frames(m, 1, 1)[0]
            await assert.rejects(commitFrames(db, [good, { ...good, counter: 2, meterId: "xyz" }]), /16 hex digits/)
            await assert.rejects(commitFrames(db, [good, { ...good, counter: 2, records: [{ seq: 5, data: record(6) }] }]), /say seq 6/)
            await assert.rejects(commitFrames(db, [{ ...good, counter: 0 }]), /frame counter/)
            await assert.rejects(commitFrames(db, [{ ...good, tag: Buffer.alloc(15) }]), /tag/)
            assert.equal((await loadMeter(db, m)).window.lastCounter, 0, "the batch with a bad frame left nothing")
        })

        test("downlink counters: blocks grow and never overlap; a floor is respected; u32 exhaustion throws", async () => {
            const m = newMeter()
            const a = await reserveDownlinkCounters(db, m, 0, 16)
            const c = await reserveDownlinkCounters(db, m, 0, 16)
            assert.deepEqual([a, c], [{ first: 1, last: 16 }, { first: 17, last: 32 }])
            assert.deepEqual(await reserveDownlinkCounters(db, m, 0, 4, 1000), { first: 1001, last: 1004 })
            assert.deepEqual(await reserveDownlinkCounters(db, m, 0, 4, 10), { first: 1005, last: 1008 }, "a floor below the mark changes nothing")
            assert.deepEqual(await reserveDownlinkCounters(db, m, 1, 4), { first: 1, last: 4 }, "each epoch has its own key, so its own counters")
            // many meters in one statement, the same meter twice: disjoint
            const m2 = newMeter()
            const many = await reserveDownlinkBlocks(db, [{ meterId: m2, epoch: 0, blockSize: 3 }, { meterId: m, epoch: 0, blockSize: 2 }, { meterId: m2, epoch: 0, blockSize: 3 }])
            assert.deepEqual(many, [{ first: 1, last: 3 }, { first: 1009, last: 1010 }, { first: 4, last: 6 }])
            await assert.rejects(reserveDownlinkCounters(db, m, 0, 8, 0xffff_fffa), /roll the key epoch/)
            await reserveDownlinkCounters(db, m, 2, 0xfff0, 0xffff_0000)
            await assert.rejects(reserveDownlinkCounters(db, m, 2, 0x10), /roll the key epoch/)
            await assert.rejects(db.query("UPDATE downlink_counters SET reserved_to = 1"), /never go back/)
            await assert.rejects(db.query("DELETE FROM downlink_counters"), /never go back/)
            assert.equal((await loadMeter(db, m)).downlinkReservedTo, 1010, "the mark of the meter's current epoch (0: no frame yet)")
        })

        test("downlink counter pool: synchronous take from committed blocks, one statement for a batch", async () => {
            const ms = [newMeter(), newMeter(), newMeter()]
            const pool = new DownlinkCounterPool(db, { blockSize: 4 })
            assert.equal(pool.take(ms[0], 0), undefined)
            await pool.prepare(ms.map(meterId => ({ meterId, epoch: 0 })))
            assert.deepEqual(ms.map(x => pool.take(x, 0)), [1, 1, 1])
            const seen: number[] = []
            for (let i = 0; i < 10; i++) seen.push(await pool.next(ms[0], 0))
            assert.deepEqual(seen, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
            // concurrent callers share one reservation, and never get one counter twice
            const par = await Promise.all(Array.from({ length: 40 }, () => pool.next(ms[1], 0)))
            assert.equal(new Set(par).size, 40)
            // a second pool (a restarted head-end) starts above everything the first reserved
            const pool2 = new DownlinkCounterPool(db, { blockSize: 4, floor: () => 0 })
            assert.ok((await pool2.next(ms[1], 0)) > Math.max(...par))
        })

        test("crash: a child killed (SIGKILL) while reserving and using counters never gets a counter twice", { timeout: 400_000 }, async () => {
            // its own database: PGlite is one process at a time, so this process stays out until the kills are over
            const target = await b.fresh("crash_reserve")
            const m = newMeter()
            const ranges: [number, number][] = []
            const used: number[] = []
            // the first kill lands between a committed reservation and any use of it
            const rounds: ChildJob["mode"][] = ["reserve-and-hang", "reserve", "reserve-and-hang", "reserve"]
            for (const mode of rounds) {
                const out = await runAndKill({ target, mode, meter: m }, mode === "reserve-and-hang" ? 1 : 5 + Math.floor(Math.random() * 40))
                for (const l of out) {
                    const [k, x, y] = l.split(" ")
                    if (k === "R") ranges.push([Number(x), Number(y)])
                    if (k === "U") used.push(Number(x))
                }
            }
            // and in this process, after all the kills
            const d = await openDatabase(target)
            const last = await reserveDownlinkCounters(d, m, 0, 8)
            await d.close()
            ranges.push([last.first, last.last])
            for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i][0] > ranges[i - 1][1], `block ${ranges[i]} overlaps or precedes ${ranges[i - 1]}`)
            for (const u of used) assert.ok(ranges.some(([f, l]) => u >= f && u <= l), `counter ${u} used outside a reserved block`)
            assert.equal(new Set(used).size, used.length)
            console.log(`# ${b.name}: ${rounds.length} kills, ${ranges.length} blocks, ${used.length} counters used, none twice`)
        })

        test("crash: a child killed (SIGKILL) mid-commit leaves whole batches only", { timeout: 400_000 }, async () => {
            const target = await b.fresh("crash_commit")
            const m = newMeter()
            let confirmed = 0
            let inside = 0
            for (let round = 0; round < 3; round++) {
                // killed 0–30 ms after the 1st–4th batch began (a batch takes longer than that)
                const out = await runAndKill({ target, mode: "commit", meter: m }, 1 + Math.floor(Math.random() * 4), "B ")
                for (const l of out) if (l.startsWith("C ")) confirmed = Math.max(confirmed, Number(l.slice(2)))
                if (out[out.length - 1].startsWith("B ")) inside++ // killed after a batch began, before it was confirmed
            }
            assert.ok(inside >= 1, "no kill landed inside a batch")
            const d = await openDatabase(target)
            const s = await loadMeter(d, m)
            // every confirmed batch is there; nothing but whole batches of 50
            assert.ok(s.window.lastCounter >= confirmed, `confirmed ${confirmed}, stored ${s.window.lastCounter}`)
            assert.equal(s.window.lastCounter % BATCH, 0, `a partial batch: last counter ${s.window.lastCounter}`)
            assert.deepEqual({ head: s.head?.seq, gapFree: s.gapFree }, { head: s.window.lastCounter - 1, gapFree: true })
            const n = await d.query<{ n: number }>("SELECT count(*)::int8 AS n FROM uplink_frames WHERE meter_id = $1", [Buffer.from(m, "hex")])
            await d.close()
            assert.equal(n[0].n, s.window.lastCounter)
            console.log(`# ${b.name}: 3 kills, ${inside} inside a batch of ${BATCH}; ${s.window.lastCounter} frames stored, in whole batches (${confirmed} confirmed before the kills)`)
        })

        if (b.name === "postgres") {
            test("concurrent writers: two connections pools reserving at once get disjoint blocks", async () => {
                const a = await openDatabase(shared)
                const c = await openDatabase(shared)
                try {
                    const m = newMeter()
                    const loop = async (d: Database, n: number) => {
                        const out: [number, number][] = []
                        for (let i = 0; i < n; i++) {
                            const r = await reserveDownlinkCounters(d, m, 0, 5)
                            out.push([r.first, r.last])
                        }
                        return out
                    }
                    const all = (await Promise.all([loop(a, 50), loop(a, 50), loop(c, 50), loop(c, 50)])).flat().sort((x, y) => x[0] - y[0])
                    for (let i = 0; i < all.length; i++) assert.deepEqual(all[i], [i * 5 + 1, i * 5 + 5], "200 blocks tile 1..1000 exactly")
                    // the same new seq with other bytes from both at once: one stored, the other is evidence
                    for (let t = 0; t < 10; t++) {
                        const mm = newMeter()
                        const [x, y] = await Promise.all([
                            commitFrames(a, [{ meterId: mm, epoch: 0, counter: 1, tag: tag(1), records: [{ seq: 0, data: record(0, 1) }] }]),
                            commitFrames(c, [{ meterId: mm, epoch: 0, counter: 2, tag: tag(2), records: [{ seq: 0, data: record(0, 2) }] }]),
                        ])
                        assert.equal(x[0].stored + y[0].stored, 1)
                        assert.equal(x[0].evidence.length + y[0].evidence.length, 1)
                        assert.equal((await readCloneEvidence(a, mm)).length, 1)
                    }
                } finally {
                    await a.close()
                    await c.close()
                }
            })

            test("server crash: PostgreSQL killed (immediate stop) after a reservation keeps it", async () => {
                const m = newMeter()
                const before = await reserveDownlinkCounters(db, m, 0, 10)
                await db.close()
                await b.server!().crashAndRestart()
                db = await openDatabase(shared)
                const afterCrash = await reserveDownlinkCounters(db, m, 0, 10)
                assert.ok(afterCrash.first > before.last)
            })

            test("migrations: two head-ends migrating one server at once apply each migration once", async () => {
                const target = await b.fresh("mig_race")
                const [x, y] = await Promise.all([openDatabase(target, { migrate: false }), openDatabase(target, { migrate: false })])
                const [rx, ry] = await Promise.all([migrate(x), migrate(y)])
                assert.deepEqual([...rx, ...ry].sort(), loadMigrations().map(m => m.version))
                await x.close()
                await y.close()
            })
        } else {
            test("one process at a time: a second open of the directory is refused; a dead holder's lock is taken over", async () => {
                const target = shared as { backend: "pglite"; dir: string }
                await assert.rejects(openDatabase(target), /in use by process/)
                // a lock left by a process that no longer exists (killed): stale
                const other = await b.fresh("stale_lock")
                const dir = (other as { dir: string }).dir
                writeFileSync(`${dir}.lock`, "999999999\n")
                const d = await openDatabase(other)
                assert.ok(existsSync(`${dir}.lock`))
                await d.close()
                assert.ok(!existsSync(`${dir}.lock`), "released on close")
                // concurrent reservations on the one connection: disjoint
                const m = newMeter()
                const all = await Promise.all(Array.from({ length: 30 }, () => reserveDownlinkCounters(db, m, 0, 3)))
                const sorted = all.map(r => r.first).sort((p, q) => p - q)
                assert.deepEqual(sorted, Array.from({ length: 30 }, (_, i) => i * 3 + 1))
            })
        }
    })
}

if (process.env.TM_DB_CHILD) {
    await childMain(JSON.parse(process.env.TM_DB_CHILD) as ChildJob)
} else {
    test("databaseTarget: --database, then DATABASE_URL, then PGlite under the run directory", () => {
        assert.deepEqual(databaseTarget({ runDir: "/run/x" }), { backend: "pglite", dir: "/run/x/.headend/db" })
        assert.deepEqual(databaseTarget({ runDir: "/run/x", env: { DATABASE_URL: "postgres://u@h/db" } }), { backend: "postgres", url: "postgres://u@h/db" })
        assert.deepEqual(databaseTarget({ runDir: "/run/x", database: "postgresql://u:p@h:5433/db", env: { DATABASE_URL: "postgres://other" } }), { backend: "postgres", url: "postgresql://u:p@h:5433/db" })
        assert.deepEqual(databaseTarget({ runDir: "/run/x", database: "data/db" }), { backend: "pglite", dir: "/run/x/data/db" })
        assert.throws(() => databaseTarget({ runDir: "/", database: "mysql://u:secret@h/db" }), e => !(e as Error).message.includes("secret"))
        assert.throws(() => databaseTarget({ runDir: "/", env: { DATABASE_URL: "sqlite:///x" } }), /postgres:\/\//)
    })

    suite(pgliteBackend())
    const pgb = postgresBackend()
    if (pgb.skip) console.log(`# ${pgb.skip}`)
    suite(pgb)
}

