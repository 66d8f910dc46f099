/**
 * What a meter says about a command it received (docs/commands.md §8), written once for
 * both ends. One outcome, three layouts: the acknowledgement sent back to the head-end,
 * and the payloads of the two index-store records (CommandAccepted, CommandRejected). All
 * three end with the same 14 bytes: opcode ‖ signer key id ‖ counter (u64) ‖ a u32.
 */
import { getU32BE, setU32BE } from "./bytes"
import { Verdict } from "./opcodes"

/** The three layouts of an outcome; the value is where the common 14-byte tail starts. */
export const enum OutcomeLayout {
    /** CommandAccepted record payload: opcode ‖ signer ‖ counter (8) ‖ detail (u32) = 14 bytes */
    Accepted = 0,
    /** CommandRejected record payload: verdict ‖ opcode ‖ signer ‖ counter (8) ‖ refusals suppressed before this one (u32) = 15 bytes */
    Rejected = 1,
    /** acknowledgement: version (1) ‖ verdict ‖ opcode ‖ signer ‖ counter (8) ‖ detail (u32) = 16 bytes */
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
 * The outcome of command `c` in `layout`: `verdict` (left out of the accepted layout),
 * and `detail` as the trailing u32. `c` undefined (an envelope that did not parse) gives
 * opcode, signer and counter 0. Never throws: the meter's ack path must not.
 */
export function encodeOutcome(layout: number, verdict: number, c: CommandRef | undefined, detail: number): Buffer {
    const b = Buffer.alloc(layout + TAIL)
    if (layout === OutcomeLayout.Ack) b[0] = ACK_VERSION
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
