/**
 * Reading stored index records for people: record kinds (docs/index-store.md "Kinds"),
 * interval records (docs/metrology.md "Interval record", the wire core's decoder) and
 * tamper records (reason u8, at seq u32 BE).
 */
import { type IntervalRecord, IntervalStatus, decodeInterval as decodeIntervalRecord } from "../../src/wire/interval"
import { decodeOutcome, OutcomeLayout } from "../../src/wire/ack"
import { opcodeName, verdictName } from "../../src/wire/opcodes"
import { counterOf } from "./commands.ts"
import { obisLabel, recordObis } from "./obis.ts"

export const KIND_NAME: Record<number, string> = {
    0x01: "genesis",
    0x10: "interval",
    0x11: "register snapshot",
    0x20: "power down",
    0x21: "power up",
    0x30: "command rejected",
    0x31: "key change",
    0x32: "tamper",
    0x33: "time set",
    0x34: "store full",
    0x35: "relay change",
    0x36: "command accepted",
}

/** TamperReason (src/wire/record.ts). */
export const TAMPER_REASON: Record<number, string> = { 1: "bad link", 2: "bad tag", 3: "gap", 4: "truncated", 5: "malformed", 6: "bad anchor", 7: "head lost" }

export const RecordKind = { IntervalClose: 0x10, CommandRejected: 0x30, Tamper: 0x32, CommandAccepted: 0x36 } as const

/** Decodes a 16-byte interval record strictly; undefined if it is not a valid one. */
export function decodeInterval(p: Buffer): IntervalRecord | undefined {
    try {
        return decodeIntervalRecord(p)
    } catch {
        return undefined
    }
}

/** One line for a stored record, e.g. `#12 interval 11-25 01:30 30 min +152 Wh -0 Wh`. */
export function describeRecord(r: { seq: number; kind: number; time: number; payload: Buffer }): string {
    const kind = KIND_NAME[r.kind] ?? `kind 0x${r.kind.toString(16)}`
    if (r.kind === RecordKind.IntervalClose) {
        const iv = decodeInterval(r.payload)
        if (iv) {
            const when = iv.status & IntervalStatus.TimeUnknown ? `t+${iv.start}s` : new Date(iv.start * 1000).toISOString().slice(5, 16).replace("T", " ")
            return `#${r.seq} interval ${when} ${iv.lengthMin} min +${(iv.importMWh / 1000).toFixed(1)} Wh -${(iv.exportMWh / 1000).toFixed(1)} Wh${iv.status ? ` status 0x${iv.status.toString(16)}` : ""}`
        }
    }
    if (r.kind === RecordKind.Tamper && r.payload.length >= 5) return `#${r.seq} tamper: ${TAMPER_REASON[r.payload[0]] ?? `reason ${r.payload[0]}`} at record ${r.payload.readUInt32BE(1)}`
    const command = describeCommandRecord(r.kind, r.payload)
    if (command) return `#${r.seq} ${command}`
    return `#${r.seq} ${kind}${r.payload.length ? ` ${r.payload.toString("hex").slice(0, 24)}` : ""}`
}

/**
 * A command record in words, named from the wire core's tables (docs/commands.md §8):
 * `command accepted Disconnect by key 2, counter 5, detail 300`, `command rejected
 * BadSignature: Disconnect by key 2, counter 5`; undefined for any other record or payload.
 */
export function describeCommandRecord(kind: number, payload: Buffer): string | undefined {
    const accepted = kind === RecordKind.CommandAccepted ? decodeOutcome(payload, OutcomeLayout.Accepted) : undefined
    if (accepted) return `command accepted ${commandOf(accepted)}, detail ${accepted.detail}`
    const rejected = kind === RecordKind.CommandRejected ? decodeOutcome(payload, OutcomeLayout.Rejected) : undefined
    if (!rejected) return undefined
    // an envelope that did not parse has no opcode, signer or counter
    const what = rejected.opcode === 0 ? "" : `: ${commandOf(rejected)}`
    const suppressed = rejected.detail ? ` (${rejected.detail} refusals before it not recorded)` : ""
    return `command rejected ${verdictName(rejected.verdict)}${what}${suppressed}`
}

function commandOf(o: { opcode: number; signerKeyId: number; counterHi: number; counterLo: number }): string {
    return `${opcodeName(o.opcode)} by key ${o.signerKeyId}, counter ${counterOf(o.counterHi, o.counterLo)}`
}

/**
 * The OBIS log (or profile) a record of `kind` belongs to, with its name (headend/src/obis.ts,
 * docs/obis.md): `0.0.99.98.1 fraud detection log (security log)`; undefined for an unknown kind.
 */
export function describeObis(kind: number): string | undefined {
    const code = recordObis(kind)
    return code ? obisLabel(code) : undefined
}
