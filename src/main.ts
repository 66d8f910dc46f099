import { simulatedBoard } from "./board/simulated"
import { startMeter } from "./app"
import { simulatorSource } from "./metrology/sources"
import { readSetting } from "@devicescript/settings"

// Simulator entry (VS Code "DeviceScript" launch, `npm start`). Board builds use
// main_pico_w.ts / main_esp32_c3.ts, which differ only in the board they pass.
const board = simulatedBoard()

// The head-end's "consumer presses the button" (docs/headend.md): it writes the press
// counter `sim.press` over the Jacdac bus; the simulator has no other way in to the button.
let lastPress = -1
setInterval(async () => {
    const p = await readSetting("sim.press", 0)
    if (lastPress >= 0 && p !== lastPress) {
        console.log("button: pressed by the consumer")
        board.armButton.press()
    }
    lastPress = p
}, 1000)
await startMeter(board, simulatorSource)
