import { simulatedBoard } from "./board/simulated"
import { startMeter } from "./app"

// Simulator entry (VS Code "DeviceScript" launch, `npm start`). Board builds use
// main_pico_w.ts / main_esp32_c3.ts, which differ only in the board they pass.
await startMeter(simulatedBoard())
