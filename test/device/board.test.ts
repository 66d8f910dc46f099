import { describe, test, expect } from "@devicescript/test"
import { counterDelta } from "../../src/board/board"
import { simulatedBoard } from "../../src/board/simulated"

describe("board layer", () => {
    test("pulse counter differences survive the 2^32 wrap", () => {
        const b = simulatedBoard()
        b.pulseInput.preset(0xfffffffe)
        const before = b.pulseInput.count()
        b.pulseInput.inject(5)
        expect(b.pulseInput.count()).toBe(3)
        expect(counterDelta(b.pulseInput.count(), before)).toBe(5)
    })
    test("the relay counts operations, not writes", async () => {
        const b = simulatedBoard()
        expect(b.relay.isClosed()).toBe(true)
        await b.relay.setClosed(false)
        await b.relay.setClosed(false)
        await b.relay.setClosed(true)
        expect(b.relay.operations).toBe(2)
    })
    test("a button press reaches every handler", () => {
        const b = simulatedBoard()
        let n = 0
        b.armButton.onPress(() => n++)
        b.armButton.onPress(() => (n += 10))
        b.armButton.press()
        expect(n).toBe(11)
    })
    test("an absent I2C device fails like a NACK", async () => {
        const b = simulatedBoard()
        let failed = false
        try {
            await b.i2c.readReg(0x38, Buffer.from([0]), 2)
        } catch (e) {
            failed = true
        }
        expect(failed).toBe(true)
        b.i2c.respond(0x38, (reg, size) => Buffer.alloc(size))
        const r = await b.i2c.readReg(0x38, Buffer.from([0]), 2)
        expect(r.length).toBe(2)
    })
})
