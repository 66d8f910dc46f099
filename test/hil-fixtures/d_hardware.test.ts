// @needs hardware
import { describe, test, expect } from "@devicescript/test"

describe("hil fixture: needs a board", () => {
    test("would fail anywhere it ran", () => {
        expect("this suite ran").toBe("skipped: it needs hardware")
    })
})
