/**
 * The embedded backend: PGlite (PostgreSQL 17 compiled to WebAssembly, in this process)
 * with its data directory on disk, e.g. `.headend/db`. Nothing to install or start.
 *
 * Durability: PGlite runs PostgreSQL in single-user mode over Node's file system; a
 * commit writes the WAL with a synchronous write() before the query resolves, so a
 * committed transaction survives `kill -9` of the head-end (tested in
 * test/node/headend_db.test.ts). Whether it survives a power cut of the machine depends
 * on the WAL reaching the disk (fsync), which PGlite's file system layer does not promise;
 * a head-end that must survive power cuts runs on a PostgreSQL server (`postgres.ts`).
 *
 * One process at a time: PGlite is a single connection and does not refuse a second
 * process opening the same directory (measured: both write, the WAL interleaves), so
 * `openPGlite` holds a lock file `<dir>.lock` with its pid; a lock whose process is gone
 * (a kill, a crash) is taken over.
 */
import { PGlite } from "@electric-sql/pglite"
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { Database, Row, Sql, SqlParam, TypeOid, parseByteaHex } from "./adapter.ts"

/** Opens (creating on first use) the PGlite database in `dir`; throws when another live process holds it. */
export async function openPGlite(dir: string): Promise<Database> {
    const dataDir = resolve(dir)
    const release = acquireLock(`${dataDir}.lock`)
    let pg: PGlite
    try {
        mkdirSync(dataDir, { recursive: true })
        pg = await PGlite.create(dataDir, {
            parsers: {
                [TypeOid.Int8]: (v: string) => Number(v),
                [TypeOid.Bytea]: parseByteaHex,
            },
            // bytea parameters go binary, as they are (PGlite's own serializer formats hex
            // text byte by byte: 22 µs per 75-byte record of a batch, more than inserting it)
            serializers: { [TypeOid.Bytea]: (x: Uint8Array) => x as unknown as string },
        })
        // an array of bytea cannot go binary through PGlite (its array serializer escapes
        // text), so it goes as hex text built by Node's encoder
        ;(pg as unknown as { serializers: Record<number, (x: unknown) => string> }).serializers[TypeOid.ByteaArray] = serializeByteaArray
    } catch (e) {
        release()
        throw e
    }
    let closed = false
    return {
        backend: "pglite",
        query: (text, params) => run(pg, text, params),
        command: (text, params) => affected(pg, text, params),
        transaction: fn =>
            pg.transaction(tx =>
                fn({ query: (text, params) => run(tx, text, params), command: (text, params) => affected(tx, text, params), copyBinary: (table, columns, data) => copyIn(tx, table, columns, data) })
            ),
        async close() {
            if (closed) return
            closed = true
            try {
                await pg.close()
            } finally {
                release()
            }
        },
    }
}

/** A bytea[] parameter in PostgreSQL's text form: `{"\\\\x0102",NULL}`. */
function serializeByteaArray(xs: unknown): string {
    if (!Array.isArray(xs)) return xs as string
    let s = "{"
    for (let i = 0; i < xs.length; i++) {
        const x = xs[i] as Uint8Array | null | undefined
        if (i) s += ","
        s += x === null || x === undefined ? "NULL" : '"\\\\x' + Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("hex") + '"'
    }
    return s + "}"
}

interface PGliteSql {
    query<T>(text: string, params?: unknown[], options?: { blob?: Blob }): Promise<{ rows: T[]; affectedRows?: number }>
    exec(text: string): Promise<{ rows: unknown[] }[]>
}

async function run<R extends Row>(q: PGliteSql, text: string, params?: readonly SqlParam[]): Promise<R[]> {
    if (params && params.length) return (await q.query<R>(text, params as unknown[])).rows
    // no parameters: the simple protocol, which accepts a script of several statements
    const results = await q.exec(text)
    return (results.length ? results[results.length - 1].rows : []) as R[]
}

async function affected(q: PGliteSql, text: string, params: readonly SqlParam[]): Promise<number> {
    return (await q.query(text, params as unknown[])).affectedRows ?? 0
}

const IDENT = /^[a-z_][a-z0-9_]*$/

/** `COPY … FROM '/dev/blob' (FORMAT binary)`: PGlite reads the rows from the blob passed with the query. */
async function copyIn(q: PGliteSql, table: string, columns: readonly string[], data: Buffer): Promise<number> {
    if (!IDENT.test(table) || !columns.every(c => IDENT.test(c))) throw new Error(`copy: bad identifier in ${table} (${columns.join(", ")})`)
    return (await q.query(`COPY ${table} (${columns.join(", ")}) FROM '/dev/blob' WITH (FORMAT binary)`, [], { blob: new Blob([data as unknown as Uint8Array<ArrayBuffer>]) })).affectedRows ?? 0
}

/**
 * Creates `path` exclusively with our pid in it. A lock left by a process that no longer
 * exists is stale (the holder was killed) and is replaced. Two processes taking over the
 * same stale lock at the same instant can both succeed: the lock guards against the
 * mistake of starting a second head-end, not against a race at startup.
 */
function acquireLock(path: string): () => void {
    mkdirSync(dirname(path), { recursive: true })
    for (let attempt = 0; attempt < 2; attempt++) {
        try {
            const fd = openSync(path, "wx", 0o600)
            writeSync(fd, `${process.pid}\n`)
            closeSync(fd)
            return () => rmSync(path, { force: true })
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
        }
        let holder = NaN
        try {
            holder = Number(readFileSync(path, "utf8").trim())
        } catch {
            // removed meanwhile, or unreadable: treated as stale below
        }
        if (Number.isInteger(holder) && holder > 0 && processExists(holder)) {
            throw new Error(`database ${path.slice(0, -5)} is in use by process ${holder}: stop it first (or delete ${path} if that process is not a head-end)`)
        }
        rmSync(path, { force: true })
    }
    throw new Error(`cannot lock ${path}`)
}

function processExists(pid: number): boolean {
    try {
        process.kill(pid, 0)
        return true
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM"
    }
}
