import { digest } from "@devicescript/crypto"
import { HEADER_SIZE, SIGNING_PREFIX } from "../../../src/crypto/envelope"
import { encodeRing, KeyEntry, maskOf, Role } from "../../../src/crypto/keyring"
import { FlashStore, MemoryFlash } from "../../../src/crypto/flash"
import { SignatureCheck } from "../../../src/crypto/verifier"
import { CommandHandler } from "../../../src/commands/handler"
import { FirmwareManifest, ManualTimer } from "../../../src/commands/ports"
import { SimulatedBoard, simulatedBoard } from "../../../src/board/simulated"
import { setU16BE, setU32BE } from "../../../src/crypto/bytes"

/**
 * Test kit for the command device tests: envelopes built on the meter itself, "signed"
 * with a stand-in signature (`fakeCheck`) so the state-machine tests need not wait for
 * Ed25519 in GC-stress mode. The stand-in still binds key and message: the signature is
 * SHA-256(key ‖ message) ‖ SHA-256(message ‖ key). Real signatures are in `envelope.ts`
 * (golden vectors made by the head-end).
 */

/** The stand-in signature of `msg` by the key whose "public key" is `pub`. */
export function fakeSign(pub: Buffer, msg: Buffer): Buffer {
    return Buffer.concat(digest("sha256", pub, msg), digest("sha256", msg, pub))
}

/** SignatureCheck for the stand-in signatures. */
export async function fakeCheck(pub: Buffer, msg: Buffer, sig: Buffer): Promise<boolean> {
    const s = fakeSign(pub, msg)
    if (sig.length !== 64) return false
    for (let i = 0; i < 64; i++) if (s[i] !== sig[i]) return false
    return true
}

export const METER = hex`7e57000000000001`
export const OTHER_METER = hex`7e57000000000002`

/** Opcode masks as in the head-end's default provisioning (docs/commands.md, "Roles"). */
export const ROOT_MASK = maskOf([1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 18, 19])
export const SUPPLIER_MASK = maskOf([1, 2, 3, 5, 8])
export const NETOP_MASK = maskOf([1, 2, 6, 7])

export function testKey(id: number, role: number, mask: number, seed: string): KeyEntry {
    return { id: id, role: role, mask: mask, publicKey: digest("sha256", seed) }
}

export function testRing(): KeyEntry[] {
    return [
        testKey(1, Role.Root, ROOT_MASK, "root"),
        testKey(2, Role.Supplier, SUPPLIER_MASK, "supplier"),
        testKey(3, Role.NetworkOperator, NETOP_MASK, "netop"),
    ]
}

export interface TestFields {
    meterId?: Buffer
    signer: KeyEntry
    cosigner?: KeyEntry
    counter: number
    notBefore?: number
    expiry?: number
    opcode: number
    args?: Buffer
}

/** An envelope with stand-in signatures; the counter is < 2^32 (high half 0). */
export function testEnvelope(f: TestFields): Buffer {
    const args = f.args || Buffer.alloc(0)
    const n = 1
    const h = Buffer.alloc(HEADER_SIZE)
    h[0] = 1
    h.blitAt(1, f.meterId || METER, 0, 8)
    h[9] = f.signer.id
    setU32BE(h, 10, 0)
    setU32BE(h, 14, f.counter)
    setU32BE(h, 18, f.notBefore || 0)
    setU32BE(h, 22, f.expiry || 2000000000)
    h[26] = f.opcode
    h[27] = f.cosigner ? 2 : 1
    setU16BE(h, 28, args.length)
    const body = Buffer.concat(h, args)
    const msg = Buffer.concat(Buffer.from(SIGNING_PREFIX), body)
    let out = Buffer.concat(body, Buffer.from([f.signer.id]), fakeSign(f.signer.publicKey, msg))
    if (f.cosigner) out = Buffer.concat(out, Buffer.from([f.cosigner.id]), fakeSign(f.cosigner.publicKey, msg))
    return out
}

/** u32 BE bytes. */
export function u32(v: number): Buffer {
    const b = Buffer.alloc(4)
    setU32BE(b, 0, v)
    return b
}

/** A key entry as KeyAdd/KeyReplace/RootRotate arguments. */
export function entryArgs(k: KeyEntry): Buffer {
    const b = Buffer.alloc(38)
    b[0] = k.id
    b[1] = k.role
    setU32BE(b, 2, k.mask)
    b.blitAt(6, k.publicKey, 0, 32)
    return b
}

/** Everything a CommandHandler is wired to, as inspectable twins. */
export class TestMeter {
    flash: FlashStore
    board: SimulatedBoard
    timer = new ManualTimer()
    utc = 1800000000
    millis = 0
    randomValue = 0
    events: { kind: number; payload: Buffer }[] = []
    alerts: { kind: number; payload: Buffer }[] = []
    clockSets: number[] = []
    epochs: number[] = []
    staged: FirmwareManifest[] = []
    calendars: Buffer[] = []
    handler: CommandHandler

    constructor(flash: FlashStore, check?: SignatureCheck) {
        this.flash = flash
        this.board = simulatedBoard()
        const self = this
        this.handler = new CommandHandler({
            meterId: METER,
            boardId: "simulator",
            flash: flash,
            signatureCheck: check || fakeCheck,
            clock: {
                utcNow: () => self.utc,
                set: async (t: number) => {
                    self.utc = t
                    self.clockSets.push(t)
                },
            },
            relay: this.board.relay,
            armButton: this.board.armButton,
            events: {
                record: async (kind: number, payload: Buffer) => {
                    self.events.push({ kind: kind, payload: payload })
                },
            },
            alerts: {
                alert: async (kind: number, payload: Buffer) => {
                    self.alerts.push({ kind: kind, payload: payload })
                },
            },
            calendar: {
                validate: (c: Buffer) => c[0] === 0xca,
                apply: async (c: Buffer) => {
                    self.calendars.push(c)
                },
            },
            uplink: {
                setEpoch: async (e: number) => {
                    self.epochs.push(e)
                },
            },
            firmware: {
                stage: async (m: FirmwareManifest) => {
                    self.staged.push(m)
                },
            },
            timer: this.timer,
            random: () => self.randomValue,
            millis: () => self.millis,
        })
    }

    /** a provisioned meter (anchor = testRing()) after boot */
    static async provisioned(flash?: FlashStore, check?: SignatureCheck, anchor?: Buffer): Promise<TestMeter> {
        const f = flash || new MemoryFlash()
        if (!(await f.get("cv.ringa")) && !(await f.get("cv.ringb"))) await f.set("cv.anchor", anchor || encodeRing(testRing()))
        const m = new TestMeter(f, check)
        await m.handler.start()
        return m
    }

    /** sends an envelope; returns the ack's verdict */
    async send(raw: Buffer): Promise<number> {
        const ack = await this.handler.handleCommand(raw)
        return ack[1]
    }
}
