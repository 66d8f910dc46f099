import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { nativeCrypto } from "../../src/crypto/native"
import { PowerCutStorage, RamStorage } from "../../src/storage/twins"
import { Direction, decodeHeader, deriveFrameKey } from "../../src/wire/frame"
import { decodeReport } from "../../src/wire/report"
import { FrameCounter } from "../../src/comms/counter"
import { FakeSource, FakeTransport, ack, boot, downKey, meterId, open, secret } from "./uplink_fakes"

// The uplink's persistence through the one storage port (docs/uplink.md §5–§7): counters
// read back after every write, the ack cursor kept by the store, the key epoch by the
// command policy, and values an earlier firmware wrote as JSON.

async function threw(f: () => Promise<any>): Promise<boolean> {
    try {
        await f()
    } catch (e) {
        return true
    }
    return false
}

describe("uplink storage", () => {
    test("the ack cursor is the store's: the uplink asks it and keeps no copy", async () => {
        const src = new FakeSource()
        src.add(10)
        src.acked = 5
        const storage = new RamStorage()
        const tr = new FakeTransport()
        const u = await boot(storage, src, tr)
        expect(u.ackedSeq()).toBe(5)
        await u.step()
        const r = decodeReport(open(tr.sent[0]))
        expect(r.records[0].seq).toBe(6)
        await tr.handler(ack(1, 8, decodeHeader(tr.sent[0]).counter, downKey))
        expect(src.acked).toBe(8)
        expect(u.ackedSeq()).toBe(8)
        expect(storage.raw["up.ack"] === undefined).toBe(true)
    })
    test("the key epoch is the policy's: a roll restarts counters under the new key, a reboot never reuses one", async () => {
        const src = new FakeSource()
        src.add(2)
        const storage = new RamStorage()
        const tr = new FakeTransport()
        const u = await boot(storage, src, tr, 3)
        await u.step()
        const k3 = deriveFrameKey(nativeCrypto, secret, meterId, Direction.Uplink, 3)
        expect(decodeHeader(tr.sent[0]).epoch).toBe(3)
        expect(decodeReport(open(tr.sent[0], k3)).records.length).toBe(2)
        await u.rollEpoch(4)
        expect(await threw(async () => await u.rollEpoch(4))).toBe(true)
        expect(await threw(async () => await u.rollEpoch(2))).toBe(true)
        await u.step()
        const h = decodeHeader(tr.sent[1])
        expect(h.epoch).toBe(4)
        expect(h.counter).toBe(1)
        // an ack under the old epoch's key no longer counts
        const rej = u.stats.downlinkRejected
        await tr.handler(ack(1, 1, h.counter, deriveFrameKey(nativeCrypto, secret, meterId, Direction.Downlink, 3), 3))
        expect(u.stats.downlinkRejected).toBe(rej + 1)
        expect(src.acked).toBe(-1)
        // the policy says 4 at the next boot: counting resumes above what epoch 4 used
        const tr2 = new FakeTransport()
        const u2 = await boot(storage, src, tr2, 4)
        await u2.step()
        expect(decodeHeader(tr2.sent[0]).counter > 1).toBe(true)
        expect(storage.raw["up.ep"] === undefined).toBe(true)
    })
    test("a counter reservation that does not read back sends nothing", async () => {
        const src = new FakeSource()
        src.add(1)
        const storage = new RamStorage()
        const tr = new FakeTransport()
        const u = await boot(storage, src, tr)
        // the settings service drops writes silently when its area is full
        storage.dropWrites = true
        expect(await threw(async () => await u.step())).toBe(true)
        expect(tr.sent.length).toBe(0)
        storage.dropWrites = false
        expect(await u.step()).toBe(true)
        expect(decodeHeader(tr.sent[0]).counter).toBe(1)
    })
    test("a power cut at a reservation: the next boot never reuses a counter; a torn value fails closed", async () => {
        const ram = new RamStorage()
        const cut = new PowerCutStorage(ram)
        const c = new FrameCounter(cut, "up.fc", 2)
        await c.open(0)
        expect(await c.next()).toBe(1)
        expect(await c.next()).toBe(2)
        cut.cutAfter(0)
        expect(await threw(async () => await c.next())).toBe(true)
        cut.restore()
        const c2 = new FrameCounter(cut, "up.fc", 2)
        await c2.open(0)
        expect(await c2.next()).toBe(3)
        // a value cut short (not what the runtime does, but flash can rot): refuse to guess
        cut.cutAfter(0, 4)
        await threw(async () => await c2.next())
        await threw(async () => await c2.next())
        cut.restore()
        expect(await threw(async () => await new FrameCounter(cut, "up.fc", 2).open(0))).toBe(true)
    })
    test("counters an earlier firmware wrote as JSON are honoured, never restarted", async () => {
        const storage = new RamStorage()
        storage.raw["up.fc"] = Buffer.from('{"e":0,"n":64}')
        storage.raw["up.dl"] = Buffer.from('{"e":0,"n":10}')
        // 16 bytes, the size of the new alert record: still not taken for one
        storage.raw["up.al"] = Buffer.from('{"1":2,"5":1234}')
        const src = new FakeSource()
        src.add(1)
        const tr = new FakeTransport()
        const u = await boot(storage, src, tr)
        await u.step()
        const c = decodeHeader(tr.sent[0]).counter
        expect(c).toBe(65)
        expect(decodeReport(open(tr.sent[0])).alerts === undefined).toBe(true)
        // the head-end's counter 10 was seen: a replay of it is refused
        await tr.handler(ack(10, 0, c, downKey))
        expect(src.acked).toBe(-1)
        await tr.handler(ack(11, 0, c, downKey))
        expect(src.acked).toBe(0)
        // both are in the new format now
        expect(storage.raw["up.fc"].length).toBe(8)
        expect(storage.raw["up.dl"].length).toBe(8)
        await ds.sleep(0)
    })
    test("a downlink counter that does not read back refuses the frame", async () => {
        const src = new FakeSource()
        src.add(1)
        const storage = new RamStorage()
        const tr = new FakeTransport()
        const u = await boot(storage, src, tr)
        await u.step()
        storage.dropWrites = true
        await tr.handler(ack(1, 0, decodeHeader(tr.sent[0]).counter, downKey))
        expect(src.acked).toBe(-1)
        expect(u.stats.downlinkRejected).toBe(1)
    })
})
