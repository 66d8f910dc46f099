import { getUintLE, isIntIn, setUintLE } from "../wire/bytes"
import { TOU_REGISTERS } from "../wire/calendar"
import { INTERVAL_RECORD_BYTES, IntervalRecord, decodeInterval, encodeInterval } from "../wire/interval"
import { Registers, registerValues, registersFromValues } from "../wire/registers"

/**
 * The metrology state the index store persists and hands back after a restart: registers,
 * maximum demand and the open interval. 108 bytes, little-endian; byte table in
 * docs/metrology.md, section "Snapshot". Only the meter reads it (the head-end sees the
 * register block, src/wire/registers.ts). Pure.
 */
export interface MetrologySnapshot {
    lengthMin: number
    registers: Registers
    maxDemand: MaxDemand
    /** the interval open when the snapshot was taken, or null */
    open: IntervalRecord
}

/** Maximum demand: highest average import power of an interval, W; `start` is its UTC start (0 if unknown). */
export interface MaxDemand {
    watts: number
    start: number
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

/** Encodes a snapshot (108 bytes). Throws RangeError on a register outside 0..2^53-1. */
export function encodeSnapshot(s: MetrologySnapshot): Buffer {
    const b = Buffer.alloc(SnapshotWire.Bytes)
    b[0] = SnapshotWire.Version
    b[1] = s.lengthMin
    b[2] = TOU_REGISTERS
    b[3] = s.open ? SnapshotWire.HasOpen : 0
    let off: number = SnapshotWire.RegistersAt
    for (const v of registerValues(s.registers)) {
        if (!isIntIn(v, 0, MAX_SAFE)) throw new RangeError(`snapshot: register ${v} out of range`)
        setUintLE(b, off, 8, v)
        off += 8
    }
    setUintLE(b, SnapshotWire.DemandAt, 4, s.maxDemand.watts)
    setUintLE(b, SnapshotWire.DemandAt + 4, 4, s.maxDemand.start)
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
        // above 2^53 the sum is inexact but still > MAX_SAFE (getUintLE)
        const x = getUintLE(b, off, 8)
        if (x > MAX_SAFE) throw new RangeError(`snapshot: register at ${off} above 2^53`)
        v.push(x)
        off += 8
    }
    return {
        lengthMin: b[1],
        registers: registersFromValues(v, "snapshot"),
        maxDemand: { watts: getUintLE(b, SnapshotWire.DemandAt, 4), start: getUintLE(b, SnapshotWire.DemandAt + 4, 4) },
        open: b[3] & SnapshotWire.HasOpen ? decodeInterval(b.slice(SnapshotWire.OpenAt, SnapshotWire.OpenAt + INTERVAL_RECORD_BYTES)) : null,
    }
}

/** registers stay below 2^53 (doubles are exact there): ~9e12 Wh */
const MAX_SAFE = 9007199254740991
