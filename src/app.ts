import * as ds from "@devicescript/core"
import { Board } from "./board/board"

/**
 * Wires the meter's modules to a board. This is the whole firmware apart from the choice
 * of board, which the entry files (`main.ts`, `main_pico_w.ts`, `main_esp32_c3.ts`) make.
 */
export async function startMeter(board: Board) {
    console.log(`trustmeter starting on ${board.id}`)
    let on = false
    setInterval(async () => {
        on = !on
        await board.statusLed.set(on)
    }, 1000)
}
