/**
 * The one database port of the head-end (docs/headend-storage.md): SQL text with `$n`
 * parameters, a transaction, close. Two implementations: PGlite (PostgreSQL compiled to
 * WebAssembly, in process, `pglite.ts`) and a PostgreSQL server through `pg`
 * (`postgres.ts`). The schema, the migrations and the repository are written once
 * against this interface and run unchanged on both.
 *
 * Values come back normalized the same way from both backends, so no caller branches on
 * the backend: `bytea` → Buffer, `int8` → number (every int8 column here is a counter or
 * a seq below 2^53, bounded by CHECK constraints), `numeric` → string, `timestamptz` → Date.
 */

/** A parameter value: `bytea` as Buffer, arrays for `unnest($n::type[])`, null for SQL NULL. */
export type SqlParam = string | number | boolean | Buffer | null | readonly (string | number | boolean | Buffer | null)[]

export type Row = Record<string, unknown>

/** Something that runs SQL: the database itself (autocommit) or an open transaction. */
export interface Sql {
    /**
     * Runs one statement with `$1`.. parameters and returns its rows. Without parameters
     * the text may hold several statements (a migration script); the rows are the last one's.
     */
    query<R extends Row = Row>(text: string, params?: readonly SqlParam[]): Promise<R[]>
    /** Runs one statement with `$1`.. parameters and returns how many rows it inserted, updated or deleted. */
    command(text: string, params: readonly SqlParam[]): Promise<number>
    /**
     * `COPY table (columns) FROM STDIN (FORMAT binary)` with `data` (PostgreSQL's binary copy
     * format, `copyRows`): the rows go in as plain inserts (a held key fails it with a unique
     * violation). Returns the rows copied. Inside a transaction (both backends: the server
     * through COPY FROM STDIN, PGlite through a blob read as '/dev/blob').
     */
    copyBinary?(table: string, columns: readonly string[], data: Buffer): Promise<number>
}

export type Backend = "pglite" | "postgres"

export interface Database extends Sql {
    readonly backend: Backend
    /**
     * Runs `fn` in one transaction: committed when `fn` resolves, rolled back when it
     * throws (the error is rethrown). A transaction handle is a plain `Sql`, so a function
     * that must commit on its own (a downlink counter reservation) takes a `Database` and
     * cannot be handed a transaction by mistake.
     */
    transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>
    /** Waits for running queries and releases the database (and its lock). */
    close(): Promise<void>
}

/** PostgreSQL type oids whose parsing both backends override (pg_type.dat). */
export const enum TypeOid {
    Int8 = 20,
    Bytea = 17,
    ByteaArray = 1001,
}

/** `\x0102…` (bytea hex output, the default since PostgreSQL 9.0) → Buffer. */
export function parseByteaHex(text: string): Buffer {
    return Buffer.from(text.slice(2), "hex")
}
