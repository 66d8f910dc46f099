/**
 * Power-cut test of the index store (issue 4): test/firmware/powercut_meter.ts runs as a
 * long-running simulated device with persistent flash; it is killed (kill -9) at random
 * moments and restarted, CUTS times. After every cut the test reads the simulator's flash
 * file, so it sees every record ever stored even after the ring has reused a slot.
 *
 * Asserts: every boot verifies its chain; the registers never go backwards and never get
 * ahead of what was measured; a cut loses at most one open interval; no stored record is
 * ever rewritten; the union of all records is one chain that the head-end verifier
 * accepts against the last stored head.
 *
 * The simulator saves its flash file non-atomically (truncate, then write), which a kill can
 * catch half-way and real flash cannot: test/firmware/atomic_flash.cjs is preloaded into
 * the simulator so that every save is all-or-nothing, as one settings write is on a board.
 *
 * Starts `devs devtools` on 127.0.0.1:8081: in CI Node test files run one at a time; when
 * developing, run it in a private network namespace:
 *   unshare -n bash -c 'ip link set lo up && node --import tsx --test test/node/powercut.test.ts'
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { BYTECODE, ROOT, type SimulatedDevice, build, killTree, runSimulatedDevice, startDevtools } from "../../tools/devs.ts"
import { decodeRecord, verifyChain } from "../../headend/src/chain.ts"
import { chainKey0 } from "../fixtures/chain_k0.ts"

const CUTS = Number(process.env.POWERCUT_CUTS ?? 50)
const INTERVAL_TICKS = 10 // as in the firmware
const SECRET = Buffer.from("c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf", "hex")
const METER_ID = Buffer.from("7e570000000000c7", "hex")

/**
 * Reads the live settings from a simulator flash image (jacdac-c `jd_fstor.c`): two header
 * areas of `total/16` pages, each a 24-byte header then 24-byte entries (key[16], offset,
 * size; little-endian); the newest entry of a key wins. Keys carry the service's ':' prefix.
 */
export function readFstor(img: Buffer, pageSize = 4096, totalPages = 32): Map<string, Buffer> {
    const headerPages = Math.max(1, Math.floor(totalPages / 16))
    const areaSize = headerPages * pageSize
    const valid = (o: number) => img.length >= o + 24 && img.readUInt32LE(o) === 0x52545346 && img.readUInt32LE(o + 4) === 0x6becea0a
    const gens = [0, areaSize].filter(valid).map(o => ({ o, gen: img.readUInt32LE(o + 8) }))
    assert.ok(gens.length > 0, `no valid fstor header in the flash image (${img.length} bytes: ${img.subarray(0, 32).toString("hex")})`)
    const area = gens.sort((a, b) => b.gen - a.gen)[0].o
    const out = new Map<string, Buffer>()
    for (let e = area + 24; e + 24 <= area + areaSize; e += 24) {
        const off = img.readUInt32LE(e + 16)
        if (off === 0xffffffff) break
        const size = img.readUInt32LE(e + 20)
        const key = img.subarray(e, e + 16).toString("latin1").replace(/\0.*$/s, "")
        out.set(key.replace(/^:/, ""), Buffer.from(img.subarray(off, off + size)))
    }
    return out
}

// One meter at a time. Two simulated devices on one devtools bus can cross-bind: when a
// restarted device boots fast (~0.4 s instead of ~1.3 s), its settings client may bind to the
// OTHER device's settings service before its own announces, and it reads the other meter's
// flash (seen here twice: a meter booted with its neighbour's registers and chain head).
const METERS = 1

test(`index store survives ${CUTS} power cuts`, { timeout: Number(process.env.POWERCUT_TIMEOUT_MS ?? 600_000) }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "tm-powercut-"))
    const code = join(dir, "powercut.devs")
    // builds share .devicescript/bin with every other `devs build`/`devs run FILE.ts`:
    // retry until the copy is this firmware (only matters when several builds overlap)
    for (let i = 0; ; i++) {
        await build("test/firmware/powercut_meter.ts")
        copyFileSync(BYTECODE, code)
        if (readFileSync(code).includes("test/firmware/powercut_meter")) break
        assert.ok(i < 5, "could not get the power-cut firmware's bytecode")
    }
    // each flash save all-or-nothing, as on a board (see test/firmware/atomic_flash.cjs)
    const preload = join(ROOT, "test/firmware/atomic_flash.cjs")
    const nodeOptions = process.env.NODE_OPTIONS
    process.env.NODE_OPTIONS = `${nodeOptions ?? ""} --require ${preload}`.trim()
    // devtools may take longer than startDevtools waits on a loaded machine: one retry
    const devtools = await startDevtools().catch(() => startDevtools())
    const running: SimulatedDevice[] = []
    try {
        const per = Math.ceil(CUTS / METERS)
        const stats = await Promise.all(
            Array.from({ length: METERS }, (_, i) => cutAndCheck(code, join(dir, `meter${i}`), `7e570000000000c${i}`, per, running))
        )
        for (const s of stats) console.log(`# ${s}`)
    } finally {
        // when one meter fails, the other may still be running
        for (const d of running) d.powerCut()
        killTree(devtools)
        if (nodeOptions === undefined) delete process.env.NODE_OPTIONS
        else process.env.NODE_OPTIONS = nodeOptions
        rmSync(dir, { recursive: true, force: true })
    }
})

/** One meter: `cuts` random power cuts, checks after each boot, then the whole chain. */
async function cutAndCheck(code: string, meterDir: string, deviceId: string, cuts: number, running: SimulatedDevice[]): Promise<string> {
    const flashFile = join(meterDir, ".devicescript/flash/sim.bin")
    const seen = new Map<number, string>() // seq -> record hex, across all flash images
    let prevBoot = -1
    let lastHead: { seq: number; hash: Uint8Array } | undefined
    let resumed = 0
    let measured = -1 // the last energy the meter printed before the previous cut
    for (let life = 0; life <= cuts; life++) {
        const t0 = Date.now()
        const dev = runSimulatedDevice(code, meterDir, deviceId)
        running.push(dev)
        const boot = await dev.waitFor(/BOOT e=/, 60_000)
        if (process.env.POWERCUT_DEBUG) {
            const st = dev.output().split("\n").findIndex(l => /start: /.test(l))
            console.log(`# ${deviceId} life ${life}: boot after ${Date.now() - t0} ms: ${boot}; start line ${st}`)
        }
        const m = /BOOT e=(\d+) i=(\d+) seq=(\d+) ok=(\d) resumed=(\d)/.exec(boot)!
        const e = Number(m[1])
        assert.equal(m[4], "1", `${deviceId} boot ${life}: chain verification failed: ${boot}`)
        resumed += Number(m[5])
        if (life > 0) {
            assert.ok(e >= prevBoot, `${deviceId} boot ${life}: registers went backwards (${e} < ${prevBoot})`)
            // the firmware prints `E n` before it saves n, and a kill can swallow the last
            // console line still inside the devs process: one tick may go unseen, not more
            assert.ok(e <= measured + 1, `${deviceId} boot ${life}: registers ahead of what was measured (${e} > ${measured} + 1)`)
            assert.ok(measured - e <= INTERVAL_TICKS, `${deviceId} boot ${life}: lost ${measured - e} Wh, more than one interval`)
        }
        prevBoot = e
        // run a random while (0.05 .. 1.25 s after boot; a tick is 40 ms, an interval 400 ms)
        await new Promise(r => setTimeout(r, 50 + Math.random() * 1200))
        dev.powerCut()
        await new Promise<void>(r => (dev.child.exitCode !== null || dev.child.signalCode !== null ? r() : dev.child.once("close", () => r())))
        const es = [...dev.output().matchAll(/^WASM> E (\d+)/gm)].map(x => Number(x[1]))
        measured = es.length ? es[es.length - 1] : e
        assert.ok(existsSync(flashFile), "the simulator wrote no flash file")
        const kv = readFstor(readFileSync(flashFile))
        for (const [k, v] of kv) {
            if (!/^st\.r\d+$/.test(k) || v.length === 0) continue
            const seq = v.readUInt32BE(2)
            const hex = v.toString("hex")
            const before = seen.get(seq)
            if (before !== undefined) assert.equal(hex, before, `${deviceId}: record ${seq} was rewritten`)
            seen.set(seq, hex)
        }
        const hd = kv.get("st.hd")!
        if (!hd && seen.size === 0) {
            // cut before the simulator first saved its flash (it saves lazily): to the meter
            // this is a cut before its first write, and the next boot starts the chain again
            continue
        }
        // st.hd v2: 71 bytes and a 16-byte tag under METER_SECRET
        assert.ok(hd && hd.length === 87 && hd[0] === 2, "no head in flash, though records were stored")
        const head = { seq: hd.readUInt32BE(3), hash: new Uint8Array(hd.subarray(7, 39)) }
        // K_0 leaves the flash once the genesis record is sealed: at the latest, the boot after
        // a cut before its delete removes it before the next record
        if (head.seq >= 1) assert.ok(!kv.get("st.k0")?.length, `${deviceId}: st.k0 still in flash at head ${head.seq}`)
        if (lastHead) assert.ok(head.seq >= lastHead.seq, `${deviceId}: the stored head went backwards`)
        lastHead = head
    }
    // one chain from genesis to the last stored head, accepted by the head-end
    const seqs = [...seen.keys()].sort((a, b) => a - b)
    const records = seqs.filter(s => s <= lastHead!.seq).map(s => new Uint8Array(Buffer.from(seen.get(s)!, "hex")))
    assert.equal(seqs[0], 0)
    const v = verifyChain(records, chainKey0(SECRET, METER_ID), { checkpoint: lastHead })
    assert.deepEqual(v.ok ? "ok" : v, "ok")
    // registers along the chain never go backwards
    let last = -1
    let powerUps = 0
    for (const r of records) {
        const d = decodeRecord(r)!
        assert.notEqual(d.kind, 0x32, `${deviceId}: tamper record at ${d.seq}`)
        if (d.kind === 0x21) powerUps++
        if (d.kind === 0x10 || d.kind === 0x21) {
            const e = Buffer.from(d.payload).readUInt32LE(0)
            assert.ok(e >= last, `${deviceId}: record ${d.seq}: register ${e} < ${last}`)
            last = e
        }
    }
    // a cut can come before the power-up record is durable, so a boot may lack one
    assert.ok(powerUps >= cuts / 2 && powerUps <= cuts + 1, `${deviceId}: ${powerUps} power-up records for ${cuts + 1} boots`)
    return `${deviceId}: ${cuts} cuts, ${records.length} records, head ${lastHead!.seq}, ${resumed} interrupted appends completed at boot`
}
