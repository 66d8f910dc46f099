import { startButton, startRelay } from "@devicescript/servers"
import { pins } from "@dsboard/trustmeter_esp32_c3"
import { hardwareBoard } from "./board/hardware"
import { startMeter } from "./app"
import { boardSource } from "./metrology/sources"

// ESP32-C3 entry: `npx devs build src/main_esp32_c3.ts`. Hardware only: in the simulator the
// pins do not exist (touching them hangs); run src/main.ts there.
const board = hardwareBoard("trustmeter_esp32_c3", {
    // the relay starts open ("inital" is the runtime's spelling); the meter closes it from
    // its persisted disconnect state
    relay: startRelay({ pin: pins.RELAY, initalActive: false }),
    armButton: startButton({ pin: pins.ARM_BUTTON }),
    pulse: pins.PULSE,
    statusLed: pins.STATUS_LED,
})
await startMeter(board, boardSource)
