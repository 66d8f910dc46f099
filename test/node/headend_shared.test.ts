/**
 * Two head-end workers on one database answering the same meters (issue 16: an MQTT 5
 * shared subscription deals a meter's frames to the workers in turn), with the router each
 * worker puts in front of its service (bench/node/fleet_router.ts). On PGlite (both
 * workers on one embedded database) and on a real PostgreSQL server with a connection
 * pool per worker (skipped, with the reason, without the binaries).
 *
 * What must hold:
 * - every ack and command either worker seals reaches the meter above the last counter it
 *   accepted (the meter refuses anything else), and no (meter, epoch, downlink counter) is
 *   ever sealed twice: not by two workers, not across a worker's restart, not after a
 *   commit that failed;
 * - a frame that reaches the worker which did not see the meter's previous one costs one
 *   statement to reload the meter (it cost eight), and an ack costs no statement or
 *   transaction of its own (its counter is reserved inside the batch's transaction; it
 *   cost a second transaction per batch);
 * - one frame delivered to both workers at once is stored once and acknowledged once.
 */
import assert from "node:assert/strict"
import { rmSync } from "node:fs"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { MeterRouter } from "../../bench/node/fleet_router.ts"
import { verifyChain } from "../../headend/src/chain.ts"
import { Database, Sql, openDatabase, readRecords } from "../../headend/src/db/index.ts"
import { loadMeter, loadMeterState, loadMeterStates } from "../../headend/src/db/meter_state.ts"
import { HeadEndService, ServiceVerdict } from "../../headend/src/service.ts"
import { signCommand, timeSyncArgs } from "../../src/wire/envelope"
import { Opcode } from "../../src/wire/opcodes"
import { uplinkTopic } from "../../src/wire/report"
import { postgresSkipReason, startPostgres } from "../../tools/postgres.ts"
import { ProtoMeter, freshDatabaseDir, randomMeter } from "./headend_service_kit.ts"

/** A database that counts what its user sends: statements outside a transaction, transactions, statements inside them. */
function counting(db: Database) {
    const n = { queries: 0, transactions: 0, inTx: 0 }
    const wrapTx = (tx: Sql): Sql => ({
        query: (t, p) => (n.inTx++, tx.query(t, p)),
        command: (t, p) => (n.inTx++, tx.command(t, p)),
    })
    let failNext = false
    const d: Database = {
        backend: db.backend,
        query: (t, p) => (n.queries++, db.query(t, p)),
        command: (t, p) => (n.queries++, db.command(t, p)),
        transaction: fn => {
            n.transactions++
            if (!failNext) return db.transaction(tx => fn(wrapTx(tx)))
            failNext = false
            // everything the batch wrote ran, then the commit is lost: rolled back
            return db.transaction(async tx => {
                await fn(wrapTx(tx))
                throw new Error("the connection dropped before COMMIT")
            })
        },
        close: () => db.close(),
    }
    return { db: d, n, failNextCommit: () => (failNext = true) }
}

interface Worker {
    name: string
    svc: HeadEndService
    router: MeterRouter
    n: { queries: number; transactions: number; inTx: number }
    failNextCommit(): void
    close(): Promise<void>
}

const backends: { name: string; skip?: string; open(): Promise<{ db: () => Promise<Database>; done(): Promise<void> }> }[] = [
    {
        name: "PGlite",
        async open() {
            // one embedded database is one process's: both workers share the one handle
            const dir = await freshDatabaseDir()
            const db = await openDatabase({ backend: "pglite", dir: join(dir, "db") })
            const shared: Database = { ...db, query: db.query.bind(db), command: db.command.bind(db), transaction: db.transaction.bind(db), close: async () => {} }
            return {
                db: async () => shared,
                done: async () => {
                    await db.close()
                    rmSync(dir, { recursive: true, force: true })
                },
            }
        },
    },
    {
        name: "PostgreSQL",
        skip: postgresSkipReason(),
        async open() {
            const server = await startPostgres()
            const url = await server.createDatabase("shared")
            return { db: () => openDatabase({ backend: "postgres", url }), done: () => server.stop() }
        },
    },
]

for (const b of backends) {
    describe(`two workers on ${b.name}`, { skip: b.skip }, () => {
        let env: Awaited<ReturnType<(typeof backends)[0]["open"]>>
        const meters: ProtoMeter[] = Array.from({ length: 4 }, (_, i) => randomMeter(0x5100 + i))
        const secrets = new Map(meters.map(m => [m.id, m.secret]))
        /** every downlink frame any worker sealed: meter:epoch:counter */
        const sealed: string[] = []

        async function worker(name: string, counterBlock?: number): Promise<Worker> {
            const c = counting(await env.db())
            const svc = HeadEndService.open({
                db: c.db,
                ownsDatabase: true,
                secretOf: id => secrets.get(id),
                chainKeyOf: id => meters.find(m => m.id === id)?.k0,
                counterBlock,
                keepRecords: 16,
                events: { downlink: (m, e, k) => sealed.push(`${m}:${e}:${k}`) },
            })
            svc.setPublisher(async () => {})
            return { name, svc, router: new MeterRouter(svc), n: c.n, failNextCommit: c.failNextCommit, close: () => svc.close() }
        }

        /** `m`'s next frame (or `frame`) through worker `w`; its ack handed to the meter. */
        async function send(w: Worker, m: ProtoMeter, frame?: Buffer): Promise<ServiceVerdict> {
            const v = await w.router.frame(uplinkTopic(m.id), frame ?? m.frame())
            if (v.ok && v.ack) {
                const r = m.receive(v.ack)
                assert.ok(r.ok, `${w.name}'s ack to ${m.id} refused by the meter: ${!r.ok && r.why}`)
            }
            return v
        }

        before(async () => {
            env = await b.open()
        })
        after(() => env?.done())

        // counter blocks of 1 (what a worker of a shared subscription runs with: a command from
        // one worker must not leave the other with a block below it), and of 256 without
        // commands (a worker that reloads a meter drops what is left of its block)
        for (const [block, commands] of [[1, true], [256, false]] as const)
        test(`frames dealt in turn and at random, counter blocks of ${block}${commands ? ", commands from either worker" : ""}: every downlink taken by the meter, a reload is one statement, an ack no statement of its own`, { timeout: 120_000 }, async () => {
            let ws = [await worker("w1", block), await worker("w2", block)]
            let seed = 7
            const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
            let moved = 0
            let stayed = 0
            const last = new Map<string, Worker>()
            for (let round = 0; round < 36; round++) {
                for (const m of meters) {
                    m.append(1 + (round % 2))
                    // the first 12 rounds strictly in turn (mosquitto's round robin), then at random
                    const w = round < 12 ? ws[round % 2] : ws[rnd() < 0.5 ? 0 : 1]
                    const before = { ...w.n }
                    const wasLoaded = w.svc.headEnd.meters.has(m.id)
                    // another worker took one of the meter's frames since this one's
                    const wasStale = last.get(m.id) !== w
                    const v = await send(w, m)
                    assert.ok(v.ok, `${m.id} round ${round}: ${JSON.stringify(v)}`)
                    const q = w.n.queries - before.queries
                    const t = w.n.transactions - before.transactions
                    assert.equal(t, 1, "one transaction per frame: the frame, its records and its ack's counter")
                    if (wasLoaded && wasStale) {
                        moved++
                        assert.equal(q, 1, `a meter another worker moved on is reloaded in one statement (${q}, round ${round}, ${w.name})`)
                    } else if (wasLoaded) {
                        stayed++
                        assert.equal(q, 0, `a meter the worker holds costs no statement outside the batch (${q}, round ${round}, ${w.name})`)
                    } else assert.ok(q <= 1, `a first load is one statement (${q})`)
                    last.set(m.id, w)
                }
                // now and then a command through either worker (the operator's terminal reaches one of them)
                if (commands && round % 7 === 3) {
                    const m = meters[round % meters.length]
                    const w = ws[(round >> 1) % 2]
                    const now = 1_800_000_000 + round
                    const env = signCommand({ meterId: m.idBytes, keyIds: [1], counter: now * 1000, notBefore: 0, expiry: now + 3600, opcode: Opcode.TimeSync, args: timeSyncArgs(now) }, () => Buffer.alloc(64))
                    const sent = await w.router.run(m.id, () => w.svc.sendCommand(m.id, env))
                    const r = m.receive(sent.frame)
                    assert.ok(r.ok && r.command, `${w.name}'s command refused by the meter: ${!r.ok && r.why}`)
                }
                // a worker restarts (a new process on the same database)
                if (round === 18) {
                    await ws[0].close()
                    ws = [await worker("w1'", block), ws[1]]
                }
                // a commit that fails: no ack, and nothing sealed under the counters it reserved
                if (round === 26) {
                    const m = meters[0]
                    const w = ws[0]
                    m.append(1)
                    const n = sealed.length
                    w.failNextCommit()
                    const v = await w.router.frame(uplinkTopic(m.id), m.frame())
                    assert.ok(!v.ok && v.reason === "unavailable", JSON.stringify(v))
                    assert.equal(sealed.length, n, "no downlink sealed for a batch that did not commit")
                    m.ackTimeout()
                    last.set(m.id, w)
                }
            }
            assert.ok(moved > 60 && stayed > 20, `moved ${moved}, stayed ${stayed}`)
            assert.equal(new Set(sealed).size, sealed.length, "no (meter, epoch, downlink counter) sealed twice")
            for (const m of meters) {
                assert.equal(m.badDownlink, 0)
                assert.equal(m.acked, m.chain.length - 1, "every record acknowledged")
                const rs = await readRecords(ws[0].svc.db, m.id)
                assert.equal(rs.length, m.chain.length, "every record stored once")
                assert.ok(verifyChain(rs.map(x => x.data), m.k0).ok)
            }
            console.log(`# ${b.name}: ${moved} frames reached the other worker (one statement each), ${stayed} the same one; ${sealed.length} downlinks, none twice`)
            for (const w of ws) await w.close()
        })

        test("one frame delivered to both workers at once is stored once and acknowledged once", { timeout: 60_000 }, async () => {
            const ws = [await worker("a", 1), await worker("b", 1)]
            for (const m of meters) {
                for (let i = 0; i < 5; i++) {
                    m.append(1)
                    const f = m.frame()
                    const vs = await Promise.all(ws.map(w => w.router.frame(uplinkTopic(m.id), f)))
                    const acks = vs.filter(v => v.ok && v.ack)
                    assert.equal(acks.length, 1, JSON.stringify(vs.map(v => (v.ok ? "ok" : v.reason))))
                    assert.ok(vs.some(v => !v.ok && v.reason === "replay"), "the other copy is a replay")
                    const v = acks[0] as Extract<ServiceVerdict, { ok: true }>
                    assert.ok(m.receive(v.ack!).ok)
                }
                const rs = await readRecords(ws[0].svc.db, m.id)
                assert.equal(rs.length, m.chain.length)
            }
            assert.equal(new Set(sealed).size, sealed.length, "no (meter, epoch, downlink counter) sealed twice")
            for (const w of ws) await w.close()
        })

        test("loadMeterState: in one statement what loadMeter and readRecords give; loadMeterStates the same for many meters at once", async () => {
            const db = await env.db()
            for (const m of [...meters, randomMeter(0x5199)]) {
                for (const keep of [1, 16, 1000]) {
                    const s = await loadMeterState(db, m.id, keep)
                    const old = await loadMeter(db, m.id)
                    const recs = old.head ? await readRecords(db, m.id, Math.max(old.firstSeq ?? 0, old.head.seq - keep + 1), keep) : []
                    assert.deepEqual(s.window, old.window)
                    assert.deepEqual(s.records, recs)
                    assert.deepEqual(s.checkpoint, old.checkpoint)
                    assert.deepEqual([s.aggregatedUpTo, s.cloneSuspected, s.downlinkReservedTo], [old.aggregatedUpTo, old.cloneSuspected, old.downlinkReservedTo])
                    assert.equal(s.lastAcceptedAgoS === undefined, old.window.lastCounter === 0)
                }
            }
            // and for many meters in one statement (a batch's reloads)
            const all = [...meters, randomMeter(0x5199)]
            const many = await loadMeterStates(db, all.map(m => m.id), 16)
            assert.equal(many.size, all.length)
            const ageless = (r: object | undefined) => ({ ...r, lastAcceptedAgoS: undefined })
            for (const m of all) assert.deepEqual(ageless(many.get(m.id)), ageless(await loadMeterState(db, m.id, 16)))
            if (b.name === "PostgreSQL") await db.close()
        })
    })
}
