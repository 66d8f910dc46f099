import { describe, test, expect } from "@devicescript/test"
import { digest } from "@devicescript/crypto"
import { allOpcodes, ARGS_VARIABLE, isKnownOpcode, isRootOnlyOpcode, Opcode, opcodeArgsSize, Role, Verdict } from "../../src/wire/opcodes"
import { actionTable } from "../../src/commands/actions"
import { imageMatches } from "../../src/commands/firmware"
import { decodeCommandAck } from "../../src/wire/ack"
import { ManifestReason } from "../../src/wire/envelope"
import { REJECTION_BURST, REJECTION_REFILL_MS } from "../../src/commands/rejectionlog"
import { CommandEventKind } from "../../src/commands/ports"
import { entryArgs, TestMeter, testEnvelope, testKey, testRing, SUPPLIER_MASK } from "./vectors/envelope_kit"
import { ARG_VECTORS } from "./vectors/envelope"

// What accepted commands do, with the head-end's own argument encodings
// (ARG_VECTORS, from headend/src/commands.ts via test/vectors/envelope_gen.ts).
const args = (name: string) => Buffer.from(ARG_VECTORS.find(a => a.name === name).hex, "hex")
const NOW = 1800000000

describe("accepted commands act", () => {
    const ring = testRing()
    const root = ring[0]
    const supplier = ring[1]
    const netop = ring[2]

    test("privacy level, random limit, disconnect policy and uplink epoch persist across a reboot", async () => {
        const m = await TestMeter.provisioned()
        expect(m.handler.privacyLevel()).toBe(0)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 5, args: args("privacy monthly") }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: root, counter: 1, opcode: 4, args: args("random limit 120 s") }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: root, counter: 2, opcode: 9, args: args("dual control on, 3 a day") }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: netop, counter: 1, opcode: 7, args: args("uplink epoch 9") }))).toBe(Verdict.Accepted)
        expect(m.epochs[0]).toBe(9)
        // an epoch never goes back, nor stays
        expect(await m.send(testEnvelope({ signer: netop, counter: 2, opcode: 7, args: args("uplink epoch 9") }))).toBe(Verdict.BadArguments)
        const b = await TestMeter.provisioned(m.storage)
        expect(b.handler.privacyLevel()).toBe(2)
        expect(b.handler.uplinkEpoch()).toBe(9)
        expect(b.handler.policy.randomLimitSeconds).toBe(120)
        expect(b.handler.policy.dualControl).toBe(true)
        expect(b.handler.policy.maxDisconnectsPerDay).toBe(3)
    })
    test("the tariff calendar goes through the calendar port's validation", async () => {
        const m = await TestMeter.provisioned()
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 3, args: Buffer.from([0xca, 1, 2]) }))).toBe(Verdict.Accepted)
        expect(m.calendars.length).toBe(1)
        expect(m.calendars[0][2]).toBe(2)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 2, opcode: 3, args: Buffer.from([0xcb]) }))).toBe(Verdict.BadArguments)
        expect(m.calendars.length).toBe(1)
    })
    test("time sync sets the clock", async () => {
        const m = await TestMeter.provisioned()
        m.utc = NOW
        const ack = await m.handler.handleCommand(testEnvelope({ signer: netop, counter: 1, opcode: 6, args: args("time sync") }))
        expect(decodeCommandAck(ack).verdict).toBe(Verdict.Accepted)
        expect(m.clockSets[0]).toBe(NOW + 60)
    })
    test("firmware manifest (the head-end's SUIT vector, signed by the vector root): refused under the test ring's root; the image check", async () => {
        // (firmware_suit.test.ts: the manifest's own attacks and its acceptance)
        const m = await TestMeter.provisioned()
        const man = args("firmware manifest 7 for the simulator")
        const ack = await m.handler.handleCommand(testEnvelope({ signer: supplier, counter: 1, opcode: 8, args: man }))
        expect(decodeCommandAck(ack).verdict).toBe(Verdict.FirmwareRejected)
        expect(decodeCommandAck(ack).detail).toBe(ManifestReason.BadSignature)
        expect(m.staged.length).toBe(0)
        const staged = { sequence: 7, imageSize: 1000, digest: digest("sha256", Buffer.alloc(1000)), vendorId: Buffer.alloc(16), classId: Buffer.alloc(16) }
        expect(imageMatches(staged, Buffer.alloc(1000))).toBe(true)
        const bad = Buffer.alloc(1000)
        bad[999] = 1
        expect(imageMatches(staged, bad)).toBe(false)
        expect(imageMatches(staged, Buffer.alloc(999))).toBe(false)
    })
    test("key add and remove through root-signed commands; the removed key is unknown at once and after a reboot", async () => {
        const m = await TestMeter.provisioned()
        expect(await m.send(testEnvelope({ signer: root, counter: 1, opcode: 17, args: args("remove key 3") }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: netop, counter: 1, opcode: 2 }))).toBe(Verdict.UnknownKey)
        expect(await m.send(testEnvelope({ signer: root, counter: 2, opcode: 16, args: args("add supplier2 as key 4") }))).toBe(Verdict.Accepted)
        const k4 = m.handler.ring.keys.find(k => k.id === 4)
        expect(k4.role).toBe(Role.Supplier)
        const b = await TestMeter.provisioned(m.storage)
        expect(b.handler.ring.keys.length).toBe(3)
        expect(await b.send(testEnvelope({ signer: netop, counter: 2, opcode: 2 }))).toBe(Verdict.UnknownKey)
        // a replaced supplier starts from counter 1 again; the old key is refused
        const fresh = testKey(2, Role.Supplier, SUPPLIER_MASK, "supplier-new")
        expect(await b.send(testEnvelope({ signer: supplier, counter: 50, opcode: 2 }))).toBe(Verdict.Accepted)
        const rep = entryArgs(fresh)
        expect(await b.send(testEnvelope({ signer: root, counter: 3, opcode: 18, args: rep }))).toBe(Verdict.Accepted)
        expect(await b.send(testEnvelope({ signer: fresh, counter: 1, opcode: 2 }))).toBe(Verdict.Accepted)
        expect(await b.send(testEnvelope({ signer: supplier, counter: 51, opcode: 2 }))).toBe(Verdict.BadSignature)
    })
    test("the refusal log: a burst, then counting, then a refill carries the count", async () => {
        const m = await TestMeter.provisioned()
        const junk = Buffer.alloc(10)
        for (let i = 0; i < REJECTION_BURST + 5; i++) await m.send(junk)
        expect(m.events.length).toBe(REJECTION_BURST)
        expect(m.alerts.length).toBe(REJECTION_BURST)
        expect(m.handler.rejections.suppressed).toBe(5)
        // accepted commands are always recorded
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 2 }))).toBe(Verdict.Accepted)
        expect(m.events[REJECTION_BURST].kind).toBe(CommandEventKind.Accepted)
        m.millis += REJECTION_REFILL_MS
        await m.send(junk)
        const last = m.events[m.events.length - 1]
        expect(last.kind).toBe(CommandEventKind.Rejected)
        expect(last.payload[0]).toBe(Verdict.Malformed)
        expect(last.payload[14]).toBe(5)
        expect(m.handler.rejections.suppressed).toBe(0)
    })

    test("the opcode table: every opcode has an action, and a wrong argument size is BadArguments before it runs", async () => {
        const actions = actionTable()
        for (let op = 0; op < 32; op++) expect(actions[op] !== undefined).toBe(isKnownOpcode(op))
        const m = await TestMeter.provisioned()
        let counter = 100
        for (const op of allOpcodes()) {
            const size = opcodeArgsSize(op)
            if (size === ARGS_VARIABLE) continue
            const signer = isRootOnlyOpcode(op) ? root : op === Opcode.TimeSync || op === Opcode.UplinkEpoch ? netop : supplier
            counter++
            expect(await m.send(testEnvelope({ signer: signer, counter: counter, opcode: op, args: Buffer.alloc(size + 1) }))).toBe(Verdict.BadArguments)
        }
        // nothing acted: no disconnect pending, the policy unchanged
        expect(m.handler.disconnect.disconnectPending()).toBe(false)
        expect(m.handler.policy.randomLimitSeconds).toBe(600)
    })
})
