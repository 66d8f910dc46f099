import * as ds from "@devicescript/core"
import { median } from "./stats"

// Reference figures for the VM itself, so that other rows can be read as ratios of them.
// 100k iterations in blocks of 2000 with a yield between (the VM aborts a fiber after 128K
// steps without one)
async function loop1e5() {
    let x = 0
    for (let b = 0; b < 50; b++) {
        await ds.sleep(0)
        for (let i = 0; i < 2000; i++) x = (x + i) | 0
    }
    return x
}

const times: number[] = []
for (let r = 0; r < 7; r++) {
    const t0 = ds.millis()
    await loop1e5()
    times.push(ds.millis() - t0)
}
console.log(`BENCH vm_loop_100k_ms ${median(times)}`)
console.log("BENCH_DONE")
