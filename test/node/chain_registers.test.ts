// The index in the chain (issue 13): every interval record carries the registers at its close,
// and both verifiers (the wire core's checkNext, run by the meter's boot walk and by the
// head-end's verifyChain and ingest) check record by record that each total = the previous
// one + the interval's energy and that no register goes backwards. Here: the head-end side
// (verifyChain, and the ingest follower, which now runs the core's step).
import { test } from "node:test"
import assert from "node:assert/strict"
import * as F from "../../src/wire/frame"
import * as U from "../../src/wire/report"
import { encodeInterval } from "../../src/wire/interval"
import { encodeRegisters } from "../../src/wire/registers"
import { TamperReason } from "../../src/wire/record"
import { nodeCrypto as C } from "../../headend/src/crypto.ts"
import { evolveKey, recordHash, sealRecord, verifyChain } from "../../headend/src/chain.ts"
import { chainKey0 } from "../fixtures/chain_k0.ts"
import { HeadEnd } from "../../headend/src/ingest.ts"

const secret = Buffer.alloc(32, 9)
const idHex = "7e57000000000077"
const meterId = Buffer.from(idHex, "hex")
const T0 = 1_764_000_000

/** A meter in Node whose intervals carry registers; `edit` changes the registers it reports from then on (an edited st.snap). */
function meter() {
    let key = chainKey0(secret, meterId)
    let prev: Uint8Array = new Uint8Array(32)
    const records: Buffer[] = []
    const regs = { importMWh: 0, exportMWh: 0, touImportMWh: [0, 0, 0, 0], touExportMWh: [0, 0, 0, 0] }
    let counter = 0
    const seal = (kind: number, time: number, payload: Buffer) => {
        const r = Buffer.from(sealRecord(key, kind, records.length, time, payload, prev))
        key = evolveKey(key)
        prev = recordHash(r)
        records.push(r)
    }
    seal(1, 0, meterId)
    return {
        records,
        regs,
        interval(imp: number, exp: number, band = 0) {
            const start = T0 + records.length * 1800
            regs.importMWh += imp
            regs.exportMWh += exp
            regs.touImportMWh[band] += imp
            regs.touExportMWh[band] += exp
            const iv = encodeInterval({ start, lengthMin: 30, status: 0, coveredS: 1800, importMWh: imp, exportMWh: exp })
            seal(0x10, start, Buffer.concat([iv, encodeRegisters(regs)]))
        },
        event(kind: number) {
            seal(kind, T0, Buffer.alloc(0))
        },
        frame(fromSeq: number, toSeq: number) {
            const recs = records.slice(fromSeq, toSeq + 1).map((data, i) => ({ seq: fromSeq + i, data }))
            const last = records.length - 1
            const rep: U.Report = { privacyLevel: 0, records: recs, checkpointSeq: last, checkpointHash: Buffer.from(recordHash(records[last])) }
            const h = { version: F.FrameConst.Version, direction: 1, meterId, epoch: 0, counter: ++counter }
            return F.sealFrame(C, F.deriveFrameKey(C, secret, meterId, 1, 0), h, U.encodeReport(C, rep))
        },
    }
}

const key0 = () => chainKey0(secret, meterId)

test("registers that follow the intervals verify, across events, band changes and a store-full gap", () => {
    const m = meter()
    m.interval(1000, 0)
    m.event(0x21)
    m.interval(2500, 10, 1)
    m.interval(0, 0, 2)
    assert.equal(verifyChain(m.records, key0()).ok, true)
    // a StoreFull record: the intervals of the outage were not stored, the registers moved on
    m.event(0x34)
    m.regs.importMWh += 7777
    m.regs.touImportMWh[0] += 7777
    m.interval(100, 0)
    assert.equal(verifyChain(m.records, key0()).ok, true)
    const he = new HeadEnd({ secretOf: id => (id === idHex ? secret : undefined), chainKeyOf: id => (id === idHex ? key0() : undefined) })
    const r = he.ingest(m.frame(0, m.records.length - 1))
    assert.ok(r.ok && r.stored === m.records.length, JSON.stringify(r))
})

for (const [name, edit] of [
    ["the import register raised (an edited st.snap)", (g: any) => ((g.importMWh += 5), (g.touImportMWh[0] += 5))],
    ["the import register lowered", (g: any) => ((g.importMWh -= 5), (g.touImportMWh[0] -= 5))],
    ["the export register raised", (g: any) => ((g.exportMWh += 1), (g.touExportMWh[2] += 1))],
    // (a move of at most the interval's energy is a split the chain cannot refute: docs/index-store.md)
    ["a TOU register moved to another band, totals kept", (g: any) => ((g.touImportMWh[0] -= 600), (g.touImportMWh[3] += 600))],
    ["the registers rolled back to zero (a lost state restarted from zero)", (g: any) => {
        g.importMWh = g.exportMWh = 0
        g.touImportMWh.fill(0)
        g.touExportMWh.fill(0)
    }],
] as [string, (g: any) => void][]) {
    test(`a register discontinuity is tamper on both head-end paths: ${name}`, () => {
        const m = meter()
        m.interval(1000, 20)
        m.interval(3000, 0)
        edit(m.regs)
        m.interval(500, 0) // validly tagged by the meter itself: only the continuity rule sees it
        m.interval(500, 0)
        assert.deepEqual(verifyChain(m.records, key0()), { ok: false, reason: "registers", at: 3 })
        const he = new HeadEnd({ secretOf: id => (id === idHex ? secret : undefined), chainKeyOf: id => (id === idHex ? key0() : undefined) })
        const r = he.ingest(m.frame(0, 4))
        assert.ok(!r.ok && r.reason === "bad-chain", JSON.stringify(r))
        assert.equal(r.brokenAt, 3)
        assert.equal(r.brokenReason, TamperReason.Registers)
        // the records before it are kept; a later frame from the kept head still refuses it
        assert.equal(r.fresh?.length, 3)
        const again = he.ingest(m.frame(3, 4))
        assert.ok(!again.ok && again.reason === "bad-chain" && again.brokenReason === TamperReason.Registers, JSON.stringify(again))
    })
}
