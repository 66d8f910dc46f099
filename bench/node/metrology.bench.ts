/**
 * metrology_bytecode_bytes: how much bytecode the metrology module adds to the firmware.
 * Builds a small entry that imports and uses all of src/metrology and its wire formats
 * (engine, clock, calendar codec, interval and snapshot codecs, the three sources, the
 * settings shell) and an empty entry, and reports the difference of their .devs sizes (so the VM's fixed header and the
 * runtime's own library are not counted). The raw size is reported too, and, when the VM
 * reference loop ran in the same bench run, metrology_tick_per_vm_loop = metrology_tick_ms /
 * vm_loop_100k_ms.
 */
import { mkdirSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { BYTECODE, ROOT, build } from "../../tools/devs.ts"

const DIR = join(ROOT, ".devicescript/tm-size")

const ENTRY = `import { simulatedBoard } from "../../src/board/simulated"
import { startMetrology, applyTariff } from "../../src/metrology/config"
import { createSource } from "../../src/metrology/sources"
import { settingsStorage } from "../../src/storage/settings"
import { encodeCalendar, decodeCalendar, defaultCalendar } from "../../src/wire/calendar"
import { encodeInterval, decodeInterval } from "../../src/wire/interval"
import { Ade7953Source } from "../../src/metrology/ade7953"
import { PulseSource } from "../../src/metrology/pulse"
const board = simulatedBoard()
const u = await startMetrology(board, settingsStorage, createSource)
u.meter.onIntervalClose(r => console.log(encodeInterval(r).toString("hex")))
u.meter.onEvent((k, d) => console.log(k + d))
u.meter.restore(u.meter.snapshot())
console.log(decodeInterval(Buffer.alloc(16)).start)
await applyTariff(u.meter, settingsStorage, encodeCalendar(decodeCalendar(encodeCalendar(defaultCalendar()))))
console.log(new Ade7953Source(board.i2c).kind + new PulseSource(board.pulseInput).kind)
u.run()
`

async function devsSize(name: string, text: string): Promise<number> {
    mkdirSync(DIR, { recursive: true })
    const f = join(DIR, name)
    writeFileSync(f, text)
    await build(f)
    return statSync(BYTECODE).size
}

export default async function (results: Record<string, number>) {
    const empty = await devsSize("empty.ts", 'console.log("x")\n')
    const full = await devsSize("metrology.ts", ENTRY)
    const out: Record<string, number> = { metrology_bytecode_bytes: full - empty, metrology_entry_devs_bytes: full }
    // a tick as a fraction of the VM's reference loop measured in the same run (full bench only)
    if (results.metrology_tick_ms !== undefined && results.vm_loop_100k_ms)
        out.metrology_tick_per_vm_loop = results.metrology_tick_ms / results.vm_loop_100k_ms
    return out
}
