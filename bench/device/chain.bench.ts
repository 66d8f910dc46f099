import * as ds from "@devicescript/core"
import { median } from "./stats"
import { nativeCrypto } from "../../src/crypto/native"
import { settingsStorage } from "../../src/storage/settings"
import { RamStorage, fstorCost } from "../../src/storage/twins"
import { verifySegment } from "../../src/store/chain"
import { IndexStore } from "../../src/store/indexstore"
import { GENESIS_PREV, genesisState, seal } from "../../src/wire/chain"
import { encodeInterval } from "../../src/wire/interval"
import { RecordKind } from "../../src/wire/record"
import { SnapshotWire } from "../../src/metrology/snapshot"

// The index store's figures (docs/index-store.md, "Figures"). Runs on a long-running
// simulated device whose flash is a fresh temporary file.

const ID = Buffer.from("00000000be4c0001", "hex")
const SECRET = Buffer.from("b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "hex")

function intervalPayload(i: number): Buffer {
    return encodeInterval({
        start: 1764000000 + 1800 * i,
        lengthMin: 30,
        status: 0,
        coveredS: 1800,
        importMWh: 250000 + i,
        exportMWh: 0,
    })
}

// chain_append_ms: one interval record sealed and persisted through the settings store
// (record + head, each read back), median over 40 appends
{
    const store = await IndexStore.open({ meterId: ID, meterSecret: SECRET, storage: settingsStorage })
    const times: number[] = []
    for (let i = 0; i < 40; i++) {
        const t0 = ds.millis()
        await store.append(RecordKind.IntervalClose, 1764000000 + 1800 * i, intervalPayload(i))
        times.push(ds.millis() - t0)
        await store.acknowledge(store.head().seq)
    }
    console.log(`BENCH chain_append_ms ${median(times)}`)
    const v = await store.verifyAtBoot()
    console.log(`# boot verification after the appends: ${v.ok ? "ok" : "FAILED"} (${v.checked} records)`)
}

// chain_record_bytes: one interval record as the settings store keeps it
// (24-byte directory entry + the encoded record padded to 8 bytes)
{
    let st = genesisState(Buffer.alloc(32))
    const s = seal(nativeCrypto, st, RecordKind.IntervalClose, 1764000000, intervalPayload(0))
    console.log(`# interval record encoded: ${s.record.encoded.length} bytes`)
    console.log(`BENCH chain_record_bytes ${fstorCost(s.record.encoded.length)}`)
}

// flash_bytes_per_day: one day at 48 half-hour intervals, everything the store writes:
// per interval the record, the head and the head-end's ack; a metrology snapshot
// (108 bytes) every default snapshot period (15 min) = 96 a day
{
    const f = new RamStorage()
    const store = await IndexStore.open({ meterId: ID, meterSecret: SECRET, storage: f })
    const before = f.bytesWritten
    for (let q = 0; q < 96; q++) {
        if (q % 2 === 1) {
            const i = (q - 1) / 2
            await store.append(RecordKind.IntervalClose, 1764000000 + 1800 * i, intervalPayload(i))
            await store.acknowledge(store.head().seq)
        }
        const snap = Buffer.alloc(SnapshotWire.Bytes)
        snap.setAt(4, "u32", q)
        await store.saveSnapshot(snap, true)
    }
    console.log(`BENCH flash_bytes_per_day ${f.bytesWritten - before}`)
}

// chain_verify_1000_ms: the boot-time link walk (decode, seq, prev hash, SHA-256) over
// 1,000 records: a 100-record chain walked 10 times (the simulator's heap cannot hold
// 1,000 records at once; the store holds 32)
{
    const recs: Buffer[] = []
    let st = genesisState(Buffer.alloc(32))
    for (let i = 0; i < 100; i++) {
        if (i % 20 === 0) await ds.sleep(0)
        const s = seal(nativeCrypto, st, RecordKind.IntervalClose, 1764000000 + 1800 * i, intervalPayload(i))
        recs.push(s.record.encoded)
        st = s.state
    }
    const times: number[] = []
    for (let r = 0; r < 5; r++) {
        const t0 = ds.millis()
        for (let k = 0; k < 10; k++) {
            const v = await verifySegment(recs, { seq: -1, hash: GENESIS_PREV })
            if (v.reason) console.log("# verification FAILED")
        }
        times.push(ds.millis() - t0)
    }
    console.log(`BENCH chain_verify_1000_ms ${median(times)}`)
}

// sim_settings_free_bytes: how much the simulator's settings store still takes after the
// above (fills it with 160-byte values until one does not read back; this flash is a
// temporary file)
{
    let n = 0
    for (; n < 200; n++) {
        const k = "st.cap" + n
        const v = Buffer.alloc(160)
        v.setAt(0, "u32", n + 1)
        await settingsStorage.set(k, v)
        const back = await settingsStorage.get(k)
        if (!back || back.length !== 160) break
    }
    console.log(`BENCH sim_settings_free_bytes ${n * fstorCost(160)}`)
}
console.log("BENCH_DONE")
