// The metrology wire formats of the wire core (src/wire/calendar.ts, interval.ts, registers.ts),
// the same code the firmware runs, on the golden vectors the device suites check.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { decodeCalendar, encodeCalendar, validateCalendar, type TariffCalendar } from "../../src/wire/calendar"
import { decodeInterval, encodeInterval } from "../../src/wire/interval"
import { decodeRegisters, encodeRegisters } from "../../src/wire/registers"
import { describeRecord } from "../../headend/src/records.ts"
import { CALENDAR_JSON, INTERVAL_JSON, REGISTERS_JSON, TS_FILE, generate } from "../vectors/metrology_gen.ts"

const cal = JSON.parse(readFileSync(CALENDAR_JSON, "utf8"))
const ivl = JSON.parse(readFileSync(INTERVAL_JSON, "utf8"))
const regs = JSON.parse(readFileSync(REGISTERS_JSON, "utf8"))

test("golden calendars: the wire core encodes and decodes the vectors' bytes", () => {
    assert.ok(cal.valid.length >= 4)
    for (const v of cal.valid) {
        assert.equal(encodeCalendar(v.calendar).toString("hex"), v.hex, v.name)
        assert.deepEqual(decodeCalendar(Buffer.from(v.hex, "hex")), v.calendar, v.name)
    }
})

test("malformed calendar bytes are refused with the documented reason", () => {
    assert.ok(cal.invalid.length >= 10)
    for (const v of cal.invalid) {
        assert.throws(() => decodeCalendar(Buffer.from(v.hex, "hex")), (e: Error) => e.message.includes(v.reason), v.name)
    }
})

test("the head-end refuses to sign an invalid calendar", () => {
    const base: TariffCalendar = { id: 1, utcOffsetMin: 0, defaultRegister: 0, weekendMask: 0x41, weekday: [], weekend: [] }
    assert.deepEqual(validateCalendar(base), { ok: true })
    const over = { ...base, weekday: [{ start: 0, end: 420, register: 1 }, { start: 400, end: 500, register: 1 }] }
    const check = validateCalendar(over)
    assert.equal(check.ok, false)
    assert.match(check.ok ? "" : check.reason, /overlap \(00:00-07:00 and 06:40-08:20\)/)
    assert.throws(() => encodeCalendar({ ...base, defaultRegister: 4 }), /unknown register 4/)
    const many = { ...base, weekend: Array.from({ length: 9 }, (_, i) => ({ start: i * 10, end: i * 10 + 5, register: 0 })) }
    assert.throws(() => encodeCalendar(many), /at most 8 fit/)
})

test("golden interval records follow the byte table (docs/metrology.md)", () => {
    for (const v of ivl.valid) {
        const b = Buffer.from(v.hex, "hex")
        assert.equal(b.length, 16)
        const r = v.record
        assert.deepEqual(
            [b.readUInt32LE(0), b[4], b[5], b.readUInt16LE(6), b.readUInt32LE(8), b.readUInt32LE(12)],
            [r.start, r.lengthMin, r.status, r.coveredS, r.importMWh, r.exportMWh],
            v.name
        )
        assert.equal(encodeInterval(r).toString("hex"), v.hex, v.name)
        assert.deepEqual(decodeInterval(b), r, v.name)
    }
})

test("the head-end's record view reads intervals with the wire core's decoder", () => {
    const v = ivl.valid.find((x: any) => x.record.status === 0)
    const line = describeRecord({ seq: 7, kind: 0x10, time: v.record.start, payload: Buffer.from(v.hex, "hex") })
    assert.match(line, new RegExp(`^#7 interval .* ${v.record.lengthMin} min \\+${(v.record.importMWh / 1000).toFixed(1)} Wh`))
    // a malformed interval payload is shown as bytes, not as a reading
    const bad = Buffer.from(v.hex, "hex")
    bad[4] = 20
    assert.match(describeRecord({ seq: 8, kind: 0x10, time: 0, payload: bad }), /^#8 interval [0-9a-f]{24}$/)
})

test("golden register blocks follow the byte table (docs/metrology.md)", () => {
    for (const v of regs.valid) {
        const b = Buffer.from(v.hex, "hex")
        assert.equal(b.length, 62)
        assert.deepEqual([b[0], b[1]], [1, 4])
        const r = v.registers
        const want = [r.importMWh, r.exportMWh, ...r.touImportMWh, ...r.touExportMWh]
        assert.deepEqual(want.map((_: number, i: number) => b.readUIntLE(2 + 6 * i, 6)), want, v.name)
        assert.equal(encodeRegisters(r).toString("hex"), v.hex, v.name)
        assert.deepEqual(decodeRegisters(b), r, v.name)
    }
    const bad = Buffer.from(regs.valid[0].hex, "hex")
    bad[2] ^= 1
    assert.throws(() => decodeRegisters(bad), /do not sum/)
})

test("the firmware's vector module is generated from the current JSON", () => {
    assert.equal(readFileSync(TS_FILE, "utf8"), generate(), "run: npx tsx test/vectors/metrology_gen.ts")
})
