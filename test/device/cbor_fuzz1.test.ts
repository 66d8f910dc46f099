// @timeout 120000
import { describe, test } from "@devicescript/test"
import { cborFuzzPart } from "./cbor_fuzz_rig"

// four parts of 2,500 (10,000 in all, each suite well within CI's time limit)
describe("cbor fuzzing 1/4", () => {
    test("2500 mutated inputs: a value or a reason, never a crash", async () => {
        await cborFuzzPart(1, 2500)
    })
})
