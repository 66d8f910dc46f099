/**
 * Big-endian (network order) integers in Buffers. The VM's `getAt/setAt` formats are
 * little-endian only ("u32"), and our wire formats are big-endian like DLMS and GBCS.
 */

/** u16 big-endian at `off`. */
export function getU16BE(b: Buffer, off: number): number {
    return b[off] * 256 + b[off + 1]
}

/** u32 big-endian at `off` (multiplication, not `<<`: the top bit would make it negative). */
export function getU32BE(b: Buffer, off: number): number {
    return b[off] * 16777216 + b[off + 1] * 65536 + b[off + 2] * 256 + b[off + 3]
}

export function setU16BE(b: Buffer, off: number, v: number) {
    b[off] = Math.floor(v / 256) & 0xff
    b[off + 1] = v & 0xff
}

/** Writes `v` (0 ≤ v < 2^32) as u32 big-endian; division, not `>>`, for values ≥ 2^31. */
export function setU32BE(b: Buffer, off: number, v: number) {
    b[off] = Math.floor(v / 16777216) & 0xff
    b[off + 1] = Math.floor(v / 65536) & 0xff
    b[off + 2] = Math.floor(v / 256) & 0xff
    b[off + 3] = v % 256
}
