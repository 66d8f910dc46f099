// Preloaded (NODE_OPTIONS=--require) into a simulated meter's `devs run` by
// tools/firmware_rig.ts (the power-cut test on the real firmware, the store benchmark).
//
// 1. Each save of the simulated flash (.devicescript/flash/sim.bin) is all-or-nothing, as
//    one settings write is on a board: the simulator saves with fs.writeFileSync (truncate,
//    then write), which a kill -9 can catch half-way (see sim/src/atomic_flash.cjs).
// 2. With TM_FLASH_WEAR set, every save is also accounted at the flash: the DeviceScript
//    runtime (runtime/posix/flash.c, emscripten build) saves the whole image after every
//    settings write and after every compaction of the settings area (jacdac-c
//    source/jd_fstor.c calls flash_sync() at the end of jd_settings_set_bin and of
//    write_header). Comparing each saved image with the previous one gives what that
//    operation did to the flash: one JSON line per save is appended to `sim.bin.wear`:
//      { t, gen, area, gc, deploy, entries: [[key, size], ...], programmed, changed, erasedPages, liveBytes }
//    `entries`: directory entries new in the live area (a write of `size` bytes programs
//    align8(size) data bytes + a 24-byte entry); after a compaction (`gen` went up) the
//    new area's whole contents (every live value copied, the 24-byte area header) count as
//    programmed, and its pages as erased. `changed`: bytes that differ from the previous
//    image (a lower bound of what was programmed); `erasedPages`: pages in which some bit
//    went from 0 to 1 (only an erase does that).
const fs = require("fs")
const write = fs.writeFileSync
const WEAR = process.env.TM_FLASH_WEAR
const PAGE = 4096
const MAGIC0 = 0x52545346
const MAGIC1 = 0x6becea0a
let prev

/** The fstor areas of an image: [{ off, gen, pages, entries: [{key, off, size}] }] */
function areas(img) {
    const out = []
    // jd_fstor: two areas of header_pages each at the start of the settings region
    for (const base of [0, 1, 2, 4, 8].map(p => p * PAGE)) {
        if (img.length < base + 24) continue
        if (img.readUInt32LE(base) !== MAGIC0 || img.readUInt32LE(base + 4) !== MAGIC1) continue
        const pages = img.readUInt16LE(base + 18)
        const gen = img.readUInt32LE(base + 8)
        const entries = []
        for (let e = base + 24; e + 24 <= base + pages * PAGE && e + 24 <= img.length; e += 24) {
            const off = img.readUInt32LE(e + 16)
            if (off === 0xffffffff) break
            const key = img.subarray(e, e + 16).toString("latin1").replace(/\0.*$/s, "")
            entries.push({ key, off, size: img.readUInt32LE(e + 20) })
        }
        if (!out.some(a => a.off === base)) out.push({ off: base, gen, pages, entries })
    }
    return out
}
const live = img => {
    const as = areas(img)
    return as.length ? as.sort((a, b) => b.gen - a.gen)[0] : undefined
}
const align8 = n => (n === 0 ? 8 : (n + 7) & ~7)

function account(file, img) {
    const before = prev
    prev = Buffer.from(img)
    if (!before) return
    const a = live(img)
    const b = live(before)
    let changed = 0
    const erased = new Set()
    const n = Math.max(img.length, before.length)
    for (let i = 0; i < n; i++) {
        const x = i < before.length ? before[i] : 0x37
        const y = i < img.length ? img[i] : 0x37
        if (x !== y) {
            changed++
            if ((~x & y & 0xff) !== 0) erased.add(Math.floor(i / PAGE))
        }
    }
    let programmed = 0
    let entries = []
    let gc = false
    // a large setting ('*prog': the program, which `devs run` deploys at every start; a
    // board is flashed once) lives in its own data pages: its entry counts, its data not
    const cost = e => 24 + (e.key[0] === "*" ? 0 : align8(e.size))
    if (a && b && a.off === b.off && a.gen === b.gen) {
        entries = a.entries.slice(b.entries.length)
        for (const e of entries) programmed += cost(e)
    } else if (a) {
        // a compaction (or the first format): the area was erased and rewritten whole
        gc = true
        entries = a.entries
        programmed = 24
        for (const e of entries) programmed += cost(e)
        for (let p = 0; p < a.pages; p++) erased.add(a.off / PAGE + p)
    }
    // a compaction copies the program's entry too: only a new large entry outside one is a deploy
    const deploy = !gc && entries.some(e => e.key[0] === "*")
    const line = {
        t: Date.now(),
        gen: a ? a.gen : -1,
        area: a ? a.off : -1,
        gc,
        deploy,
        entries: entries.map(e => [e.key, e.size]),
        programmed,
        changed,
        erasedPages: [...erased],
        liveBytes: a ? liveBytes(a) : 0,
    }
    fs.appendFileSync(file + ".wear", JSON.stringify(line) + "\n")
}

/** bytes the live values of an area occupy: entry + aligned data of each key's newest entry */
function liveBytes(a) {
    const newest = new Map()
    for (const e of a.entries) newest.set(e.key, e)
    let n = 24
    for (const e of newest.values()) n += 24 + (e.key[0] === "*" ? 0 : align8(e.size))
    return n
}

fs.writeFileSync = function (file, data, ...rest) {
    if (typeof file === "string" && file.endsWith("sim.bin")) {
        if (WEAR) {
            if (prev === undefined) {
                try {
                    prev = fs.readFileSync(file)
                } catch {
                    prev = Buffer.alloc(0)
                }
            }
            try {
                account(file, Buffer.from(data))
            } catch (e) {
                fs.appendFileSync(file + ".wear", JSON.stringify({ error: String(e) }) + "\n")
            }
        }
        write.call(fs, file + ".tmp", data, ...rest)
        fs.renameSync(file + ".tmp", file)
        return
    }
    return write.call(fs, file, data, ...rest)
}
