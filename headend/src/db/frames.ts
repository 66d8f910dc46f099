/**
 * Writing what ingestion keeps per meter (docs/headend-storage.md): accepted uplink
 * frames (the replay window that survives restarts, with registers and checkpoints),
 * records stored once per (meter, seq), aggregates, meter alerts, command responses and
 * clone evidence. Reading it back: meter_state.ts.
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
import { copyRows, intArray, packFixed, packVar } from "./params.ts"
import { bytes, meterBytes, storeRecord, u32 } from "./values.ts"

export interface StoredRecord {
    seq: number
    /** the exact bytes of the meter's store record */
    data: Buffer
}

/** migrations 001 and 002 (the clone_evidence CHECK) */
export type CloneKind = "counter-regression" | "forked-chain" | "checkpoint-mismatch" | "counter-jump" | "checkpoint-rollback"

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

/** A privacy aggregate and a meter alert as the frame carried them: the wire core's types. */
export type { Aggregate, AlertCount } from "../../../src/wire/report"
import type { Aggregate, AlertCount } from "../../../src/wire/report"

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

/** Commits the state change of many frames in one transaction; one outcome per frame, in order. */
export async function commitFrames(db: Database, frames: readonly FrameChange[]): Promise<FrameOutcome[]> {
    if (!frames.length) return []
    return (await commitFramesWith(db, frames, async () => undefined))[0]
}

/**
 * `applyFrames` and then `also` in one transaction, tried first with plain inserts
 * (`plain: true`) and, when one of them meets a key the database holds (unique violation:
 * the transaction is rolled back and nothing of it happened), again with the insert-once
 * path. Same outcome either way; the plain path is the usual one (nothing held: every
 * frame is new) and costs PostgreSQL about half the CPU of `ON CONFLICT DO NOTHING` per row
 * (measured, docs/headend-storage.md).
 */
export async function commitFramesWith<T>(
    db: Database,
    frames: readonly FrameChange[],
    also: (tx: Sql, out: FrameOutcome[]) => Promise<T>,
    o: { plain?: boolean; onConflict?: () => void } = {}
): Promise<[FrameOutcome[], T]> {
    const run = (plain: boolean) =>
        db.transaction(async tx => {
            const out = await applyFrames(tx, frames, { plain })
            return [out, await also(tx, out)] as [FrameOutcome[], T]
        })
    if (o.plain !== false) {
        try {
            return await run(true)
        } catch (e) {
            if (!isUniqueViolation(e)) throw e
            o.onConflict?.()
        }
    }
    return run(false)
}

/** SQLSTATE 23505 (unique_violation) from either backend: a plain insert met a held key. */
export function isUniqueViolation(e: unknown): boolean {
    return typeof e === "object" && e !== null && (e as { code?: unknown }).code === "23505"
}

/** `commitFrames` for one frame. */
export async function commitFrame(db: Database, frame: FrameChange): Promise<FrameOutcome> {
    return (await commitFrames(db, [frame]))[0]
}

/**
 * `commitFrames` inside the caller's transaction. With `plain`, frames, records and
 * aggregates go in with plain inserts: a key the database already holds then fails the
 * statement with a unique violation (SQLSTATE 23505, `isUniqueViolation`) and the caller's
 * transaction must be rolled back and run again without `plain` (`commitFramesWith`).
 */
export async function applyFrames(tx: Sql, frames: readonly FrameChange[], o: { plain?: boolean } = {}): Promise<FrameOutcome[]> {
    const conflict = o.plain ? "" : " ON CONFLICT DO NOTHING"
    const fs = frames.map(checkFrame)
    const out: FrameOutcome[] = fs.map(() => ({ applied: false, stored: 0, duplicates: 0, evidence: [] }))
    const found: CloneEvidence[] = []
    const evidence = (i: number, e: CloneEvidence) => {
        out[i].evidence.push(e)
        found.push(e)
    }

    // 1. the frames: a (meter, epoch, counter) is applied once; another tag under it is a clone
    const f = await insertOnce(
        fs.map((x, i) => ({ owner: i, x, value: x.tag })),
        (a, b) => compareIds(a.x.meterId, b.x.meterId) || a.x.epoch - b.x.epoch || a.x.counter - b.x.counter,
        fresh => {
            // plain on the server: COPY, the cheapest insert there is (docs/headend-storage.md §8)
            if (o.plain && tx.copyBinary)
                return tx.copyBinary(
                    "uplink_frames",
                    ["meter_id", "epoch", "counter", "tag", "registers", "checkpoint_seq", "checkpoint_hash"],
                    copyRows(fresh, 7, (r, f) => {
                        f[0] = r.x.meter
                        f[1] = r.x.epoch
                        f[2] = r.x.counter
                        f[3] = r.x.tag
                        f[4] = r.x.registers
                        f[5] = r.x.checkpoint?.seq
                        f[6] = r.x.checkpoint?.hash
                    })
                )
            const regs = packVar(fresh.map(r => r.x.registers))
            return tx.command(
                `INSERT INTO uplink_frames (meter_id, epoch, counter, tag, registers, checkpoint_seq, checkpoint_hash)
                 SELECT substring($1::bytea from (i::int - 1) * 8 + 1 for 8), e, c, substring($4::bytea from (i::int - 1) * 16 + 1 for 16),
                        CASE WHEN rl >= 0 THEN substring($5::bytea from ro for rl) END, cs, ch
                 FROM unnest($2::int8[], $3::int8[], $6::int4[], $7::int4[], $8::int8[], $9::bytea[]) WITH ORDINALITY AS u(e, c, ro, rl, cs, ch, i)
                 ORDER BY i${conflict}`,
                [
                    packFixed(fresh.map(r => r.x.meter), 8),
                    intArray(fresh.map(r => r.x.epoch)),
                    intArray(fresh.map(r => r.x.counter)),
                    packFixed(fresh.map(r => r.x.tag), 16),
                    regs.blob,
                    regs.offsets,
                    regs.lengths,
                    intArray(fresh.map(r => r.x.checkpoint?.seq)),
                    fresh.map(r => r.x.checkpoint?.hash ?? null),
                ]
            )
        },
        fresh =>
            tx.query<{ i: number; v: Buffer; mine: boolean }>(
                `SELECT u.i, f.tag AS v, ${MINE("f")} FROM unnest($1::bytea[], $2::int8[], $3::int8[]) WITH ORDINALITY AS u(m, e, c, i)
                 JOIN uplink_frames f ON f.meter_id = u.m AND f.epoch = u.e AND f.counter = u.c`,
                [fresh.map(r => r.x.meter), fresh.map(r => r.x.epoch), fresh.map(r => r.x.counter)]
            )
    )
    for (const [r, have] of f.clashes) evidence(r.owner, counterReused(r.x, have))
    const applied = f.inserted.map(r => r.owner).sort((a, b) => a - b)
    for (const i of applied) out[i].applied = true

    // 2. what the applied frames carry
    await storeRecordRows(tx, applied, fs, out, evidence, conflict)
    await storeAggregates(tx, applied, fs, out, evidence, conflict)
    await storeAlertsAndResponses(tx, applied.map(i => fs[i]))

    // 3. evidence: found here, and what ingestion passed in
    const passed = fs.flatMap(x => (x.evidence.length ? x.evidence : NONE))
    await recordCloneEvidence(tx, passed.length ? [...found, ...passed] : found)
    return out
}

/** Stores records of one meter outside a frame (imports, tests); same rules as in a frame; in a transaction of its own when given the database. */
export async function storeRecords(q: Sql | Database, meterId: string, records: readonly StoredRecord[]): Promise<FrameOutcome> {
    if ("transaction" in q) return q.transaction(tx => storeRecords(tx, meterId, records))
    // checked as the records of a frame, the one way they are checked
    const x = checkFrame({ meterId, epoch: 0, counter: 1, tag: Buffer.alloc(16), records: [...records] })
    const out: FrameOutcome[] = [{ applied: true, stored: 0, duplicates: 0, evidence: [] }]
    const found: CloneEvidence[] = []
    await storeRecordRows(q, [0], [x], out, (_, e) => {
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

// ---------------------------------------------------------------------------------------

interface CheckedFrame {
    meterId: string
    meter: Buffer
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

const NONE: never[] = []

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
    const records = f.records ?? NONE
    for (const r of records) storeRecord(r.seq, r.data)
    for (const g of f.aggregates ?? []) {
        u32("aggregate last seq", g.lastSeq)
        u32("aggregate first seq", g.firstSeq)
        u32("aggregate import Wh", g.importWh)
        u32("aggregate export Wh", g.exportWh)
        if (g.firstSeq > g.lastSeq) throw new RangeError(`aggregate ${g.firstSeq}..${g.lastSeq} is backwards`)
    }
    for (const a of f.alerts ?? []) if (!Number.isInteger(a.kind) || a.kind < 0 || a.kind > 255 || !Number.isInteger(a.count) || a.count < 0 || a.count > 0xffff) throw new RangeError("alert kind is a u8 and count a u16")
    const responses = f.responses ?? NONE
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
        epoch: f.epoch,
        counter: f.counter,
        tag: f.tag,
        registers: f.registers,
        checkpoint: f.checkpoint,
        records,
        aggregates: f.aggregates ?? NONE,
        alerts: f.alerts ?? NONE,
        responses,
        evidence: f.evidence ? f.evidence.map(e => ({ ...e, meterId: meterBytes(e.meterId).toString("hex") })) : NONE,
    }
}

/** Orders meter ids (16 lower-case hex digits): as the bytes, so as the primary keys. */
const compareIds = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

function counterReused(f: CheckedFrame, heldTag: Buffer): CloneEvidence {
    return { meterId: f.meterId, kind: "counter-regression", atSeq: f.counter, stored: heldTag, offered: f.tag, detail: `frame counter ${f.counter} of epoch ${f.epoch} reused by another frame` }
}

/** Inserts the records of the applied frames once per (meter, seq); a held seq with other bytes is evidence against its frame. */
async function storeRecordRows(q: Sql, applied: number[], fs: CheckedFrame[], out: FrameOutcome[], evidence: (owner: number, e: CloneEvidence) => void, conflict = " ON CONFLICT DO NOTHING") {
    const rows: { owner: number; x: CheckedFrame; seq: number; value: Buffer }[] = []
    for (const i of applied) for (const r of fs[i].records) rows.push({ owner: i, x: fs[i], seq: r.seq, value: r.data })
    const res = await insertOnce(
        rows,
        (a, b) => compareIds(a.x.meterId, b.x.meterId) || a.seq - b.seq,
        fresh => {
            if (conflict === "" && q.copyBinary)
                return q.copyBinary(
                    "records",
                    ["meter_id", "seq", "data"],
                    copyRows(fresh, 3, (r, f) => {
                        f[0] = r.x.meter
                        f[1] = r.seq
                        f[2] = r.value
                    })
                )
            const data = packVar(fresh.map(r => r.value))
            return q.command(
                `INSERT INTO records (meter_id, seq, data)
                 SELECT substring($1::bytea from (i::int - 1) * 8 + 1 for 8), s, substring($3::bytea from o for l)
                 FROM unnest($2::int8[], $4::int4[], $5::int4[]) WITH ORDINALITY AS u(s, o, l, i)
                 ORDER BY i${conflict}`,
                [packFixed(fresh.map(r => r.x.meter), 8), intArray(fresh.map(r => r.seq)), data.blob, data.offsets, data.lengths]
            )
        },
        fresh =>
            q.query<{ i: number; v: Buffer; mine: boolean }>(
                `SELECT u.i, r.data AS v, ${MINE("r")} FROM unnest($1::bytea[], $2::int8[]) WITH ORDINALITY AS u(m, s, i)
                 JOIN records r ON r.meter_id = u.m AND r.seq = u.s`,
                [fresh.map(r => r.x.meter), fresh.map(r => r.seq)]
            )
    )
    for (const r of res.inserted) out[r.owner].stored++
    for (const r of res.duplicates) out[r.owner].duplicates++
    for (const [r, have] of res.clashes) {
        evidence(r.owner, { meterId: r.x.meterId, kind: "forked-chain", atSeq: r.seq, stored: have, offered: r.value, detail: `record ${r.seq} differs from the stored one` })
    }
}

async function storeAggregates(q: Sql, applied: number[], fs: CheckedFrame[], out: FrameOutcome[], evidence: (owner: number, e: CloneEvidence) => void, conflict = " ON CONFLICT DO NOTHING") {
    const rows: { owner: number; x: CheckedFrame; g: Aggregate; value: Buffer }[] = []
    for (const i of applied) for (const g of fs[i].aggregates) rows.push({ owner: i, x: fs[i], g, value: aggregateBytes(g) })
    if (!rows.length) return
    const res = await insertOnce(
        rows,
        (a, b) => compareIds(a.x.meterId, b.x.meterId) || a.g.lastSeq - b.g.lastSeq,
        fresh =>
            q.command(
                `INSERT INTO aggregates (meter_id, last_seq, first_seq, import_wh, export_wh)
                 SELECT m, l, f, im, ex FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::int8[], $5::int8[]) WITH ORDINALITY AS u(m, l, f, im, ex, i)
                 ORDER BY i${conflict}`,
                [fresh.map(r => r.x.meter), fresh.map(r => r.g.lastSeq), fresh.map(r => r.g.firstSeq), fresh.map(r => r.g.importWh), fresh.map(r => r.g.exportWh)]
            ),
        async fresh =>
            (
                await q.query<{ i: number; f: number; l: number; im: number; ex: number; mine: boolean }>(
                    `SELECT u.i, a.first_seq AS f, a.last_seq AS l, a.import_wh AS im, a.export_wh AS ex, ${MINE("a")}
                     FROM unnest($1::bytea[], $2::int8[]) WITH ORDINALITY AS u(m, s, i) JOIN aggregates a ON a.meter_id = u.m AND a.last_seq = u.s`,
                    [fresh.map(r => r.x.meter), fresh.map(r => r.g.lastSeq)]
                )
            ).map(r => ({ i: r.i, mine: r.mine, v: aggregateBytes({ firstSeq: r.f, lastSeq: r.l, importWh: r.im, exportWh: r.ex }) }))
    )
    for (const r of res.inserted) out[r.owner].stored++
    for (const r of res.duplicates) out[r.owner].duplicates++
    for (const [r, have] of res.clashes) {
        evidence(r.owner, { meterId: r.x.meterId, kind: "forked-chain", atSeq: r.g.lastSeq, stored: have, offered: r.value, detail: `aggregate up to ${r.g.lastSeq} differs from the stored one` })
    }
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
    /** the frame the row came from */
    owner: number
    /** what must be equal for a second copy to be a duplicate */
    value: Buffer
}

/**
 * The insert-once rule of frames, records and aggregates: the first copy of a key in the
 * batch is inserted unless the table holds it; every other copy, in the batch or held,
 * is a duplicate when its value equals the reference (what was inserted, or what was
 * held) and a clash otherwise. Nothing is ever written over.
 *
 * `insert` gets the first copies in key order (one lock order for concurrent writers) and
 * returns how many rows it inserted: usually all of them, and then a batch costs one
 * plain multi-row INSERT, no rows back (measured: returning the held ordinals through a
 * CTE and an anti-join cost as much as the insert itself on PGlite). When some were held,
 * `fetch` returns, by ordinal, every first copy's row with `mine` (inserted by this
 * transaction, `MINE`) and otherwise the held value, in a statement of its own, so it sees
 * a row a concurrent writer committed while our insert waited for it.
 */
async function insertOnce<R extends OnceRow>(
    rows: R[],
    compare: (a: R, b: R) => number,
    insert: (fresh: R[]) => Promise<number>,
    fetch: (fresh: R[]) => Promise<{ i: number; v: Buffer; mine: boolean }[]>
): Promise<{ inserted: R[]; duplicates: R[]; clashes: [R, Buffer][] }> {
    const res = { inserted: [] as R[], duplicates: [] as R[], clashes: [] as [R, Buffer][] }
    if (!rows.length) return res
    // stable: copies of one key stay in batch order, the first is the reference
    const sorted = rows.slice().sort(compare)
    const fresh: R[] = []
    const firstOf: number[] = [] // sorted index → index in fresh of its key's first copy
    for (let k = 0; k < sorted.length; k++) {
        if (k > 0 && compare(sorted[k - 1], sorted[k]) === 0) firstOf.push(firstOf[k - 1])
        else {
            firstOf.push(fresh.length)
            fresh.push(sorted[k])
        }
    }
    const count = await insert(fresh)
    const reference: (Buffer | undefined)[] = fresh.map(r => r.value) // inserted now: its own value
    const held = new Set<number>()
    if (count !== fresh.length) {
        const seen = new Set<number>()
        for (const r of await fetch(fresh)) {
            seen.add(r.i - 1)
            if (r.mine) continue
            held.add(r.i - 1)
            reference[r.i - 1] = r.v
        }
        if (seen.size !== fresh.length || fresh.length - held.size !== count) throw new Error(`insert-once: ${count} of ${fresh.length} rows inserted, but ${seen.size - held.size} found as ours and ${held.size} held`)
    }
    for (let k = 0; k < sorted.length; k++) {
        const j = firstOf[k]
        const r = sorted[k]
        if (fresh[j] === r && !held.has(j)) res.inserted.push(r)
        else if (reference[j]!.equals(r.value)) res.duplicates.push(r)
        else res.clashes.push([r, reference[j]!])
    }
    return res
}

/**
 * `mine`: the row was inserted by this transaction (its xmin is our transaction id, the low
 * 32 bits of txid_current()). `applyFrames` is called once per transaction, so within it
 * that means "by this call".
 */
const MINE = (t: string) => `${t}.xmin = (txid_current() % 4294967296)::text::xid AS mine`

async function storeAlertsAndResponses(q: Sql, fs: CheckedFrame[]) {
    const alerts = fs.flatMap(f => {
        if (!f.alerts.length) return NONE
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
    const responses = fs.flatMap(f => (f.responses.length ? f.responses.map((r, idx) => ({ f, idx, r })) : NONE))
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
