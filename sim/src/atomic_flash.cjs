// Preloaded (NODE_OPTIONS=--require) into each simulated meter's `devs run` by the fleet
// (sim/src/fleet.ts); tools/flash_wear.cjs does the same (and accounts wear) for the meter of
// tools/firmware_rig.ts (the power-cut test on the real firmware, the store benchmark).
//
// The simulator persists its flash by rewriting .devicescript/flash/sim.bin with
// fs.writeFileSync (truncate, then write): a kill -9 in between — the demo's power cuts —
// would leave an empty flash, which a board never does. Writing a temporary file and
// renaming it makes each save all-or-nothing, like one settings write on a board.
const fs = require("fs")
const write = fs.writeFileSync
fs.writeFileSync = function (file, data, ...rest) {
    if (typeof file === "string" && file.endsWith("sim.bin")) {
        write.call(fs, file + ".tmp", data, ...rest)
        fs.renameSync(file + ".tmp", file)
        return
    }
    return write.call(fs, file, data, ...rest)
}
