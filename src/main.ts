import { simulatedBoard } from "./board/simulated"
import { startMeter } from "./app"
import { simulatorSource } from "./metrology/sources"
import { settingsStorage } from "./storage/settings"

// Simulator entry (VS Code "DeviceScript" launch, `npm start`). Board builds use
// main_pico_w.ts / main_esp32_c3.ts, which differ only in the board they pass.
const board = simulatedBoard()

// The head-end's "consumer presses the button" (docs/headend.md): it writes the press
// counter `sim.press` over the Jacdac bus; the simulator has no other way in to the button.
// Only a change counts, so the value is compared as bytes.
let lastPress: string = undefined
setInterval(async () => {
    const v = await settingsStorage.get("sim.press")
    const p = v === undefined ? "" : v.toString("hex")
    if (lastPress !== undefined && p !== lastPress) {
        console.log("button: pressed by the consumer")
        board.armButton.press()
    }
    lastPress = p
}, 1000)
await startMeter(board, simulatorSource)
