/**
 * Checks at the storage boundary, once: what the repository writes must already be what
 * the wire allows (docs/uplink.md §2, docs/index-store.md), so a caller's bug throws
 * before anything is written instead of storing a value the schema's CHECKs would
 * refuse half-way through a batch.
 */

const METER_ID = /^[0-9a-f]{16}$/

/** The 8-byte meter id of a 16-hex-digit string (the head-end's `meterIdHex`). */
export function meterBytes(meterId: string): Buffer {
    const id = meterId.toLowerCase()
    if (!METER_ID.test(id)) throw new RangeError(`meter id must be 16 hex digits: ${JSON.stringify(meterId)}`)
    return Buffer.from(id, "hex")
}

/** Throws unless `v` is an integer in lo..2^32−1 (seqs, counters, epochs, Wh on the wire). */
export function u32(name: string, v: number, lo = 0): number {
    if (!Number.isInteger(v) || v < lo || v > 0xffff_ffff) throw new RangeError(`${name} must be an integer in ${lo}..2^32-1: ${v}`)
    return v
}

/** Throws unless `b` is a Buffer of `n` bytes (or, with `max`, of n..max bytes). */
export function bytes(name: string, b: Buffer, n: number, max = n): Buffer {
    if (!Buffer.isBuffer(b) || b.length < n || b.length > max) throw new RangeError(`${name} must be ${n === max ? n : `${n}..${max}`} bytes`)
    return b
}

/**
 * Throws unless `data` is a v1 store record (docs/index-store.md: version 1, kind, u32 seq,
 * u32 time, n, payload, 32-byte prev, 16-byte tag) whose seq field is `seq`.
 */
export function storeRecord(seq: number, data: Buffer): Buffer {
    u32("record seq", seq)
    if (!Buffer.isBuffer(data) || data.length < 59 || data[0] !== 1 || data.length !== 59 + data[10] || data[10] > 128) {
        throw new RangeError(`record ${seq} is not a v1 store record`)
    }
    if (data.readUInt32BE(2) !== seq) throw new RangeError(`record bytes say seq ${data.readUInt32BE(2)}, stored as ${seq}`)
    return data
}
