// @needs hardware
// Runs only on a Raspberry Pi Pico W wired as in docs/boards.md (`npm run test:hil -- --serial`);
// `npm test` skips it: the pins do not exist in the simulator.
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { startButton, startRelay } from "@devicescript/servers"
import { pins } from "@dsboard/trustmeter_pico_w"
import { hardwareBoard } from "../../src/board/hardware"
import { Ade7953 } from "../../src/metrology/ade7953"

const board = hardwareBoard("trustmeter_pico_w", {
    relay: startRelay({ pin: pins.RELAY, initalActive: false }),
    armButton: startButton({ pin: pins.ARM_BUTTON }),
    pulse: pins.PULSE,
    statusLed: pins.STATUS_LED,
})

describe("Pico W board (hardware)", () => {
    test("the relay closes and opens (listen for two clicks)", async () => {
        await board.relay.setClosed(true)
        expect(board.relay.isClosed()).toBe(true)
        await ds.sleep(500)
        await board.relay.setClosed(false)
        expect(board.relay.isClosed()).toBe(false)
    })
    test("the status LED switches", async () => {
        await board.statusLed.set(true)
        expect(board.statusLed.isOn()).toBe(true)
        await board.statusLed.set(false)
        expect(board.statusLed.isOn()).toBe(false)
    })
    test("the ADE7953 answers on I2C with a plausible version", async () => {
        const v = await board.i2c.readReg(0x38, Buffer.from([Ade7953.Version >> 8, Ade7953.Version & 0xff]), 1)
        expect(v[0] !== 0 && v[0] !== 0xff).toBe(true)
    })
    test("pulses on the S0 input are counted (feed at least 3 within 10 s)", async () => {
        const before = board.pulseInput.count()
        for (let i = 0; i < 100 && board.pulseInput.count() - before < 3; i++) await ds.sleep(100)
        expect(board.pulseInput.count() - before >= 3).toBe(true)
    })
})
