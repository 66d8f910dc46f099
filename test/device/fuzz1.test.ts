// @timeout 420000
import { describe, test } from "@devicescript/test"
import { fuzzPart } from "./fuzz_rig"

describe("command (COSE) fuzzing 1/4", () => {
    test("2600 mutated and random commands, 260 of them reaching Ed25519: none accepted", async () => {
        await fuzzPart(1)
    })
})
