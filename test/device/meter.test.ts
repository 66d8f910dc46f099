// @timeout 120000
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { MeterEvents } from "../../src/meter/events"
import { IntervalLog } from "../../src/meter/interval_log"
import { registerCadence } from "../../src/meter/register_cadence"
import { statusLine } from "../../src/meter/status"
import { decodeMeterState } from "../../src/store/meterstate"
import { RecordKind, encodeBody } from "../../src/wire/record"
import { concatBytes, getU32BE } from "../../src/wire/bytes"
import { IntervalRecord, IntervalStatus, encodeInterval } from "../../src/wire/interval"
import { AlertKind } from "../../src/wire/report"
import { zeroRegisters } from "../../src/wire/registers"

// src/meter/: the meter's own protocols between the modules, against fakes of the store,
// the uplink and the engine (the store's side of the power-cut repair is
// test/device/store_meterstate.test.ts).

/** An index store as the meter's protocols see it: what was appended and saved, in order. */
class FakeChain {
    seq = 0
    log: string[] = []
    states: Buffer[] = []
    payloads: Buffer[] = []
    /** the next append fails: the power went out between the state write and the record */
    cut = false
    head() {
        return { seq: this.seq }
    }
    async append(kind: number, time: number, payload: Buffer) {
        // nothing runs after a power cut: the append never returns
        while (this.cut) await ds.sleep(3600000)
        this.seq++
        this.payloads.push(payload)
        this.log.push(`append ${kind} ${time}`)
    }
    async saveSnapshot(state: Buffer, force?: boolean) {
        this.states.push(state)
        this.log.push(force ? "state forced" : "state")
    }
}

class FakeMeter {
    snap = Buffer.from("0102", "hex")
    restored: Buffer = undefined
    handlers: ((r: IntervalRecord) => void)[] = []
    onIntervalClose(h: (r: IntervalRecord) => void) {
        this.handlers.push(h)
    }
    /** the engine closes `r` (inside its tick) */
    close(r: IntervalRecord) {
        for (const h of this.handlers) h(r)
    }
    snapshot() {
        return this.snap
    }
    /** the registers at a close: they follow the interval into its record (issue 13) */
    registers() {
        return { importMWh: 5, exportMWh: 0, touImportMWh: [5, 0, 0, 0], touExportMWh: [0, 0, 0, 0] }
    }
    restore(b: Buffer) {
        if (b.length !== 2) throw new RangeError("snapshot: bad size")
        this.restored = b
    }
}

class FakeUplink {
    alerts: number[] = []
    notified = 0
    epoch = 0
    raiseAlert(kind: number) {
        this.alerts.push(kind)
    }
    notify() {
        this.notified++
    }
    async rollEpoch(epoch: number) {
        this.epoch = epoch
    }
}

const MONDAY = 1795392000
function interval(n: number, status: number): IntervalRecord {
    return { start: MONDAY + 1800 * n, lengthMin: 30, status: status, coveredS: 1800, importMWh: 1000 * n + 500, exportMWh: 2000 }
}
async function settle() {
    // the log persists outside the metrology tick (setTimeout 0)
    for (let i = 0; i < 5; i++) await ds.sleep(10)
}

describe("meter: interval persistence (state first, record second)", () => {
    test("each close writes the state (forced) before the record, in order", async () => {
        const chain = new FakeChain()
        const meter = new FakeMeter()
        const log = new IntervalLog(chain, meter, undefined)
        const up = new FakeUplink()
        log.uplink = up
        meter.close(interval(1, 0))
        meter.close(interval(2, IntervalStatus.TimeUnknown))
        // nothing is written inside the engine's tick
        expect(chain.log.length).toBe(0)
        await settle()
        expect(chain.log.join(",")).toBe(`state forced,append 16 ${MONDAY + 1800},state forced,append 16 0`)
        expect(up.notified).toBe(2)
        const st = decodeMeterState(chain.states[1])
        expect(st.dueSeq).toBe(2)
        expect(st.dueTime).toBe(0)
        expect(st.lastInterval.slice(0, 16).toString("hex")).toBe(encodeInterval(interval(2, IntervalStatus.TimeUnknown)).toString("hex"))
        expect(st.snapshot.toString("hex")).toBe("0102")
    })

    test("a cut between the two leaves the state naming the record and the seq it is due to get", async () => {
        const chain = new FakeChain()
        chain.seq = 41
        const meter = new FakeMeter()
        const log = new IntervalLog(chain, meter, undefined)
        chain.cut = true
        meter.close(interval(3, 0))
        await settle()
        expect(chain.log.join(",")).toBe("state forced")
        const st = decodeMeterState(chain.states[0])
        expect(st.dueSeq).toBe(42)
        expect(st.dueTime).toBe(MONDAY + 5400)
        expect(st.lastInterval.slice(0, 16).toString("hex")).toBe(encodeInterval(interval(3, 0)).toString("hex"))
    })

    test("boot restores the recovered snapshot; a malformed one is refused, not thrown", async () => {
        const meter = new FakeMeter()
        const state = { dueSeq: 5, dueTime: 9, lastInterval: encodeInterval(interval(1, 0)), snapshot: Buffer.from("aabb", "hex") }
        const log = new IntervalLog(new FakeChain(), meter, state)
        expect(meter.restored.toString("hex")).toBe("aabb")
        // the running registers, every period between closes, keep the last interval and its due seq
        const chain = new FakeChain()
        const again = new IntervalLog(chain, meter, state)
        again.run(20)
        await ds.sleep(70)
        expect(chain.states.length >= 2).toBe(true)
        const st = decodeMeterState(chain.states[0])
        expect(chain.log[0]).toBe("state")
        expect(st.dueSeq).toBe(5)
        expect(st.lastInterval.toString("hex")).toBe(encodeInterval(interval(1, 0)).toString("hex"))
        expect(st.snapshot.toString("hex")).toBe("0102")
        const m2 = new FakeMeter()
        const bad = new IntervalLog(new FakeChain(), m2, { dueSeq: 1, dueTime: 0, lastInterval: undefined, snapshot: Buffer.from("01", "hex") })
        expect(m2.restored === undefined).toBe(true)
        expect(log !== undefined && bad !== undefined).toBe(true)
    })
})

describe("meter: register cadence, alerts, status line", () => {
    test("the register block rides in the first frame, then every day's worth of frames", () => {
        let n = 0
        const due = registerCadence(48, () => Buffer.alloc(++n))
        const got: number[] = []
        for (let i = 0; i < 100; i++) {
            const b = due()
            if (b !== undefined) got.push(i)
        }
        expect(got.join(",")).toBe("0,48,96")
    })

    test("store, command and metrology events become chain records and uplink alerts", async () => {
        let utc = 0
        const clock = {
            utc: () => utc,
            set: (u: number) => {
                utc = u
            },
        }
        const chain = new FakeChain()
        const alerts = new MeterEvents()
        alerts.clock = clock
        alerts.chain = chain
        // before the uplink exists an alert has nowhere to go (the tamper verdict is raised again)
        alerts.storeAlert(RecordKind.Tamper)
        const up = new FakeUplink()
        alerts.uplink = up
        alerts.storeAlert(RecordKind.StoreFull)
        alerts.storeAlert(RecordKind.Tamper)
        alerts.metrologyEvent("source-fault", "simulated source silent")
        alerts.metrologyEvent("clock-step", "first sync")
        await alerts.alert(0x41, Buffer.alloc(0))
        expect(up.alerts.join(",")).toBe([AlertKind.StoreFull, AlertKind.Tamper, AlertKind.SourceFault, AlertKind.CommandRejected].join(","))
        await alerts.record(0x41, Buffer.from("01", "hex"))
        await alerts.record(0x40, Buffer.from("02", "hex"))
        expect(up.notified).toBe(2)
        await alerts.set(MONDAY)
        expect(alerts.utcNow()).toBe(MONDAY)
        expect(chain.log.join(",")).toBe(`append ${RecordKind.CommandRejected} 0,append ${RecordKind.CommandAccepted} 0,append ${RecordKind.TimeSet} ${MONDAY}`)
        expect(getU32BE(chain.payloads[2], 0)).toBe(0)
        expect(getU32BE(chain.payloads[2], 4)).toBe(MONDAY)
        // an epoch roll the command policy persisted reaches the uplink
        await alerts.setEpoch(3)
        expect(up.epoch).toBe(3)
    })

    test("the status line is byte-identical to the protocol sim/src/demo.ts reads", () => {
        const reg = zeroRegisters()
        reg.importMWh = 332900
        reg.exportMWh = 12
        const line = statusLine(
            { meter: { registers: () => reg, powerW: () => 180 }, clock: { utc: () => MONDAY } },
            { relay: { isClosed: () => true }, statusLed: { set: async (on: boolean) => {} } },
            { head: () => ({ seq: 10 }) },
            { ackedSeq: () => 9 },
            { isConnected: () => false }
        )
        expect(line).toBe(`METER status import=332900 export=12 power=180 relay=1 head=10 acked=9 up=0 utc=${MONDAY}`)
    })
})
