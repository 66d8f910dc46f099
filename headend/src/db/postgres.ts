/**
 * The server backend: a PostgreSQL server (13 or newer) through `pg`, selected with
 * `--database postgres://user:pass@host:port/db` or `DATABASE_URL`. For a fleet: the
 * server's work runs in its own processes, several head-ends can share it, and its
 * durability (fsync, replication, backups) is the server's configuration.
 *
 * A pool of connections, so a counter reservation does not queue behind a batch
 * transaction; each transaction holds one connection from BEGIN to COMMIT.
 */
import pg from "pg"
import { Database, Row, Sql, SqlParam, TypeOid, parseByteaHex } from "./adapter.ts"

export interface PostgresOptions {
    /** connections in the pool (default 4) */
    max?: number
}

/** Connects to the server at `url`; throws one line when it cannot be reached. */
export async function openPostgres(url: string, o: PostgresOptions = {}): Promise<Database> {
    const pool = new pg.Pool({
        connectionString: url,
        max: o.max ?? 4,
        types: {
            getTypeParser: ((oid: number, format?: string) => {
                if (oid === TypeOid.Int8) return (v: string) => Number(v)
                if (oid === TypeOid.Bytea && format !== "binary") return parseByteaHex
                return pg.types.getTypeParser(oid, format as "text")
            }) as typeof pg.types.getTypeParser,
        },
    })
    // an idle connection dropped by the server (restart, timeout) must not crash the
    // head-end: the pool discards it and the next query opens a new one
    pool.on("error", () => {})
    try {
        await pool.query("SELECT 1")
    } catch (e) {
        await pool.end().catch(() => {})
        throw new Error(`cannot reach the database at ${redact(url)}: ${(e as Error).message}`)
    }
    const db: Database = {
        backend: "postgres",
        query: (text, params) => run(pool, text, params),
        command: async (text, params) => (await pool.query(text, params as unknown[])).rowCount ?? 0,
        async transaction(fn) {
            const client = await pool.connect()
            const tx: Sql = {
                query: (text, params) => run(client, text, params),
                command: async (text, params) => (await client.query(text, params as unknown[])).rowCount ?? 0,
                copyBinary: (table, columns, data) => copyIn(client, table, columns, data),
            }
            let broken = false
            try {
                await client.query("BEGIN")
                const out = await fn(tx)
                await client.query("COMMIT")
                return out
            } catch (e) {
                try {
                    await client.query("ROLLBACK")
                } catch {
                    broken = true // the connection is gone: do not return it to the pool
                }
                throw e
            } finally {
                client.release(broken)
            }
        },
        async close() {
            await pool.end()
        },
    }
    return db
}

async function run<R extends Row>(q: pg.Pool | pg.PoolClient, text: string, params?: readonly SqlParam[]): Promise<R[]> {
    if (params && params.length) return (await q.query<R>(text, params as unknown[])).rows
    // no parameters: the simple protocol, which accepts a script of several statements
    const res = (await q.query(text)) as unknown as pg.QueryResult<R> | pg.QueryResult<R>[]
    return Array.isArray(res) ? (res.length ? res[res.length - 1].rows : []) : res.rows
}

const IDENT = /^[a-z_][a-z0-9_]*$/

/**
 * `COPY … FROM STDIN (FORMAT binary)` on `client` (PostgreSQL protocol §55.2.6, "COPY
 * Operations"): a query object of pg's own interface (`submit` and the `handle…` calls of
 * pg/lib/client.js) that answers the server's CopyInResponse with the data in one CopyData
 * message and CopyDone. On an error the server drops what follows and answers the simple
 * query with ErrorResponse and ReadyForQuery; pg then hands the error to `handleError`.
 */
function copyIn(client: pg.PoolClient, table: string, columns: readonly string[], data: Buffer): Promise<number> {
    if (!IDENT.test(table) || !columns.every(c => IDENT.test(c))) throw new Error(`copy: bad identifier in ${table} (${columns.join(", ")})`)
    return new Promise((resolve, reject) => {
        let rows = 0
        let settled = false
        const settle = (e: Error | undefined) => {
            if (settled) return
            settled = true
            if (e) reject(e)
            else resolve(rows)
        }
        const q = {
            text: `COPY ${table} (${columns.join(", ")}) FROM STDIN (FORMAT binary)`,
            submit(connection: { query(text: string): void }) {
                connection.query(q.text)
            },
            handleCopyInResponse(connection: { sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void }) {
                connection.sendCopyFromChunk(data)
                connection.endCopyFrom()
            },
            handleCommandComplete(msg: { text?: string }) {
                const m = /^COPY (\d+)/.exec(msg.text ?? "")
                rows = m ? Number(m[1]) : 0
            },
            handleReadyForQuery() {
                settle(undefined)
            },
            handleError(e: Error) {
                settle(e)
            },
            handleRowDescription() {},
            handleDataRow() {},
            handleEmptyQuery() {},
            handlePortalSuspended() {},
            handleCopyData() {},
        }
        client.query(q as unknown as pg.QueryConfig)
    })
}

/** The URL without its password, for error messages. */
export function redact(url: string): string {
    try {
        const u = new URL(url)
        if (u.password) u.password = "***"
        return u.toString()
    } catch {
        return "(unparsable database URL)"
    }
}
