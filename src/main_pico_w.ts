import * as ds from "@devicescript/core"
import { startButton, startRelay } from "@devicescript/servers"
import { pins } from "@dsboard/trustmeter_pico_w"
import { Board } from "./board/board"
import { hardwareBoard } from "./board/hardware"
import { simulatedBoard } from "./board/simulated"
import { startMeter } from "./app"

// Raspberry Pi Pico W entry: `npx devs build src/main_pico_w.ts`. In the simulator the
// pins do not exist (touching them hangs), so the same file falls back to the simulated board.
let board: Board
if (ds.isSimulator()) board = simulatedBoard()
else
    board = hardwareBoard("trustmeter_pico_w", {
        // the relay starts open ("inital" is the runtime's spelling); the meter closes it from its persisted disconnect state
        relay: startRelay({ pin: pins.RELAY, initalActive: false }),
        armButton: startButton({ pin: pins.ARM_BUTTON }),
        pulse: pins.PULSE,
        statusLed: pins.STATUS_LED,
    })
await startMeter(board)
