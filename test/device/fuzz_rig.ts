import { expect } from "@devicescript/test"
import { fuzz } from "./vectors/envelope_fuzz"
import { Verdict } from "../../src/wire/opcodes"
import { REJECTION_BURST } from "../../src/commands/rejectionlog"

/**
 * One part of the envelope fuzz run (test/device/vectors/envelope_fuzz.ts): 2600 mutated
 * and random envelopes from seed `0x5eed0000 + part`; none is accepted, the VM never
 * throws, the refusals are spread over the verifier's stages, and the flood is logged
 * within its budget. Four parts (fuzz1..4) make 10,400 in all, each file within CI's limit.
 */
export async function fuzzPart(part: number) {
    const r = await fuzz(0x5eed0000 + part, 2600, 3)
    console.log(`fuzz: sent ${r.sent}, reached signature ${r.reachedSignature}, redrawn ${r.redrawn}, events ${r.eventsRecorded}, suppressed ${r.suppressed}, by verdict ${r.byVerdict.join(",")}`)
    expect(r.sent).toBe(2600)
    expect(r.accepted).toBe(0)
    expect(r.reachedSignature).toBe(3)
    expect(r.byVerdict[Verdict.BadSignature]).toBe(3)
    expect(r.byVerdict[Verdict.Malformed] > 500).toBe(true)
    expect(r.byVerdict[Verdict.BadVersion] > 50).toBe(true)
    expect(r.byVerdict[Verdict.WrongMeter] > 50).toBe(true)
    expect(r.byVerdict[Verdict.UnknownKey] > 5).toBe(true)
    expect(r.byVerdict[Verdict.OpcodeNotAllowed] > 5).toBe(true)
    expect(r.byVerdict[Verdict.Replay] > 100).toBe(true)
    // 3 base envelopes accepted, then at most REJECTION_BURST refusals recorded; the rest counted
    expect(r.eventsRecorded).toBe(3 + REJECTION_BURST)
    expect(r.suppressed).toBe(2600 - REJECTION_BURST)
}
