/**
 * What ingestion keeps per meter, in the database (docs/headend-storage.md): accepted
 * uplink frames (the replay window that survives restarts), records stored once per
 * (meter, seq), aggregates, registers, checkpoints, meter alerts, command responses and
 * clone evidence.
 *
 * The unit of writing is a frame's worth of state change (`FrameChange`), and many of
 * them go in one transaction (`commitFrames`): a batch costs a few statements whatever its
 * size (multi-row `unnest` inserts), which is what keeps the head-end's frame rate with
 * the database in the path. Ingestion decides in memory, then commits a batch, then sends
 * the batch's acks: an ack never names a record that a crash could still lose.
 *
 * Everything here is idempotent: committing a batch again (a retry after a lost
 * connection) changes nothing. A frame is applied once, keyed by the nonce it was opened
 * under (meter, epoch, counter); a record once per (meter, seq). The same key with other
 * bytes is never written over: it is clone evidence, recorded and returned.
 */
import { Database, Sql } from "./adapter.ts"
import { bytes, meterBytes, storeRecord, u32 } from "./values.ts"

/** How many of the newest accepted frames' tags tell a replay from a clone (as headend/src/ingest.ts). */
export const REPLAY_WINDOW = 256

export interface StoredRecord {
    seq: number
    /** the exact bytes of the meter's store record */
    data: Buffer
}

export type CloneKind = "counter-regression" | "forked-chain" | "checkpoint-mismatch"

/** Why the head-end thinks a second device uses this meter's identity. */
export interface CloneEvidence {
    meterId: string
    kind: CloneKind
    /** the frame counter, record seq, aggregate last seq or checkpoint seq in question */
    atSeq?: number
    /** what the head-end held, and what arrived */
    stored?: Buffer
    offered?: Buffer
    detail: string
}

/** A privacy aggregate as the frame carried it (src/wire/report.ts `Aggregate`). */
export interface Aggregate {
    firstSeq: number
    lastSeq: number
    importWh: number
    exportWh: number
}

/** A meter alert as the frame carried it (src/wire/report.ts `AlertCount`). */
export interface AlertCount {
    kind: number
    count: number
}

/**
 * A command response as the meter sent it, with the fields of its acknowledgement when
 * the caller decoded one (docs/commands.md): they link it to the command log.
 */
export interface CommandResponse {
    body: Buffer
    verdict?: number
    opcode?: number
    signerKeyId?: number
    /** the envelope's u64 counter */
    counter?: bigint
    detail?: number
}

/** One authenticated frame's worth of state change, as ingestion decided it. */
export interface FrameChange {
    /** 16 hex digits */
    meterId: string
    epoch: number
    /** the frame counter (the nonce): ≥ 1 */
    counter: number
    /** the frame's 16-byte CCM tag, its fingerprint under this (key, nonce) */
    tag: Buffer
    registers?: Buffer
    /** only an explicit checkpoint (flag 0x02); one that is the last record is that record */
    checkpoint?: { seq: number; hash: Buffer }
    /** rebuilt and verified records, new or resent */
    records?: StoredRecord[]
    aggregates?: Aggregate[]
    alerts?: AlertCount[]
    /** command responses, in the frame's order */
    responses?: CommandResponse[]
    /** evidence ingestion found itself (recorded even when the frame was applied before) */
    evidence?: CloneEvidence[]
}

export interface FrameOutcome {
    /** false when this (meter, epoch, counter) was committed before: nothing applied again */
    applied: boolean
    /** records (and aggregates) stored by this commit */
    stored: number
    /** records (and aggregates) already held with the same bytes */
    duplicates: number
    /** what the database found: a used counter with another tag, a held seq with other bytes */
    evidence: CloneEvidence[]
}

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

/** Commits the state change of many frames in one transaction; one outcome per frame, in order. */
export async function commitFrames(db: Database, frames: readonly FrameChange[]): Promise<FrameOutcome[]> {
    if (!frames.length) return []
    return db.transaction(tx => applyFrames(tx, frames))
}

/** `commitFrames` for one frame. */
export async function commitFrame(db: Database, frame: FrameChange): Promise<FrameOutcome> {
    return (await commitFrames(db, [frame]))[0]
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

/** `commitFrames` inside the caller's transaction. */
export async function applyFrames(tx: Sql, frames: readonly FrameChange[]): Promise<FrameOutcome[]> {
    const fs = frames.map(checkFrame)
    const out: FrameOutcome[] = fs.map(() => ({ applied: false, stored: 0, duplicates: 0, evidence: [] }))
    const found: CloneEvidence[] = []
    const evidence = (i: number, e: CloneEvidence) => {
        out[i].evidence.push(e)
        found.push(e)
    }

    // 1. the frames: a (meter, epoch, counter) is applied once; a second tag under it is a clone
    const first = new Map<string, number>()
    const candidates: number[] = []
    fs.forEach((f, i) => {
        const j = first.get(f.key)
        if (j === undefined) {
            first.set(f.key, i)
            candidates.push(i)
        } else if (!fs[j].tag.equals(f.tag)) evidence(i, counterReused(f, fs[j].tag))
    })
    candidates.sort((a, b) => compareKeys(fs[a], fs[b])) // one lock order for concurrent writers
    const c = candidates.map(i => fs[i])
    const inserted = await tx.query<{ meter_id: Buffer; epoch: number; counter: number }>(
        `INSERT INTO uplink_frames (meter_id, epoch, counter, tag, registers, checkpoint_seq, checkpoint_hash)
         SELECT * FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::bytea[], $5::bytea[], $6::int8[], $7::bytea[])
         ON CONFLICT DO NOTHING RETURNING meter_id, epoch, counter`,
        [c.map(f => f.meter), c.map(f => f.epoch), c.map(f => f.counter), c.map(f => f.tag), c.map(f => f.registers ?? null), c.map(f => f.checkpoint?.seq ?? null), c.map(f => f.checkpoint?.hash ?? null)]
    )
    const isNew = new Set(inserted.map(r => frameKey(r.meter_id.toString("hex"), r.epoch, r.counter)))
    const held = candidates.filter(i => !isNew.has(fs[i].key))
    if (held.length) {
        const h = held.map(i => fs[i])
        const rows = await tx.query<{ meter_id: Buffer; epoch: number; counter: number; tag: Buffer }>(
            `SELECT f.meter_id, f.epoch, f.counter, f.tag FROM uplink_frames f
             JOIN unnest($1::bytea[], $2::int8[], $3::int8[]) AS u(m, e, c) ON f.meter_id = u.m AND f.epoch = u.e AND f.counter = u.c`,
            [h.map(f => f.meter), h.map(f => f.epoch), h.map(f => f.counter)]
        )
        const tags = new Map(rows.map(r => [frameKey(r.meter_id.toString("hex"), r.epoch, r.counter), r.tag]))
        for (const i of held) {
            const tag = tags.get(fs[i].key)
            if (tag && !tag.equals(fs[i].tag)) evidence(i, counterReused(fs[i], tag))
        }
    }
    const applied = candidates.filter(i => isNew.has(fs[i].key)).sort((a, b) => a - b)
    for (const i of applied) out[i].applied = true

    // 2. what the applied frames carry
    await storeRecordRows(tx, applied.flatMap(i => fs[i].records.map(r => ({ ...r, owner: i, meterId: fs[i].meterId, meter: fs[i].meter }))), out, evidence)
    await storeAggregates(tx, applied, fs, out, evidence)
    await storeAlertsAndResponses(tx, applied.map(i => fs[i]))

    // 3. evidence: found here, and what ingestion passed in
    await recordCloneEvidence(tx, [...found, ...fs.flatMap(f => f.evidence)])
    return out
}

/** Stores records of one meter outside a frame (imports, tests); same rules as in a frame. */
export async function storeRecords(q: Sql, meterId: string, records: readonly StoredRecord[]): Promise<FrameOutcome> {
    const meter = meterBytes(meterId)
    const id = meter.toString("hex")
    const out: FrameOutcome[] = [{ applied: true, stored: 0, duplicates: 0, evidence: [] }]
    const found: CloneEvidence[] = []
    const rows = records.map(r => ({ seq: r.seq, data: storeRecord(r.seq, r.data), owner: 0, meterId: id, meter }))
    await storeRecordRows(q, rows, out, (_, e) => {
        out[0].evidence.push(e)
        found.push(e)
    })
    await recordCloneEvidence(q, found)
    return out[0]
}

/** Records evidence once per (meter, kind, place, offered bytes): repeating it is a no-op. */
export async function recordCloneEvidence(q: Sql, evidence: readonly CloneEvidence[]): Promise<void> {
    if (!evidence.length) return
    const e = evidence.map(x => ({ ...x, meter: meterBytes(x.meterId) }))
    await q.query(
        `INSERT INTO clone_evidence (meter_id, kind, at_seq, stored, offered, detail)
         SELECT * FROM unnest($1::bytea[], $2::text[], $3::int8[], $4::bytea[], $5::bytea[], $6::text[])
         ON CONFLICT DO NOTHING`,
        [e.map(x => x.meter), e.map(x => x.kind), e.map(x => x.atSeq ?? null), e.map(x => x.stored ?? null), e.map(x => x.offered ?? null), e.map(x => x.detail)]
    )
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

// ---------------------------------------------------------------------------------------

interface CheckedFrame {
    meterId: string
    meter: Buffer
    key: string
    epoch: number
    counter: number
    tag: Buffer
    registers?: Buffer
    checkpoint?: { seq: number; hash: Buffer }
    records: StoredRecord[]
    aggregates: Aggregate[]
    alerts: AlertCount[]
    responses: CommandResponse[]
    evidence: CloneEvidence[]
}

function checkFrame(f: FrameChange): CheckedFrame {
    const meter = meterBytes(f.meterId)
    const meterId = meter.toString("hex")
    u32("epoch", f.epoch)
    u32("frame counter", f.counter, 1)
    bytes("frame tag", f.tag, 16)
    if (f.registers) bytes("registers", f.registers, 0, 64)
    if (f.checkpoint) {
        u32("checkpoint seq", f.checkpoint.seq)
        bytes("checkpoint hash", f.checkpoint.hash, 32)
    }
    const records = f.records ?? []
    for (const r of records) storeRecord(r.seq, r.data)
    for (const g of f.aggregates ?? []) {
        u32("aggregate last seq", g.lastSeq)
        u32("aggregate first seq", g.firstSeq)
        u32("aggregate import Wh", g.importWh)
        u32("aggregate export Wh", g.exportWh)
        if (g.firstSeq > g.lastSeq) throw new RangeError(`aggregate ${g.firstSeq}..${g.lastSeq} is backwards`)
    }
    for (const a of f.alerts ?? []) if (!Number.isInteger(a.kind) || a.kind < 0 || a.kind > 255 || !Number.isInteger(a.count) || a.count < 0 || a.count > 0xffff) throw new RangeError("alert kind is a u8 and count a u16")
    const responses = f.responses ?? []
    if (responses.length > 255) throw new RangeError("at most 255 responses a frame")
    for (const r of responses) {
        bytes("response", r.body, 0, 256)
        for (const [k, v] of [["verdict", r.verdict], ["opcode", r.opcode], ["signer key id", r.signerKeyId]] as const) {
            if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 255)) throw new RangeError(`response ${k} is a u8`)
        }
        if (r.counter !== undefined && (typeof r.counter !== "bigint" || r.counter < 0n || r.counter >= 2n ** 64n)) throw new RangeError("response counter is a u64")
        if (r.detail !== undefined) u32("response detail", r.detail)
    }
    return {
        meterId,
        meter,
        key: frameKey(meterId, f.epoch, f.counter),
        epoch: f.epoch,
        counter: f.counter,
        tag: f.tag,
        registers: f.registers,
        checkpoint: f.checkpoint,
        records,
        aggregates: f.aggregates ?? [],
        alerts: f.alerts ?? [],
        responses,
        evidence: (f.evidence ?? []).map(e => ({ ...e, meterId: meterBytes(e.meterId).toString("hex") })),
    }
}

const frameKey = (meterId: string, epoch: number, counter: number) => `${meterId}:${epoch}:${counter}`
const seqKey = (meterId: string, seq: number) => `${meterId}:${seq}`

function compareKeys(a: CheckedFrame, b: CheckedFrame): number {
    return a.meterId < b.meterId ? -1 : a.meterId > b.meterId ? 1 : a.epoch - b.epoch || a.counter - b.counter
}

function counterReused(f: CheckedFrame, heldTag: Buffer): CloneEvidence {
    return { meterId: f.meterId, kind: "counter-regression", atSeq: f.counter, stored: heldTag, offered: f.tag, detail: `frame counter ${f.counter} of epoch ${f.epoch} reused by another frame` }
}

type RecordRow = StoredRecord & { owner: number; meterId: string; meter: Buffer }

/** Inserts records once per (meter, seq); a held seq with other bytes is evidence against its owner frame. */
async function storeRecordRows(q: Sql, rows: RecordRow[], out: FrameOutcome[], evidence: (owner: number, e: CloneEvidence) => void) {
    await insertOnce(
        rows.map(r => ({ ...r, key: seqKey(r.meterId, r.seq), value: r.data })),
        async fresh => {
            const inserted = await q.query<{ meter_id: Buffer; seq: number }>(
                `INSERT INTO records (meter_id, seq, data) SELECT * FROM unnest($1::bytea[], $2::int8[], $3::bytea[])
                 ON CONFLICT DO NOTHING RETURNING meter_id, seq`,
                [fresh.map(r => r.meter), fresh.map(r => r.seq), fresh.map(r => r.data)]
            )
            return new Set(inserted.map(r => seqKey(r.meter_id.toString("hex"), r.seq)))
        },
        async held => {
            const stored = await q.query<{ meter_id: Buffer; seq: number; data: Buffer }>(
                `SELECT r.meter_id, r.seq, r.data FROM records r
                 JOIN unnest($1::bytea[], $2::int8[]) AS u(m, s) ON r.meter_id = u.m AND r.seq = u.s`,
                [held.map(r => r.meter), held.map(r => r.seq)]
            )
            return new Map(stored.map(r => [seqKey(r.meter_id.toString("hex"), r.seq), r.data]))
        },
        out,
        (r, have) => evidence(r.owner, { meterId: r.meterId, kind: "forked-chain", atSeq: r.seq, stored: have, offered: r.data, detail: `record ${r.seq} differs from the stored one` })
    )
}

async function storeAggregates(q: Sql, applied: number[], fs: CheckedFrame[], out: FrameOutcome[], evidence: (owner: number, e: CloneEvidence) => void) {
    const rows = applied.flatMap(i => fs[i].aggregates.map(g => ({ g, owner: i, f: fs[i], key: seqKey(fs[i].meterId, g.lastSeq), value: aggregateBytes(g) })))
    await insertOnce(
        rows,
        async fresh => {
            const inserted = await q.query<{ meter_id: Buffer; last_seq: number }>(
                `INSERT INTO aggregates (meter_id, last_seq, first_seq, import_wh, export_wh)
                 SELECT * FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::int8[], $5::int8[])
                 ON CONFLICT DO NOTHING RETURNING meter_id, last_seq`,
                [fresh.map(r => r.f.meter), fresh.map(r => r.g.lastSeq), fresh.map(r => r.g.firstSeq), fresh.map(r => r.g.importWh), fresh.map(r => r.g.exportWh)]
            )
            return new Set(inserted.map(r => seqKey(r.meter_id.toString("hex"), r.last_seq)))
        },
        async held => {
            const stored = await q.query<{ meter_id: Buffer; last_seq: number; first_seq: number; import_wh: number; export_wh: number }>(
                `SELECT a.meter_id, a.last_seq, a.first_seq, a.import_wh, a.export_wh FROM aggregates a
                 JOIN unnest($1::bytea[], $2::int8[]) AS u(m, s) ON a.meter_id = u.m AND a.last_seq = u.s`,
                [held.map(r => r.f.meter), held.map(r => r.g.lastSeq)]
            )
            return new Map(stored.map(s => [seqKey(s.meter_id.toString("hex"), s.last_seq), aggregateBytes({ firstSeq: s.first_seq, lastSeq: s.last_seq, importWh: s.import_wh, exportWh: s.export_wh })]))
        },
        out,
        (r, have) => evidence(r.owner, { meterId: r.f.meterId, kind: "forked-chain", atSeq: r.g.lastSeq, stored: have, offered: r.value, detail: `aggregate up to ${r.g.lastSeq} differs from the stored one` })
    )
}

/** The 16-byte form of an aggregate, compared and kept as evidence: first seq, last seq, import Wh, export Wh (u32 BE). */
function aggregateBytes(g: Aggregate): Buffer {
    const b = Buffer.alloc(16)
    b.writeUInt32BE(g.firstSeq, 0)
    b.writeUInt32BE(g.lastSeq, 4)
    b.writeUInt32BE(g.importWh, 8)
    b.writeUInt32BE(g.exportWh, 12)
    return b
}

interface OnceRow {
    key: string
    /** the frame the row came from */
    owner: number
    /** what must be equal for a second copy to be a duplicate */
    value: Buffer
}

/**
 * The insert-once rule shared by records and aggregates: the first copy of a key in the
 * batch is inserted unless the table holds it; every other copy, in the batch or held,
 * is a duplicate when its value equals the reference (what was inserted, or what was
 * held) and clone evidence otherwise. Nothing is ever written over.
 */
async function insertOnce<R extends OnceRow>(
    rows: R[],
    insert: (fresh: R[]) => Promise<Set<string>>,
    fetch: (held: R[]) => Promise<Map<string, Buffer>>,
    out: FrameOutcome[],
    clash: (r: R, have: Buffer) => void
) {
    if (!rows.length) return
    const first = new Map<string, R>()
    for (const r of rows) if (!first.has(r.key)) first.set(r.key, r)
    // one lock order for concurrent writers: by key
    const fresh = [...first.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    const isNew = await insert(fresh)
    const held = fresh.filter(r => !isNew.has(r.key))
    // a separate statement, so it sees a row a concurrent writer committed while our insert waited
    const have = held.length ? await fetch(held) : new Map<string, Buffer>()
    for (const r of rows) {
        if (isNew.has(r.key) && first.get(r.key) === r) out[r.owner].stored++
        else {
            const ref = isNew.has(r.key) ? first.get(r.key)!.value : have.get(r.key)!
            if (ref.equals(r.value)) out[r.owner].duplicates++
            else clash(r, ref)
        }
    }
}

async function storeAlertsAndResponses(q: Sql, fs: CheckedFrame[]) {
    const alerts = fs.flatMap(f => {
        // one row per kind and frame: repeated kinds in one frame add up
        const sum = new Map<number, number>()
        for (const a of f.alerts) sum.set(a.kind, Math.min(0xffff, (sum.get(a.kind) ?? 0) + a.count))
        return [...sum].map(([kind, count]) => ({ f, kind, count }))
    })
    if (alerts.length) {
        await q.query(
            `INSERT INTO meter_alerts (meter_id, epoch, counter, kind, count)
             SELECT * FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::int2[], $5::int4[]) ON CONFLICT DO NOTHING`,
            [alerts.map(a => a.f.meter), alerts.map(a => a.f.epoch), alerts.map(a => a.f.counter), alerts.map(a => a.kind), alerts.map(a => a.count)]
        )
    }
    const responses = fs.flatMap(f => f.responses.map((r, idx) => ({ f, idx, r })))
    if (responses.length) {
        await q.query(
            `INSERT INTO command_responses (meter_id, epoch, counter, idx, body, verdict, opcode, signer_key_id, command_counter, detail)
             SELECT * FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::int2[], $5::bytea[], $6::int2[], $7::int2[], $8::int2[], $9::numeric[], $10::int8[])
             ON CONFLICT DO NOTHING`,
            [
                responses.map(r => r.f.meter),
                responses.map(r => r.f.epoch),
                responses.map(r => r.f.counter),
                responses.map(x => x.idx),
                responses.map(x => x.r.body),
                responses.map(x => x.r.verdict ?? null),
                responses.map(x => x.r.opcode ?? null),
                responses.map(x => x.r.signerKeyId ?? null),
                responses.map(x => (x.r.counter === undefined ? null : x.r.counter.toString())),
                responses.map(x => x.r.detail ?? null),
            ]
        )
    }
}
