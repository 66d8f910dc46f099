/**
 * Reading a meter's state back (docs/headend-storage.md): what ingestion resumes a meter
 * with after a restart — the replay window of its newest epoch, its registers, chain
 * head, newest checkpoint, aggregates mark, clone suspicion and downlink mark — and the
 * stored records, evidence and alerts.
 */
import { Sql } from "./adapter.ts"
import { CloneEvidence, CloneKind, StoredRecord } from "./frames.ts"
import { meterBytes } from "./values.ts"

/** How many of the newest accepted frames' tags tell a replay from a clone (as headend/src/ingest.ts). */
export const REPLAY_WINDOW = 256

/** The replay state of a meter's newest epoch. */
export interface UplinkWindow {
    epoch: number
    /** highest counter accepted in `epoch` (0: none) */
    lastCounter: number
    /** tags of the newest accepted frames (at most REPLAY_WINDOW), by counter */
    recent: Map<number, Buffer>
}

/** What ingestion needs to resume a meter after a restart. */
export interface MeterSnapshot {
    meterId: string
    window: UplinkWindow
    /** registers of the newest frame that carried them */
    registers?: Buffer
    /** the newest stored record: the chain head (its record hash is the chain hash) */
    head?: StoredRecord
    /** the oldest stored seq, and whether every seq from it to the head is stored */
    firstSeq?: number
    gapFree: boolean
    /** the newest explicit checkpoint the meter reported */
    checkpoint?: { seq: number; hash: Buffer }
    /** the last seq covered by a stored aggregate (−1: none) */
    aggregatedUpTo: number
    cloneSuspected: boolean
    /** the highest downlink counter reserved under `window.epoch` (0: none) */
    downlinkReservedTo: number
}

/**
 * Classifies an uplink counter against a window (the rule of headend/src/ingest.ts): above
 * the highest accepted one it is fresh; at or below it, the same tag (or a counter no
 * longer in the window) is a replay and another tag is a second device with the secret.
 */
export function classifyCounter(w: UplinkWindow, counter: number, tag: Buffer): "fresh" | "replay" | "clone" {
    if (counter > w.lastCounter) return "fresh"
    const seen = w.recent.get(counter)
    return seen === undefined || seen.equals(tag) ? "replay" : "clone"
}

/** The state to resume `meterId` with after a restart (empty state for a meter never seen). */
export async function loadMeter(q: Sql, meterId: string): Promise<MeterSnapshot> {
    const meter = meterBytes(meterId)
    const win = await q.query<{ epoch: number; counter: number; tag: Buffer }>(
        `SELECT epoch, counter, tag FROM uplink_frames
         WHERE meter_id = $1 AND epoch = (SELECT max(epoch) FROM uplink_frames WHERE meter_id = $1)
         ORDER BY counter DESC LIMIT ${REPLAY_WINDOW}`,
        [meter]
    )
    const epoch = win.length ? win[0].epoch : 0
    const window: UplinkWindow = { epoch, lastCounter: win.length ? win[0].counter : 0, recent: new Map(win.map(r => [r.counter, r.tag])) }
    const [regs] = await q.query<{ registers: Buffer }>(
        "SELECT registers FROM uplink_frames WHERE meter_id = $1 AND registers IS NOT NULL ORDER BY epoch DESC, counter DESC LIMIT 1",
        [meter]
    )
    const [span] = await q.query<{ first: number | null; last: number | null; n: number }>(
        "SELECT min(seq) AS first, max(seq) AS last, count(*)::int8 AS n FROM records WHERE meter_id = $1",
        [meter]
    )
    const [head] = span.last === null ? [] : await q.query<{ seq: number; data: Buffer }>("SELECT seq, data FROM records WHERE meter_id = $1 AND seq = $2", [meter, span.last])
    const [cp] = await q.query<{ seq: number; hash: Buffer }>(
        "SELECT checkpoint_seq AS seq, checkpoint_hash AS hash FROM uplink_frames WHERE meter_id = $1 AND checkpoint_seq IS NOT NULL ORDER BY checkpoint_seq DESC LIMIT 1",
        [meter]
    )
    const [misc] = await q.query<{ agg: number | null; clone: boolean; reserved: number | null }>(
        `SELECT (SELECT max(last_seq) FROM aggregates WHERE meter_id = $1) AS agg,
                EXISTS (SELECT 1 FROM clone_evidence WHERE meter_id = $1) AS clone,
                (SELECT reserved_to FROM downlink_counters WHERE meter_id = $1 AND epoch = $2) AS reserved`,
        [meter, epoch]
    )
    return {
        meterId: meter.toString("hex"),
        window,
        registers: regs?.registers,
        head: head ? { seq: head.seq, data: head.data } : undefined,
        firstSeq: span.first ?? undefined,
        gapFree: span.last === null || span.n === span.last - span.first! + 1,
        checkpoint: cp ? { seq: cp.seq, hash: cp.hash } : undefined,
        aggregatedUpTo: misc.agg ?? -1,
        cloneSuspected: misc.clone,
        downlinkReservedTo: misc.reserved ?? 0,
    }
}

/** What the ingestion service resumes a meter with (`loadMeterState`): `MeterSnapshot`'s part it uses, and the newest records. */
export interface MeterResume {
    meterId: string
    window: UplinkWindow
    /** seconds since the newest frame of `window.epoch` was stored (undefined: none) */
    lastAcceptedAgoS?: number
    /** the stored records with seq in (head − keep, head], oldest first; the last is the chain head */
    records: StoredRecord[]
    checkpoint?: { seq: number; hash: Buffer }
    aggregatedUpTo: number
    cloneSuspected: boolean
    downlinkReservedTo: number
}

/**
 * `loadMeter`'s state for ingestion plus the newest `keep` records, in one statement (one
 * round trip: the function `meter_resume`, migrations/004_meter_resume.sql): what a worker
 * of a shared subscription reads each time a meter's frame reaches it after another worker
 * moved the meter on (docs/scale.md). Every part is an
 * index range of one meter: the newest ≤ 256 frames of its newest epoch, its newest
 * records, its newest checkpoint, the marks; nothing grows with the meter's history.
 */
export async function loadMeterState(q: Sql, meterId: string, keep = 64): Promise<MeterResume> {
    const meter = meterBytes(meterId)
    // migration 004: the query as a PL/pgSQL function, whose plan each connection keeps
    // (planned per call, the statement cost more to plan than to run)
    const [row] = await q.query<ResumeRow>("SELECT * FROM meter_resume($1, $2::int8)", [meter, keep])
    return resumeOf(meter.toString("hex"), row)
}

/** A row of `meter_resume` (migrations/004_meter_resume.sql). */
type ResumeRow = {
    epoch: number | null
    counters: (number | string | bigint)[] | null
    tags: Uint8Array[] | null
    age_s: number | null
    seqs: (number | string | bigint)[] | null
    datas: Uint8Array[] | null
    cp_seq: number | null
    cp_hash: Buffer | null
    agg: number | null
    clone: boolean
    reserved: number | null
}

function resumeOf(meterId: string, row: ResumeRow): MeterResume {
    const counters = (row.counters ?? []).map(Number)
    const tags = row.tags ?? []
    const seqs = (row.seqs ?? []).map(Number)
    const datas = row.datas ?? []
    return {
        meterId,
        window: {
            epoch: row.epoch === null ? 0 : Number(row.epoch),
            lastCounter: counters.length ? counters[0] : 0,
            recent: new Map(counters.map((c, i) => [c, asBuffer(tags[i])])),
        },
        lastAcceptedAgoS: row.age_s ?? undefined,
        records: seqs.map((seq, i) => ({ seq, data: asBuffer(datas[i]) })),
        checkpoint: row.cp_seq !== null && row.cp_hash ? { seq: Number(row.cp_seq), hash: asBuffer(row.cp_hash) } : undefined,
        aggregatedUpTo: row.agg === null ? -1 : Number(row.agg),
        cloneSuspected: row.clone,
        downlinkReservedTo: row.reserved === null ? 0 : Number(row.reserved),
    }
}

/**
 * `loadMeterState` for several meters in one statement (one round trip for a whole batch's
 * reloads: a worker of a shared subscription reloads hundreds of meters a batch, and on a
 * loaded host each round trip's socket writes cost more than the query).
 */
export async function loadMeterStates(q: Sql, meterIds: readonly string[], keep = 64): Promise<Map<string, MeterResume>> {
    const out = new Map<string, MeterResume>()
    if (!meterIds.length) return out
    const meters = meterIds.map(meterBytes)
    const rows = await q.query<ResumeRow & { meter_id: Buffer }>(
        "SELECT u.m AS meter_id, r.* FROM unnest($1::bytea[]) AS u(m) CROSS JOIN LATERAL meter_resume(u.m, $2::int8) AS r",
        [meters, keep]
    )
    for (const row of rows) {
        const id = asBuffer(row.meter_id).toString("hex")
        out.set(id, resumeOf(id, row))
    }
    return out
}

/** A bytea array element as a Buffer (pg parses them to Buffers; PGlite may give Uint8Array or hex text). */
function asBuffer(x: Uint8Array | string): Buffer {
    if (typeof x === "string") return Buffer.from(x.startsWith("\\x") ? x.slice(2) : x, "hex")
    return Buffer.isBuffer(x) ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength)
}

/** Stored records of `meterId` from `fromSeq` on, oldest first, at most `limit`. */
export async function readRecords(q: Sql, meterId: string, fromSeq = 0, limit = 10_000): Promise<StoredRecord[]> {
    const rows = await q.query<{ seq: number; data: Buffer }>("SELECT seq, data FROM records WHERE meter_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3", [meterBytes(meterId), fromSeq, limit])
    return rows.map(r => ({ seq: r.seq, data: r.data }))
}

/** Evidence recorded against `meterId`, oldest first. */
export async function readCloneEvidence(q: Sql, meterId: string): Promise<(CloneEvidence & { detectedAt: Date })[]> {
    const rows = await q.query<{ kind: CloneKind; at_seq: number | null; stored: Buffer | null; offered: Buffer | null; detail: string; detected_at: Date }>(
        "SELECT kind, at_seq, stored, offered, detail, detected_at FROM clone_evidence WHERE meter_id = $1 ORDER BY id",
        [meterBytes(meterId)]
    )
    return rows.map(r => ({ meterId: meterId.toLowerCase(), kind: r.kind, atSeq: r.at_seq ?? undefined, stored: r.stored ?? undefined, offered: r.offered ?? undefined, detail: r.detail, detectedAt: r.detected_at }))
}

/** Alerts `meterId` reported, oldest frame first. */
export async function readMeterAlerts(q: Sql, meterId: string): Promise<{ epoch: number; counter: number; kind: number; count: number; receivedAt: Date }[]> {
    const rows = await q.query<{ epoch: number; counter: number; kind: number; count: number; received_at: Date }>(
        "SELECT epoch, counter, kind, count, received_at FROM meter_alerts WHERE meter_id = $1 ORDER BY epoch, counter, kind",
        [meterBytes(meterId)]
    )
    return rows.map(r => ({ epoch: r.epoch, counter: r.counter, kind: r.kind, count: r.count, receivedAt: r.received_at }))
}
