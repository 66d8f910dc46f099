/**
 * Downlink frame counters, reserved in blocks that are committed before any counter of
 * them is used (docs/headend-storage.md, "The counter-block rule").
 *
 * Why: a downlink frame's CCM nonce is meter id ‖ counter ‖ 0x22 under a key fixed per
 * meter and epoch (docs/uplink.md §2). Two frames sealed under one counter reuse a
 * (key, nonce) pair, which gives away the XOR of their plaintexts and lets CBC-MAC tags
 * be forged. A head-end that counted in memory and restarted would count from its last
 * saved value (or from 1) and reuse counters; one that saved after each use could crash
 * between sending and saving. Here the database first moves `reserved_to` up by a block
 * and commits; only then does the head-end use counters of that block, in memory. After
 * any crash the next reservation starts above every block ever handed out, so the worst
 * a crash costs is the unused rest of a block. The meter needs counters to grow, not to
 * be consecutive (it keeps the highest it accepted, docs/uplink.md §5), so skipping is
 * harmless.
 *
 * The database refuses to lower `reserved_to` or delete a row (a trigger), and a row
 * lock serializes concurrent reservations of one meter (`INSERT ... ON CONFLICT DO UPDATE
 * ... RETURNING`), so two head-ends on one server get disjoint blocks.
 */
import { Database, Sql } from "./adapter.ts"
import { meterBytes, u32 } from "./values.ts"

/** Counters [first, last], both inclusive. */
export interface CounterRange {
    first: number
    last: number
}

export interface BlockRequest {
    meterId: string
    epoch: number
    /** counters to reserve, ≥ 1 */
    blockSize: number
    /**
     * start above this counter even when the database holds less: after restoring a
     * backup (whose reservations are older than counters already used) or moving from
     * the head-end that counted from a time-based floor (headend/src/station.ts)
     */
    floor?: number
}

const MAX_COUNTER = 0xffff_ffff

/**
 * Reserves `blockSize` downlink counters of `meterId` under `epoch` and commits; no later
 * call, after any crash or restart, returns any of them again. Takes a `Database`, not a
 * transaction: a reservation rolled back with a caller's transaction would be used anyway.
 * Throws RangeError when the epoch's counters would pass 2^32−1 (roll the epoch).
 */
export async function reserveDownlinkCounters(db: Database, meterId: string, epoch: number, blockSize: number, floor = 0): Promise<CounterRange> {
    return (await reserveDownlinkBlocks(db, [{ meterId, epoch, blockSize, floor }]))[0]
}

/** `reserveDownlinkCounters` for many meters in one statement (one commit); ranges in request order. */
export async function reserveDownlinkBlocks(db: Database, requests: readonly BlockRequest[]): Promise<CounterRange[]> {
    if (!requests.length) return []
    const ranges = await db.transaction(tx => reserveDownlinkBlocksIn(tx, requests))
    const bad = ranges.findIndex(r => r === undefined)
    if (bad >= 0) throw exhausted(requests.length === 1 ? requests[0] : undefined)
    return ranges as CounterRange[]
}

/**
 * `reserveDownlinkBlocks` inside the caller's transaction `tx`, in one statement: the
 * reservation commits with whatever else `tx` writes, or not at all. The caller must use
 * no counter of the ranges before `tx` has committed (the service reserves the counters of
 * a batch's acks with the batch's frames, and seals the acks after the commit), and none
 * at all when it rolled back. A request whose counters would pass 2^32−1 gets undefined
 * (roll the epoch) and reserves nothing; the others are reserved all the same.
 *
 * Rows are created and locked in (meter, epoch) order: concurrent transactions of several
 * head-ends on one server queue on a meter's row instead of deadlocking, and each then
 * reads the committed mark (INSERT … ON CONFLICT DO UPDATE takes the newest row version).
 */
export async function reserveDownlinkBlocksIn(tx: Sql, requests: readonly BlockRequest[]): Promise<(CounterRange | undefined)[]> {
    if (!requests.length) return []
    const rs = requests.map(r => {
        u32("epoch", r.epoch)
        if (!Number.isInteger(r.blockSize) || r.blockSize < 1 || r.blockSize > 1 << 24) throw new RangeError(`block size must be 1..2^24: ${r.blockSize}`)
        const floor = u32("counter floor", r.floor ?? 0)
        return { ...r, meter: meterBytes(r.meterId), floor }
    })
    // one row per (meter, epoch) per statement: ON CONFLICT DO UPDATE may not touch a row twice
    const merged = new Map<string, { meter: Buffer; epoch: number; size: number; floor: number }>()
    for (const r of rs) {
        const k = `${r.meter.toString("hex")}:${r.epoch}`
        const m = merged.get(k)
        if (m) {
            m.size += r.blockSize
            m.floor = Math.max(m.floor, r.floor)
        } else merged.set(k, { meter: r.meter, epoch: r.epoch, size: r.blockSize, floor: r.floor })
    }
    // a block that would pass 2^32−1 even on a fresh row: nothing to ask the database.
    // Sorted: concurrent transactions create and lock rows in one order (no deadlock).
    const asked = [...merged.entries()].filter(([, m]) => m.floor + m.size <= MAX_COUNTER).sort((x, y) => (x[0] < y[0] ? -1 : 1))
    const top = new Map<string, number>()
    const sizes = new Set(asked.map(e => e[1].size))
    let rows: { meter_id: Buffer; epoch: number; reserved_to: number }[] = []
    if (sizes.size === 1) {
        // one statement (the service's batches: every block the same size S): the new mark is
        // max(old mark, floor) + S = max(old + S, floor + S), and floor + S is what a fresh
        // row is inserted with; a row it would take past 2^32−1 is locked, left, not returned
        const size = asked[0][1].size
        rows = await tx.query(
            `INSERT INTO downlink_counters AS d (meter_id, epoch, reserved_to)
             SELECT m, e, t FROM unnest($1::bytea[], $2::int8[], $3::int8[]) WITH ORDINALITY AS u(m, e, t, i) ORDER BY i
             ON CONFLICT (meter_id, epoch) DO UPDATE SET reserved_to = GREATEST(d.reserved_to + $4::int8, EXCLUDED.reserved_to), updated_at = now()
                 WHERE GREATEST(d.reserved_to + $4::int8, EXCLUDED.reserved_to) <= ${MAX_COUNTER}
             RETURNING d.meter_id, d.epoch, d.reserved_to`,
            [asked.map(e => e[1].meter), asked.map(e => e[1].epoch), asked.map(e => e[1].floor + size), size]
        )
    } else if (asked.length) {
        // blocks of several sizes: the rows created, locked in order, then moved up each by its own size
        const params = [asked.map(e => e[1].meter), asked.map(e => e[1].epoch), asked.map(e => e[1].size), asked.map(e => e[1].floor)]
        await tx.query(
            `INSERT INTO downlink_counters (meter_id, epoch, reserved_to)
             SELECT m, e, 0 FROM unnest($1::bytea[], $2::int8[]) WITH ORDINALITY AS u(m, e, i) ORDER BY i ON CONFLICT DO NOTHING`,
            params.slice(0, 2)
        )
        await tx.query(
            `SELECT 1 FROM downlink_counters d JOIN unnest($1::bytea[], $2::int8[]) AS u(m, e) ON d.meter_id = u.m AND d.epoch = u.e
             ORDER BY d.meter_id, d.epoch FOR UPDATE OF d`,
            params.slice(0, 2)
        )
        rows = await tx.query(
            `UPDATE downlink_counters d SET reserved_to = GREATEST(d.reserved_to, u.f) + u.n, updated_at = now()
             FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::int8[]) AS u(m, e, n, f)
             WHERE d.meter_id = u.m AND d.epoch = u.e AND GREATEST(d.reserved_to, u.f) + u.n <= ${MAX_COUNTER}
             RETURNING d.meter_id, d.epoch, d.reserved_to`,
            params
        )
    }
    for (const r of rows) top.set(`${r.meter_id.toString("hex")}:${r.epoch}`, Number(r.reserved_to))
    // hand out each merged block to its requests, lowest counters first, in request order
    const next = new Map<string, number>()
    return rs.map(r => {
        const k = `${r.meter.toString("hex")}:${r.epoch}`
        const t = top.get(k)
        if (t === undefined) return undefined
        const m = merged.get(k)!
        const first = next.get(k) ?? t - m.size + 1
        next.set(k, first + r.blockSize)
        return { first, last: first + r.blockSize - 1 }
    })
}

function exhausted(r: BlockRequest | undefined): RangeError {
    const which = r ? `of meter ${r.meterId} epoch ${r.epoch}` : "of a meter in this batch"
    return new RangeError(`downlink counters ${which} would pass 2^32-1: roll the key epoch`)
}

export interface CounterPoolOptions {
    /** counters per reservation (default 256: a restart skips at most that many) */
    blockSize?: number
    /** the lowest counter a meter's first block may start above (BlockRequest.floor) */
    floor?: (meterId: string, epoch: number) => number
}

/**
 * Hands out downlink counters in memory from blocks already committed by
 * `reserveDownlinkBlocks`: `take` is synchronous (the hot path seals acks with it) and
 * `prepare` reserves, in one statement, a block for every meter of a batch that is
 * running out. Counters of one meter and epoch only grow: a new block starts above the
 * last, and what is left of an old one is skipped.
 */
export class DownlinkCounterPool {
    /** the block in use per meter (lower-case id) and epoch */
    private blocks = new Map<string, Map<number, { next: number; last: number }>>()
    private pending = new Map<string, Promise<void>>()
    private readonly blockSize: number

    constructor(
        private db: Database,
        private o: CounterPoolOptions = {}
    ) {
        this.blockSize = o.blockSize ?? 256
    }

    /** A committed counter for a frame to `meterId` under `epoch`, or undefined when `prepare` must run first. */
    take(meterId: string, epoch: number): number | undefined {
        const b = this.blocks.get(meterId.toLowerCase())?.get(epoch)
        if (!b || b.next > b.last) return undefined
        return b.next++
    }

    /** `take`, reserving a block first when needed. */
    async next(meterId: string, epoch: number): Promise<number> {
        for (;;) {
            const c = this.take(meterId, epoch)
            if (c !== undefined) return c
            await this.prepare([{ meterId, epoch }])
        }
    }

    /** Counters left for `meterId` under `epoch` without a reservation. */
    left(meterId: string, epoch: number): number {
        const b = this.blocks.get(meterId.toLowerCase())?.get(epoch)
        return b ? b.last - b.next + 1 : 0
    }

    /**
     * Makes sure every meter in `wants` has at least `need` (default 1) counters left,
     * with one committed reservation for all that lack them. A meter whose reservation is
     * already under way waits for it instead of reserving twice.
     */
    async prepare(wants: readonly { meterId: string; epoch: number; need?: number }[]): Promise<void> {
        const waits: Promise<void>[] = []
        const lacking = new Map<string, BlockRequest>()
        for (const w of wants) {
            const k = key(w.meterId, w.epoch)
            const need = w.need ?? 1
            if (this.left(w.meterId, w.epoch) >= need || lacking.has(k)) continue
            const p = this.pending.get(k)
            if (p) {
                waits.push(p)
                continue
            }
            const blockSize = Math.max(this.blockSize, need)
            lacking.set(k, { meterId: w.meterId, epoch: w.epoch, blockSize, floor: this.o.floor?.(w.meterId, w.epoch) ?? 0 })
        }
        if (lacking.size) {
            const reqs = [...lacking.values()]
            const run = reserveDownlinkBlocks(this.db, reqs).then(ranges => this.install(reqs, ranges))
            const done = run.finally(() => {
                for (const k of lacking.keys()) if (this.pending.get(k) === done) this.pending.delete(k)
            })
            for (const k of lacking.keys()) this.pending.set(k, done)
            waits.push(done)
        }
        await Promise.all(waits)
    }

    /**
     * The reservations `wants` lacks (as `prepare`), for the caller to make inside its own
     * transaction (`reserveDownlinkBlocksIn`) and `install` once that committed. Meters
     * whose reservation is under way elsewhere are left out (their frames take `next`).
     */
    plan(wants: readonly { meterId: string; epoch: number; need?: number }[]): BlockRequest[] {
        const out = new Map<string, BlockRequest>()
        for (const w of wants) {
            const k = key(w.meterId, w.epoch)
            const need = w.need ?? 1
            if (this.left(w.meterId, w.epoch) >= need || out.has(k) || this.pending.has(k)) continue
            out.set(k, { meterId: w.meterId, epoch: w.epoch, blockSize: Math.max(this.blockSize, need), floor: this.o.floor?.(w.meterId, w.epoch) ?? 0 })
        }
        return [...out.values()]
    }

    /**
     * Hands out committed ranges (undefined: none for that request). Only call it after the
     * reservation committed. A range below the block in use (a concurrent reservation that
     * committed later but was installed first) is skipped: counters only grow.
     */
    install(reqs: readonly BlockRequest[], ranges: readonly (CounterRange | undefined)[]) {
        reqs.forEach((r, i) => {
            const range = ranges[i]
            if (!range) return
            const id = r.meterId.toLowerCase()
            const byEpoch = this.blocks.get(id) ?? new Map<number, { next: number; last: number }>()
            const b = byEpoch.get(r.epoch)
            if (b && b.next > range.first) return
            byEpoch.set(r.epoch, { next: range.first, last: range.last })
            this.blocks.set(id, byEpoch)
        })
    }

    /**
     * Forgets what is left of `meterId`'s blocks (every epoch): its next counter comes from
     * a new reservation, above every counter any head-end on the database used so far. The
     * service calls it when it (re)loads a meter, which another worker may have answered
     * since with counters above this worker's block.
     */
    discard(meterId: string) {
        this.blocks.delete(meterId.toLowerCase())
    }
}

const key = (meterId: string, epoch: number) => `${meterId.toLowerCase()}:${epoch}`
