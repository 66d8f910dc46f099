/**
 * The test bridge: the ingestion service (service.ts, the one code path of `npm start` and
 * `trustmeter serve`) on a broker, around a HeadEnd the test holds (docs/uplink.md §9):
 * subscribes to every meter's uplink topic `u/<id>` (`u/+`), decides, commits to the
 * database, and publishes each ack on `d/<id>` sealed with a committed counter. QoS 0
 * throughout: delivery is confirmed end to end by the ack, not by the broker.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Database, openDatabase } from "./db/index.ts"
import { HeadEnd } from "./ingest.ts"
import { HeadEndService, ServiceVerdict, connectBroker } from "./service.ts"
import { downlinkTopic } from "../../src/wire/report"

export interface Bridge {
    /** publishes a downlink frame (e.g. a command) to a meter */
    send(meterIdHex: string, frame: Buffer): Promise<void>
    close(): Promise<void>
    /** every verdict, in order */
    results: ServiceVerdict[]
    service: HeadEndService
}

/**
 * Serves `headEnd`'s meters from the broker at `url` on `o.db`, or on an embedded database
 * in a temporary directory removed on close. `headEnd` keeps every record in memory unless
 * it was made with `keepRecords`; its options' `secretOf` names the meters.
 */
export async function startBridge(headEnd: HeadEnd, url: string, onResult?: (r: ServiceVerdict) => void, o: { db?: Database } = {}): Promise<Bridge> {
    const link = await connectBroker(url, 15_000)
    let tmp: string | undefined
    let db = o.db
    if (!db) {
        tmp = mkdtempSync(join(tmpdir(), "tm-bridge-db-"))
        db = await openDatabase({ backend: "pglite", dir: join(tmp, "db") })
    }
    const results: ServiceVerdict[] = []
    const service = HeadEndService.open({
        db,
        ownsDatabase: !o.db,
        headEnd,
        secretOf: id => headEnd.secretOf(id),
        chainKeyOf: id => headEnd.chainKeyOf(id),
        events: {
            accepted: v => record(v),
            refused: v => record(v),
        },
    })
    const record = (v: ServiceVerdict) => {
        results.push(v)
        onResult?.(v)
    }
    await service.attach(link)
    return {
        results,
        service,
        send: async (id, frame) => {
            await link.client.publishAsync(downlinkTopic(id), frame, { qos: 0 })
        },
        async close() {
            await service.close()
            if (tmp) rmSync(tmp, { recursive: true, force: true })
        },
    }
}
