/**
 * The derived register block of an interval record on the uplink (docs/uplink.md §4.1,
 * "Derived registers"): an interval record's 62-byte register block at its close is, in
 * steady state, the block of the record right before it plus this interval's import and
 * export energy, added to the totals and to the one TOU import and one TOU export register
 * that got it. Then the wire record carries only a 4-bit code (which TOU registers) in its
 * length byte, and the receiver rebuilds the block from its own copy of the previous record
 * with `deriveRegisters`, the function the meter ran to decide, by comparing bytes, that the
 * rebuild is exact. Only the wire form changes: the store, the chain, the record's tag and
 * hash cover the full block. One implementation for the meter (encodeReport) and the
 * head-end (expandRecords, src/wire/report.ts). Pure.
 */
import { copyBytes, equalBytes, getU32BE, getUintLE, setUintLE } from "./bytes"
import { RecordKind } from "./record"

/**
 * The register block of record `seq` rebuilt from `prev`, the stored record before it
 * (docs/index-store.md; only its seq and payload bytes 16..77, where an interval record
 * keeps its block, are read), and `iv`, its 16-byte interval (or a payload starting with it):
 * the interval's import and export energy (bytes 8..15, mWh) added to the totals and to TOU
 * import register `code >> 2` and TOU export register `code & 3`. Undefined when `prev` is not
 * record seq − 1 or is shorter than an interval record. A sum past 2^48 wraps (no block could
 * hold it; the register continuity rule refuses such a record). When `prev` is no interval
 * record with a block, the bytes rebuilt are no block either and the meter's comparison
 * sends the record in full.
 */
export function deriveRegisters(prev: Buffer, seq: number, iv: Buffer, code: number): Buffer | undefined {
    // (DeviceScript's slice does not clamp: a shorter record never serves)
    if (prev.length < 89 || getU32BE(prev, 2) + 1 !== seq) return undefined
    const b = copyBytes(prev, 27, 89)
    // the block's u48 values at 2 + 6j (docs/metrology.md "Register block"): j = 0 import, 1
    // export, 2..5 import TOU 0..3, 6..9 export TOU 0..3; the interval's import at 8, export at 12
    for (let k = 0; k < 4; k++) {
        const at = 2 + 6 * (k < 2 ? k : k < 3 ? 2 + (code >> 2) : 6 + (code & 3))
        setUintLE(b, at, 6, getUintLE(b, at, 6) + getUintLE(iv, 8 + 4 * (k & 1), 4))
    }
    return b
}

/**
 * The code under which stored record `d`, an interval record with its register block,
 * travels with the block derived from `prev` (the record before it, which the head-end
 * holds), or -1 when `deriveRegisters` does not rebuild the block byte for byte: across a
 * tariff edge, after a record of another kind or a StoreFull's lost intervals, for an edited
 * register, ... The meter's metrology books an interval's import and export in the one band
 * of its time (src/metrology), so the codes tried are 0, 5, 10 and 15; the receiver rebuilds
 * any of the 16.
 */
export function derivedCode(prev: Buffer, d: Buffer): number {
    if (d[1] === RecordKind.IntervalClose && d[10] === 78)
        for (let c = 0; c < 16; c += 5) if (equalBytes(deriveRegisters(prev, getU32BE(d, 2), d.slice(11, 27), c), d.slice(27, 89))) return c
    return -1
}
