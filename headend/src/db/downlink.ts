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
import { Database } from "./adapter.ts"
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
    const rs = requests.map(r => {
        u32("epoch", r.epoch)
        if (!Number.isInteger(r.blockSize) || r.blockSize < 1 || r.blockSize > 1 << 24) throw new RangeError(`block size must be 1..2^24: ${r.blockSize}`)
        const floor = u32("counter floor", r.floor ?? 0)
        if (floor + r.blockSize > MAX_COUNTER) throw exhausted({ ...r })
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
    // sorted: concurrent batches lock rows in one order (no deadlock)
    const ms = [...merged.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(e => e[1])
    const params = [ms.map(m => m.meter), ms.map(m => m.epoch), ms.map(m => m.size), ms.map(m => m.floor)]
    let rows: { meter_id: Buffer; epoch: number; reserved_to: number }[]
    try {
        rows = await db.transaction(async tx => {
            await tx.query(
                `INSERT INTO downlink_counters (meter_id, epoch, reserved_to)
                 SELECT m, e, 0 FROM unnest($1::bytea[], $2::int8[]) AS u(m, e) ON CONFLICT DO NOTHING`,
                params.slice(0, 2)
            )
            // row locks in key order, then the update: a concurrent reservation waits here
            // and then reads the committed value
            await tx.query(
                `SELECT 1 FROM downlink_counters d JOIN unnest($1::bytea[], $2::int8[]) AS u(m, e) ON d.meter_id = u.m AND d.epoch = u.e
                 ORDER BY d.meter_id, d.epoch FOR UPDATE OF d`,
                params.slice(0, 2)
            )
            return tx.query(
                `UPDATE downlink_counters d SET reserved_to = GREATEST(d.reserved_to, u.f) + u.n, updated_at = now()
                 FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::int8[]) AS u(m, e, n, f)
                 WHERE d.meter_id = u.m AND d.epoch = u.e
                 RETURNING d.meter_id, d.epoch, d.reserved_to`,
                params
            )
        })
    } catch (e) {
        // check_violation: reserved_to would pass 2^32-1 (the schema's bound)
        if ((e as { code?: string }).code === "23514") throw exhausted(rs.length === 1 ? rs[0] : undefined)
        throw e
    }
    const top = new Map(rows.map(r => [`${r.meter_id.toString("hex")}:${r.epoch}`, r.reserved_to]))
    // hand out each merged block to its requests, lowest counters first, in request order
    const next = new Map<string, number>()
    return rs.map(r => {
        const k = `${r.meter.toString("hex")}:${r.epoch}`
        const m = merged.get(k)!
        const first = next.get(k) ?? top.get(k)! - m.size + 1
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
    private blocks = new Map<string, { next: number; last: number }>()
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
        const b = this.blocks.get(key(meterId, epoch))
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
        const b = this.blocks.get(key(meterId, epoch))
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
            const run = reserveDownlinkBlocks(this.db, reqs).then(ranges => {
                reqs.forEach((r, i) => this.blocks.set(key(r.meterId, r.epoch), { next: ranges[i].first, last: ranges[i].last }))
            })
            const done = run.finally(() => {
                for (const k of lacking.keys()) if (this.pending.get(k) === done) this.pending.delete(k)
            })
            for (const k of lacking.keys()) this.pending.set(k, done)
            waits.push(done)
        }
        await Promise.all(waits)
    }
}

const key = (meterId: string, epoch: number) => `${meterId.toLowerCase()}:${epoch}`
