// @timeout 120000 (each runs in 10-40 s alone; the margin is for a loaded CI machine)
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { decodeCalendar, validateCalendar } from "../../src/wire/calendar"
import { decodeInterval } from "../../src/wire/interval"
import { decodeSnapshot } from "../../src/metrology/snapshot"
import { CALENDAR_VECTORS, INTERVAL_VECTORS } from "./vectors/metrology"
import { Rig } from "./metrology_rig"
import { modU as mod } from "../../src/wire/bytes"

/** deterministic pseudo-random numbers (Park–Miller), so a failure can be replayed */
class Prng {
    private x: number
    constructor(seed: number) {
        this.x = seed
    }
    next(n: number): number {
        this.x = mod(this.x * 48271, 2147483647)
        return this.x % n
    }
}

/** decodes `b`: returns "ok" with a valid result, the error message otherwise */
function tryDecode(f: (b: Buffer) => any, b: Buffer): string {
    try {
        f(b)
        return "ok"
    } catch (e) {
        return (e as Error).message
    }
}

function startsWith(s: string, p: string): boolean {
    return s.indexOf(p) === 0
}

describe("metrology: malformed input never gets past the decoders", () => {
    test("every truncation of a calendar is refused", async () => {
        const full = Buffer.from(CALENDAR_VECTORS[3].hex, "hex")
        for (let n = 0; n < full.length; n++) {
            if (n % 10 === 0) await ds.sleep(0)
            expect(startsWith(tryDecode(decodeCalendar, full.slice(0, n)), "calendar: ")).toBe(true)
        }
    })

    test("300 random byte mutations of calendars: refused with a reason, or still valid", async () => {
        const rnd = new Prng(12345)
        let refused = 0
        for (let i = 0; i < 300; i++) {
            if (i % 5 === 0) await ds.sleep(0)
            const b = Buffer.from(CALENDAR_VECTORS[1 + (i % 3)].hex, "hex")
            const k = 1 + rnd.next(3)
            for (let j = 0; j < k; j++) b[rnd.next(b.length)] = rnd.next(256)
            let cal: any = null
            let msg = ""
            try {
                cal = decodeCalendar(b)
            } catch (e) {
                msg = (e as Error).message
            }
            if (cal) expect(validateCalendar(cal).ok).toBe(true)
            else {
                expect(startsWith(msg, "calendar: ")).toBe(true)
                refused++
            }
        }
        // most mutations break something (band bounds, counts, registers)
        expect(refused > 100).toBe(true)
    })

    test("random interval records and snapshots are refused with a reason", async () => {
        const rnd = new Prng(777)
        for (let i = 0; i < 200; i++) {
            if (i % 10 === 0) await ds.sleep(0)
            const b = Buffer.from(INTERVAL_VECTORS[i % 4].hex, "hex")
            b[4 + rnd.next(3)] = rnd.next(256) // length, status, covered
            const m = tryDecode(decodeInterval, b)
            if (m !== "ok") expect(startsWith(m, "interval: ")).toBe(true)
        }
        const r = new Rig()
        r.src.setPower(500)
        await r.at(0)
        await r.at(60000)
        const snap = r.meter.snapshot()
        let refused = 0
        for (let i = 0; i < 200; i++) {
            if (i % 10 === 0) await ds.sleep(0)
            const b = snap.slice(0)
            b[rnd.next(b.length)] ^= 1 + rnd.next(255)
            const m = tryDecode(decodeSnapshot, b)
            if (m !== "ok") {
                expect(startsWith(m, "snapshot: ") || startsWith(m, "interval: ")).toBe(true)
                refused++
            }
        }
        // a flipped register byte breaks the TOU sum; only max-demand and open-interval energy bytes may pass
        expect(refused > 100).toBe(true)
    })
})
