// @timeout 120000 (each runs in 10-40 s alone; the margin is for a loaded CI machine)
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { simulatedBoard } from "../../src/board/simulated"
import { Ade7953Source, signed24 } from "../../src/metrology/ade7953"
import { IntervalStatus } from "../../src/wire/interval"
import { PulseSource } from "../../src/metrology/pulse"
import { EnergySource, SourceReading } from "../../src/metrology/source"
import { Rig } from "./metrology_rig"

/** A fake ADE7953 on the simulated bus: a version register and a queue of AENERGYA values. */
function fakeAde(board: any, energy: number[], opts?: { version?: number; garbage?: boolean }) {
    const o = opts || {}
    board.i2c.respond(0x38, (reg: Buffer, size: number) => {
        const addr = reg[0] * 256 + reg[1]
        if (addr === 0x702) return Buffer.from([o.version === undefined ? 0x80 : o.version])
        if (addr === 0x31e) {
            const v = energy.length ? energy.shift() : 0
            const b = Buffer.alloc(4)
            const u = v < 0 ? v + 4294967296 : v
            b[0] = Math.floor(u / 16777216) & 0xff
            b[1] = Math.floor(u / 65536) & 0xff
            b[2] = Math.floor(u / 256) & 0xff
            b[3] = u & 0xff
            if (o.garbage) b[0] = 0x12
            return b
        }
        return Buffer.alloc(size)
    })
}

describe("metrology: sources", () => {
    test("pulses: imp/kWh, exact carry, and the 2^32 counter wrap", async () => {
        const b = simulatedBoard()
        b.pulseInput.preset(4294967290)
        const p = new PulseSource(b.pulseInput, { impPerKWh: 800 })
        expect((await p.read(0)).importMWh).toBe(0) // baseline
        b.pulseInput.inject(3)
        expect((await p.read(1000)).importMWh).toBe(3750)
        b.pulseInput.inject(10) // wraps past 2^32
        expect(b.pulseInput.count()).toBe(7)
        const r = await p.read(2000)
        expect(r.importMWh).toBe(12500)
        expect(r.exportMWh).toBe(0)
        expect(r.ok).toBe(true)
        // 600 imp/kWh: thirds of a Wh are carried, never lost
        const q = new PulseSource(b.pulseInput, { impPerKWh: 600, direction: "export" })
        await q.read(0)
        let s = 0
        for (let i = 0; i < 6; i++) {
            b.pulseInput.inject(100)
            const x = await q.read(i * 1000 + 1000)
            expect(x.importMWh).toBe(0)
            s += x.exportMWh
        }
        expect(s).toBe(1000000)
    })

    test("pulses through the engine: 1000 imp/kWh over a wrap lands in the registers", async () => {
        const b = simulatedBoard()
        b.pulseInput.preset(4294967295)
        const r = new Rig({ source: new PulseSource(b.pulseInput, { impPerKWh: 1000 }) })
        await r.at(0)
        b.pulseInput.inject(2000)
        await r.at(60000)
        expect(r.meter.registers().importMWh).toBe(2000000)
        expect(r.meter.powerW()).toBe(120000)
    })

    test("a silent pulse line raises one source-fault event, flags the interval, then recovers", async () => {
        const b = simulatedBoard()
        const r = new Rig({ source: new PulseSource(b.pulseInput, { impPerKWh: 1000, silentS: 120 }) })
        await r.at(0)
        b.pulseInput.inject(1)
        await r.at(60000)
        expect(r.meter.sourceFault()).toBe(false)
        await r.at(120000)
        await r.at(180000)
        expect(r.meter.sourceFault()).toBe(true)
        await r.at(240000)
        expect(r.events.length).toBe(1)
        expect(r.events[0]).toBe("source-fault: no impulse for 120 s")
        expect(r.meter.openInterval().status & IntervalStatus.SourceFault).toBe(IntervalStatus.SourceFault)
        b.pulseInput.inject(1)
        await r.at(300000)
        expect(r.meter.sourceFault()).toBe(false)
        expect(r.events[1]).toBe("source-recovered: no impulse for 120 s")
        // the interval in which the fault happened keeps the flag when it closes
        b.pulseInput.inject(1)
        await r.at(1800000)
        expect(r.meter.sourceFault()).toBe(false)
        expect(r.closed[0].status & IntervalStatus.SourceFault).toBe(IntervalStatus.SourceFault)
        expect(r.meter.openInterval().status & IntervalStatus.SourceFault).toBe(0)
    })

    test("ADE7953: init sequence, signed energy to import/export with calibration", async () => {
        const b = simulatedBoard()
        fakeAde(b, [12345, -5000, 0])
        const a = new Ade7953Source(b.i2c, { lsbPerKWh: 100000 })
        const r1 = await a.read(0)
        expect(r1.ok).toBe(true)
        expect(r1.importMWh).toBe(123450)
        // unlock, optimum setting, RSTREAD: the datasheet's start-up writes, in order
        expect(b.i2c.writes.length).toBe(3)
        expect(b.i2c.writes[0].data.toString("hex")).toBe("00fead")
        expect(b.i2c.writes[1].data.toString("hex")).toBe("01200030")
        expect(b.i2c.writes[2].data.toString("hex")).toBe("000440")
        const r2 = await a.read(1000)
        expect(r2.exportMWh).toBe(50000)
        expect(r2.importMWh).toBe(0)
        expect(r2.powerW).toBe(-180000)
    })

    test("ADE7953: a silent IC becomes a fault event after 3 failed reads, and recovers", async () => {
        const b = simulatedBoard()
        fakeAde(b, [100, 100, 100, 100, 100, 100])
        const r = new Rig({ source: new Ade7953Source(b.i2c, { lsbPerKWh: 1000 }) })
        await r.at(0)
        await r.at(1000)
        expect(r.meter.registers().importMWh).toBe(200000)
        b.i2c.detach(0x38)
        await r.at(2000)
        await r.at(3000)
        expect(r.meter.sourceFault()).toBe(false) // two misses may be bus noise
        await r.at(4000)
        expect(r.meter.sourceFault()).toBe(true)
        expect(r.events[0].indexOf("source-fault: ade7953: 3 failed reads")).toBe(0)
        fakeAde(b, [300])
        await r.at(5000)
        expect(r.meter.sourceFault()).toBe(false)
        // the IC kept integrating while silent (read-with-reset): nothing is lost
        expect(r.meter.registers().importMWh).toBe(500000)
        expect(b.i2c.writes.length).toBe(6) // re-initialised after the outage
    })

    test("ADE7953: an absent or garbage-answering IC is never read as zero energy", async () => {
        const b = simulatedBoard()
        fakeAde(b, [], { version: 0xff })
        const a = new Ade7953Source(b.i2c, { failLimit: 1 })
        const r = await a.read(0)
        expect(r.ok).toBe(false)
        expect(r.reason.indexOf("implausible version") >= 0).toBe(true)
        const b2 = simulatedBoard()
        fakeAde(b2, [5], { garbage: true })
        const r2 = await new Ade7953Source(b2.i2c, { failLimit: 1 }).read(0)
        expect(r2.ok).toBe(false)
        expect(signed24(Buffer.from([0xff, 0xff, 0xff, 0xfe]))).toBe(-2)
        expect(signed24(Buffer.from([0x00, 0x7f, 0xff, 0xff]))).toBe(8388607)
        expect(() => signed24(Buffer.from([0x00, 0x80, 0x00, 0x00]))).toThrow()
    })

    test("a silent simulated source and a throwing source both raise the fault event", async () => {
        const r = new Rig()
        r.src.setPower(1000)
        await r.at(0)
        r.src.setSilent(true)
        await r.at(1000)
        expect(r.events[0]).toBe("source-fault: simulated source silent")
        const thrower: EnergySource = {
            kind: "broken",
            read: async (ms: number): Promise<SourceReading> => {
                throw new Error("bus fault")
            },
        }
        const t = new Rig({ source: thrower })
        await t.at(0)
        expect(t.events[0]).toBe("source-fault: bus fault")
        expect(t.meter.registers().importMWh).toBe(0)
    })
})
