/**
 * Numbered schema migrations: plain SQL files `migrations/NNN_name.sql`, applied in order,
 * each in its own transaction together with its row in `schema_migrations`, so a
 * migration is either wholly applied and recorded or not at all (a crash half-way leaves
 * nothing to repair). The same files run on PGlite and on a PostgreSQL server.
 *
 * Refusals, so a head-end never runs on a schema it does not know:
 * - a recorded migration whose SQL has changed since (its SHA-256 differs): a migration is
 *   never edited once released, a new one is added;
 * - a recorded version this head-end does not have (a newer head-end migrated it).
 * Two head-ends migrating one server at once are serialized by an advisory lock.
 */
import { createHash } from "node:crypto"
import { readFileSync, readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Database, Sql } from "./adapter.ts"

export interface Migration {
    version: number
    name: string
    sql: string
    /** SHA-256 of the SQL (line endings normalized), hex */
    checksum: string
}

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "migrations")

/** pg_advisory_xact_lock key for schema changes (any constant; "tm" ‖ "schema"). */
const SCHEMA_LOCK = 0x746d_5343

const FILE = /^(\d{3})_([a-z0-9_]+)\.sql$/

/** Reads the migrations of `dir`, ordered; throws unless they are numbered 1, 2, 3... */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
    const out: Migration[] = []
    for (const f of readdirSync(dir).sort()) {
        const m = FILE.exec(f)
        if (!m) {
            if (f.endsWith(".sql")) throw new Error(`migration file name ${f} is not NNN_name.sql`)
            continue
        }
        const sql = readFileSync(join(dir, f), "utf8").replace(/\r\n/g, "\n")
        out.push({ version: Number(m[1]), name: m[2], sql, checksum: createHash("sha256").update(sql).digest("hex") })
    }
    out.forEach((m, i) => {
        if (m.version !== i + 1) throw new Error(`migrations must be numbered 001, 002, ... without gaps: found ${String(m.version).padStart(3, "0")}_${m.name} at position ${i + 1}`)
    })
    return out
}

/** Brings the schema up to date; returns the versions applied by this call (empty when it was current). */
export async function migrate(db: Database, migrations: Migration[] = loadMigrations()): Promise<number[]> {
    const applied: number[] = []
    // one transaction per migration; the first also checks what is recorded
    for (let i = 0; i <= migrations.length; i++) {
        const done = await db.transaction(async tx => {
            const recorded = await lockAndRead(tx)
            check(recorded, migrations)
            const next = migrations.find(m => !recorded.has(m.version))
            if (!next) return false
            await tx.query(next.sql)
            await tx.query("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", [next.version, next.name, next.checksum])
            applied.push(next.version)
            return true
        })
        if (!done) break
    }
    return applied
}

/** The recorded migrations: version → checksum. */
export async function recordedMigrations(q: Sql): Promise<Map<number, string>> {
    const rows = await q.query<{ version: number; checksum: string }>("SELECT version, checksum FROM schema_migrations ORDER BY version")
    return new Map(rows.map(r => [Number(r.version), r.checksum]))
}

async function lockAndRead(tx: Sql): Promise<Map<number, string>> {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK])
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer     PRIMARY KEY,
        name       text        NOT NULL,
        checksum   text        NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    return recordedMigrations(tx)
}

function check(recorded: Map<number, string>, migrations: Migration[]) {
    for (const [version, checksum] of recorded) {
        const m = migrations.find(x => x.version === version)
        if (!m) throw new Error(`the database has schema migration ${version}, which this head-end does not know: it was migrated by a newer head-end; run that one`)
        if (m.checksum !== checksum) throw new Error(`schema migration ${String(version).padStart(3, "0")}_${m.name} was changed after it was applied (checksum differs): restore the file, and put changes in a new migration`)
    }
}
