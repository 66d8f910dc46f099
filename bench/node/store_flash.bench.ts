/**
 * The index store's size, capacity and flash wear, measured at the flash of the real
 * firmware (src/main.ts in the simulator, tools/firmware_rig.ts) with the real head-end
 * acknowledging over MQTT: every settings write and every compaction of the settings area
 * is accounted from the flash images the runtime saves (tools/flash_wear.cjs). Method:
 * docs/index-store.md, "Measuring capacity and wear".
 *
 * - chain_record_bytes: the store's flash per half-hour interval held (value bytes, 8-byte
 *   alignment padding and 24-byte directory entry, whatever the layout packs together, the
 *   events' share included): live bytes of the store's keys (st.*, the meter state aside)
 *   when the store is full minus those just before the first interval close, over the
 *   intervals among the records added meanwhile. Reference: those records' wire bytes per
 *   interval (what the head-end stores).
 * - store_capacity_hh_hours: acknowledgements dropped, half-hourly intervals with a time
 *   sync (TimeSet and CommandAccepted records) every simulated day and the power-up
 *   record, until the meter writes StoreFull; hours of intervals held.
 * - flash_bytes_per_day: bytes programmed in one simulated day at half-hourly level with
 *   acks (records, head, ack cursor, meter state, counters, policy, compaction copies: every
 *   write the firmware made), plus the writes driven by the real-time clock that the
 *   accelerated day does not reach (the periodic meter-state save: at most one per
 *   DEFAULT_SNAPSHOT_PERIOD_MS of real time, the period restarted by the forced save at each
 *   interval close), each at its measured cost, with the compactions those bytes bring at
 *   the measured rate. Reference: the interval and event records' own wire bytes that day.
 * - flash_life_years: 100,000 erase cycles over the most-erased page's measured erase
 *   rate (a compaction erases the pages of the area it copies into).
 *
 * TM_BENCH_WEAR_DIR=<dir> keeps each phase's flash accounting (fill.wear, day.wear: one
 * JSON line per flash save, tools/flash_wear.cjs); `fill` and `day` are exported to run
 * one phase alone.
 */
import { readFileSync, existsSync, copyFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { FirmwareRig } from "../../tools/firmware_rig.ts"
import { decodeRecord } from "../../headend/src/chain.ts"
import { RecordKind } from "../../src/wire/record"
import { AlertKind } from "../../src/wire/report"
import { ROOT } from "../../tools/devs.ts"

interface WearLine {
    t: number
    gen: number
    area: number
    gc: boolean
    /** a large setting (the program `devs run` deploys at start) */
    deploy?: boolean
    entries: [string, number][]
    programmed: number
    changed: number
    erasedPages: number[]
    liveBytes: number
    error?: string
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))
const log = (l: string) => console.log(`  store_flash: ${l}`)

/** TM_BENCH_WEAR_DIR: keep each run's flash accounting (`<phase>.wear`, one JSON line per flash save) there */
function keepWear(rig: FirmwareRig, phase: string) {
    const dir = process.env.TM_BENCH_WEAR_DIR
    if (!dir || !existsSync(rig.flashFile + ".wear")) return
    mkdirSync(dir, { recursive: true })
    copyFileSync(rig.flashFile + ".wear", join(dir, `${phase}.wear`))
}

function wear(rig: FirmwareRig): WearLine[] {
    const f = rig.flashFile + ".wear"
    if (!existsSync(f)) return []
    const out = readFileSync(f, "utf8").trim().split("\n").filter(Boolean).map(l => JSON.parse(l) as WearLine)
    const bad = out.find(l => l.error)
    if (bad) throw new Error(`flash accounting failed: ${bad.error}`)
    return out
}

async function waitFor<T>(f: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
    const end = Date.now() + timeoutMs
    for (;;) {
        const v = await f()
        if (v !== undefined) return v
        if (Date.now() > end) throw new Error(`store_flash: ${what} after ${timeoutMs} ms`)
        await sleep(100)
    }
}

/**
 * A signed time sync the meter really handled: sent again (a new command) when no command
 * counter (`cv.*`) reaches the meter's flash within 3 s. While acks are dropped a downlink
 * frame was sometimes lost before the meter (seen in 3 of 6 fills: no command write until
 * acks resumed), and the fill then held no time-sync records.
 */
async function timeSyncSeen(rig: FirmwareRig) {
    for (let i = 0; i < 3; i++) {
        const sent = Date.now()
        await rig.timeSync()
        const end = Date.now() + 3000
        while (Date.now() < end) {
            if (wear(rig).some(l => l.t >= sent && !l.gc && l.entries.some(([k]) => k.replace(/^:/, "").startsWith("cv.")))) return
            await sleep(100)
        }
        log(`time sync ${i + 1} not handled by the meter within 3 s: sending another`)
    }
}

/** The periodic (real-time) meter-state save of the firmware: its key and period, from src/store/indexstore.ts. */
function periodicSave(): { key: string; periodS: number } {
    const src = readFileSync(join(ROOT, "src/store/indexstore.ts"), "utf8")
    const p = /DEFAULT_SNAPSHOT_PERIOD_MS\s*=\s*([\d_]+)/.exec(src)
    const k = /KEY_SNAPSHOT\s*=\s*"([^"]+)"/.exec(src)
    if (!p || !k) throw new Error("store_flash: src/store/indexstore.ts names no DEFAULT_SNAPSHOT_PERIOD_MS / KEY_SNAPSHOT: update the bench")
    return { key: k[1], periodS: Number(p[1].replace(/_/g, "")) / 1000 }
}

/** Wire bytes and kinds of the records the head-end stored. */
async function storedRecords(rig: FirmwareRig) {
    return (await rig.station.service.records(rig.meterId)).map(r => ({ seq: r.seq, bytes: r.data.length, kind: decodeRecord(r.data)?.kind ?? -1 }))
}

/** Steady state with acks: one simulated day at half-hourly level. */
export async function day() {
    const SCALE = 1800 // a half hour per real second, a day in 48 s
    const rig = await FirmwareRig.start({ scale: SCALE, tickMs: 100, wear: true, settings: { "mt.solarW": Buffer.from("0") }, log })
    try {
        rig.powerOn()
        await waitFor(async () => ((await storedRecords(rig)).length > 0 ? true : undefined), 90_000, "no frame from the meter")
        await rig.timeSync()
        // warm up: a few intervals acknowledged, so the store runs as it does for years
        await sleep(8000)
        const dayMs = (86400 / SCALE) * 1000
        const t1 = Date.now()
        const rec1 = await storedRecords(rig)
        await sleep(dayMs / 2)
        await rig.timeSync() // the day's time sync
        // the day ends dayMs after it began, however long the sync took to send
        await sleep(Math.max(0, t1 + dayMs - Date.now()))
        const t2 = Date.now()
        const rec2 = await storedRecords(rig)
        const w = wear(rig).filter(l => l.t > t1 && l.t <= t2 && !l.deploy)
        const lastWrite = w.at(-1)?.t ?? t1
        if (t2 - lastWrite > 10_000) throw new Error(`store_flash: the firmware stopped writing flash ${((t2 - lastWrite) / 1000).toFixed(0)} s before the day ended (settings area full: jd_fstor out of space); flash_bytes_per_day would undercount`)
        const byKey = new Map<string, { writes: number; bytes: number }>()
        let programmed = 0
        let gcs = 0
        const erases = new Map<number, number>()
        for (const l of w) {
            programmed += l.programmed
            if (l.gc) gcs++
            for (const p of l.erasedPages) erases.set(p, (erases.get(p) ?? 0) + 1)
            if (!l.gc)
                for (const [k, size] of l.entries) {
                    const e = byKey.get(k) ?? { writes: 0, bytes: 0 }
                    e.writes++
                    e.bytes += 24 + (size === 0 ? 8 : (size + 7) & ~7)
                    byKey.set(k, e)
                }
        }
        const gcBytes = w.filter(l => l.gc).reduce((n, l) => n + l.programmed, 0)
        const written = programmed - gcBytes
        // the real-time periodic save, which the accelerated day does not reach: at most one
        // per period, and the forced save at each interval close starts the period again
        // (IndexStore.saveSnapshot), so a real half hour holds ceil(1800 s / period) - 1 of them
        const per = periodicSave()
        const snapKey = ":" + per.key
        const all = wear(rig)
        const stateWrite = [...all].reverse().flatMap(l => (l.gc ? [] : l.entries)).find(([k]) => k.replace(/^:/, "") === per.key)
        if (!stateWrite) throw new Error(`store_flash: the firmware never wrote ${per.key}`)
        const stateCost = 24 + ((stateWrite[1] + 7) & ~7)
        const newRecs = rec2.filter(r => !rec1.some(q => q.seq === r.seq))
        const recordBytes = newRecs.reduce((n, r) => n + r.bytes, 0)
        const intervals = newRecs.filter(r => r.kind === RecordKind.IntervalClose).length
        const periodicSeen = Math.max(0, (byKey.get(snapKey)?.writes ?? 0) - intervals)
        const periodicMissing = Math.max(0, 48 * Math.max(0, Math.ceil(1800 / per.periodS) - 1) - periodicSeen)
        const periodicBytes = periodicMissing * stateCost
        // compactions follow the bytes written (each one when the area's free space is used
        // up): the periodic writes bring their share of compactions, copies and erases
        const scaleUp = written > 0 ? (written + periodicBytes) / written : 1
        const perDay = Math.round((written + periodicBytes) + gcBytes * scaleUp)
        const maxPageErases = Math.max(0, ...erases.values()) * scaleUp
        const stRecords = [...byKey.entries()].filter(([k]) => /^:?st\.r\d+$/.test(k))
        const rows: [string, number, number][] = [...byKey.entries()].filter(([k]) => !/^:?st\.r\d+$/.test(k)).map(([k, e]) => [k, e.writes, e.bytes])
        rows.push([`st.r0..st.r${stRecords.length - 1} (records)`, stRecords.reduce((n, [, e]) => n + e.writes, 0), stRecords.reduce((n, [, e]) => n + e.bytes, 0)])
        rows.push([`${per.key} periodic (real time)`, periodicMissing, periodicBytes])
        rows.push([`compaction copies`, Number((gcs * scaleUp).toFixed(1)), Math.round(gcBytes * scaleUp)])
        log(`day: ${w.length} flash operations, ${programmed} B programmed in the accelerated day (${gcs} compactions: ${gcBytes} B), ${newRecs.length} records (${intervals} intervals, ${recordBytes} wire bytes); periodic ${per.key} every ${per.periodS} s: ${periodicMissing} more (${stateCost} B each) and their share of compactions`)
        log(`  a day's writes per key (writes, bytes as programmed: 24-byte entry + value padded to 8; compactions: whole live area copied):`)
        for (const [k, n, b] of rows.sort((a, b) => b[2] - a[2])) log(`  ${k.replace(/^:/, "").padEnd(30)} ${String(n).padStart(6)} ${String(b).padStart(8)} B`)
        log(`  total ${perDay} B; erases per page (pages ${[...erases.keys()].join(",") || "none"}): max ${Math.max(0, ...erases.values())} in the accelerated day, ${maxPageErases.toFixed(2)} with the periodic writes`)
        return {
            flash_bytes_per_day: perDay,
            flash_bytes_per_day_records_ref: recordBytes,
            flash_bytes_per_day_vs_records: recordBytes ? perDay / recordBytes : 0,
            flash_compactions_per_day: gcs * scaleUp,
            flash_life_years: maxPageErases > 0 ? 100_000 / maxPageErases / 365 : Infinity,
            intervalsThatDay: intervals,
        }
    } finally {
        keepWear(rig, "day")
        await rig.stop()
    }
}

/**
 * Acks dropped: half-hourly intervals until the meter raises StoreFull; then acks again, so
 * the meter drains everything it held to the head-end, StoreFull record included.
 */
export async function fill() {
    // a half hour in 1 s, a day in 48 s (the ring full in ~24 s): at x7200 the ring was full
    // in 6 s, before a lost time sync could be sent again (timeSyncSeen)
    const SCALE = 1800
    let fullAt = 0
    const rig = await FirmwareRig.start({
        scale: SCALE,
        tickMs: 100,
        wear: true,
        acks: false,
        settings: { "mt.solarW": Buffer.from("0") },
        events: { alert: (_m, kind) => (kind === AlertKind.StoreFull && !fullAt ? (fullAt = Date.now()) : undefined) },
        log,
    })
    try {
        rig.powerOn()
        await waitFor(async () => ((await storedRecords(rig)).length > 0 ? true : undefined), 90_000, "no frame from the meter")
        const t0 = Date.now()
        await timeSyncSeen(rig)
        let lastSync = Date.now()
        const limitMs = Number(process.env.TM_BENCH_FILL_MS ?? 600_000)
        let stalled = false
        while (!fullAt && Date.now() - t0 < limitMs) {
            await sleep(250)
            // the meter writes its state at every interval close (4 a second here): 30 s
            // without any flash write means the settings layer refuses writes (jd_fstor
            // "out of space": the live settings no longer fit one area)
            const lastWrite = wear(rig).at(-1)?.t ?? t0
            if (Date.now() - Math.max(lastWrite, t0) > 30_000) {
                stalled = true
                log(`fill: no flash write for 30 s while intervals close: the settings area is full before the store is (live settings ${wear(rig).at(-1)?.liveBytes} B)`)
                break
            }
            if (Date.now() - lastSync > (86400 / SCALE) * 1000) {
                lastSync = Date.now()
                await timeSyncSeen(rig)
            }
        }
        let full: { seq: number } | undefined
        if (stalled) return { full: false, stalled: true, store_capacity_hh_hours: 0, chain_record_bytes: 0, chain_record_wire_bytes_ref: 0 }
        if (fullAt) {
            rig.acks = true
            full = await waitFor(async () => (await storedRecords(rig)).find(r => r.kind === RecordKind.StoreFull), 300_000, "the StoreFull record never reached the head-end after acks resumed")
        }
        const recs = await storedRecords(rig)
        const held = full ? recs.filter(r => r.seq < full!.seq) : recs
        const intervals = held.filter(r => r.kind === RecordKind.IntervalClose).length
        // the store's flash per interval held: live bytes of the store's keys (st.*, the meter
        // state aside), from just before the first interval close (the meter state's first
        // write) to the moment the meter raised StoreFull, over the records added meanwhile
        // (the first interval record .. StoreFull), per interval among them: the events'
        // share (power-up, time syncs, StoreFull) included
        const per = periodicSave()
        const lines = wear(rig).filter(l => !l.deploy)
        const firstState = lines.findIndex(l => !l.gc && l.entries.some(([k]) => k.replace(/^:/, "") === per.key))
        const storeAt = (end: number) => {
            const m = new Map<string, number>()
            for (const l of lines.slice(0, end)) {
                if (l.gc) m.clear()
                for (const [k, size] of l.entries) m.set(k.replace(/^:/, ""), size)
            }
            let n = 0
            for (const [k, size] of m) if (k.startsWith("st.") && k !== per.key) n += 24 + (size === 0 ? 8 : (size + 7) & ~7)
            return n
        }
        const endFull = lines.findIndex(l => l.t > (fullAt || Date.now()))
        const storeBase = storeAt(firstState)
        const storeFull = storeAt(endFull < 0 ? lines.length : endFull)
        const firstIv = recs.find(r => r.kind === RecordKind.IntervalClose)?.seq ?? 0
        const window = recs.filter(r => r.seq >= firstIv && (!full || r.seq <= full.seq))
        const windowIv = window.filter(r => r.kind === RecordKind.IntervalClose).length
        const wire = window.reduce((n, r) => n + r.bytes, 0)
        log(`fill: ${full ? `StoreFull at seq ${full.seq} after ${((fullAt - t0) / 1000).toFixed(0)} s` : `NOT full after ${limitMs} ms`}: ${held.length} records held before it (${intervals} intervals); the store's keys ${storeBase} -> ${storeFull} B for seq ${firstIv}..${full?.seq ?? "?"} (${window.length} records, ${windowIv} intervals, ${wire} wire bytes)`)
        return {
            full: !!full,
            stalled: false,
            store_capacity_hh_hours: intervals / 2,
            chain_record_bytes: windowIv > 0 ? Math.round((storeFull - storeBase) / windowIv) : 0,
            chain_record_wire_bytes_ref: windowIv > 0 ? Math.round(wire / windowIv) : 0,
        }
    } finally {
        keepWear(rig, "fill")
        await rig.stop()
    }
}

export default async function storeFlash(): Promise<Record<string, number>> {
    const f = await fill()
    const d = await day()
    const r: Record<string, number> = {
        chain_record_bytes: f.chain_record_bytes,
        chain_record_wire_bytes_ref: f.chain_record_wire_bytes_ref,
        store_capacity_hh_hours: f.store_capacity_hh_hours,
        flash_bytes_per_day: d.flash_bytes_per_day,
        flash_bytes_per_day_records_ref: d.flash_bytes_per_day_records_ref,
        flash_bytes_per_day_vs_records: Number(d.flash_bytes_per_day_vs_records.toFixed(2)),
        flash_life_years: Number(d.flash_life_years.toFixed(1)),
    }
    const goal = (k: string, ok: boolean, g: string) => console.log(`  ${k.padEnd(26)} ${String(r[k]).padStart(9)}  goal ${g.padEnd(9)} ${ok ? "met" : "NOT MET"}`)
    console.log(`\n  store_flash (measured at the flash of src/main.ts; reference measured in the same run)`)
    goal("chain_record_bytes", r.chain_record_bytes <= 64, "<= 64")
    console.log(`  ${"  reference: wire record".padEnd(26)} ${String(r.chain_record_wire_bytes_ref).padStart(9)}  ratio ${(r.chain_record_bytes / r.chain_record_wire_bytes_ref).toFixed(2)}`)
    goal("store_capacity_hh_hours", f.full && r.store_capacity_hh_hours >= 168, ">= 168")
    goal("flash_bytes_per_day", r.flash_bytes_per_day <= 16384, "<= 16384")
    console.log(`  ${"  reference: records' bytes".padEnd(26)} ${String(r.flash_bytes_per_day_records_ref).padStart(9)}  ratio ${r.flash_bytes_per_day_vs_records}`)
    goal("flash_life_years", r.flash_life_years >= 20, ">= 20")
    if (f.stalled) {
        // no figure rather than a wrong one: the keys stay as they were in bench/results.json
        console.log("  store_flash: the settings area filled up before the store raised StoreFull (the firmware's writes stopped): chain_record_bytes and store_capacity_hh_hours NOT MEASURED")
        process.exitCode = 1
        for (const k of ["chain_record_bytes", "chain_record_wire_bytes_ref", "store_capacity_hh_hours"]) delete r[k]
    }
    if (!f.full) console.log("  store_flash: the store never filled: store_capacity_hh_hours is a lower bound only (raise TM_BENCH_FILL_MS)")
    return r
}
