/**
 * Batch parameters in the forms that cost the head-end least to send. Measured
 * (bench/node/headend_db.bench.ts): `pg` sends a Buffer parameter as binary as it is, but
 * an array of Buffers as hex text built element by element, and it quotes every element
 * of a number array through two regular expressions. So a batch's byte strings travel
 * as one Buffer (cut apart by `substring` in SQL) and its numbers as one '{1,2,NULL}'
 * string; PGlite accepts both forms too.
 */

/** An int2/int4/int8 array parameter in PostgreSQL's text form: '{1,2,NULL}'. */
export function intArray(xs: readonly (number | null | undefined)[]): string {
    let s = "{"
    for (let i = 0; i < xs.length; i++) {
        if (i) s += ","
        const x = xs[i]
        s += x === null || x === undefined ? "NULL" : String(x)
    }
    return s + "}"
}

/** Byte strings of `size` bytes each, back to back: value i is `substring(blob from i*size + 1 for size)`. */
export function packFixed(bufs: readonly Buffer[], size: number): Buffer {
    const out = Buffer.allocUnsafe(bufs.length * size)
    for (let i = 0; i < bufs.length; i++) {
        if (bufs[i].length !== size) throw new RangeError(`expected ${size} bytes`)
        bufs[i].copy(out, i * size)
    }
    return out
}

/**
 * Byte strings of any size (or absent), back to back, with their 1-based offsets and
 * lengths (−1 when absent): value i is `CASE WHEN len >= 0 THEN substring(blob from off for len) END`.
 */
export function packVar(bufs: readonly (Buffer | undefined)[]): { blob: Buffer; offsets: string; lengths: string } {
    let total = 0
    for (const b of bufs) if (b) total += b.length
    const blob = Buffer.allocUnsafe(total)
    const offsets: number[] = []
    const lengths: number[] = []
    let at = 0
    for (const b of bufs) {
        offsets.push(at + 1)
        if (b) {
            b.copy(blob, at)
            at += b.length
            lengths.push(b.length)
        } else lengths.push(-1)
    }
    return { blob, offsets: intArray(offsets), lengths: intArray(lengths) }
}

/** A field of a binary COPY row: bytes, a bigint column's value, or NULL. */
export type CopyField = Buffer | number | null | undefined

/**
 * Rows in PostgreSQL's binary COPY format (the `COPY` reference page, "Binary Format"): the
 * signature, flags and header extension, then per row the field count (int16) and each field
 * as an int32 length (−1: NULL) and its bytes (bytea as is, a number as int8 big-endian),
 * then −1 as the trailer. `fields(row, out)` writes a row's fields into `out` (reused).
 */
export function copyRows<R>(rows: readonly R[], width: number, fields: (row: R, out: CopyField[]) => void): Buffer {
    const out: CopyField[] = new Array(width)
    let size = COPY_HEADER.length + 2
    for (const r of rows) {
        fields(r, out)
        size += 2
        for (let k = 0; k < width; k++) {
            const f = out[k]
            size += 4 + (f === null || f === undefined ? 0 : typeof f === "number" ? 8 : f.length)
        }
    }
    const b = Buffer.allocUnsafe(size)
    COPY_HEADER.copy(b, 0)
    let at = COPY_HEADER.length
    for (const r of rows) {
        fields(r, out)
        b.writeInt16BE(width, at)
        at += 2
        for (let k = 0; k < width; k++) {
            const f = out[k]
            if (f === null || f === undefined) {
                b.writeInt32BE(-1, at)
                at += 4
            } else if (typeof f === "number") {
                if (!Number.isSafeInteger(f)) throw new RangeError(`copy: ${f} is not an integer`)
                b.writeInt32BE(8, at)
                // int8 big-endian: the values here are u32 (seqs, counters, epochs)
                b.writeUInt32BE(Math.floor(f / 0x1_0000_0000) >>> 0, at + 4)
                b.writeUInt32BE(f >>> 0, at + 8)
                at += 12
            } else {
                b.writeInt32BE(f.length, at)
                f.copy(b, at + 4)
                at += 4 + f.length
            }
        }
    }
    b.writeInt16BE(-1, at)
    return b
}

/** "PGCOPY\n\377\r\n\0", flags (int32 0), header extension length (int32 0) */
const COPY_HEADER = Buffer.concat([Buffer.from("PGCOPY\n\xff\r\n\0", "latin1"), Buffer.alloc(8)])
