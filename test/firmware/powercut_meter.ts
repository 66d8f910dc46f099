/**
 * Firmware for test/node/powercut.test.ts: the real IndexStore on the simulator's flash,
 * fed by a minimal deterministic energy counter (one Wh per tick) standing in for the
 * metrology engine, in accelerated time: an interval closes every INTERVAL_TICKS ticks.
 * The Node test kills this process at random moments and restarts it.
 *
 * Console protocol: `BOOT e=<Wh> i=<interval> seq=<head> ok=<0|1> resumed=<0|1>` once,
 * then `E <Wh>` after every tick (the last one printed before a cut is the energy the
 * meter had measured).
 */
import * as ds from "@devicescript/core"
import { settingsStorage } from "../../src/storage/settings"
import { IndexStore, KEY_HEAD, KEY_K0 } from "../../src/store/indexstore"
import { RecordKind, decodeRecord } from "../../src/wire/record"

const TICK_MS = 40
const INTERVAL_TICKS = 10
const SNAPSHOT_MS = 150
/** records the stand-in head-end leaves unacknowledged */
const ACK_LAG = 8

/** The counter's state: energy register (Wh) and the number of the open interval. */
function encodeState(energy: number, interval: number): Buffer {
    const b = Buffer.alloc(8)
    b.setAt(0, "u32", energy)
    b.setAt(4, "u32", interval)
    return b
}

// provisioning, on a flash without a chain head: K_0 (test/fixtures/chain_k0.ts for this
// meter's secret and id, what test/node/powercut.test.ts verifies with); the store deletes
// it once the genesis record is sealed
if (!(await settingsStorage.get(KEY_HEAD))) await settingsStorage.set(KEY_K0, Buffer.from('"07cecc88e252189a6c1e3753941bff0878be1055532861647dbf1fd56ed4b96f"'))
const store = await IndexStore.open({
    meterId: Buffer.from("7e570000000000c7", "hex"),
    meterSecret: Buffer.from("c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf", "hex"),
    storage: settingsStorage,
    slots: 16,
    snapshotPeriodMs: SNAPSHOT_MS,
})

// registers never go backwards: take the newer of the snapshot and the newest record
let energy = 0
let interval = 0
const snap = store.loadSnapshot()
if (snap && snap.length === 8) {
    energy = snap.getAt(0, "u32")
    interval = snap.getAt(4, "u32")
}
const last = decodeRecord(store.recordsAfter(store.head().seq - 1, 1)[0])
if (last && (last.kind === RecordKind.IntervalClose || last.kind === RecordKind.PowerUp) && last.payload.length === 8) {
    const e = last.payload.getAt(0, "u32")
    const i = last.payload.getAt(4, "u32")
    if (e > energy) energy = e
    if (i > interval) interval = i
}
const v = store.verdict()
console.log(`BOOT e=${energy} i=${interval} seq=${store.head().seq} ok=${v.ok ? 1 : 0} resumed=${v.resumed ? 1 : 0} ms=${ds.millis()}`)
await store.append(RecordKind.PowerUp, 0, encodeState(energy, interval))

let ticks = 0
let busy = false
setInterval(async () => {
    if (busy) return
    busy = true
    try {
        energy++
        ticks++
        console.log(`E ${energy}`)
        if (ticks % INTERVAL_TICKS === 0) {
            interval++
            await store.append(RecordKind.IntervalClose, 0, encodeState(energy, interval))
            await store.saveSnapshot(encodeState(energy, interval), true)
            const ack = store.head().seq - ACK_LAG
            if (ack > store.acknowledged()) await store.acknowledge(ack)
        } else await store.saveSnapshot(encodeState(energy, interval))
    } finally {
        busy = false
    }
}, TICK_MS)
