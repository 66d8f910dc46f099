import { TOU_REGISTERS } from "./calendar"
import { INTERVAL_RECORD_BYTES, IntervalRecord, decodeInterval, encodeInterval } from "./interval"
import { MaxDemand, Registers } from "./registers"

/**
 * The metrology state the index store persists and hands back after a restart: registers,
 * maximum demand and the open interval. 108 bytes, little-endian; byte table in
 * docs/metrology.md, section "Snapshot". Pure.
 */
export interface MetrologySnapshot {
    lengthMin: number
    registers: Registers
    maxDemand: MaxDemand
    /** the interval open when the snapshot was taken, or null */
    open: IntervalRecord
}

/** Snapshot layout constants (docs/metrology.md, "Snapshot"). */
export const enum SnapshotWire {
    Version = 1,
    Bytes = 108,
    /** flags bit 0: an open interval follows */
    HasOpen = 0x01,
    RegistersAt = 4,
    DemandAt = 84,
    OpenAt = 92,
}

/** Encodes a snapshot (108 bytes). */
export function encodeSnapshot(s: MetrologySnapshot): Buffer {
    const b = Buffer.alloc(SnapshotWire.Bytes)
    b[0] = SnapshotWire.Version
    b[1] = s.lengthMin
    b[2] = TOU_REGISTERS
    b[3] = s.open ? SnapshotWire.HasOpen : 0
    let off: number = SnapshotWire.RegistersAt
    const r = s.registers
    const values = [r.importMWh, r.exportMWh]
    for (const x of r.touImportMWh) values.push(x)
    for (const x of r.touExportMWh) values.push(x)
    for (const v of values) {
        putU64(b, off, v)
        off += 8
    }
    b.setAt(SnapshotWire.DemandAt, "u32", s.maxDemand.watts)
    b.setAt(SnapshotWire.DemandAt + 4, "u32", s.maxDemand.start)
    if (s.open) b.set(encodeInterval(s.open), SnapshotWire.OpenAt)
    return b
}

/** Decodes a snapshot strictly (size, version, register count, sums, open interval). Throws RangeError. */
export function decodeSnapshot(b: Buffer): MetrologySnapshot {
    if (!b || b.length !== SnapshotWire.Bytes)
        throw new RangeError(`snapshot: ${b ? b.length : 0} bytes, ${SnapshotWire.Bytes} expected`)
    if (b[0] !== SnapshotWire.Version) throw new RangeError(`snapshot: unknown version ${b[0]}`)
    if (b[2] !== TOU_REGISTERS) throw new RangeError(`snapshot: ${b[2]} TOU registers, ${TOU_REGISTERS} expected`)
    if ((b[3] & ~SnapshotWire.HasOpen) !== 0) throw new RangeError(`snapshot: unknown flags ${b[3]}`)
    let off: number = SnapshotWire.RegistersAt
    const v: number[] = []
    for (let i = 0; i < 2 + 2 * TOU_REGISTERS; i++) {
        v.push(getU64(b, off))
        off += 8
    }
    const r: Registers = {
        importMWh: v[0],
        exportMWh: v[1],
        touImportMWh: v.slice(2, 2 + TOU_REGISTERS),
        touExportMWh: v.slice(2 + TOU_REGISTERS, 2 + 2 * TOU_REGISTERS),
    }
    if (sum(r.touImportMWh) !== r.importMWh || sum(r.touExportMWh) !== r.exportMWh)
        throw new RangeError("snapshot: TOU registers do not sum to the totals")
    return {
        lengthMin: b[1],
        registers: r,
        maxDemand: { watts: b.getAt(SnapshotWire.DemandAt, "u32"), start: b.getAt(SnapshotWire.DemandAt + 4, "u32") },
        open: b[3] & SnapshotWire.HasOpen ? decodeInterval(b.slice(SnapshotWire.OpenAt, SnapshotWire.OpenAt + INTERVAL_RECORD_BYTES)) : null,
    }
}

/** 2^32, written out (see src/board/board.ts U32) */
const U32 = 4294967296
/** registers stay below 2^53 (doubles are exact there): ~9e12 Wh */
const MAX_SAFE = 9007199254740991

function putU64(b: Buffer, off: number, v: number) {
    if (!(v >= 0 && v <= MAX_SAFE) || Math.floor(v) !== v) throw new RangeError(`snapshot: register ${v} out of range`)
    const hi = Math.floor(v / U32)
    b.setAt(off, "u32", v - hi * U32)
    b.setAt(off + 4, "u32", hi)
}

function getU64(b: Buffer, off: number): number {
    const hi = b.getAt(off + 4, "u32")
    if (hi >= 2097152) throw new RangeError(`snapshot: register at ${off} above 2^53`)
    return hi * U32 + b.getAt(off, "u32")
}

function sum(xs: number[]): number {
    let s = 0
    for (const x of xs) s += x
    return s
}
