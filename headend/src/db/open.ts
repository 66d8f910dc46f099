/**
 * Which database the head-end uses, and opening it with the schema up to date
 * (docs/headend-storage.md, "Backends"):
 *   --database postgres://user:pass@host:port/db   a PostgreSQL server
 *   --database <directory>                         PGlite in that directory
 *   DATABASE_URL=postgres://...                    a PostgreSQL server (when no --database)
 *   neither                                        PGlite in <run directory>/.headend/db
 */
import { join, resolve } from "node:path"
import { Database } from "./adapter.ts"
import { migrate } from "./migrate.ts"
import { openPGlite } from "./pglite.ts"
import { openPostgres, redact } from "./postgres.ts"

export type DatabaseTarget = { backend: "pglite"; dir: string } | { backend: "postgres"; url: string }

/** The PGlite directory inside a run directory. */
export const DEFAULT_DB_DIR = join(".headend", "db")

const POSTGRES_URL = /^postgres(ql)?:\/\//i

/** Resolves `--database`, then `DATABASE_URL`, then the embedded default under `runDir`. */
export function databaseTarget(o: { database?: string; env?: Record<string, string | undefined>; runDir: string }): DatabaseTarget {
    if (o.database) {
        if (POSTGRES_URL.test(o.database)) return { backend: "postgres", url: o.database }
        if (/^[a-z][a-z0-9+.-]*:\/\//i.test(o.database)) throw new Error(`--database ${redact(o.database)}: only postgres:// URLs or a directory for the embedded database`)
        return { backend: "pglite", dir: resolve(o.runDir, o.database) }
    }
    const env = o.env?.DATABASE_URL
    if (env) {
        if (!POSTGRES_URL.test(env)) throw new Error(`DATABASE_URL must be a postgres:// URL (got ${redact(env)})`)
        return { backend: "postgres", url: env }
    }
    return { backend: "pglite", dir: resolve(o.runDir, DEFAULT_DB_DIR) }
}

/** One line naming the target, without a password. */
export function describeTarget(t: DatabaseTarget): string {
    return t.backend === "pglite" ? `embedded PostgreSQL (PGlite) in ${t.dir}` : `PostgreSQL at ${redact(t.url)}`
}

/** Opens the target and applies pending migrations (unless `migrate: false`). */
export async function openDatabase(t: DatabaseTarget, o: { migrate?: boolean } = {}): Promise<Database> {
    const db = t.backend === "pglite" ? await openPGlite(t.dir) : await openPostgres(t.url)
    if (o.migrate === false) return db
    try {
        await migrate(db)
    } catch (e) {
        await db.close().catch(() => {})
        throw e
    }
    return db
}
