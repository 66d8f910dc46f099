// Preloaded (NODE_OPTIONS=--require) into `devs run` by test/node/powercut.test.ts.
//
// The simulator persists its flash by rewriting .devicescript/flash/sim.bin with
// fs.writeFileSync: truncate, then write. A kill -9 between the two leaves an empty file,
// which real flash never does (a cut there loses at most the write in flight; jd_fstor
// programs a setting's directory entry last). Saving through a temporary file and a rename
// makes each save all-or-nothing, like one settings write on a board.
const fs = require("fs")
const write = fs.writeFileSync
fs.writeFileSync = function (file, data, ...rest) {
    if (typeof file === "string" && file.endsWith("sim.bin")) {
        const tmp = file + ".tmp"
        write.call(fs, tmp, data, ...rest)
        fs.renameSync(tmp, file)
        return
    }
    return write.call(fs, file, data, ...rest)
}
