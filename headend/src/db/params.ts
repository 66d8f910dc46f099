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
