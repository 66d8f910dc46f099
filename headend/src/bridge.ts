/**
 * Connects a HeadEnd to an MQTT broker (docs/uplink.md §9): subscribes to every meter's
 * uplink topic `u/<id>` (`u/+`), ingests each frame and publishes the ack on `d/<id>`.
 * QoS 0 throughout: delivery is confirmed end to end by the ack, not by the broker.
 */
import mqtt from "mqtt"
import { HeadEnd, IngestResult } from "./ingest.ts"
import { downlinkTopic } from "../../src/wire/report"
import { UPLINK_FILTER } from "./uplink.ts"

export interface Bridge {
    /** publishes a downlink frame (e.g. a command) to a meter */
    send(meterIdHex: string, frame: Buffer): Promise<void>
    close(): Promise<void>
    /** every ingest result, in order */
    results: IngestResult[]
}

export async function startBridge(headEnd: HeadEnd, url: string, onResult?: (r: IngestResult) => void): Promise<Bridge> {
    const client = mqtt.connect(url, { clientId: `tm-headend-${process.pid}-${Date.now()}`, reconnectPeriod: 500, keepalive: 30 })
    const results: IngestResult[] = []
    client.on("message", (_topic, payload) => {
        const r = headEnd.ingest(Buffer.from(payload))
        results.push(r)
        onResult?.(r)
        if (r.ok && r.ack) client.publish(downlinkTopic(r.meterId), r.ack, { qos: 0 })
    })
    client.on("connect", () => client.subscribe(UPLINK_FILTER, { qos: 0 }))
    client.on("error", () => {})
    await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`head-end: no broker at ${url}`)), 15000)
        client.once("connect", () => {
            clearTimeout(t)
            res()
        })
    })
    return {
        results,
        send: (id, frame) =>
            new Promise((res, rej) => client.publish(downlinkTopic(id), frame, { qos: 0 }, e => (e ? rej(e) : res()))),
        close: () => new Promise(res => client.end(true, {}, () => res())),
    }
}
