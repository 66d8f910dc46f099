/**
 * The demo's head-end database (docs/headend.md, "The ingestion service"): PGlite under the
 * meters directory (`<dir>/.headend/db`) unless `--database postgres://…` or `DATABASE_URL`
 * names a server, opened and migrated before the station serves.
 *
 * The database holds each meter's chain, replay window and counters, so it belongs to the
 * meters' flash: a meter whose flash starts again (--fresh, a recreated keystore, a flash
 * of unknown origin) would meet a head-end that remembers its old chain and takes the new
 * one for a clone. `meters.json` next to the embedded database names the identity (id and
 * secret) each meter had when it was stored; when a stored meter's flash will not be kept,
 * the embedded database is wiped first, announced in one line. A server is never wiped:
 * the line says what to do instead.
 */
import { createHash } from "node:crypto"
import { existsSync, readFileSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { Database, DatabaseTarget, databaseTarget, describeTarget, openDatabase } from "../../headend/src/db/index.ts"
import { writeFileAtomic } from "../../headend/src/keystore.ts"
import type { MeterEntry } from "../../headend/src/keystore.ts"

export interface DemoDatabaseOptions {
    /** the meters directory (the embedded database lives in it) */
    runDir: string
    /** --database: a directory or a postgres:// URL */
    database?: string
    env?: Record<string, string | undefined>
    meters: MeterEntry[]
    /** whether meter `m`'s flash survives provisioning (sim/src/provision.ts flashWipeReason) */
    flashKept(m: MeterEntry): boolean
    log(line: string): void
}

/** Resolves the target, wipes an embedded database that belongs to flash no longer there, opens and migrates it. */
export async function openDemoDatabase(o: DemoDatabaseOptions): Promise<{ db: Database; target: DatabaseTarget }> {
    const target = databaseTarget({ database: o.database, env: o.env ?? process.env, runDir: o.runDir })
    const stampFile = target.backend === "pglite" ? join(dirname(target.dir), "meters.json") : undefined
    const stamp = stampFile ? readStamp(stampFile) : {}
    const stale = o.meters.filter(m => stamp[m.meterId] !== undefined && (stamp[m.meterId] !== identity(m) || !o.flashKept(m)))
    if (stale.length && target.backend === "pglite" && existsSync(target.dir)) {
        o.log(`head-end database ${target.dir}: wiping it: it holds the chains of ${stale.map(m => m.name).join(", ")}, whose flash starts again (--fresh, keystore recreated or flash of unknown origin)`)
        rmSync(target.dir, { recursive: true, force: true })
        for (const k of Object.keys(stamp)) delete stamp[k]
    }
    const db = await openDatabase(target)
    if (target.backend === "postgres") {
        const seen = await db.query<{ id: Buffer }>("SELECT DISTINCT meter_id AS id FROM uplink_frames WHERE meter_id = ANY($1::bytea[])", [o.meters.filter(m => !o.flashKept(m)).map(m => Buffer.from(m.meterId, "hex"))])
        if (seen.length)
            o.log(`${describeTarget(target)} holds the chains of ${seen.map(r => o.meters.find(m => m.meterId === r.id.toString("hex"))?.name).join(", ")}, whose flash starts again: their frames will be refused as a clone's; give this fleet a fresh database`)
    }
    if (stampFile) {
        for (const m of o.meters) stamp[m.meterId] = identity(m)
        writeFileAtomic(stampFile, JSON.stringify(stamp, null, 1) + "\n")
    }
    return { db, target }
}

/** A meter's identity as the database knows it: a digest of its id and secret (never the secret itself). */
function identity(m: MeterEntry): string {
    return createHash("sha256").update("trustmeter/headend-db-identity/v1").update(m.meterId).update(m.secret).digest("hex").slice(0, 32)
}

function readStamp(file: string): Record<string, string> {
    try {
        const v = JSON.parse(readFileSync(file, "utf8"))
        return v && typeof v === "object" ? v : {}
    } catch {
        return {}
    }
}
