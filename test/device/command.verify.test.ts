import { decodeCommandAck } from "../../src/wire/ack"
import { describe, test, expect } from "@devicescript/test"
import { rootKey } from "../../src/wire/keys"
import { Role, Verdict } from "../../src/wire/opcodes"
import { PowerCutStorage, RamStorage } from "../../src/storage/twins"
import { CommandEventKind } from "../../src/commands/ports"
import { METER, OTHER_METER, ROOT_MASK, SUPPLIER_MASK, TestMeter, testEnvelope, testKey, testRing, u32 } from "./vectors/envelope_kit"

// One test per refusal reason, in the verifier's order (docs/commands.md, "Verification order").
describe("command verification: each refusal has its own reason", () => {
    const ring = testRing()
    const root = ring[0]
    const supplier = ring[1]
    const netop = ring[2]
    const NOW = 1800000000

    test("an authentic, fresh, allowed command is accepted and recorded", async () => {
        const m = await TestMeter.provisioned()
        const ack = await m.handler.handleCommand(testEnvelope({ signer: supplier, counter: 5, notBefore: NOW - 10, expiry: NOW + 10, opcode: 2 }))
        // [Accepted, Disconnect, key 2, counter 5, detail: the offset] (docs/formats.cddl command-ack)
        expect(ack.slice(0, 5).toString("hex")).toBe("8500020205")
        const a = decodeCommandAck(ack)
        expect(a.verdict).toBe(Verdict.Accepted)
        expect(a.opcode).toBe(2)
        expect(a.signerKeyId).toBe(2)
        expect(a.counterLo).toBe(5)
        expect(m.events.length).toBe(1)
        expect(m.events[0].kind).toBe(CommandEventKind.Accepted)
        expect(m.alerts.length).toBe(0)
    })
    test("Malformed and BadVersion", async () => {
        const m = await TestMeter.provisioned()
        const raw = testEnvelope({ signer: supplier, counter: 5, opcode: 2 })
        expect(await m.send(raw.slice(0, raw.length - 1))).toBe(Verdict.Malformed)
        // alg −7 (ES256) for −8 (EdDSA) in the protected header: d2 84 46 a2 01 27 …
        const v = raw.slice(0)
        expect(v[5]).toBe(0x27)
        v[5] = 0x26
        expect(await m.send(v)).toBe(Verdict.BadVersion)
        expect(m.events[0].kind).toBe(CommandEventKind.Rejected)
        expect(m.events[0].payload[0]).toBe(Verdict.Malformed)
        expect(m.alerts[1].payload[0]).toBe(Verdict.BadVersion)
    })
    test("NotProvisioned: a meter without a ring refuses everything", async () => {
        const m = new TestMeter(new RamStorage())
        await m.handler.start()
        expect(await m.send(testEnvelope({ signer: root, counter: 1, opcode: 2 }))).toBe(Verdict.NotProvisioned)
    })
    test("WrongMeter: a valid command for another meter", async () => {
        const m = await TestMeter.provisioned()
        expect(await m.send(testEnvelope({ meterId: OTHER_METER, signer: supplier, counter: 5, opcode: 2 }))).toBe(Verdict.WrongMeter)
    })
    test("UnknownKey: a signer, or a co-signer, not in the ring", async () => {
        const m = await TestMeter.provisioned()
        const stranger = testKey(9, Role.Supplier, SUPPLIER_MASK, "stranger")
        expect(await m.send(testEnvelope({ signer: stranger, counter: 5, opcode: 2 }))).toBe(Verdict.UnknownKey)
        expect(await m.send(testEnvelope({ signer: supplier, cosigner: stranger, counter: 5, opcode: 2 }))).toBe(Verdict.UnknownKey)
    })
    test("OpcodeNotAllowed: outside the key's mask, or root-only", async () => {
        const m = await TestMeter.provisioned()
        expect(await m.send(testEnvelope({ signer: supplier, counter: 5, opcode: 6, args: u32(NOW) }))).toBe(Verdict.OpcodeNotAllowed)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 6, opcode: 17, args: Buffer.from([3]) }))).toBe(Verdict.OpcodeNotAllowed)
        expect(await m.send(testEnvelope({ signer: netop, counter: 6, opcode: 4, args: Buffer.from([0, 0]) }))).toBe(Verdict.OpcodeNotAllowed)
    })
    test("DualControlRequired: two signatures of the same role, or one when dual control is on", async () => {
        const m = await TestMeter.provisioned()
        const supplier2 = testKey(4, Role.Supplier, SUPPLIER_MASK, "supplier2")
        await m.handler.ring.commit([root, supplier, netop, supplier2])
        expect(await m.send(testEnvelope({ signer: supplier, cosigner: supplier2, counter: 5, opcode: 1 }))).toBe(Verdict.DualControlRequired)
        expect(await m.send(testEnvelope({ signer: root, counter: 1, opcode: 9, args: Buffer.from([1, 2]) }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 6, opcode: 1 }))).toBe(Verdict.DualControlRequired)
        expect(await m.send(testEnvelope({ signer: root, counter: 2, opcode: 1 }))).toBe(Verdict.DualControlRequired)
        // two roles: accepted; the disconnect is scheduled
        expect(await m.send(testEnvelope({ signer: supplier, cosigner: netop, counter: 7, opcode: 1 }))).toBe(Verdict.Accepted)
        expect(m.handler.disconnect.disconnectPending()).toBe(true)
        // a co-signer must itself be allowed the opcode; the root as co-signer lifts the daily limit
        expect(await m.send(testEnvelope({ signer: supplier, cosigner: testRing()[2], counter: 9, opcode: 5, args: Buffer.from([0]) }))).toBe(Verdict.OpcodeNotAllowed)
        expect(await m.send(testEnvelope({ signer: supplier, cosigner: root, counter: 10, opcode: 1 }))).toBe(Verdict.Accepted)
        // dual control only guards disconnects
        expect(await m.send(testEnvelope({ signer: supplier, counter: 11, opcode: 2 }))).toBe(Verdict.Accepted)
    })
    test("TimeUnknown: only a time sync passes while the meter's time is unknown", async () => {
        const m = await TestMeter.provisioned()
        m.utc = 0
        expect(await m.send(testEnvelope({ signer: supplier, counter: 5, opcode: 2 }))).toBe(Verdict.TimeUnknown)
        expect(await m.send(testEnvelope({ signer: netop, counter: 5, notBefore: NOW - 60, expiry: NOW + 60, opcode: 6, args: u32(NOW) }))).toBe(Verdict.Accepted)
        expect(m.utc).toBe(NOW)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 6, notBefore: NOW - 60, expiry: NOW + 60, opcode: 2 }))).toBe(Verdict.Accepted)
    })
    test("NotYetValid and Expired", async () => {
        const m = await TestMeter.provisioned()
        m.utc = NOW
        expect(await m.send(testEnvelope({ signer: supplier, counter: 5, notBefore: NOW + 1, expiry: NOW + 100, opcode: 2 }))).toBe(Verdict.NotYetValid)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 5, notBefore: NOW - 100, expiry: NOW - 1, opcode: 2 }))).toBe(Verdict.Expired)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 5, notBefore: NOW, expiry: NOW, opcode: 2 }))).toBe(Verdict.Accepted)
    })
    test("Replay: the same counter or a lower one", async () => {
        const m = await TestMeter.provisioned()
        const env = testEnvelope({ signer: supplier, counter: 5, opcode: 2 })
        expect(await m.send(env)).toBe(Verdict.Accepted)
        expect(await m.send(env)).toBe(Verdict.Replay)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 4, opcode: 2 }))).toBe(Verdict.Replay)
        // counters are per signer
        expect(await m.send(testEnvelope({ signer: netop, counter: 1, opcode: 2 }))).toBe(Verdict.Accepted)
    })
    test("BadSignature: a flipped bit, a signature by another key, a bad co-signature; none spends the counter", async () => {
        const m = await TestMeter.provisioned()
        const env = testEnvelope({ signer: supplier, counter: 5, opcode: 2 })
        const flipped = env.slice(0)
        flipped[env.length - 3] ^= 0x10
        expect(await m.send(flipped)).toBe(Verdict.BadSignature)
        const impostor = testEnvelope({ signer: testKey(2, Role.Supplier, SUPPLIER_MASK, "impostor"), counter: 5, opcode: 2 })
        expect(await m.send(impostor)).toBe(Verdict.BadSignature)
        const dual = testEnvelope({ signer: supplier, cosigner: netop, counter: 5, opcode: 2 })
        dual[dual.length - 1] ^= 1
        expect(await m.send(dual)).toBe(Verdict.BadSignature)
        expect(await m.send(env)).toBe(Verdict.Accepted)
    })
    test("DailyLimit: N remote disconnects per UTC day without the root", async () => {
        const m = await TestMeter.provisioned()
        m.utc = NOW
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 1 }))).toBe(Verdict.Accepted)
        // a network operator only co-signs a disconnect (docs/commands.md §2); the count is the meter's
        expect(await m.send(testEnvelope({ signer: supplier, cosigner: netop, counter: 2, opcode: 1 }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 3, opcode: 1 }))).toBe(Verdict.DailyLimit)
        expect(await m.send(testEnvelope({ signer: root, counter: 1, opcode: 1 }))).toBe(Verdict.Accepted)
        // survives a reboot, resets the next UTC day (after 24 h of uptime: command.authority.test.ts)
        const again = await TestMeter.provisioned(m.storage)
        again.utc = NOW
        expect(await again.send(testEnvelope({ signer: supplier, counter: 4, opcode: 1 }))).toBe(Verdict.DailyLimit)
        again.utc = NOW + 86400
        again.millis = 86400000
        expect(await again.send(testEnvelope({ signer: supplier, counter: 5, opcode: 1 }))).toBe(Verdict.Accepted)
    })
    test("BadArguments: arguments a command does not take", async () => {
        const m = await TestMeter.provisioned()
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 1, args: Buffer.from([0]) }))).toBe(Verdict.BadArguments)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 2, opcode: 5, args: Buffer.from([3]) }))).toBe(Verdict.BadArguments)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 3, opcode: 3, args: Buffer.from([0x00, 1]) }))).toBe(Verdict.BadArguments)
        expect(await m.send(testEnvelope({ signer: root, counter: 1, opcode: 4, args: u32(1) }))).toBe(Verdict.BadArguments)
        expect(await m.send(testEnvelope({ signer: netop, counter: 1, opcode: 7, args: u32(0) }))).toBe(Verdict.BadArguments)
        // the refused command is spent all the same: it was authentic
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 2 }))).toBe(Verdict.Replay)
    })
    test("TimeOutOfBounds: a step too large, outside its window, or before the floor", async () => {
        const m = await TestMeter.provisioned()
        m.utc = NOW
        const sync = (signer: any, counter: number, t: number, nb: number, exp: number) =>
            testEnvelope({ signer: signer, counter: counter, notBefore: nb, expiry: exp, opcode: 6, args: u32(t) })
        expect(await m.send(sync(netop, 1, NOW + 901, NOW - 10, NOW + 2000))).toBe(Verdict.TimeOutOfBounds)
        expect(await m.send(sync(netop, 2, NOW + 50, NOW - 10, NOW + 20))).toBe(Verdict.TimeOutOfBounds)
        expect(await m.send(sync(netop, 3, NOW + 600, NOW - 10, NOW + 2000))).toBe(Verdict.Accepted)
        expect(m.clockSets[0]).toBe(NOW + 600)
        // the root may step further, and back before the last synced time (it restores a sane
        // time after a stolen key's syncs, docs/commands.md §5); the network operator may not
        expect(await m.send(sync(root, 1, NOW + 5000, NOW - 10, NOW + 9000))).toBe(Verdict.Accepted)
        expect(await m.send(sync(netop, 4, NOW + 4900, NOW - 10, NOW + 9000))).toBe(Verdict.TimeOutOfBounds)
        expect(await m.send(sync(root, 2, NOW + 4000, NOW - 10, NOW + 9000))).toBe(Verdict.Accepted)
        // time unknown: the sync must expire within the hour after the time it sets
        m.utc = 0
        expect(await m.send(sync(netop, 5, NOW + 9000, 0, NOW + 12601))).toBe(Verdict.TimeOutOfBounds)
        expect(await m.send(sync(netop, 6, NOW + 9000, 0, NOW + 12600))).toBe(Verdict.Accepted)
    })
    test("FirmwareRejected and KeyChangeRefused", async () => {
        const m = await TestMeter.provisioned()
        const man = Buffer.alloc(42)
        man[0] = 1
        man[4] = 5
        man[8] = 100
        man[41] = 5
        const wrongBoard = man.concat(Buffer.from("other"))
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 8, args: wrongBoard }))).toBe(Verdict.FirmwareRejected)
        expect(await m.send(testEnvelope({ signer: root, counter: 1, opcode: 17, args: Buffer.from([1]) }))).toBe(Verdict.KeyChangeRefused)
        expect(rootKey(m.handler.ring.keys).id).toBe(1)
    })
    test("ActionFailed: a command whose counter cannot be persisted does not act", async () => {
        const f = new PowerCutStorage(new RamStorage())
        const m = await TestMeter.provisioned(f)
        f.cutAfter(0)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 1 }))).toBe(Verdict.ActionFailed)
        expect(m.handler.disconnect.disconnectPending()).toBe(false)
        expect(m.board.relay.isClosed()).toBe(true)
    })
})
