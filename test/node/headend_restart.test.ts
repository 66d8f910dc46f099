/**
 * Restart safety of the head-end, for real: `trustmeter serve` (the ingestion service on
 * its embedded database) in a child process, killed with SIGKILL at random moments at least
 * 20 times while a fleet of protocol-level meters (the wire core's frames and records, the
 * firmware's store-and-forward rules, test/node/headend_service_kit.ts) keeps sending over an
 * embedded broker, and restarted each time.
 *
 * Checked throughout: every downlink frame's nonce (meter, epoch, counter) is recorded and
 * never repeats; each uplink frame is acknowledged at most once (frames captured before a
 * restart and replayed after it get no ack); after every kill, no ack the meters received
 * names a record the database does not hold. At the end: every interval stored exactly
 * once, each chain verified from genesis, no clone evidence and no "bad downlink" on any
 * meter (a restarted head-end that counted from 1 again would raise it on every meter).
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawn, ChildProcess } from "node:child_process"
import { join } from "node:path"
import { rmSync, writeFileSync } from "node:fs"
import mqtt from "mqtt"
import { startBroker } from "../../headend/src/broker.ts"
import { recordHash, verifyChain } from "../../headend/src/chain.ts"
import { openDatabase, readCloneEvidence, readRecords } from "../../headend/src/db/index.ts"
import { MeterEntry, addMeter, chainKeyOf, createKeystore, saveKeystore } from "../../headend/src/keystore.ts"
import { readHeader } from "../../src/wire/frame"
import { downlinkTopic, uplinkTopic } from "../../src/wire/report"
import { ROOT } from "../../tools/devs.ts"
import { ProtoMeter, freshDatabaseDir } from "./headend_service_kit.ts"

const KILLS = 22
const METERS = 4
const ACK_TIMEOUT_MS = 1500

/** A small deterministic generator (the seed is printed, so a failing run can be repeated). */
function rng(seed: number) {
    let s = seed >>> 0
    return () => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0
        return s / 2 ** 32
    }
}

test("kill -9 at random moments, 22 times: nothing lost or stored twice, chains verified from genesis, no false alert, old frames refused, no downlink nonce twice", { timeout: 600_000 }, async () => {
    const seed = Number(process.env.TM_RESTART_SEED ?? Date.now() % 100000)
    console.log(`# seed ${seed} (TM_RESTART_SEED=${seed} repeats this run)`)
    const random = rng(seed)
    const broker = await startBroker({ port: 0 })
    const dir = await freshDatabaseDir()
    const ksPath = join(dir, "ks.json")
    const ks = createKeystore()
    const entries: MeterEntry[] = []
    for (let i = 1; i <= METERS; i++) entries.push(addMeter(ks, `meter-${i}`))
    saveKeystore(ks, ksPath)
    const meters = entries.map(e => new ProtoMeter({ id: e.meterId, secret: Buffer.from(e.secret, "hex"), chainKey: chainKeyOf(e) }))
    const byId = new Map(meters.map(m => [m.id, m]))

    // what crossed the broker
    const nonces = new Set<string>()
    const repeatedNonces: string[] = []
    const ackedCounters = new Map<string, number>() // meter:upCounter → acks seen
    const sentFrames = new Map<string, Buffer>() // meter:counter → frame
    const capturedAcked: { meter: ProtoMeter; counter: number; frame: Buffer; generation: number }[] = []
    let generation = 0
    const client = await mqtt.connectAsync(broker.url, { clientId: "tm-restart-fleet" })
    await client.subscribeAsync("d/+", { qos: 0 })
    const inFlight = new Map<string, { sentAt: number; counter: number }>()
    client.on("message", (topic, payload) => {
        const frame = Buffer.from(payload)
        const h = readHeader(frame)
        const id = h.meterId.toString("hex")
        const key = `${id}:${h.epoch}:${h.counter}`
        if (nonces.has(key)) repeatedNonces.push(key)
        nonces.add(key)
        const m = byId.get(id)!
        if (topic !== downlinkTopic(id)) repeatedNonces.push(`${key} on topic ${topic}`)
        const r = m.receive(frame)
        if (r.ok && r.upCounter !== undefined) {
            const k = `${id}:${r.upCounter}`
            ackedCounters.set(k, (ackedCounters.get(k) ?? 0) + 1)
            const f = sentFrames.get(k)
            if (f) capturedAcked.push({ meter: m, counter: r.upCounter, frame: f, generation })
            if (inFlight.get(id)?.counter === r.upCounter) inFlight.delete(id)
        }
    })

    // the fleet: a record every 80-200 ms per meter, one frame in flight, resend after the ack timeout
    let appending = true
    const send = (m: ProtoMeter) => {
        const f = m.frame()
        const c = m.counter
        sentFrames.set(`${m.id}:${c}`, f)
        inFlight.set(m.id, { sentAt: Date.now(), counter: c })
        client.publish(uplinkTopic(m.id), f, { qos: 0 })
    }
    const appendTimer = setInterval(() => {
        if (!appending) return
        for (const m of meters) if (random() < 0.6) m.append(1)
    }, 120)
    const sendTimer = setInterval(() => {
        for (const m of meters) {
            const f = inFlight.get(m.id)
            if (f && Date.now() - f.sentAt < ACK_TIMEOUT_MS) continue
            if (f) m.ackTimeout()
            if (m.acked < m.chain.length - 1) send(m)
            else inFlight.delete(m.id)
        }
    }, 40)

    // the head-end, again and again
    let child: ChildProcess | undefined
    let out = ""
    const start = () =>
        new Promise<void>((res, rej) => {
            generation++
            const c = spawn(process.execPath, [join(ROOT, "headend/bin/trustmeter.mjs"), "serve", "--broker", broker.url, "--database", join(dir, "db"), "--keystore", ksPath], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
            child = c
            let ready = false
            c.stdout!.on("data", d => {
                out += d
                if (!ready && /serving \d+ meter/.test(out.split("\n").slice(-3).join("\n"))) {
                    ready = true
                    res()
                }
            })
            c.stderr!.on("data", d => (out += d))
            c.once("exit", code => {
                if (!ready) rej(new Error(`trustmeter serve exited (${code}) before serving:\n${out.slice(-2000)}`))
            })
        })
    const kill = () =>
        new Promise<void>(res => {
            const c = child!
            c.once("exit", () => res())
            c.kill("SIGKILL")
        })
    const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

    try {
        await start()
        let replays = 0
        for (let k = 0; k < KILLS; k++) {
            // frames acknowledged before this restart, replayed after it: each must get no second ack
            const old = capturedAcked.filter(c => c.generation < generation).slice(-3)
            for (const c of old) {
                client.publish(uplinkTopic(c.meter.id), c.frame, { qos: 0 })
                replays++
            }
            await sleep(200 + random() * 2300)
            await kill()
            // after the kill: what the meters were told is stored, is stored
            const db = await openDatabase({ backend: "pglite", dir: join(dir, "db") })
            try {
                for (const m of meters) {
                    if (m.acked < 0) continue
                    const rs = await readRecords(db, m.id, m.acked, 1)
                    assert.equal(rs.length, 1, `kill ${k + 1}: ${m.id} was acknowledged up to ${m.acked}, which the database does not hold`)
                }
            } finally {
                await db.close()
            }
            await start()
        }
        console.log(`# ${KILLS} kills, ${replays} captured frames replayed after a restart`)
        // drain: no new records; every meter gets its head acknowledged
        appending = false
        const by = Date.now() + 60_000
        while (Date.now() < by && meters.some(m => m.acked < m.chain.length - 1)) await sleep(100)
        for (const m of meters) assert.equal(m.acked, m.chain.length - 1, `${m.id}: head ${m.chain.length - 1} acknowledged only to ${m.acked}`)
        await kill()
    } finally {
        clearInterval(appendTimer)
        clearInterval(sendTimer)
        if (child && child.exitCode === null) child.kill("SIGKILL")
        await client.endAsync(true)
        await broker.close()
    }

    // the end: the database against the meters' own chains
    const db = await openDatabase({ backend: "pglite", dir: join(dir, "db") })
    try {
        let total = 0
        for (const m of meters) {
            const rs = await readRecords(db, m.id)
            assert.equal(rs.length, m.chain.length, `${m.id}: ${rs.length} stored of ${m.chain.length}`)
            rs.forEach((r, i) => {
                assert.equal(r.seq, i)
                assert.ok(r.data.equals(m.chain[i]), `${m.id}: record ${i} stored with other bytes`)
            })
            const v = verifyChain(rs.map(r => r.data), m.k0, { checkpoint: { seq: m.chain.length - 1, hash: recordHash(m.chain[m.chain.length - 1]) } })
            assert.ok(v.ok, `${m.id}: ${JSON.stringify(v)}`)
            assert.deepEqual(await readCloneEvidence(db, m.id), [], `${m.id}: clone evidence`)
            assert.equal(m.badDownlink, 0, `${m.id}: ${m.badDownlink} downlink frame(s) refused (a false "bad downlink" alert)`)
            total += rs.length
        }
        console.log(`# ${total} records stored once each, ${nonces.size} downlink nonces, none twice`)
    } finally {
        await db.close()
    }
    assert.deepEqual(repeatedNonces, [], "a downlink (key, nonce) pair was used twice")
    const twice = [...ackedCounters].filter(([, n]) => n > 1)
    assert.deepEqual(twice, [], "an uplink frame was acknowledged twice (a replay accepted after a restart)")
    assert.doesNotMatch(out, /clone alert/)
    rmSync(dir, { recursive: true, force: true })
})
