/**
 * Head-end storage figures (docs/headend-storage.md, "Figures"): how many frames' worth of
 * state `commitFrames` commits per second, on PGlite and on a PostgreSQL server started
 * here (tools/postgres.ts; left out, with the reason, when it is not installed).
 *
 * A frame is the half-hourly one: one 75-byte store record, 16-byte registers, the CCM
 * tag; 200 meters; batches of 1, 100 and 1000 frames, one transaction each, committed
 * (durable: PGlite's WAL write, the server's default fsync and synchronous_commit).
 * Reported per batch size: frames per wall second, frames per CPU second of this process
 * (the head-end's cost: for PGlite the whole database runs here, for the server only the
 * client's encoding and parsing), and the server's CPU per frame from /proc.
 *
 * `headend_frames_per_s` (bench/node/uplink.bench.ts) is per CPU second of the head-end
 * process; with the database in the path each frame also costs the head-end CPU per frame
 * measured here and the server's, so the combined figure is 1 / (1/ingest + 1/db + server
 * CPU per frame): printed for the ingest rate given with --ingest-rate (default: 26518,
 * docs/uplink.md §13). A model: the service with the database in the path is measured
 * whole by bench/node/headend_service.bench.ts (docs/headend.md, "Figures").
 *
 *   npx tsx bench/node/headend_db.bench.ts [--ingest-rate N] [--quick]
 * As a bench/run.ts module (default export) it returns the batch-1000 figures.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { Database, FrameChange, commitFrames, loadMeter, openDatabase, reserveDownlinkBlocks } from "../../headend/src/db/index.ts"
import { PostgresServer, postgresSkipReason, startPostgres } from "../../tools/postgres.ts"

const METERS = 200

interface Row {
    backend: string
    batch: number
    frames: number
    wallPerS: number
    cpuPerS: number
    serverCpuUsPerFrame?: number
}

/** A v1 store record of `seq` (16-byte payload), as the meter stores it. */
function record(seq: number): Buffer {
    const b = Buffer.alloc(75, seq & 0xff)
    b[0] = 1
    b[1] = 0x10
    b.writeUInt32BE(seq, 2)
    b.writeUInt32BE(1_700_000_000 + seq * 1800, 6)
    b[10] = 16
    return b
}

/** Frame generator: round-robin over the meters, each meter's counter and seq growing. */
function frameSource() {
    const meters = Array.from({ length: METERS }, (_, i) => ({ id: `be7c${i.toString(16).padStart(12, "0")}`, counter: 0 }))
    let i = 0
    return (n: number): FrameChange[] => {
        const out: FrameChange[] = []
        for (let k = 0; k < n; k++) {
            const m = meters[i++ % METERS]
            const c = ++m.counter
            const tag = Buffer.alloc(16, c & 0xff)
            tag.writeUInt32BE(c, 0)
            out.push({ meterId: m.id, epoch: 0, counter: c, tag, registers: Buffer.alloc(16, 7), records: [{ seq: c - 1, data: record(c - 1) }] })
        }
        return out
    }
}

async function measure(db: Database, next: (n: number) => FrameChange[], backend: string, batch: number, total: number, server?: PostgresServer): Promise<Row> {
    // batches built beforehand: the figure is the database path, not the generator
    const batches = Array.from({ length: Math.ceil(total / batch) }, () => next(batch))
    await commitFrames(db, next(batch)) // warm-up: statement plans, connections
    const s0 = server?.cpuSeconds()
    const c0 = process.cpuUsage()
    const w0 = performance.now()
    for (const b of batches) {
        const out = await commitFrames(db, b)
        if (out.some(o => o.stored !== 1)) throw new Error("bench: a record was not stored")
    }
    const wall = (performance.now() - w0) / 1000
    const c = process.cpuUsage(c0)
    const cpu = (c.user + c.system) / 1e6
    const frames = batches.length * batch
    const row: Row = { backend, batch, frames, wallPerS: frames / wall, cpuPerS: frames / cpu }
    if (server && s0 !== undefined) row.serverCpuUsPerFrame = ((server.cpuSeconds() - s0) * 1e6) / frames
    return row
}

/** Median by frames per CPU second of `n` runs. */
async function median(n: number, f: () => Promise<Row>): Promise<Row> {
    const rows: Row[] = []
    for (let i = 0; i < n; i++) rows.push(await f())
    rows.sort((a, b) => a.cpuPerS - b.cpuPerS)
    return rows[Math.floor(n / 2)]
}

async function backendRows(db: Database, backend: string, quick: boolean, server?: PostgresServer) {
    const rows: Row[] = []
    const next = frameSource() // one per database: counters and seqs keep growing across runs
    rows.push(await measure(db, next, backend, 1, quick ? 100 : 300, server))
    rows.push(await median(quick ? 1 : 3, () => measure(db, next, backend, 100, quick ? 2000 : 10_000, server)))
    rows.push(await median(quick ? 1 : 3, () => measure(db, next, backend, 1000, quick ? 5000 : 20_000, server)))
    // restart cost per meter, and counter reservation for a whole batch of meters
    const l0 = performance.now()
    for (let i = 0; i < 50; i++) await loadMeter(db, `be7c${i.toString(16).padStart(12, "0")}`)
    const loadMs = (performance.now() - l0) / 50
    const r0 = performance.now()
    await reserveDownlinkBlocks(db, Array.from({ length: METERS }, (_, i) => ({ meterId: `be7c${i.toString(16).padStart(12, "0")}`, epoch: 0, blockSize: 256 })))
    const reserveMs = performance.now() - r0
    return { rows, loadMs, reserveMs }
}

export async function runAll(o: { quick?: boolean; log?: (s: string) => void } = {}) {
    const log = o.log ?? (() => {})
    const out: { backend: string; rows: Row[]; loadMs: number; reserveMs: number; note?: string }[] = []
    const dir = mkdtempSync(join(tmpdir(), "tm-db-bench-"))
    try {
        log("PGlite: creating the database (initdb takes a few seconds)...")
        const lite = await openDatabase({ backend: "pglite", dir: join(dir, "db") })
        try {
            out.push({ backend: "pglite", ...(await backendRows(lite, "pglite", !!o.quick)) })
        } finally {
            await lite.close()
        }
    } finally {
        rmSync(dir, { recursive: true, force: true })
    }
    const skip = postgresSkipReason()
    if (skip) out.push({ backend: "postgres", rows: [], loadMs: NaN, reserveMs: NaN, note: skip })
    else {
        log("PostgreSQL: starting a throwaway server...")
        const server = await startPostgres()
        try {
            const db = await openDatabase({ backend: "postgres", url: await server.createDatabase("bench") })
            try {
                out.push({ backend: "postgres", ...(await backendRows(db, "postgres", !!o.quick, server)), note: server.version })
            } finally {
                await db.close()
            }
        } finally {
            await server.stop()
        }
    }
    return out
}

/** bench/run.ts: the batch-1000 figures. */
export default async function () {
    const res = await runAll()
    const m: Record<string, number> = {}
    for (const b of res) {
        const r = b.rows.find(x => x.batch === 1000)
        if (!r) continue
        m[`headend_db_frames_per_s_${b.backend}`] = Math.round(r.cpuPerS)
        m[`headend_db_frames_per_wall_s_${b.backend}`] = Math.round(r.wallPerS)
        if (r.serverCpuUsPerFrame !== undefined) m[`headend_db_server_cpu_us_per_frame_${b.backend}`] = Math.round(r.serverCpuUsPerFrame * 10) / 10
    }
    return m
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
    const args = process.argv.slice(2)
    const ir = args.indexOf("--ingest-rate")
    const ingest = ir >= 0 ? Number(args[ir + 1]) : 26518
    const res = await runAll({ quick: args.includes("--quick"), log: s => console.log(s) })
    const fmt = (n: number | undefined, w: number) => (n === undefined || !Number.isFinite(n) ? "-" : Math.round(n).toString()).padStart(w)
    console.log(`\nhead-end storage: frames committed (1 record of 75 B + registers + tag each), ${METERS} meters, ${new Date().toISOString()}`)
    console.log(`${"backend".padEnd(9)} ${"batch".padStart(6)} ${"frames".padStart(7)} ${"frames/wall s".padStart(14)} ${"frames/head-end CPU s".padStart(22)} ${"server CPU µs/frame".padStart(20)} ${"+ ingest: frames/CPU s".padStart(23)}`)
    for (const b of res) {
        if (!b.rows.length) {
            console.log(`${b.backend.padEnd(9)} skipped: ${b.note}`)
            continue
        }
        for (const r of b.rows) {
            const combined = 1 / (1 / ingest + 1 / r.cpuPerS + (r.serverCpuUsPerFrame ?? 0) / 1e6)
            console.log(`${b.backend.padEnd(9)} ${fmt(r.batch, 6)} ${fmt(r.frames, 7)} ${fmt(r.wallPerS, 14)} ${fmt(r.cpuPerS, 22)} ${r.serverCpuUsPerFrame === undefined ? "-".padStart(20) : r.serverCpuUsPerFrame.toFixed(1).padStart(20)} ${fmt(combined, 23)}`)
        }
        console.log(`${"".padEnd(9)} loadMeter (restart, per meter) ${b.loadMs.toFixed(2)} ms; reserve 256 counters for each of ${METERS} meters in one statement ${b.reserveMs.toFixed(1)} ms${b.note ? `; ${b.note}` : ""}`)
    }
    console.log(`(+ ingest: 1 / (1/${ingest} + 1/db + server CPU a frame), frames per CPU second of head-end and database with this database in the path, for an ingest rate of ${ingest}; --ingest-rate N to change; measured whole: headend_service.bench.ts)`)
}
