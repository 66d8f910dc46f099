import * as ds from "@devicescript/core"
import { median } from "./stats"
import { MeterClock } from "../../src/metrology/clock"
import { HouseholdSource } from "../../src/metrology/household"
import { Metrology } from "../../src/metrology/metrology"
import { encodeInterval } from "../../src/wire/interval"

// metrology_tick_ms: one tick of the engine (source read, split over bands and intervals,
// register update) with the simulated household source and a 3-band TOU calendar, 1-s
// ticks. interval_close_ms: one tick that crosses an interval boundary (closes the interval,
// computes demand, calls the subscriber, which encodes the 16-byte record as the store
// would), with a constant-power source so that the tick is not dominated by integrating 30
// minutes of profile. Both are medians of 7 batches, divided by the batch size (millis() has ms
// resolution). Time is injected, so the device runs the code as fast as it can.
let now = 0
const clock = new MeterClock({ millis: () => now })
const src = new HouseholdSource(clock, { seed: 3, baseW: 180, solarPeakW: 2500 })
const meter = new Metrology({
    clock: clock,
    source: src,
    intervalMin: 30,
    calendar: {
        id: 1,
        utcOffsetMin: 0,
        defaultRegister: 0,
        weekendMask: 0x41,
        weekday: [
            { start: 0, end: 420, register: 1 },
            { start: 960, end: 1140, register: 2 },
        ],
        weekend: [{ start: 0, end: 1440, register: 3 }],
    },
})
let encoded = 0
meter.onIntervalClose(r => {
    encoded += encodeInterval(r).length
})
clock.set(1795392000 + 7 * 3600, 0)
await meter.tick(0)

const TICKS = 1000
const ticks: number[] = []
for (let rep = 0; rep < 7; rep++) {
    await ds.sleep(0)
    const t0 = ds.millis()
    for (let i = 0; i < TICKS; i++) {
        now += 1000
        await meter.tick(now)
        if (i % 50 === 49) await ds.sleep(0)
    }
    ticks.push((ds.millis() - t0) / TICKS)
}
console.log(`BENCH metrology_tick_ms ${median(ticks)}`)

// a constant power: the source integrates a 30-minute tick in one piece, not 30 minutes
src.setPower(1500)
const CLOSES = 200
const closes: number[] = []
for (let rep = 0; rep < 7; rep++) {
    await ds.sleep(0)
    const before = encoded
    const t0 = ds.millis()
    for (let i = 0; i < CLOSES; i++) {
        now += 1800000 // each tick crosses exactly one boundary
        await meter.tick(now)
        if (i % 20 === 19) await ds.sleep(0)
    }
    closes.push((ds.millis() - t0) / CLOSES)
    if (encoded - before !== CLOSES * 16) console.log(`metrology bench: ${(encoded - before) / 16} closes, ${CLOSES} expected`)
}
console.log(`BENCH interval_close_ms ${median(closes)}`)
console.log("BENCH_DONE")
