import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { decodeCalendar, encodeCalendar, calendarProblem, type TariffCalendar } from "../../headend/src/calendar.ts"
import { CALENDAR_JSON, INTERVAL_JSON, REGISTERS_JSON, TS_FILE, generate } from "../vectors/metrology_gen.ts"

const cal = JSON.parse(readFileSync(CALENDAR_JSON, "utf8"))
const ivl = JSON.parse(readFileSync(INTERVAL_JSON, "utf8"))
const regs = JSON.parse(readFileSync(REGISTERS_JSON, "utf8"))

test("golden calendars: the head-end encodes and decodes the firmware's bytes", () => {
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
    assert.equal(calendarProblem(base), undefined)
    const over = { ...base, weekday: [{ start: 0, end: 420, register: 1 }, { start: 400, end: 500, register: 1 }] }
    assert.match(calendarProblem(over)!, /overlap \(00:00-07:00 and 06:40-08:20\)/)
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
    }
})

test("golden register blocks follow the byte table (docs/metrology.md)", () => {
    for (const v of regs.valid) {
        const b = Buffer.from(v.hex, "hex")
        assert.equal(b.length, 62)
        assert.deepEqual([b[0], b[1]], [1, 4])
        const r = v.registers
        const want = [r.importMWh, r.exportMWh, ...r.touImportMWh, ...r.touExportMWh]
        assert.deepEqual(want.map((_: number, i: number) => b.readUIntLE(2 + 6 * i, 6)), want, v.name)
    }
})

test("the firmware's vector module is generated from the current JSON", () => {
    assert.equal(readFileSync(TS_FILE, "utf8"), generate(), "run: npx tsx test/vectors/metrology_gen.ts")
})
