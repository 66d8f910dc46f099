import { describe, test, expect } from "@devicescript/test"

describe("hil fixture: one test fails", () => {
    test("passes", () => {
        expect(1).toBe(1)
    })
    test("fails on purpose", () => {
        expect(1).toBe(2)
    })
})
