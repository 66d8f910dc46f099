import { digest } from "@devicescript/crypto"
import { decodeCommandAck } from "../../../src/wire/ack"
import { u32Bytes } from "../../../src/wire/bytes"
import { CborMap, encodeCbor } from "../../../src/wire/cbor"
import { COSE_SIGN1_TAG, COSE_SIGN_TAG, CoseMessage, CoseSignature, coseProtected, encodeCose, toBeSigned } from "../../../src/wire/cose"
import { FirmwareManifest } from "../../../src/wire/envelope"
import { encodeKeyEntry, encodeRing, KeyEntry } from "../../../src/wire/keys"
import { allOpcodes, maskOf, Opcode, Role } from "../../../src/wire/opcodes"
import { Storage } from "../../../src/storage/storage"
import { RamStorage } from "../../../src/storage/twins"
import { SignatureCheck } from "../../../src/crypto/verifier"
import { CommandHandler } from "../../../src/commands/handler"
import { ManualTimer } from "../../../src/commands/ports"
import { SimulatedBoard, simulatedBoard } from "../../../src/board/simulated"

/**
 * Test kit for the command device tests: commands built on the meter itself, "signed"
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

/**
 * Opcode masks of the test ring: the root's default (every opcode), and a supplier and a
 * network operator that can also sign a firmware manifest and an arm respectively, so the
 * action tests need not switch signers. The head-end's defaults are `defaultOpcodes`.
 */
export const ROOT_MASK = maskOf(allOpcodes())
export const SUPPLIER_MASK = maskOf([Opcode.Disconnect, Opcode.ReconnectArm, Opcode.SetTariff, Opcode.SetPrivacy, Opcode.FirmwareManifest])
export const NETOP_MASK = maskOf([Opcode.Disconnect, Opcode.ReconnectArm, Opcode.TimeSync, Opcode.UplinkEpoch])

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
    /** the counter's high u32 half (default 0) */
    counterHi?: number
    notBefore?: number
    expiry?: number
    opcode: number
    args?: Buffer
}

/**
 * A command (COSE_Sign1, or COSE_Sign with a cosigner) with stand-in signatures, encoded
 * by the wire core's CBOR and COSE codec; the counter is `counterHi` · 2^32 + `counter`
 * (high half 0 by default, below 2^21). The payload is built here rather than by
 * `unsignedCommand`: tests send fields the head-end's encoder refuses.
 */
export function testEnvelope(f: TestFields): Buffer {
    const signers = f.cosigner ? [f.signer, f.cosigner] : [f.signer]
    const hi = f.counterHi === undefined ? 0 : f.counterHi
    const payload = encodeCbor(
        new CborMap(
            [1, 2, 3, 4, 5, 6, 7],
            [
                f.meterId || METER,
                f.signer.id,
                hi * 4294967296 + f.counter,
                // explicit comparisons: in the VM a value >= 2^31 tests false in `x || y`
                f.notBefore === undefined ? 0 : f.notBefore,
                f.expiry === undefined ? 2000000000 : f.expiry,
                f.opcode,
                f.args || Buffer.alloc(0),
            ]
        )
    )
    const sigs: CoseSignature[] = []
    for (let i = 0; i < signers.length; i++) {
        const kid = Buffer.from([signers[i].id])
        sigs.push({ protectedBytes: coseProtected(kid), kid: kid, signature: Buffer.alloc(64) })
    }
    const m: CoseMessage = {
        tag: signers.length === 1 ? COSE_SIGN1_TAG : COSE_SIGN_TAG,
        bodyProtected: signers.length === 1 ? sigs[0].protectedBytes : Buffer.alloc(0),
        payload: payload,
        signatures: sigs,
    }
    for (let i = 0; i < signers.length; i++) sigs[i].signature = fakeSign(signers[i].publicKey, toBeSigned(m, i))
    return encodeCose(m)
}

/** u32 BE bytes. */
export const u32 = u32Bytes

/** A key entry as KeyAdd/KeyReplace/RootRotate arguments. */
export const entryArgs = encodeKeyEntry

/** Everything a CommandHandler is wired to, as inspectable twins. */
export class TestMeter {
    storage: Storage
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

    /** `recorded`: the newest UTC time on record at boot (the index store's last interval), a time-sync floor */
    constructor(storage: Storage, check?: SignatureCheck, recorded?: number) {
        this.storage = storage
        this.board = simulatedBoard()
        const self = this
        this.handler = new CommandHandler({
            meterId: METER,
            boardId: "simulator",
            storage: storage,
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
            recordedTime: recorded,
        })
    }

    /** a provisioned meter (anchor = testRing()) after boot */
    static async provisioned(storage?: Storage, check?: SignatureCheck, anchor?: Buffer, recorded?: number): Promise<TestMeter> {
        const f = storage || new RamStorage()
        if (!(await f.get("cv.ringa")) && !(await f.get("cv.ringb"))) await f.set("cv.anchor", anchor || encodeRing(testRing()))
        const m = new TestMeter(f, check, recorded)
        await m.handler.start()
        return m
    }

    /** sends an envelope; returns the ack's verdict */
    async send(raw: Buffer): Promise<number> {
        const ack = await this.handler.handleCommand(raw)
        return decodeCommandAck(ack).verdict
    }
}
