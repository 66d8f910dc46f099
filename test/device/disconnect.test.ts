import * as ds from "@devicescript/core"
import { decodeCommandAck } from "../../src/wire/ack"
import { describe, test, expect } from "@devicescript/test"
import { Verdict } from "../../src/wire/opcodes"
import { RamStorage } from "../../src/storage/twins"
import {
    DisconnectEvent,
    DisconnectState,
    disconnectTransition,
    randomOffset,
    relayClosedIn,
} from "../../src/commands/disconnect"
import { TestMeter, testEnvelope, testRing } from "./vectors/envelope_kit"

async function settle() {
    await ds.sleep(20)
}

/** waits (up to 5 s) until `cond` holds: the button's handler persists state before it acts, which under load and GC stress takes longer than one short sleep */
async function until(cond: () => boolean) {
    for (let i = 0; i < 250 && !cond(); i++) await ds.sleep(20)
}

describe("disconnect control (DLMS class 70, GB Arm)", () => {
    const ring = testRing()
    const root = ring[0]
    const supplier = ring[1]

    test("the transition table, exhaustively", () => {
        const S = [DisconnectState.Disconnected, DisconnectState.Connected, DisconnectState.ReadyForReconnection]
        const expectNext = (s: number, e: number, n: number) => expect(disconnectTransition(s, e)).toBe(n)
        for (const s of S) expectNext(s, DisconnectEvent.RemoteDisconnectDue, DisconnectState.Disconnected)
        expectNext(DisconnectState.Disconnected, DisconnectEvent.RemoteReconnect, DisconnectState.ReadyForReconnection)
        expectNext(DisconnectState.Connected, DisconnectEvent.RemoteReconnect, DisconnectState.Connected)
        expectNext(DisconnectState.ReadyForReconnection, DisconnectEvent.RemoteReconnect, DisconnectState.ReadyForReconnection)
        expectNext(DisconnectState.Disconnected, DisconnectEvent.ButtonPress, DisconnectState.Disconnected)
        expectNext(DisconnectState.Connected, DisconnectEvent.ButtonPress, DisconnectState.Connected)
        expectNext(DisconnectState.ReadyForReconnection, DisconnectEvent.ButtonPress, DisconnectState.Connected)
        expect(relayClosedIn(DisconnectState.Connected)).toBe(true)
        expect(relayClosedIn(DisconnectState.ReadyForReconnection)).toBe(false)
        expect(relayClosedIn(DisconnectState.Disconnected)).toBe(false)
    })
    // The firmware's DisconnectControl writes the transitions out (code size, a0a18ef): this
    // drives the class itself through every (state, event) and holds it to the table above.
    test("DisconnectControl makes exactly the table's transitions, relay included", async () => {
        const S = [DisconnectState.Disconnected, DisconnectState.Connected, DisconnectState.ReadyForReconnection]
        const E = [DisconnectEvent.RemoteDisconnectDue, DisconnectEvent.RemoteReconnect, DisconnectEvent.ButtonPress]
        // (one call per pair: the VM's closures must not capture loop variables)
        const check = async (s: number, e: number) => {
                const m = await TestMeter.provisioned()
                m.randomValue = 0
                let counter = 1
                // into state s by commands: Connected at provisioning
                if (s !== DisconnectState.Connected) {
                    expect(await m.send(testEnvelope({ signer: supplier, counter: counter++, opcode: 1 }))).toBe(Verdict.Accepted)
                    await m.timer.advance(0)
                }
                if (s === DisconnectState.ReadyForReconnection) expect(await m.send(testEnvelope({ signer: supplier, counter: counter++, opcode: 2 }))).toBe(Verdict.Accepted)
                expect(m.handler.disconnect.state()).toBe(s)
                expect(m.board.relay.isClosed()).toBe(relayClosedIn(s))
                const want = disconnectTransition(s, e)
                if (e === DisconnectEvent.RemoteDisconnectDue) {
                    expect(await m.send(testEnvelope({ signer: supplier, counter: counter++, opcode: 1 }))).toBe(Verdict.Accepted)
                    await m.timer.advance(0)
                } else if (e === DisconnectEvent.RemoteReconnect) {
                    expect(await m.send(testEnvelope({ signer: supplier, counter: counter++, opcode: 2 }))).toBe(Verdict.Accepted)
                } else {
                    m.board.armButton.press()
                    await until(() => m.board.relay.isClosed() === relayClosedIn(want) && m.handler.disconnect.state() === want)
                    await settle()
                }
                if (m.handler.disconnect.state() !== want) console.log(`state ${s}, event ${e}: ${m.handler.disconnect.state()}, table ${want}`)
                expect(m.handler.disconnect.state()).toBe(want)
                expect(m.board.relay.isClosed()).toBe(relayClosedIn(want))
        }
        for (const s of S) for (const e of E) await check(s, e)
    })
    test("the random offset covers [0, limit] and nothing outside", () => {
        expect(randomOffset(600, 0)).toBe(0)
        expect(randomOffset(600, 4294967295)).toBe(600)
        expect(randomOffset(600, 2147483648)).toBe(300)
        expect(randomOffset(0, 4294967295)).toBe(0)
        let hi = 0
        for (let i = 0; i < 200; i++) {
            const o = randomOffset(600, Math.floor(Math.random() * 4294967296))
            expect(o >= 0 && o <= 600).toBe(true)
            if (o > hi) hi = o
        }
        expect(hi > 300).toBe(true)
    })
    test("a remote disconnect waits its offset, then opens the relay", async () => {
        const m = await TestMeter.provisioned()
        m.randomValue = 2147483648 // half of 2^32: offset 300 s of the default 600 s
        const ack = await m.handler.handleCommand(testEnvelope({ signer: supplier, counter: 1, opcode: 1 }))
        expect(decodeCommandAck(ack).verdict).toBe(Verdict.Accepted)
        expect(decodeCommandAck(ack).detail).toBe(300)
        expect(m.board.relay.isClosed()).toBe(true)
        expect(m.handler.disconnect.state()).toBe(DisconnectState.Connected)
        await m.timer.advance(299999)
        expect(m.board.relay.isClosed()).toBe(true)
        await m.timer.advance(1)
        expect(m.board.relay.isClosed()).toBe(false)
        expect(m.handler.disconnect.state()).toBe(DisconnectState.Disconnected)
    })
    test("remote reconnect only arms; the button press closes the relay", async () => {
        const m = await TestMeter.provisioned()
        m.randomValue = 0
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 1 }))).toBe(Verdict.Accepted)
        await m.timer.advance(0)
        expect(m.board.relay.isClosed()).toBe(false)
        m.board.armButton.press() // not armed: nothing happens
        await settle()
        expect(m.board.relay.isClosed()).toBe(false)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 2, opcode: 2 }))).toBe(Verdict.Accepted)
        expect(m.handler.disconnect.state()).toBe(DisconnectState.ReadyForReconnection)
        expect(m.board.relay.isClosed()).toBe(false)
        m.board.armButton.press()
        await until(() => m.board.relay.isClosed())
        expect(m.handler.disconnect.state()).toBe(DisconnectState.Connected)
        expect(m.board.relay.isClosed()).toBe(true)
    })
    test("a reconnect cancels a pending disconnect", async () => {
        const m = await TestMeter.provisioned()
        m.randomValue = 4294967295
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 1 }))).toBe(Verdict.Accepted)
        expect(m.handler.disconnect.disconnectPending()).toBe(true)
        expect(await m.send(testEnvelope({ signer: supplier, counter: 2, opcode: 2 }))).toBe(Verdict.Accepted)
        expect(m.handler.disconnect.disconnectPending()).toBe(false)
        expect(m.timer.pending()).toBe(0)
        await m.timer.advance(700000)
        expect(m.board.relay.isClosed()).toBe(true)
    })
    test("the randomisation limit is set by a root-signed command", async () => {
        const m = await TestMeter.provisioned()
        expect(await m.send(testEnvelope({ signer: root, counter: 1, opcode: 4, args: Buffer.from([0, 60]) }))).toBe(Verdict.Accepted)
        m.randomValue = 4294967295
        const ack = await m.handler.handleCommand(testEnvelope({ signer: supplier, counter: 1, opcode: 1 }))
        expect(decodeCommandAck(ack).detail).toBe(60)
        await m.timer.advance(60000)
        expect(m.board.relay.isClosed()).toBe(false)
    })
    test("state and a pending disconnect survive a reboot", async () => {
        const flash = new RamStorage()
        const m = await TestMeter.provisioned(flash)
        m.randomValue = 4294967295
        expect(await m.send(testEnvelope({ signer: supplier, counter: 1, opcode: 1 }))).toBe(Verdict.Accepted)
        // power cut before the offset elapsed: the new boot reschedules with a fresh offset
        const b = new TestMeter(flash)
        b.randomValue = 0
        await b.handler.start()
        expect(b.handler.disconnect.disconnectPending()).toBe(true)
        expect(b.board.relay.isClosed()).toBe(true)
        await b.timer.advance(0)
        expect(b.board.relay.isClosed()).toBe(false)
        // disconnected stays disconnected across the next reboot
        const c = new TestMeter(flash)
        await c.handler.start()
        expect(c.handler.disconnect.state()).toBe(DisconnectState.Disconnected)
        expect(c.board.relay.isClosed()).toBe(false)
        expect(c.handler.disconnect.disconnectPending()).toBe(false)
    })
})
