import { after, test } from "node:test"
import assert from "node:assert/strict"
import { evolveKey, recordHash, sealRecord } from "../../headend/src/chain.ts"
import { addMeter, chainKeyOf, createKeystore } from "../../headend/src/keystore.ts"
import { Station, StoredRecord } from "../../headend/src/station.ts"
import { Direction, FrameConst, deriveFrameKey, sealFrame } from "../../src/wire/frame"
import { Report, encodeReport, uplinkTopic } from "../../src/wire/report"
import { nodeCrypto } from "../../headend/src/crypto.ts"
import { freshDatabase } from "./headend_service_kit.ts"

/** A fake meter in Node: seals chain records and uplink frames exactly as the firmware does. */
function fakeMeter() {
    const ks = createKeystore()
    const m = addMeter(ks, "m1")
    const other = addMeter(ks, "m2")
    const id = Buffer.from(m.meterId, "hex")
    const secret = Buffer.from(m.secret, "hex")
    let key = chainKeyOf(m)
    let prev: Uint8Array = new Uint8Array(32)
    const chain: Buffer[] = []
    const append = (payload: number[]) => {
        const r = Buffer.from(sealRecord(key, 1, chain.length, 1_700_000_000 + chain.length * 1800, Uint8Array.from(payload), prev))
        chain.push(r)
        prev = recordHash(r)
        key = evolveKey(key)
        return r
    }
    let counter = 0
    const frame = (r: Report, opts: { counter?: number; epoch?: number; secret?: Buffer } = {}) => {
        const c = opts.counter ?? ++counter
        const epoch = opts.epoch ?? 0
        const h = { version: FrameConst.Version, direction: Direction.Uplink, meterId: id, epoch, counter: c }
        return sealFrame(nodeCrypto, deriveFrameKey(nodeCrypto, opts.secret ?? secret, id, Direction.Uplink, epoch), h, encodeReport(nodeCrypto, r))
    }
    const report = (from: number, to: number): Report => ({
        privacyLevel: 0,
        records: chain.slice(from, to).map((data, i) => ({ seq: from + i, data })),
        checkpointSeq: to - 1,
        checkpointHash: Buffer.from(recordHash(chain[to - 1])),
    })
    return { ks, m, other, id, chain, append, frame, report, topic: uplinkTopic(m.meterId) }
}

async function station(ks: ReturnType<typeof fakeMeter>["ks"]) {
    const ev = { refused: [] as string[], broken: [] as string[], clones: [] as string[], stored: [] as StoredRecord[] }
    // not connected: the station's logic is driven through onFrame (on its own database); acks go nowhere
    const s = await Station.open(ks, {
        refused: (_m: unknown, r: string) => ev.refused.push(r),
        chainBroken: (_m: unknown, at: number, why: string) => ev.broken.push(`${why}@${at}`),
        clone: (_m: unknown, d: string) => ev.clones.push(d),
        report: (_m: unknown, _r: unknown, fresh: StoredRecord[]) => ev.stored.push(...fresh),
    }, { database: await freshDatabase() })
    after(() => s.close())
    return { s, ev }
}

test("authentic frames are stored once per interval; resent records are not stored twice", async () => {
    const f = fakeMeter()
    for (let i = 0; i < 5; i++) f.append([i, 0, 0, 0])
    const { s, ev } = await station(f.ks)
    await s.onFrame(f.topic, f.frame(f.report(0, 3)))
    await s.onFrame(f.topic, f.frame(f.report(1, 5))) // after a lost ack the meter resends 1..2
    assert.deepEqual(ev.refused, [])
    assert.deepEqual(s.records(f.m.meterId).map(r => r.seq), [0, 1, 2, 3, 4])
    assert.equal(ev.stored.length, 5)
    assert.equal(s.head(f.m.meterId)!.seq, 4)
    assert.deepEqual([...s.records(f.m.meterId)[2].payload], [2, 0, 0, 0])
})

test("replayed, tampered, truncated, misaddressed and foreign frames are refused and nothing is stored", async () => {
    const f = fakeMeter()
    f.append([1])
    f.append([2])
    const { s, ev } = await station(f.ks)
    const good = f.frame(f.report(0, 1))
    await s.onFrame(f.topic, good)
    await s.onFrame(f.topic, good) // replay
    const flipped = Buffer.from(f.frame(f.report(1, 2)))
    flipped[25] ^= 0x01 // inside the ciphertext
    await s.onFrame(f.topic, flipped)
    const hdr = Buffer.from(f.frame(f.report(1, 2)))
    hdr[13] ^= 0x01 // the epoch in the clear header: decrypts under another key, fails
    await s.onFrame(f.topic, hdr)
    await s.onFrame(f.topic, f.frame(f.report(1, 2)).subarray(0, 30)) // truncated
    await s.onFrame(uplinkTopic(f.other.meterId), f.frame(f.report(1, 2))) // on another meter's topic
    await s.onFrame(f.topic, f.frame(f.report(1, 2), { secret: Buffer.alloc(32, 7) })) // forged: unknown key
    await s.onFrame(f.topic, Buffer.from("garbage"))
    assert.equal(ev.refused.length, 7, ev.refused.join("; "))
    assert.deepEqual(ev.refused.slice(0, 4), ["replay", "bad-tag", "bad-tag", "malformed"])
    assert.match(ev.refused[4], /another meter's topic/)
    assert.deepEqual(ev.refused.slice(5), ["bad-tag", "malformed"])
    assert.deepEqual(s.records(f.m.meterId).map(r => r.seq), [0])
})

test("a record altered in the meter's flash breaks the chain at that record, even inside an authentic frame", async () => {
    const f = fakeMeter()
    for (let i = 0; i < 4; i++) f.append([i, i])
    f.chain[2][11] ^= 0x40 // one payload byte of record 2, as a thief with the flash would
    const { s, ev } = await station(f.ks)
    await s.onFrame(f.topic, f.frame({ privacyLevel: 0, records: f.chain.map((data, seq) => ({ seq, data })) }))
    assert.deepEqual(ev.broken, ["bad link or tag@2"])
    assert.deepEqual(ev.refused, ["bad-chain"])
    // what came before the altered record is intact and kept; nothing from it on
    assert.deepEqual(s.records(f.m.meterId).map(r => r.seq), [0, 1])
})

test("a second device with the same identity shows up as a counter regression or a forked chain: clone alert", async () => {
    const f = fakeMeter()
    for (let i = 0; i < 3; i++) f.append([i])
    const { s, ev } = await station(f.ks)
    await s.onFrame(f.topic, f.frame(f.report(0, 3), { counter: 100 }))
    // the clone's frame reuses counter 100 with other contents (its own alerts)
    await s.onFrame(f.topic, f.frame({ ...f.report(0, 3), alerts: [{ kind: 1, count: 1 }] }, { counter: 100 }))
    assert.equal(ev.clones.length, 1)
    assert.match(ev.clones[0], /counter-regression: counter 100 reused/)
    // the clone, with a higher counter, sends a different record 1
    const forged = Buffer.from(f.chain[1])
    forged[11] ^= 1
    await s.onFrame(f.topic, f.frame({ privacyLevel: 0, records: [{ seq: 1, data: forged }] }, { counter: 200 }))
    assert.equal(ev.clones.length, 2)
    assert.match(ev.clones[1], /forked-chain: record 1 differs/)
})
