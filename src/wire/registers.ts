/** The meter's billing registers and maximum demand (the values the index store protects). */
import { TOU_REGISTERS } from "./calendar"

/** Billing registers, all in whole mWh. Each TOU array sums to its total. */
export interface Registers {
    importMWh: number
    exportMWh: number
    touImportMWh: number[]
    touExportMWh: number[]
}

/** Maximum demand: highest average import power of an interval, W; `start` is its UTC start (0 if unknown). */
export interface MaxDemand {
    watts: number
    start: number
}

/** Registers all zero. */
export function zeroRegisters(): Registers {
    const ti: number[] = []
    const te: number[] = []
    for (let i = 0; i < TOU_REGISTERS; i++) {
        ti.push(0)
        te.push(0)
    }
    return { importMWh: 0, exportMWh: 0, touImportMWh: ti, touExportMWh: te }
}


/** Register block layout (docs/metrology.md, "Register block"). */
export const enum RegisterWire {
    Version = 1,
    Bytes = 62,
}

/**
 * Encodes the registers for the uplink in 62 bytes (little-endian u48 mWh values, up to
 * 2.8·10^11 Wh). Throws RangeError on a negative, fractional or too large value.
 */
export function encodeRegisters(r: Registers): Buffer {
    const b = Buffer.alloc(RegisterWire.Bytes)
    b[0] = RegisterWire.Version
    b[1] = TOU_REGISTERS
    const values = [r.importMWh, r.exportMWh]
    for (const x of r.touImportMWh) values.push(x)
    for (const x of r.touExportMWh) values.push(x)
    if (values.length !== 2 + 2 * TOU_REGISTERS) throw new RangeError("registers: wrong TOU count")
    let off = 2
    for (const v of values) {
        if (!(v >= 0 && v < U48) || Math.floor(v) !== v) throw new RangeError(`registers: ${v} mWh out of range`)
        const hi = Math.floor(v / U32)
        b.setAt(off, "u32", v - hi * U32)
        b.setAt(off + 4, "u16", hi)
        off += 6
    }
    return b
}

/** Decodes a register block strictly (size, version, TOU count, TOU sums). Throws RangeError. */
export function decodeRegisters(b: Buffer): Registers {
    if (!b || b.length !== RegisterWire.Bytes) throw new RangeError(`registers: ${b ? b.length : 0} bytes, ${RegisterWire.Bytes} expected`)
    if (b[0] !== RegisterWire.Version) throw new RangeError(`registers: unknown version ${b[0]}`)
    if (b[1] !== TOU_REGISTERS) throw new RangeError(`registers: ${b[1]} TOU registers, ${TOU_REGISTERS} expected`)
    const v: number[] = []
    for (let off = 2; off < RegisterWire.Bytes; off += 6) v.push(b.getAt(off + 4, "u16") * U32 + b.getAt(off, "u32"))
    const r: Registers = {
        importMWh: v[0],
        exportMWh: v[1],
        touImportMWh: v.slice(2, 2 + TOU_REGISTERS),
        touExportMWh: v.slice(2 + TOU_REGISTERS, 2 + 2 * TOU_REGISTERS),
    }
    let si = 0
    let se = 0
    for (const x of r.touImportMWh) si += x
    for (const x of r.touExportMWh) se += x
    if (si !== r.importMWh || se !== r.exportMWh) throw new RangeError("registers: TOU registers do not sum to the totals")
    return r
}

/** 2^32 and 2^48, written out (see src/board/board.ts U32) */
const U32 = 4294967296
const U48 = 281474976710656
