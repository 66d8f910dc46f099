import { concatBytes, equalBytes, setU32BE, setUintLE } from "../wire/bytes"
import { ChainHead, followRegisters } from "../wire/chain"
import { IndexRecord, RecordKind, TamperReason, decodeRecord } from "../wire/record"
import { encodeRegisters } from "../wire/registers"
import { SnapshotWire, decodeSnapshot } from "../metrology/snapshot"
import { IndexStore } from "./indexstore"

/**
 * The meter state persisted between interval closes: the metrology snapshot (registers,
 * maximum demand, open interval) together with the last interval record closed before it
 * and the chain sequence number that record is due to get.
 *
 * Why: at an interval close the meter writes this state first, then appends the interval
 * record to the chain. A power cut between the two writes would otherwise lose the
 * interval from the profile while its energy is already in the registers. At boot,
 * `recoverMeterState` appends the interval if the chain does not hold it at or after its
 * due sequence number, so registers and profile agree and nothing is counted twice.
 *
 * Layout (docs/index-store.md, "Meter state"):
 * `u8 version (1) ‖ u32le due seq ‖ u32le record time ‖ u8 n ‖ n bytes last closed interval ‖ snapshot`.
 */
export const METER_STATE_VERSION = 1
const HEAD = 10

export interface MeterState {
    /** the seq the last interval record was due to get in the chain */
    dueSeq: number
    /** the UTC time (0 = unknown) the interval record carries */
    dueTime: number
    /** the last closed interval's record payload, undefined before the first close */
    lastInterval: Buffer
    /** the metrology snapshot (opaque here) */
    snapshot: Buffer
}

/** Encodes the persisted meter state. */
export function encodeMeterState(s: MeterState): Buffer {
    const n = s.lastInterval ? s.lastInterval.length : 0
    if (n > 128) throw new RangeError("meter state: interval record too long")
    const b = Buffer.alloc(HEAD + n + s.snapshot.length)
    b[0] = METER_STATE_VERSION
    b.setAt(1, "u32", s.dueSeq)
    b.setAt(5, "u32", s.dueTime)
    b[9] = n
    if (n) b.set(s.lastInterval, HEAD)
    b.set(s.snapshot, HEAD + n)
    return b
}

/** Decodes the persisted meter state; undefined when absent or malformed. */
export function decodeMeterState(b: Buffer): MeterState {
    if (!b || b.length < HEAD || b[0] !== METER_STATE_VERSION) return undefined
    const n = b[9]
    if (b.length < HEAD + n) return undefined
    return {
        dueSeq: b.getAt(1, "u32"),
        dueTime: b.getAt(5, "u32"),
        lastInterval: n ? b.slice(HEAD, HEAD + n) : undefined,
        snapshot: b.slice(HEAD + n),
    }
}

/**
 * At boot: reads the persisted meter state and re-appends its last interval record when a
 * power cut fell between the state write and the chain append (the chain holds no such
 * record from its due seq on). Then checks the state against the chain (docs/index-store.md,
 * "Meter state"): its tag must verify, and its registers must be the newest interval
 * record's plus the open interval's energy (the wire core's register rule); a state
 * missing while the chain holds registers fails too. A failure is tamper: a `Tamper`
 * record (reason `Registers`, at the head) is appended, and the state is rebuilt from the
 * chain (its registers; the open interval and the maximum demand are lost), never taken
 * from flash. Returns the state to restore (undefined: start from zero).
 */
export async function recoverMeterState(store: IndexStore): Promise<{ state: MeterState; repaired: boolean; tampered: boolean }> {
    const raw = store.loadSnapshot()
    let st = decodeMeterState(raw)
    let repaired = st !== undefined && st.lastInterval !== undefined
    if (repaired) {
        // does the chain hold the state's last interval record at or after its due seq?
        const n = store.head().seq - st.dueSeq + 1
        const recs = n > 0 ? store.recordsAfter(st.dueSeq - 1, n) : []
        // evicted records were acknowledged by the head-end, so they were in the chain
        if (n > 0 && recs.length < n) repaired = false
        for (const b of recs) {
            const r = decodeRecord(b)
            if (r && r.kind === RecordKind.IntervalClose && equalBytes(r.payload, st.lastInterval)) repaired = false
        }
    }
    if (repaired) await store.append(RecordKind.IntervalClose, st.dueTime, st.lastInterval)
    // the registers the chain holds: its newest interval record's
    const h: ChainHead = { seq: 0, hash: undefined }
    for (const b of store.recordsAfter(-1, 1000)) followRegisters(h, decodeRecord(b))
    const c = h.regs
    let ok = raw !== null && (raw !== undefined || !c)
    if (ok && c)
        try {
            const b = st.snapshot
            // the open interval (zeros if none) and the registers, as an interval record's payload
            const p = concatBytes(b[3] ? b.slice(SnapshotWire.OpenAt, SnapshotWire.Bytes) : Buffer.alloc(16), encodeRegisters(decodeSnapshot(b).registers))
            ok = followRegisters(h, { kind: RecordKind.IntervalClose, payload: p } as IndexRecord)
        } catch (e) {
            ok = false
        }
    if (!ok) {
        // a snapshot (docs/metrology.md) of the chain's registers, no demand, no open interval
        const b = Buffer.alloc(SnapshotWire.Bytes)
        b[0] = 1
        b[1] = 30
        b[2] = 4
        for (let j = 0; c && j < 10; j++) setUintLE(b, SnapshotWire.RegistersAt + 8 * j, 8, c[j])
        st = { dueSeq: 0, dueTime: 0, lastInterval: undefined, snapshot: b }
        const p = Buffer.alloc(5)
        p[0] = TamperReason.Registers
        setU32BE(p, 1, store.head().seq)
        console.log("METER state tamper: registers rebuilt from the chain")
        await store.append(RecordKind.Tamper, 0, p)
    }
    return { state: st, repaired: repaired, tampered: !ok }
}
