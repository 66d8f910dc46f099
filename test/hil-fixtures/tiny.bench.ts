import * as ds from "@devicescript/core"

// a benchmark in the shape bench/device/*.bench.ts has, for the runner's own test
const t0 = ds.millis()
let x = 0
for (let i = 0; i < 1000; i++) x = (x + i) | 0
console.log(`BENCH hil_fixture_sum ${x}`)
console.log(`BENCH hil_fixture_ms ${ds.millis() - t0}`)
console.log("BENCH_DONE")
