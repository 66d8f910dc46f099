import * as ds from "@devicescript/core"
import { readSetting } from "@devicescript/settings"
import { settingsStorage } from "../../src/storage/settings"
import { IndexStore } from "../../src/store/indexstore"
import { MqttLink, Uplink, readUplinkConfig, storeRecordSource } from "../../src/comms/index"
import { RecordKind } from "../../src/wire/record"

// End-to-end test firmware (test/node/e2e_uplink_*.test.ts): the real index store and the
// real uplink over MQTT; an "interval" closes every `tf.iv` ms (accelerated time) with a
// small payload. Settings come from provisionSimulatedMeter (sim/src/provision.ts).
const cfg = await readUplinkConfig(settingsStorage)
const ivMs: number = await readSetting("tf.iv", 2000)
const store = await IndexStore.open({ meterId: cfg.meterId, meterSecret: cfg.secret, storage: settingsStorage })
const link = new MqttLink(
    {
        host: cfg.broker.host,
        port: cfg.broker.port,
        proto: cfg.broker.proto,
        keepAliveS: 30,
        minBackoffMs: 500,
        maxBackoffMs: 4000,
    },
    cfg.meterIdHex
)
const uplink = new Uplink({
    meterId: cfg.meterId,
    secret: cfg.secret,
    storage: settingsStorage,
    source: storeRecordSource(store),
    transport: link,
    ackTimeoutMs: 2000,
    maxRecordsPerFrame: 8,
    pollMs: 500,
})
await uplink.start()
link.start()
console.log(`UPLINK boot head=${store.head().seq} acked=${uplink.ackedSeq()}`)
let n = 0
setInterval(async () => {
    n++
    const p = Buffer.alloc(4)
    p[0] = n & 0xff
    const r = await store.append(RecordKind.IntervalClose, 0, p)
    if (r) console.log(`UPLINK appended ${r.seq}`)
    else console.log(`UPLINK store full`)
    uplink.notify()
}, ivMs)
setInterval(() => {
    console.log(`UPLINK status head=${store.head().seq} acked=${uplink.ackedSeq()} rej=${uplink.stats.downlinkRejected} up=${link.isConnected() ? 1 : 0}`)
}, 2000)
