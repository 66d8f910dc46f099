import { expect } from "@devicescript/test"
import { fuzz } from "./vectors/envelope_fuzz"
import { Verdict } from "../../src/wire/opcodes"
import { REJECTION_BURST } from "../../src/commands/rejectionlog"

/** Candidates per part: four parts (fuzz1..4) make 10,400 a run. */
export const FUZZ_PART_COUNT = 2600
/**
 * Every tenth candidate mutates a fresh valid command: at least 260 a part reach Ed25519
 * (about 1,100 a run with the spent bases that also get there; issue 14 asks for 1,000).
 * It was every fortieth while a verification cost about six times as much in the
 * GC-stressed test VM (d4f1b25 to 8cbd399): a function call there costs about 100
 * arithmetic steps, and a verification made ~40,000 calls; under 1,000 since the field
 * programs (docs/ed25519.md).
 */
export const FUZZ_TARGET_EVERY = 10

/**
 * One part of the command fuzz run (test/device/vectors/envelope_fuzz.ts): 2600 mutated
 * and random COSE commands from seed `0x5eed0000 + part`, of which at least 260 reach the
 * signature check; none is accepted, the VM never throws, the refusals are spread over the
 * verifier's stages, and the flood is logged within its budget. Prints
 * `fuzz: N envelopes, M reached the signature check, 0 accepted`; test/run.ts repeats the
 * line of each part and prints their sum.
 */
export async function fuzzPart(part: number) {
    const r = await fuzz(0x5eed0000 + part, FUZZ_PART_COUNT, FUZZ_TARGET_EVERY)
    console.log(`fuzz: ${r.sent} envelopes, ${r.reachedSignature} reached the signature check, ${r.accepted} accepted`)
    // (the compiler takes at most 8 substitutions in one template)
    console.log(`fuzz detail: part ${part}, ${r.verifications} Ed25519 verifications, events ${r.eventsRecorded}, suppressed ${r.suppressed}, by verdict ${r.byVerdict.join(",")}`)
    console.log(`fuzz detail: part ${part}, ms mutate ${r.msMutate} predict ${r.msPredict} send ${r.msSend}`)
    expect(r.sent).toBe(FUZZ_PART_COUNT)
    expect(r.accepted).toBe(0)
    expect(r.reachedSignature >= FUZZ_PART_COUNT / FUZZ_TARGET_EVERY).toBe(true)
    // whatever reaches the signature check is refused there
    expect(r.byVerdict[Verdict.BadSignature]).toBe(r.reachedSignature)
    expect(r.byVerdict[Verdict.Malformed] > 500).toBe(true)
    expect(r.byVerdict[Verdict.BadVersion] > 50).toBe(true)
    expect(r.byVerdict[Verdict.WrongMeter] > 50).toBe(true)
    expect(r.byVerdict[Verdict.UnknownKey] > 5).toBe(true)
    expect(r.byVerdict[Verdict.OpcodeNotAllowed] > 5).toBe(true)
    expect(r.byVerdict[Verdict.Replay] > 100).toBe(true)
    // 3 base commands accepted, then at most REJECTION_BURST refusals recorded; the rest counted
    expect(r.eventsRecorded).toBe(3 + REJECTION_BURST)
    expect(r.suppressed).toBe(FUZZ_PART_COUNT - REJECTION_BURST)
}
