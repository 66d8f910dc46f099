import { startButton, startRelay } from "@devicescript/servers"
import { pins } from "@dsboard/trustmeter_pico_w"
import { hardwareBoard } from "./board/hardware"
import { startMeter } from "./app"
import { boardSource } from "./metrology/sources"

// Raspberry Pi Pico W entry: `npx devs build src/main_pico_w.ts`. Hardware only: in the simulator the
// pins do not exist (touching them hangs); run src/main.ts there.
const board = hardwareBoard("trustmeter_pico_w", {
    // the relay starts open ("inital" is the runtime's spelling); the meter closes it from
    // its persisted disconnect state
    relay: startRelay({ pin: pins.RELAY, initalActive: false }),
    armButton: startButton({ pin: pins.ARM_BUTTON }),
    pulse: pins.PULSE,
    statusLed: pins.STATUS_LED,
})
await startMeter(board, boardSource)
