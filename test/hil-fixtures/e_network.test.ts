// @needs network
import { describe, test, expect } from "@devicescript/test"

describe("hil fixture: needs the network", () => {
    test("runs where there is network", () => {
        expect(3 * 3).toBe(9)
    })
})
