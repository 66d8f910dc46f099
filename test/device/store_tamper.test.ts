import { describe, test, expect } from "@devicescript/test"
import { IndexStore, KEY_ACK, KEY_HEAD, KEY_SLOT_PREFIX } from "../../src/store/indexstore"
import { nativeCrypto } from "../../src/crypto/native"
import { RamStorage } from "../../src/storage/twins"
import { getU32BE } from "../../src/wire/bytes"
import { tagValid } from "../../src/wire/chain"
import { RecordKind, TamperReason, decodeRecord } from "../../src/wire/record"
import { ID, SECRET, keyFor, provision } from "./store_rig"

const SLOTS = 10

async function open(f: RamStorage, onAlert?: (k: number, p: Buffer) => void) {
    provision(f)
    return await IndexStore.open({ meterId: ID, meterSecret: SECRET, storage: f, slots: SLOTS, onAlert: onAlert })
}

/** A store holding genesis + records 1..5 (seq = slot). */
async function filled(): Promise<RamStorage> {
    const f = new RamStorage()
    const s = await open(f)
    for (let i = 1; i <= 5; i++) {
        const p = Buffer.alloc(8)
        p.setAt(0, "u32", 1000 + i)
        await s.append(RecordKind.IntervalClose, 1764000000 + 1800 * i, p)
    }
    return f
}

/**
 * Reopens a tampered store: expects the verdict, a Tamper record at the head, an alert, and
 * metering going on. `keyLost`: the head (which holds the key) was lost, so the records from
 * the Tamper record on carry tags of a fresh key nobody holds (the head-end: bad tag there).
 */
async function expectTamper(f: RamStorage, reason: number, at: number, keyLost?: boolean) {
    const alerts: Buffer[] = []
    const s = await open(f, (k, p) => {
        if (k === RecordKind.Tamper) alerts.push(p)
    })
    const v = s.verdict()
    if (v.ok || v.reason !== reason || v.at !== at) console.log(`got ${v.ok} ${v.reason} ${v.at}, want ${reason} ${at}`)
    expect(v.ok).toBe(false)
    expect(v.reason).toBe(reason)
    expect(v.at).toBe(at)
    expect(alerts.length).toBe(1)
    expect(alerts[0][0]).toBe(reason)
    expect(getU32BE(alerts[0], 1)).toBe(at)
    const t = decodeRecord(s.recordsAfter(s.head().seq - 1, 1)[0])
    expect(t.kind).toBe(RecordKind.Tamper)
    expect(t.payload[0]).toBe(reason)
    // never brick: the meter keeps recording, with valid tags
    const r = await s.append(RecordKind.IntervalClose, 0, Buffer.alloc(4))
    expect(r.seq).toBe(t.seq + 1)
    expect(tagValid(nativeCrypto, keyFor(r.seq), r.encoded)).toBe(!keyLost)
}

function flip(f: RamStorage, seq: number, off: number) {
    const k = KEY_SLOT_PREFIX + (seq % SLOTS)
    const b = f.raw[k].slice(0)
    b[off] ^= 1
    f.raw[k] = b
}

describe("index store: tamper in flash is found at boot", () => {
    test("an untouched store verifies", async () => {
        const f = await filled()
        const s = await open(f)
        expect(s.verdict().ok).toBe(true)
        expect(s.verdict().checked).toBe(6)
        expect(s.head().seq).toBe(5)
    })
    test("flip one byte in each field of a middle record", async () => {
        // version, kind, seq, time, payload length, payload, prev hash, tag
        const offs = [0, 1, 5, 9, 10, 12, 11 + 8 + 4, 11 + 8 + 32 + 2]
        const want = [
            TamperReason.Malformed,
            TamperReason.BadLink,
            TamperReason.Gap,
            TamperReason.BadLink,
            TamperReason.Malformed,
            TamperReason.BadLink,
            TamperReason.BadLink,
            TamperReason.BadLink,
        ]
        // a field covered only by the hash shows at the next record's link
        const at = [3, 4, 3, 4, 3, 4, 3, 4]
        for (let i = 0; i < offs.length; i++) {
            const f = await filled()
            flip(f, 3, offs[i])
            await expectTamper(f, want[i], at[i])
        }
    })
    test("flip a byte of the newest record: the stored head pins it", async () => {
        const f = await filled()
        flip(f, 5, 12)
        await expectTamper(f, TamperReason.BadLink, 5)
    })
    test("swap two records", async () => {
        const f = await filled()
        const a = f.raw[KEY_SLOT_PREFIX + 2]
        f.raw[KEY_SLOT_PREFIX + 2] = f.raw[KEY_SLOT_PREFIX + 3]
        f.raw[KEY_SLOT_PREFIX + 3] = a
        await expectTamper(f, TamperReason.Gap, 2)
    })
    test("delete a middle record", async () => {
        const f = await filled()
        delete f.raw[KEY_SLOT_PREFIX + 3]
        await expectTamper(f, TamperReason.Gap, 3)
    })
    test("drop the tail", async () => {
        const f = await filled()
        delete f.raw[KEY_SLOT_PREFIX + 4]
        delete f.raw[KEY_SLOT_PREFIX + 5]
        await expectTamper(f, TamperReason.Truncated, 4)
    })
    test("replay an old record over a newer one", async () => {
        const f = await filled()
        f.raw[KEY_SLOT_PREFIX + 4] = f.raw[KEY_SLOT_PREFIX + 2]
        await expectTamper(f, TamperReason.Gap, 4)
    })
    test("roll the whole store back to an older copy (records and head)", async () => {
        const f = await filled()
        const old: { [k: string]: Buffer } = {}
        const keys = Object.keys(f.raw)
        for (let i = 0; i < keys.length; i++) old[keys[i]] = f.raw[keys[i]]
        const s = await open(f)
        await s.append(RecordKind.IntervalClose, 0, Buffer.alloc(4))
        expect(await s.acknowledge(6)).toBe(true)
        // restore everything but the ack: the acknowledged checkpoint is ahead of the head
        const ack = f.raw[KEY_ACK]
        const now = Object.keys(f.raw)
        for (let i = 0; i < now.length; i++) delete f.raw[now[i]]
        for (let i = 0; i < keys.length; i++) f.raw[keys[i]] = old[keys[i]]
        f.raw[KEY_ACK] = ack
        await expectTamper(f, TamperReason.BadAnchor, 6)
    })
    test("an acknowledged record that changed is a bad anchor", async () => {
        const f = await filled()
        const s = await open(f)
        expect(await s.acknowledge(3)).toBe(true)
        flip(f, 3, 12)
        await expectTamper(f, TamperReason.BadAnchor, 3)
    })
    test("a lost head: the chain continues from the last linked record, under a key nobody holds", async () => {
        const f = await filled()
        delete f.raw[KEY_HEAD]
        // before issue 13 the store re-derived the key from METER_SECRET here; nothing derives it now
        await expectTamper(f, TamperReason.HeadLost, 6, true)
    })
    test("an edited head (each field, meter off) fails its tag: HeadLost at boot", async () => {
        // version, slots, seq, hash, next key, tag (st.hd: 71 bytes + 16-byte tag)
        const offs = [0, 2, 6, 7 + 9, 39 + 9, 71 + 15]
        for (let i = 0; i < offs.length; i++) {
            const f = await filled()
            const b = f.raw[KEY_HEAD].slice(0)
            expect(b.length).toBe(87)
            b[offs[i]] ^= 1
            f.raw[KEY_HEAD] = b
            await expectTamper(f, TamperReason.HeadLost, 6, true)
        }
    })
    test("the previous authentic head put back: the newer record completes it, as after a power cut", async () => {
        // an older copy of st.hd carries a valid tag; the record after it, tagged with the
        // key that head holds, moves it forward again (nothing lost, nothing re-keyed)
        const f = await filled()
        const s = await open(f)
        expect(await s.acknowledge(2)).toBe(true)
        const old = f.raw[KEY_HEAD]
        await s.append(RecordKind.IntervalClose, 0, Buffer.alloc(4))
        f.raw[KEY_HEAD] = old
        const s2 = await open(f)
        expect(s2.verdict().ok).toBe(true)
        expect(s2.verdict().resumed).toBe(true)
        expect(s2.head().seq).toBe(6)
    })
    test("garbage everywhere still opens", async () => {
        const f = await filled()
        const keys = Object.keys(f.raw)
        for (let i = 0; i < keys.length; i++) f.raw[keys[i]] = Buffer.from("garbage!")
        const s = await open(f)
        expect(s.verdict().ok).toBe(false)
        const r = await s.append(RecordKind.IntervalClose, 0, Buffer.alloc(4))
        expect(r === null).toBe(false)
    })
})
