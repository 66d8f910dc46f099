// runs after the hanging suite: the device must still take a new program
import { describe, test, expect } from "@devicescript/test"

describe("hil fixture: passes", () => {
    test("arithmetic", () => {
        expect(2 + 2).toBe(4)
    })
    test("buffers", () => {
        expect(Buffer.from("ab").length).toBe(2)
    })
})
