import { describe, test, expect } from "@devicescript/test"
import { Verdict } from "../../src/wire/opcodes"
import { nativeCrypto } from "../../src/crypto/native"
import { signedManifest } from "../../src/wire/envelope"
import { fakeSign, TestMeter, testEnvelope, testRing, u32 } from "./vectors/envelope_kit"

// Command authority v2 (docs/commands.md §4–§7): what one stolen non-root key can sign must
// not burn the meter. Each test is an attack that today's rules let through.
const NOW = 1800000000
/** 2^31: a u32 time or counter at or above it is false in the VM's `if (x)`, `!x`, `x || y` */
const P31 = 2147483648
const U32_MAX = 4294967295
const DAY_MS = 86400000
describe("command authority: one stolen non-root key cannot burn the meter", () => {
    const ring = testRing()
    const root = ring[0]
    const supplier = ring[1]
    const netop = ring[2]
    /** a SUIT manifest (docs/commands.md §7) for the simulator with this sequence, signed by the root (stand-in signature) */
    const manifest = (sequence: number) =>
        signedManifest({ sequence: sequence, imageSize: 1000, digest: nativeCrypto.sha256([Buffer.alloc(1000)]), board: "simulator" }, sequence - 1, nativeCrypto, 1, (tbs: Buffer) => fakeSign(root.publicKey, tbs))
    const sync = (signer: any, counter: number, t: number, nb: number, exp: number) =>
        testEnvelope({ signer: signer, counter: counter, notBefore: nb, expiry: exp, opcode: 6, args: u32(t) })

    test("time unknown after a reboot: a network operator's sync moves at most 7 days from the floor", async () => {
        const m = await TestMeter.provisioned()
        m.utc = 0
        expect(await m.send(sync(netop, 1, NOW, NOW - 60, NOW + 60))).toBe(Verdict.Accepted)
        const b = await TestMeter.provisioned(m.storage)
        b.utc = 0
        // the attack: 2^32 - 101, in an envelope that expires within the hour after it
        expect(await b.send(sync(netop, 2, U32_MAX - 100, 0, U32_MAX))).toBe(Verdict.TimeOutOfBounds)
        expect(b.utc).toBe(0)
        expect(await b.send(sync(netop, 3, NOW + 604801, 0, NOW + 604801))).toBe(Verdict.TimeOutOfBounds)
        // never before the floor either
        expect(await b.send(sync(netop, 4, NOW - 1, 0, NOW))).toBe(Verdict.TimeOutOfBounds)
        expect(await b.send(sync(netop, 5, NOW + 604800, 0, NOW + 604800))).toBe(Verdict.Accepted)
        expect(b.utc).toBe(NOW + 604800)
    })

    test("time unknown: the floor is also the newest time the meter has on record", async () => {
        const m = await TestMeter.provisioned(undefined, undefined, undefined, NOW)
        m.utc = 0
        expect(await m.send(sync(netop, 1, NOW + 604801, 0, NOW + 604801))).toBe(Verdict.TimeOutOfBounds)
        expect(await m.send(sync(netop, 2, NOW - 1, 0, NOW))).toBe(Verdict.TimeOutOfBounds)
        expect(await m.send(sync(netop, 3, NOW + 3600, 0, NOW + 3600))).toBe(Verdict.Accepted)
    })

    test("the root restores a sane time after a bogus future one, removes the key, and the meter works again", async () => {
        // a meter never synced has no floor: its first sync can be bogus; the root repairs it
        const m = await TestMeter.provisioned()
        m.utc = 0
        expect(await m.send(sync(netop, 1, U32_MAX - 100, 0, U32_MAX))).toBe(Verdict.Accepted)
        expect(m.utc).toBe(U32_MAX - 100)
        // every envelope signed for the real time is Expired now ...
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, expiry: NOW + 3600, opcode: 2 }))).toBe(Verdict.Expired)
        // ... but the root may sign a window that reaches the meter's time, and may step back
        expect(await m.send(testEnvelope({ signer: root, counter: 1, expiry: U32_MAX, opcode: 17, args: Buffer.from([3]) }))).toBe(Verdict.Accepted)
        expect(await m.send(sync(root, 2, NOW, NOW - 60, U32_MAX))).toBe(Verdict.Accepted)
        expect(m.utc).toBe(NOW)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 2, notBefore: NOW - 60, expiry: NOW + 3600, opcode: 2 }))).toBe(Verdict.Accepted)
        // after a reboot the floor is the root's time, not the bogus one
        const b = await TestMeter.provisioned(m.storage)
        b.utc = 0
        expect(await b.send(sync(root, 3, NOW + 600, 0, NOW + 1200))).toBe(Verdict.Accepted)
        expect(b.handler.policy.timeFloor).toBe(NOW + 600)
    })

    test("a clock run past 2^32 (no u32 window can reach it) is restored by the root", async () => {
        const m = await TestMeter.provisioned()
        m.utc = U32_MAX + 1000
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, expiry: U32_MAX, opcode: 2 }))).toBe(Verdict.TimeUnknown)
        expect(await m.send(sync(netop, 1, NOW, 0, NOW + 60))).toBe(Verdict.TimeOutOfBounds)
        expect(await m.send(sync(root, 1, NOW, 0, NOW + 60))).toBe(Verdict.Accepted)
        expect(m.utc).toBe(NOW)
    })

    test("a root time sync may go back, not before 2020, and a non-root one never below the floor", async () => {
        const m = await TestMeter.provisioned()
        m.utc = NOW
        expect(await m.send(sync(netop, 1, NOW + 600, NOW - 10, NOW + 2000))).toBe(Verdict.Accepted)
        expect(await m.send(sync(netop, 2, NOW - 100, NOW - 200, NOW + 2000))).toBe(Verdict.TimeOutOfBounds)
        expect(await m.send(sync(root, 1, NOW - 86400, NOW - 86400, NOW + 2000))).toBe(Verdict.Accepted)
        expect(m.utc).toBe(NOW - 86400)
        expect(m.handler.policy.timeFloor).toBe(NOW - 86400)
        expect(await m.send(sync(root, 2, 1577836799, 0, NOW + 2000))).toBe(Verdict.TimeOutOfBounds)
    })

    test("times at and past 2^31 (2038): windows, steps, floors", async () => {
        const m = await TestMeter.provisioned()
        m.utc = 0
        expect(await m.send(sync(netop, 1, P31 + 5, P31 - 60, P31 + 60))).toBe(Verdict.Accepted)
        expect(m.utc).toBe(P31 + 5)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, notBefore: P31, expiry: P31 + 10, opcode: 2 }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 2, notBefore: P31 + 6, expiry: P31 + 10, opcode: 2 }))).toBe(Verdict.NotYetValid)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 3, notBefore: 0, expiry: P31 + 4, opcode: 2 }))).toBe(Verdict.Expired)
        expect(await m.send(sync(netop, 2, P31 + 905, P31, U32_MAX))).toBe(Verdict.Accepted)
        expect(await m.send(sync(netop, 3, P31 + 1806, P31, U32_MAX))).toBe(Verdict.TimeOutOfBounds)
        expect(await m.send(sync(netop, 4, P31 + 904, P31, U32_MAX))).toBe(Verdict.TimeOutOfBounds)
        const b = await TestMeter.provisioned(m.storage)
        b.utc = 0
        expect(await b.send(sync(netop, 5, 3000000000, 0, 3000000000))).toBe(Verdict.TimeOutOfBounds)
        expect(await b.send(sync(netop, 6, P31 + 3000, 0, P31 + 3600))).toBe(Verdict.Accepted)
        expect(b.handler.policy.timeFloor).toBe(P31 + 3000)
    })

    test("only a supplier (or the root) issues a disconnect; the network operator only co-signs", async () => {
        const m = await TestMeter.provisioned()
        m.utc = NOW
        expect(await m.send(testEnvelope({ signer: netop, counter: 1, opcode: 1 }))).toBe(Verdict.OpcodeNotAllowed)
        expect(m.handler.disconnect.disconnectPending()).toBe(false)
        expect(await m.send(testEnvelope({ signer: netop, cosigner: supplier, counter: 2, opcode: 1 }))).toBe(Verdict.OpcodeNotAllowed)
        expect(await m.send(testEnvelope({ signer: supplier, cosigner: netop, counter: 1, opcode: 1 }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: root, counter: 1, opcode: 1 }))).toBe(Verdict.Accepted)
        // dual control stays available: supplier + network operator
        expect(await m.send(testEnvelope({ signer: root, counter: 2, opcode: 9, args: Buffer.from([1, 5]) }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 2, opcode: 1 }))).toBe(Verdict.DualControlRequired)
        expect(await m.send(testEnvelope({ signer: supplier, cosigner: netop, counter: 3, opcode: 1 }))).toBe(Verdict.Accepted)
    })

    test("no time change resets the daily disconnect limit: it also counts 24 h of uptime", async () => {
        const m = await TestMeter.provisioned()
        m.utc = NOW
        m.millis = 1000
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 1 }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 2, opcode: 1 }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 3, opcode: 1 }))).toBe(Verdict.DailyLimit)
        // the attack: 92 time syncs of +900 s reach the next UTC day within minutes
        let t = NOW
        for (let i = 1; i <= 92; i++) {
            t += 900
            m.millis += 1000
            expect(await m.send(sync(netop, i, t, t - 1000, t + 60))).toBe(Verdict.Accepted)
        }
        expect(Math.floor(m.utc / 86400) > Math.floor(NOW / 86400)).toBe(true)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 4, opcode: 1 }))).toBe(Verdict.DailyLimit)
        // a reboot does not reset it either (uptime starts again from 0)
        const b = await TestMeter.provisioned(m.storage)
        b.utc = m.utc
        expect(await b.send(testEnvelope({ signer: supplier, counter: 5, opcode: 1 }))).toBe(Verdict.DailyLimit)
        // a new UTC day after 24 h of uptime does
        b.millis += DAY_MS
        expect(await b.send(testEnvelope({ signer: supplier, counter: 6, opcode: 1 }))).toBe(Verdict.Accepted)
        // the root is never limited
        expect(await b.send(testEnvelope({ signer: root, counter: 1, opcode: 1 }))).toBe(Verdict.Accepted)
    })

    test("one command moves the uplink epoch at most 16 and the firmware sequence at most 1024", async () => {
        const m = await TestMeter.provisioned()
        expect(await m.send(testEnvelope({ signer: netop, counter: 1, opcode: 7, args: u32(U32_MAX) }))).toBe(Verdict.BadArguments)
        expect(await m.send(testEnvelope({ signer: netop, counter: 2, opcode: 7, args: u32(17) }))).toBe(Verdict.BadArguments)
        expect(await m.send(testEnvelope({ signer: netop, counter: 3, opcode: 7, args: u32(16) }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: netop, counter: 4, opcode: 7, args: u32(33) }))).toBe(Verdict.BadArguments)
        expect(await m.send(testEnvelope({ signer: netop, counter: 5, opcode: 7, args: u32(32) }))).toBe(Verdict.Accepted)
        expect(m.handler.uplinkEpoch()).toBe(32)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 8, args: manifest(U32_MAX) }))).toBe(Verdict.FirmwareRejected)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 2, opcode: 8, args: manifest(1025) }))).toBe(Verdict.FirmwareRejected)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 3, opcode: 8, args: manifest(1024) }))).toBe(Verdict.Accepted)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 4, opcode: 8, args: manifest(2049) }))).toBe(Verdict.FirmwareRejected)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 5, opcode: 8, args: manifest(2048) }))).toBe(Verdict.Accepted)
        expect(m.handler.policy.firmwareSequence).toBe(2048)
    })

    test("one command moves a counter at most 2^20 beyond the last one or the command's expiry in µs", async () => {
        const m = await TestMeter.provisioned()
        m.utc = NOW
        // the attack: 2^53 - 1, the largest counter a command carries, would leave the signer no counter to use
        expect(await m.send(testEnvelope({ signer: supplier, counterHi: 2097151, counter: U32_MAX, opcode: 2 }))).toBe(Verdict.CounterOutOfReach)
        // expiry 2000000000 s = 2e15 µs = 465661 * 2^32 + 1233977344
        expect(await m.send(testEnvelope({ signer: supplier, counterHi: 465661, counter: 1233977344 + 1048577, opcode: 2 }))).toBe(Verdict.CounterOutOfReach)
        expect(await m.send(testEnvelope({ signer: supplier, counterHi: 465661, counter: 1233977344 + 1048576, opcode: 2 }))).toBe(Verdict.Accepted)
        // from there: at most 2^20 more per command, whatever the expiry
        expect(await m.send(testEnvelope({ signer: supplier, counterHi: 465661, counter: 1233977344 + 2 * 1048576 + 1, opcode: 2 }))).toBe(Verdict.CounterOutOfReach)
        expect(await m.send(testEnvelope({ signer: supplier, counterHi: 465661, counter: 1233977344 + 2 * 1048576, opcode: 2 }))).toBe(Verdict.Accepted)
        // a small sequence counter: +2^20 at most
        expect(await m.send(testEnvelope({ signer: netop, counter: P31, expiry: 1000, opcode: 2 }))).toBe(Verdict.Expired)
        m.utc = 500
        expect(await m.send(testEnvelope({ signer: netop, counter: 1000000000 + 1048577, expiry: 1000, opcode: 2 }))).toBe(Verdict.CounterOutOfReach)
        expect(await m.send(testEnvelope({ signer: netop, counter: 1000000000 + 1048576, expiry: 1000, opcode: 2 }))).toBe(Verdict.Accepted)
        // the refusal does not spend the counter: the signer goes on
        expect(await m.send(testEnvelope({ signer: supplier, counterHi: 465661, counter: 1233977344 + 2 * 1048576 + 1, opcode: 2 }))).toBe(Verdict.Accepted)
    })
})
