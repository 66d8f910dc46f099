/**
 * Golden vectors of the index chain (docs/index-store.md): writes test/vectors/chain.json
 * and the firmware's copy test/device/vectors/chain.ts (the firmware cannot read files).
 * test/node/chain_vectors.test.ts fails when either is stale.
 *
 * The records are built here from the spec's byte table with `@noble/hashes`, not with the
 * wire core (src/wire/chain.ts) that both the firmware and the head-end run: the vectors
 * are a second, independent implementation that the core must agree with.
 *
 *   npx tsx test/vectors/chain-gen.ts
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { sha256 } from "@noble/hashes/sha2.js"
import { hmac } from "@noble/hashes/hmac.js"
import { bytesToHex, concatBytes, hexToBytes } from "@noble/hashes/utils.js"

const ROOT = join(fileURLToPath(import.meta.url), "../../..")
export const JSON_PATH = join(ROOT, "test/vectors/chain.json")
export const TS_PATH = join(ROOT, "test/device/vectors/chain.ts")

/** TamperReason codes (src/wire/record.ts) for the head-end's reason names. */
const REASON_CODE: Record<string, number> = {
    "bad-link": 1,
    "bad-tag": 2,
    gap: 3,
    truncated: 4,
    malformed: 5,
    "bad-anchor": 6,
    registers: 8,
}

interface Expect {
    reason: string
    at: number
}
interface TamperCase {
    name: string
    records: string[]
    /** what the head-end (tags known) reports */
    headend: Expect
    /** what the meter (links and checkpoint only) reports */
    meter: Expect
}

export function generate(): { json: string; ts: string } {
    const meterId = hexToBytes("7e57000000000001")
    // K_0 is random per meter, issued at provisioning (nothing derives it): any 32 bytes. These
    // are the bytes the vectors had when K_0 was HKDF(METER_SECRET 00..1f, meter id,
    // "trustmeter/chain/v1"), so the records did not change
    const key0 = hexToBytes("6ef92661120e8ad58db4414fa0acf0456c8cc82331969254629cc1335f2b4ef2")
    const plan: [number, number, string][] = [
        [0x01, 0, bytesToHex(meterId)], // genesis: payload = meter id
        // interval close: the interval (16 bytes) and the registers at its close (62 bytes)
        [0x10, 1764000000, intervalPayload(1764000000, 123456, 1000, [123456, 0, 0, 0], [1000, 0, 0, 0])],
        [0x10, 1764001800, intervalPayload(1764001800, 124456, 1010, [200000, 47912, 0, 0], [2010, 0, 0, 0])],
        [0x21, 1764002000, ""], // power up, empty payload
        [0x10, 1764003600, intervalPayload(1764003600, 5000, 0, [200000, 52912, 0, 0], [2010, 0, 0, 0])],
        [0x30, 1764003700, "02"], // command rejected
    ]
    let key = key0
    let prev: Uint8Array = new Uint8Array(32)
    const records: Uint8Array[] = []
    const out: { kind: number; seq: number; time: number; payload: string; key: string; encoded: string; hash: string }[] = []
    plan.forEach(([kind, time, payload], seq) => {
        const enc = sealRecord(key, kind, seq, time, hexToBytes(payload), prev)
        out.push({ kind, seq, time, payload, key: bytesToHex(key), encoded: bytesToHex(enc), hash: bytesToHex(recordHash(enc)) })
        records.push(enc)
        prev = recordHash(enc)
        key = evolveKey(key)
    })
    const head = { seq: records.length - 1, hash: bytesToHex(prev) }

    const hex = (rs: Uint8Array[]) => rs.map(r => bytesToHex(r))
    const flip = (i: number, off: number): Uint8Array[] => {
        const rs = records.map(r => r.slice())
        rs[i][off] ^= 0x01
        return rs
    }
    const payLen = (i: number) => records[i][10]
    const T = 2 // the record we tamper with
    const cases: TamperCase[] = [
        { name: "flip version", records: hex(flip(T, 0)), headend: e("malformed", T), meter: e("malformed", T) },
        { name: "flip kind", records: hex(flip(T, 1)), headend: e("bad-tag", T), meter: e("bad-link", T + 1) },
        { name: "flip seq", records: hex(flip(T, 5)), headend: e("gap", T), meter: e("gap", T) },
        { name: "flip time", records: hex(flip(T, 9)), headend: e("bad-tag", T), meter: e("bad-link", T + 1) },
        { name: "flip payload length", records: hex(flip(T, 10)), headend: e("malformed", T), meter: e("malformed", T) },
        { name: "flip payload", records: hex(flip(T, 11)), headend: e("bad-tag", T), meter: e("bad-link", T + 1) },
        { name: "flip prev hash", records: hex(flip(T, 11 + payLen(T) + 5)), headend: e("bad-link", T), meter: e("bad-link", T) },
        { name: "flip tag", records: hex(flip(T, 11 + payLen(T) + 32 + 3)), headend: e("bad-tag", T), meter: e("bad-link", T + 1) },
        {
            name: "flip tag of the newest record",
            records: hex(flip(5, records[5].length - 1)),
            headend: e("bad-tag", 5),
            meter: e("bad-link", 5),
        },
        {
            name: "swap two records",
            records: hex([records[0], records[1], records[3], records[2], records[4], records[5]]),
            headend: e("gap", 2),
            meter: e("gap", 2),
        },
        { name: "delete a middle record", records: hex(records.filter((_, i) => i !== 3)), headend: e("gap", 3), meter: e("gap", 3) },
        { name: "drop the tail", records: hex(records.slice(0, 4)), headend: e("truncated", 4), meter: e("truncated", 4) },
        { name: "replay an old record", records: hex([...records, records[2]]), headend: e("gap", 6), meter: e("gap", 6) },
        (() => {
            // a validly tagged but different record 3 (an older version of it, replayed)
            let k = key0
            for (let i = 0; i < 3; i++) k = evolveKey(k)
            const stale = sealRecord(k, 0x21, 3, 1764001999, new Uint8Array(0), recordHash(records[2]))
            const rs = [...records.slice(0, 3), stale, ...records.slice(4)]
            return { name: "replay a stale version of a record", records: hex(rs), headend: e("bad-link", 4), meter: e("bad-link", 4) }
        })(),
        (() => {
            // rewrite record 3 and re-link everything after it, without the keys
            const rs = records.slice(0, 3)
            let p = recordHash(rs[2])
            for (let i = 3; i < records.length; i++) {
                const [kind, time, payload] = plan[i]
                const r = sealRecord(new Uint8Array(32), kind, i, time, hexToBytes(payload || "00"), p)
                rs.push(r)
                p = recordHash(r)
            }
            return { name: "rewrite and re-link the tail", records: hex(rs), headend: e("bad-tag", 3), meter: e("bad-link", 5) }
        })(),
        // validly tagged and linked (the keys of record 4 on), registers not the previous plus the energy
        resealed("registers one mWh ahead of the energy", 4, intervalPayload(1764003600, 5000, 0, [200000, 52913, 0, 0], [2010, 0, 0, 0])),
        resealed("a TOU register going backwards", 4, intervalPayload(1764003600, 5000, 0, [199999, 52913, 0, 0], [2010, 0, 0, 0])),
        resealed("energy without the registers moving", 4, intervalPayload(1764003600, 5000, 0, [200000, 47912, 0, 0], [2010, 0, 0, 0])),
    ]
    /** records 0..i-1 as they are, record i with `payload`, the rest re-sealed after it with the real keys */
    function resealed(name: string, i: number, payload: string): TamperCase {
        const rs = records.slice(0, i)
        let k = key0
        for (let j = 0; j < i; j++) k = evolveKey(k)
        let p = recordHash(rs[i - 1])
        for (let j = i; j < records.length; j++) {
            const r = sealRecord(k, plan[j][0], j, plan[j][1], hexToBytes(j === i ? payload : plan[j][2]), p)
            rs.push(r)
            p = recordHash(r)
            k = evolveKey(k)
        }
        return { name, records: hex(rs), headend: e("registers", i), meter: e("registers", i) }
    }
    const data = {
        description:
            "trustmeter index chain v1 (docs/index-store.md). key0 = K_0, random per meter (issued at provisioning, escrowed by the head-end); " +
            "records[i].key = K_i; tamper cases are verified against checkpoint = head.",
        meterId: bytesToHex(meterId),
        key0: bytesToHex(key0),
        records: out,
        head,
        checkpointDigest: bytesToHex(checkpointDigest(meterId, { seq: head.seq, hash: hexToBytes(head.hash) })),
        tamper: cases,
    }
    const json = JSON.stringify(data, null, 2) + "\n"
    const ts =
        "// GENERATED by test/vectors/chain-gen.ts from the same data as test/vectors/chain.json: do not edit.\n" +
        "// npx tsx test/vectors/chain-gen.ts regenerates it; test/node/chain_vectors.test.ts fails when stale.\n\n" +
        `export const CHAIN_METER_ID = "${data.meterId}"\n` +
        `export const CHAIN_KEY0 = "${data.key0}"\n` +
        `export const CHAIN_CHECKPOINT_DIGEST = "${data.checkpointDigest}"\n` +
        `export const CHAIN_HEAD_SEQ = ${head.seq}\n` +
        `export const CHAIN_HEAD_HASH = "${head.hash}"\n\n` +
        "/** kind, time, payload hex, K_seq hex, encoded hex, record hash hex (seq = index) */\n" +
        "export const CHAIN_RECORDS: string[][] = [\n" +
        out.map(r => `    ["${r.kind}", "${r.time}", "${r.payload}", "${r.key}", "${r.encoded}", "${r.hash}"],\n`).join("") +
        "]\n\n" +
        "/** name, meter's TamperReason code, at, then the records */\n" +
        "export const CHAIN_TAMPER: string[][] = [\n" +
        cases
            .map(c => `    [${JSON.stringify(c.name)}, "${REASON_CODE[c.meter.reason]}", "${c.meter.at}",\n` + c.records.map(r => `        "${r}",\n`).join("") + "    ],\n")
            .join("") +
        "]\n"
    return { json, ts }
}

/** docs/metrology.md "Interval record" (16 bytes LE, 30 min, complete) ‖ "Register block" (version 1, 4 TOU, u48 LE) */
function intervalPayload(start: number, imp: number, exp: number, touImp: number[], touExp: number[]): string {
    const b = Buffer.alloc(16 + 62)
    b.writeUInt32LE(start, 0)
    b[4] = 30
    b[5] = 0
    b.writeUInt16LE(1800, 6)
    b.writeUInt32LE(imp, 8)
    b.writeUInt32LE(exp, 12)
    b[16] = 1
    b[17] = 4
    const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0)
    ;[sum(touImp), sum(touExp), ...touImp, ...touExp].forEach((v, i) => b.writeUIntLE(v, 18 + 6 * i, 6))
    return b.toString("hex")
}

function e(reason: string, at: number): Expect {
    return { reason, at }
}

// docs/index-store.md, "Hashes and keys" and "Record format v1", read independently of src/wire
const evolveKey = (k: Uint8Array) => sha256(concatBytes(Uint8Array.of(2), k))
const recordHash = (rec: Uint8Array) => sha256(concatBytes(Uint8Array.of(0), rec))
function checkpointDigest(id: Uint8Array, cp: { seq: number; hash: Uint8Array }): Uint8Array {
    const seq = new Uint8Array(4)
    new DataView(seq.buffer).setUint32(0, cp.seq)
    return sha256(concatBytes(Uint8Array.of(1), id, seq, cp.hash))
}
function sealRecord(key: Uint8Array, kind: number, seq: number, time: number, payload: Uint8Array, prev: Uint8Array): Uint8Array {
    const head = new Uint8Array(11)
    const dv = new DataView(head.buffer)
    head[0] = 1
    head[1] = kind
    dv.setUint32(2, seq)
    dv.setUint32(6, time)
    head[10] = payload.length
    const body = concatBytes(head, payload, prev)
    return concatBytes(body, hmac(sha256, key, body).subarray(0, 16))
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    const { json, ts } = generate()
    writeFileSync(JSON_PATH, json)
    writeFileSync(TS_PATH, ts)
    console.log(`wrote ${JSON_PATH} and ${TS_PATH}`)
}
