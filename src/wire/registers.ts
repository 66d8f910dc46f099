/**
 * The meter's billing registers (the values the index store protects) and their 62-byte
 * block on the uplink, which the meter sends after boot and then daily and the head-end
 * decodes. One codec for both ends. Byte table: docs/metrology.md, "Register block". Pure.
 */
import { getUintLE, isIntIn, setUintLE } from "./bytes"
import { TOU_REGISTERS } from "./calendar"

/** Billing registers, all in whole mWh. Each TOU array sums to its total. */
export interface Registers {
    importMWh: number
    exportMWh: number
    touImportMWh: number[]
    touExportMWh: number[]
}

/** Registers all zero. */
export function zeroRegisters(): Registers {
    const zeros: number[] = []
    for (let i = 0; i < 2 + 2 * TOU_REGISTERS; i++) zeros.push(0)
    return registersFromValues(zeros, "registers")
}

/** Register block layout (docs/metrology.md, "Register block"). */
export const enum RegisterWire {
    Version = 1,
    Bytes = 62,
    /** each value is a u48 */
    ValueBytes = 6,
}

/**
 * Encodes the registers for the uplink in 62 bytes (little-endian u48 mWh values, up to
 * 2.8·10^11 Wh). Throws RangeError on a negative, fractional or too large value.
 */
export function encodeRegisters(r: Registers): Buffer {
    const b = Buffer.alloc(RegisterWire.Bytes)
    b[0] = RegisterWire.Version
    b[1] = TOU_REGISTERS
    const values = registerValues(r)
    if (values.length !== 2 + 2 * TOU_REGISTERS) throw new RangeError("registers: wrong TOU count")
    let off = 2
    for (const v of values) {
        if (!isIntIn(v, 0, U48 - 1)) throw new RangeError(`registers: ${v} mWh out of range`)
        setUintLE(b, off, RegisterWire.ValueBytes, v)
        off += RegisterWire.ValueBytes
    }
    return b
}

/** Decodes a register block strictly (size, version, TOU count, TOU sums). Throws RangeError. */
export function decodeRegisters(b: Buffer): Registers {
    if (!b || b.length !== RegisterWire.Bytes) throw new RangeError(`registers: ${b ? b.length : 0} bytes, ${RegisterWire.Bytes} expected`)
    if (b[0] !== RegisterWire.Version) throw new RangeError(`registers: unknown version ${b[0]}`)
    if (b[1] !== TOU_REGISTERS) throw new RangeError(`registers: ${b[1]} TOU registers, ${TOU_REGISTERS} expected`)
    const v: number[] = []
    for (let off = 2; off < RegisterWire.Bytes; off += RegisterWire.ValueBytes) v.push(getUintLE(b, off, RegisterWire.ValueBytes))
    return registersFromValues(v, "registers")
}

/** The registers in the order of both encodings (this block and the snapshot): import, export, import TOU 0..3, export TOU 0..3. */
export function registerValues(r: Registers): number[] {
    const values = [r.importMWh, r.exportMWh]
    for (const x of r.touImportMWh) values.push(x)
    for (const x of r.touExportMWh) values.push(x)
    return values
}

/** The inverse of `registerValues`; throws RangeError("<what>: TOU registers do not sum to the totals"). */
export function registersFromValues(v: number[], what: string): Registers {
    const r: Registers = {
        importMWh: v[0],
        exportMWh: v[1],
        touImportMWh: v.slice(2, 2 + TOU_REGISTERS),
        touExportMWh: v.slice(2 + TOU_REGISTERS, 2 + 2 * TOU_REGISTERS),
    }
    if (sum(r.touImportMWh) !== r.importMWh || sum(r.touExportMWh) !== r.exportMWh)
        throw new RangeError(what + ": TOU registers do not sum to the totals")
    return r
}

/** 2^48, written out */
const U48 = 281474976710656

function sum(xs: number[]): number {
    let s = 0
    for (const x of xs) s += x
    return s
}
