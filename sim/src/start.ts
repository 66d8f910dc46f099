/**
 * `npm start`: builds the firmware, starts `devs devtools` and one simulated meter, and
 * shows the meter's console until Ctrl-C (or `--duration <seconds>`).
 */
import { copyFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { BYTECODE, ROOT, build, killTree, runSimulatedDevice, startDevtools } from "./devs.ts"

const args = process.argv.slice(2)
const durIdx = args.indexOf("--duration")
const durationS = durIdx >= 0 ? Number(args[durIdx + 1]) : 0
if (durIdx >= 0 && !(durationS > 0)) {
    console.error("--duration takes a number of seconds, e.g. --duration 30")
    process.exit(2)
}

console.log("building firmware (src/main.ts)...")
await build("src/main.ts")
const dir = join(ROOT, ".meters/meter-1")
mkdirSync(dir, { recursive: true })
const code = join(dir, "firmware.devs")
copyFileSync(BYTECODE, code)
const devtools = await startDevtools()
const meter = runSimulatedDevice(code, dir, "7e57000000000001")
let shown = 0
const timer = setInterval(() => {
    const out = meter.output()
    const lines = out.slice(shown).split("\n")
    const rest = lines.pop() ?? ""
    for (const l of lines) if (l.startsWith("WASM> ")) console.log(`meter-1 | ${l.slice(6)}`)
    shown = out.length - rest.length
}, 100)

let stopping = false
function stop(code = 0) {
    if (stopping) return
    stopping = true
    clearInterval(timer)
    meter.powerCut()
    killTree(devtools)
    console.log("stopped")
    process.exit(code)
}
process.on("SIGINT", () => stop(0))
process.on("SIGTERM", () => stop(0))
meter.child.on("close", () => {
    if (!stopping) {
        console.error("the simulated meter exited unexpectedly:\n" + meter.output().slice(-2000))
        stop(1)
    }
})
if (durationS) setTimeout(() => stop(0), durationS * 1000)
console.log("meter-1 running in the simulator; Ctrl-C stops it")
