/**
 * What a meter says about a command it received (docs/commands.md §8), written once for
 * both ends: the acknowledgement sent back to the head-end, a CBOR array (`encodeCommandAck`,
 * docs/formats.cddl `command-ack`), and the payloads of the two index-store records
 * (CommandAccepted, CommandRejected), byte layouts that end with the same 14 bytes: opcode ‖
 * signer key id ‖ counter (u64) ‖ a u32. Earlier firmware acknowledged in a 16-byte layout
 * (OutcomeLayout.Ack); the head-end still reads it.
 */
import { concatBytes, getU32BE, setU32BE } from "./bytes"
import { CborReason, cborHead, decodeCbor } from "./cbor"
import { Verdict } from "./opcodes"

/** The layouts of an outcome; the value is where the common 14-byte tail starts. */
export const enum OutcomeLayout {
    /** CommandAccepted record payload: opcode ‖ signer ‖ counter (8) ‖ detail (u32) = 14 bytes */
    Accepted = 0,
    /** CommandRejected record payload: verdict ‖ opcode ‖ signer ‖ counter (8) ‖ refusals suppressed before this one (u32) = 15 bytes */
    Rejected = 1,
    /** the acknowledgement of earlier firmware: version (1) ‖ verdict ‖ opcode ‖ signer ‖ counter (8) ‖ detail (u32) = 16 bytes; read, no longer written */
    Ack = 2,
}

export const ACK_VERSION = 1
/** Size of the common tail: opcode ‖ signer ‖ counter (8) ‖ u32. */
const TAIL = 14

/** The command an outcome is about: a parsed envelope (src/wire/envelope.ts) is one. */
export interface CommandRef {
    opcode: number
    signerKeyId: number
    /** the envelope's u64 counter as u32 halves */
    counterHi: number
    counterLo: number
}

/** One command's outcome, as `decodeOutcome` reads it. */
export interface CommandOutcome extends CommandRef {
    verdict: number
    /**
     * ack and accepted record: what the command did (disconnect offset s, control state
     * after an arm, time set, uplink epoch, firmware sequence, ring generation; else 0);
     * rejected record: the refusals suppressed before this one (rejection flood limit)
     */
    detail: number
}

/**
 * The outcome of command `c` in record layout `layout` (Accepted or Rejected): `verdict`
 * (left out of the accepted layout), and `detail` as the trailing u32. `c` undefined (an envelope that did not parse) gives
 * opcode, signer and counter 0. Never throws: the meter's ack path must not.
 */
export function encodeOutcome(layout: number, verdict: number, c: CommandRef | undefined, detail: number): Buffer {
    const b = Buffer.alloc(layout + TAIL)
    if (layout !== OutcomeLayout.Accepted) b[layout - 1] = verdict
    if (c) {
        b[layout] = c.opcode
        b[layout + 1] = c.signerKeyId
        setU32BE(b, layout + 2, c.counterHi)
        setU32BE(b, layout + 6, c.counterLo)
    }
    setU32BE(b, layout + 10, detail)
    return b
}

/**
 * The acknowledgement of command `c` (docs/formats.cddl `command-ack`): the CBOR array
 * [verdict, opcode, signer key id, counter, detail], deterministic; `c` undefined (an
 * envelope that did not parse) gives opcode, signer and counter 0. Written head by head
 * (the firmware carries no CBOR encoder). Never throws: the meter's ack path must not.
 */
export function encodeCommandAck(verdict: number, c: CommandRef | undefined, detail: number): Buffer {
    const f = [verdict, 0, 0, 0, detail]
    if (c) {
        f[1] = c.opcode
        f[2] = c.signerKeyId
        f[3] = c.counterHi * 4294967296 + c.counterLo
    }
    let b = cborHead(4, 5)
    for (let i = 0; i < 5; i++) b = concatBytes(b, cborHead(0, f[i]))
    return b
}

/**
 * Reads an acknowledgement: the CBOR array of `encodeCommandAck` (strictly: five unsigned
 * integers, the key id a byte, the detail a u32), or the 16-byte layout of earlier firmware;
 * undefined for anything else.
 */
export function decodeCommandAck(b: Buffer | undefined): CommandOutcome | undefined {
    if (!b) return undefined
    if (b.length === 16 && b[0] === ACK_VERSION) return decodeOutcome(b, OutcomeLayout.Ack)
    const d = decodeCbor(b, [])
    const a = d.value as number[]
    if (d.reason !== CborReason.Ok || !Array.isArray(a) || a.length !== 5) return undefined
    for (let i = 0; i < 5; i++) if (!(typeof a[i] === "number" && a[i] >= 0 && (i === 3 || a[i] <= (i === 4 ? 4294967295 : 255)))) return undefined
    const hi = Math.floor(a[3] / 4294967296)
    return { verdict: a[0], opcode: a[1], signerKeyId: a[2], counterHi: hi, counterLo: a[3] - hi * 4294967296, detail: a[4] }
}

/** Reads `b` in `layout`; undefined when its size (or an ack's version) is wrong. */
export function decodeOutcome(b: Buffer | undefined, layout: number): CommandOutcome | undefined {
    if (!b || b.length !== layout + TAIL) return undefined
    if (layout === OutcomeLayout.Ack && b[0] !== ACK_VERSION) return undefined
    return {
        verdict: layout === OutcomeLayout.Accepted ? Verdict.Accepted : b[layout - 1],
        opcode: b[layout],
        signerKeyId: b[layout + 1],
        counterHi: getU32BE(b, layout + 2),
        counterLo: getU32BE(b, layout + 6),
        detail: getU32BE(b, layout + 10),
    }
}
