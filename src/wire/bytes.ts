/**
 * Byte helpers for every wire format, written once for both runtimes: DeviceScript compiles
 * this file into the firmware, tsc/tsx compile the same file for the head-end.
 *
 * Only the Buffer API both runtimes share is used: `Buffer.alloc`, `Buffer.from(hex|utf8|
 * number[])`, indexing, `length`, `set(src, offset)`, `slice`, `toString("hex")`. The traps
 * each helper avoids, measured in the VM and pinned by test/vectors/bytes.json in both:
 * - `>>`, `<<` and `%` work on int32 in the VM: `4294967295 % 256` is -1, so u32 codecs
 *   use multiplication and division only;
 * - the VM's `readUInt32BE` goes negative above 2^31;
 * - in the VM a number ≥ 2^31 tests false in `if (x)`, `!x`, `x || y`: compare explicitly;
 * - `slice` copies in the VM but is a view in Node: `copyBytes` always copies, and code
 *   here never writes into a slice it did not allocate.
 */

/** Largest u32. */
export const U32_MAX = 4294967295

/** u16 big-endian at `off`. */
export function getU16BE(b: Buffer, off: number): number {
    return b[off] * 256 + b[off + 1]
}

/** Writes `v` (0 ≤ v < 2^16) as u16 big-endian. */
export function setU16BE(b: Buffer, off: number, v: number): void {
    const hi = Math.floor(v / 256)
    b[off] = hi
    b[off + 1] = v - hi * 256
}

/** u32 big-endian at `off`, 0 .. 2^32-1 (multiplication: `<<` would go negative). */
export function getU32BE(b: Buffer, off: number): number {
    return b[off] * 16777216 + b[off + 1] * 65536 + b[off + 2] * 256 + b[off + 3]
}

/** Writes `v` (0 ≤ v ≤ 2^32-1, an integer) as u32 big-endian; division, never `>>` or `%`. */
export function setU32BE(b: Buffer, off: number, v: number): void {
    let x = v
    for (let i = 3; i >= 0; i--) {
        const hi = Math.floor(x / 256)
        b[off + i] = x - hi * 256
        x = hi
    }
}

/**
 * Unsigned little-endian integer of `n` bytes (1..8) at `off`, for the metrology formats
 * (docs/metrology.md). Exact below 2^53; above, the result is still > 2^53 - 1, so a caller
 * can refuse it by comparison. Multiplication only: `<<` would go negative.
 */
export function getUintLE(b: Buffer, off: number, n: number): number {
    let v = 0
    for (let i = n - 1; i >= 0; i--) v = v * 256 + b[off + i]
    return v
}

/** Writes `v` (an integer, 0 ≤ v < 256^n, v < 2^53) as `n` bytes little-endian; division, never `>>` or `%`. */
export function setUintLE(b: Buffer, off: number, n: number, v: number): void {
    let x = v
    for (let i = 0; i < n; i++) {
        const hi = Math.floor(x / 256)
        b[off + i] = x - hi * 256
        x = hi
    }
}

/** A fresh 4-byte buffer holding u32be(v). */
export function u32Bytes(v: number): Buffer {
    const b = Buffer.alloc(4)
    setU32BE(b, 0, v)
    return b
}

/**
 * `x mod m` in 0 .. m-1 for |x| < 2^53 and 0 < m: the VM's `%` truncates dividends ≥ 2^31
 * (3000000000 % 1000 gives -296). Near 2^53 `x / m` can round across an integer, so the
 * result is corrected by one `m` either way.
 */
export function modU(x: number, m: number): number {
    let r = x - Math.floor(x / m) * m
    if (r < 0) r += m
    else if (r >= m) r -= m
    return r
}

/** true when `x` is an integer in lo .. hi (false for NaN and anything not a number). */
export function isIntIn(x: number, lo: number, hi: number): boolean {
    return typeof x === "number" && Math.floor(x) === x && x >= lo && x <= hi
}

/** true when `v` is an integer in 0 .. 2^32-1 (an explicit comparison, never truthiness). */
export function isU32(v: number): boolean {
    return isIntIn(v, 0, U32_MAX)
}

/**
 * Equality over the whole length: no early exit, so the time taken does not tell where
 * two tags differ. Different lengths (or a missing buffer) are unequal.
 */
export function equalBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
    // a buffer is never falsy: `!a` is exactly "undefined or null"
    if (!a || !b || a.length !== b.length) return false
    let d = 0
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i]
    return d === 0
}

/** `a ‖ b` in a fresh buffer. */
export function concatBytes(a: Buffer, b: Buffer): Buffer {
    const r = Buffer.alloc(a.length + b.length)
    r.set(a, 0)
    r.set(b, a.length)
    return r
}

/** A fresh copy of `b[from .. to)`: never a view, in either runtime. */
export function copyBytes(b: Buffer, from: number, to: number): Buffer {
    const r = Buffer.alloc(to - from)
    r.set(b.slice(from, to), 0)
    return r
}

/** `b` from `off`, `n` bytes, into `dst` at `at` (bounds are the caller's). */
export function putBytes(dst: Buffer, at: number, src: Buffer): void {
    dst.set(src, at)
}

/** Lower-case hex of `b`. */
export function toHex(b: Buffer): string {
    return b.toString("hex")
}

/** Bytes of a hex string (even length, 0-9a-f); throws on anything else. */
export function fromHex(s: string): Buffer {
    if (s.length % 2 !== 0) throw new RangeError("hex: odd length")
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i)
        const ok = (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)
        if (!ok) throw new RangeError("hex: bad digit")
    }
    return Buffer.from(s, "hex")
}

/** UTF-8 bytes of an ASCII label (domain separation strings). */
export function ascii(s: string): Buffer {
    return Buffer.from(s, "utf8")
}
