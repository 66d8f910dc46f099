/**
 * Uplink figures (docs/uplink.md §13):
 * - uplink_model_bytes_per_day_{hh,daily,monthly}: a model of the bytes the meter sends (meter → broker) per day
 *   at 48 intervals, MQTT framing included: one CONNECT + SUBSCRIBE, the PUBLISH packets of
 *   its frames (real frames: chained 75-byte store records with a 16-byte interval
 *   payload, 16-byte registers, checkpoint), the PINGREQs of a 255 s keep-alive pinged at
 *   0.9 × (as src/comms/mqtt_link.ts). TCP/IP and TLS overhead are not counted.
 *   The other direction (broker → meter: the head-end's real ack frames, PINGRESP, CONNACK,
 *   SUBACK) is uplink_model_down_bytes_per_day_hh; both together uplink_model_total_bytes_per_day_hh.
 *   The firmware's real frames on the wire: bench/node/uplink_bytes.bench.ts.
 * - headend_frames_per_s: frames decrypted, replay-checked, chain-verified (records rebuilt,
 *   prev link, tag under K_seq), stored and acked (ack frame sealed) per CPU second of the
 *   head-end's one thread (process CPU time, so a loaded machine does not skew it; one
 *   record per frame, 200 meters); headend_frames_per_wall_s is the same over wall time.
 */
import { randomBytes } from "node:crypto"
import * as F from "../../src/wire/frame"
import * as U from "../../src/wire/report"
import { nodeCrypto as C } from "../../headend/src/crypto.ts"
import { mqttPublishSize } from "../../headend/src/uplink.ts"
import { evolveKey, recordHash, sealRecord } from "../../headend/src/chain.ts"
import { chainKey0 } from "../../test/fixtures/chain_k0.ts"
import { HeadEnd } from "../../headend/src/ingest.ts"

const PER_DAY = 48
const KEEPALIVE_S = 255

function meter(idHex: string, secret: Buffer) {
    const meterId = Buffer.from(idHex, "hex")
    let key = chainKey0(secret, meterId)
    let prev: Uint8Array = new Uint8Array(32)
    const records: Buffer[] = []
    let counter = 0
    const upKey = F.deriveFrameKey(C, secret, meterId, 1, 0)
    return {
        records,
        append() {
            const seq = records.length
            const r = Buffer.from(sealRecord(key, 0x10, seq, 1700000000 + seq * 1800, randomBytes(16), prev))
            key = evolveKey(key)
            prev = recordHash(r)
            records.push(r)
        },
        frame(rep: U.Report) {
            return F.sealFrame(C, upKey, { version: F.FrameConst.Version, direction: 1, meterId, epoch: 0, counter: ++counter }, U.encodeReport(C, rep))
        },
    }
}

function connectBytes(idHex: string) {
    // CONNECT: fixed 2 + "MQTT" 6 + level/flags/keepalive 4 + client id "tm-<id>" (2 + 19)
    const connect = 2 + 6 + 4 + 2 + `tm-${idHex}`.length
    // SUBSCRIBE: fixed 2 + packet id 2 + topic (2 + len) + qos 1
    const subscribe = 2 + 2 + 2 + U.downlinkTopic(idHex).length + 1
    return connect + subscribe
}

function bytesPerDay(level: number, days: number) {
    const id = "7e57000000000001"
    const secret = randomBytes(32)
    const m = meter(id, secret)
    const he = new HeadEnd({ secretOf: x => (x === id ? secret : undefined), chainKeyOf: x => (x === id ? chainKey0(secret, Buffer.from(id, "hex")) : undefined) })
    const regs = Buffer.alloc(16, 3)
    let up = 0
    let down = 0
    let acked = -1
    const period = level === 0 ? 1 : level === 1 ? PER_DAY : PER_DAY * 30
    for (let i = 0; i < PER_DAY * days; i++) {
        m.append()
        const head = m.records.length - 1
        let rep: U.Report | undefined
        if (level === 0) {
            rep = {
                privacyLevel: 0,
                registers: regs,
                checkpointSeq: head,
                checkpointHash: Buffer.from(recordHash(m.records[head])),
                records: [{ seq: head, data: m.records[head] }],
            }
        } else if (head - acked >= period) {
            rep = {
                privacyLevel: level,
                registers: regs,
                checkpointSeq: head,
                checkpointHash: Buffer.from(recordHash(m.records[head])),
                aggregates: [{ firstSeq: acked + 1, lastSeq: head, importWh: 12345, exportWh: 0 }],
            }
        }
        if (!rep) continue
        const f = m.frame(rep)
        up += mqttPublishSize(U.uplinkTopic(id), f.length)
        // the head-end checks every frame and answers with its real ack
        const r = he.ingest(f)
        if (!r.ok || !r.ack) throw new Error(`bench frame rejected: ${JSON.stringify(r)}`)
        down += mqttPublishSize(U.downlinkTopic(id), r.ack.length)
        acked = head
    }
    const pings = Math.ceil((86400 * days) / (KEEPALIVE_S * 0.9))
    up += pings * 2 + connectBytes(id)
    down += pings * 2 + 4 + 5 // PINGRESP, CONNACK, SUBACK
    return { up: up / days, down: down / days }
}

function headEndRate() {
    const meters = 200
    const perMeter = 100
    const secrets = new Map<string, Buffer>()
    const frames: Buffer[] = []
    const ms = Array.from({ length: meters }, (_, i) => {
        const id = "7e57" + i.toString(16).padStart(12, "0")
        const s = randomBytes(32)
        secrets.set(id, s)
        return meter(id, s)
    })
    for (let k = 0; k < perMeter; k++)
        for (const m of ms) {
            m.append()
            const head = m.records.length - 1
            frames.push(
                m.frame({
                    privacyLevel: 0,
                    registers: Buffer.alloc(16, 3),
                    checkpointSeq: head,
                    checkpointHash: Buffer.from(recordHash(m.records[head])),
                    records: [{ seq: head, data: m.records[head] }],
                })
            )
        }
    const cpu: number[] = []
    const wall: number[] = []
    for (let run = 0; run < 7; run++) {
        const he = new HeadEnd({ secretOf: id => secrets.get(id), chainKeyOf: id => chainKey0(secrets.get(id)!, Buffer.from(id, "hex")) })
        const t0 = performance.now()
        const c0 = process.cpuUsage()
        let stored = 0
        for (const f of frames) {
            const r = he.ingest(f)
            if (!r.ok || !r.ack) throw new Error(`bench frame rejected: ${JSON.stringify(r)}`)
            stored += r.stored
        }
        const c = process.cpuUsage(c0)
        wall.push(frames.length / ((performance.now() - t0) / 1000))
        cpu.push(frames.length / ((c.user + c.system) / 1e6))
        if (stored !== frames.length) throw new Error("bench: not every record was stored")
    }
    cpu.sort((a, b) => a - b)
    wall.sort((a, b) => a - b)
    return { cpu: cpu[3], wall: wall[3] }
}

export default async function () {
    const hh = bytesPerDay(0, 2)
    const rate = headEndRate()
    return {
        // a model (frames sealed here, not by the firmware): the measured figures on the wire
        // are bench/node/uplink_bytes.bench.ts's uplink_bytes_per_day_*
        uplink_model_bytes_per_day_hh: Math.round(hh.up),
        uplink_model_bytes_per_day_daily: Math.round(bytesPerDay(1, 4).up),
        uplink_model_bytes_per_day_monthly: Math.round(bytesPerDay(2, 60).up),
        uplink_model_down_bytes_per_day_hh: Math.round(hh.down),
        uplink_model_total_bytes_per_day_hh: Math.round(hh.up + hh.down),
        headend_frames_per_s: Math.round(rate.cpu),
        headend_frames_per_wall_s: Math.round(rate.wall),
    }
}
