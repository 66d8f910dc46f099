// @timeout 4000
import * as ds from "@devicescript/core"
import { describe, test } from "@devicescript/test"

describe("hil fixture: never finishes", () => {
    test("waits forever", async () => {
        for (;;) await ds.sleep(1000)
    })
})
