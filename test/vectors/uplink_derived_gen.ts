/**
 * Golden vectors of the derived register blocks (docs/uplink.md §4.1, "Derived registers"):
 * test/vectors/uplink_derived.json and its firmware twin test/device/vectors/uplink_derived.ts.
 * Run: `npx tsx test/vectors/uplink_derived_gen.ts`. Checked by test/node/uplink_derived.test.ts
 * (current, encode, seal, decode, rebuild) and test/device/uplink_derived.test.ts (the firmware
 * encodes and seals the same bytes with its own crypto).
 */
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { join, dirname } from "node:path"
import * as F from "../../src/wire/frame"
import * as U from "../../src/wire/report"
import { deriveRegisters } from "../../src/wire/derived"
import { encodeInterval } from "../../src/wire/interval"
import { encodeRegisters } from "../../src/wire/registers"
import { nodeCrypto as C } from "../../headend/src/crypto.ts"
import { evolveKey, recordHash, sealRecord } from "../../headend/src/chain.ts"
import { chainKey0 } from "../fixtures/chain_k0.ts"

const DIR = dirname(fileURLToPath(import.meta.url))
export const JSON_FILE = join(DIR, "uplink_derived.json")
export const TS_FILE = join(DIR, "../device/vectors/uplink_derived.ts")

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")

export function generate() {
    // test-only secret: never a real meter's (the one of test/vectors/uplink.json)
    const secret = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex")
    const meterId = Buffer.from("7e57000000000001", "hex")
    const T = 1700073000
    // registers at the held record's close, large enough to carry into a register's 5th and 6th bytes
    const regs = { importMWh: 9876543210, exportMWh: 1234567, touImportMWh: [9000000000, 876543210, 0, 0], touExportMWh: [0, 0, 1234567, 0] }
    let k = chainKey0(secret, meterId)
    for (let i = 0; i < 60; i++) k = evolveKey(k)
    let prev: Uint8Array = Buffer.alloc(32, 0xcd)
    const recs: Buffer[] = []
    const seal = (kind: number, time: number, payload: Buffer) => {
        const r = Buffer.from(sealRecord(k, kind, 60 + recs.length, time, payload, prev))
        k = evolveKey(k)
        prev = recordHash(r)
        recs.push(r)
    }
    // seq 60..66: the held interval, a derived one (import and export in TOU 1), one across a
    // tariff edge (two import registers: full), one derived from it (code 0, no energy), a
    // power-up record, an interval after it (full: only the record right before serves), one
    // derived into TOU 3
    const interval = (i: number, imp: number, exp: number, imps: [number, number][], expBand: number) => {
        regs.importMWh += imp
        regs.exportMWh += exp
        for (const [band, e] of imps) regs.touImportMWh[band] += e
        regs.touExportMWh[expBand] += exp
        const start = T + i * 1800
        seal(0x10, start, Buffer.concat([encodeInterval({ start, lengthMin: 30, status: 0, coveredS: 1800, importMWh: imp, exportMWh: exp }), encodeRegisters(regs)]))
    }
    interval(0, 250, 0, [[1, 250]], 0)
    interval(1, 4000000000, 77, [[1, 4000000000]], 1)
    interval(2, 900, 0, [[1, 400], [2, 500]], 0)
    interval(3, 0, 0, [], 0)
    seal(0x21, T + 4 * 1800, Buffer.from("00", "hex"))
    interval(4, 12, 0, [[2, 12]], 2)
    interval(5, 31, 5, [[3, 31]], 3)
    const held = recs[0]
    const records = recs.slice(1).map((data, i) => ({ seq: 61 + i, data }))
    const head = records[records.length - 1]
    const report: U.Report = { privacyLevel: 0, records, held, checkpointSeq: head.seq, checkpointHash: Buffer.from(recordHash(head.data)) }
    const body = U.encodeReport(C, report)
    const counter = 9
    const frame = F.sealFrame(C, F.deriveFrameKey(C, secret, meterId, F.Direction.Uplink, 0), { version: F.FrameConst.Version, direction: F.Direction.Uplink, meterId, epoch: 0, counter }, body)
    // deriveRegisters alone: carries across bytes, a sum past 2^48 (wraps; the chain rule refuses it), TOU pairs
    // (prev: a stored record, seq 7, whose payload bytes 16..77 hold the block: docs/index-store.md)
    const prevOf = (block: Buffer) => {
        const h = Buffer.from("011000000007000000004e", "hex")
        return Buffer.concat([h, Buffer.alloc(16), block, Buffer.alloc(48, 0xee)])
    }
    const base = encodeRegisters({ importMWh: 281474976710655, exportMWh: 255, touImportMWh: [281474976710655, 0, 0, 0], touExportMWh: [0, 0, 0, 255] })
    const iv = (imp: number, exp: number) => encodeInterval({ start: T, lengthMin: 30, status: 0, coveredS: 1800, importMWh: imp, exportMWh: exp })
    const blocks = [
        { prev: hex(prevOf(base)), seq: 8, interval: hex(iv(1, 1)), code: 0 },
        { prev: hex(prevOf(base)), seq: 8, interval: hex(iv(4294967295, 1)), code: 7 },
        { prev: hex(prevOf(base)), seq: 8, interval: hex(iv(0, 4294967295)), code: 12 },
        { prev: hex(prevOf(encodeRegisters(regs))), seq: 8, interval: hex(iv(65536, 256)), code: 10 },
    ].map(c => ({ ...c, derived: hex(deriveRegisters(Buffer.from(c.prev, "hex"), c.seq, Buffer.from(c.interval, "hex"), c.code)!) }))
    return {
        description: "trustmeter derived register blocks on the uplink, docs/uplink.md §4.1; generated by test/vectors/uplink_derived_gen.ts",
        secret: hex(secret),
        meterId: hex(meterId),
        /** deriveRegisters(prev, seq, interval, code) = derived */
        blocks,
        /** what the meter encodes: records 61..66 after the held record 60 (as stored), the checkpoint its last */
        report: {
            held: hex(held),
            records: records.map(r => ({ seq: r.seq, data: hex(r.data) })),
            checkpointSeq: head.seq,
            checkpointHash: hex(recordHash(head.data)),
        },
        /** the wire records' length bytes: 78 full, 0xF0 + code derived */
        lengths: U.decodeReport(body).records!.map(r => (r.derived === undefined ? r.payload.length : 0xf0 + r.derived)),
        frame: { counter, body: hex(body), frame: hex(frame) },
    }
}

export function render(v: ReturnType<typeof generate>) {
    const json = JSON.stringify(v, null, 2) + "\n"
    const ts = "// Generated by test/vectors/uplink_derived_gen.ts from test/vectors/uplink_derived.json: do not edit.\nexport const derivedVectors = " + JSON.stringify(v, null, 4) + "\n"
    return { json, ts }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    const { json, ts } = render(generate())
    writeFileSync(JSON_FILE, json)
    writeFileSync(TS_FILE, ts)
    console.log(`wrote ${JSON_FILE} and ${TS_FILE}`)
}
