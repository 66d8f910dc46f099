/**
 * The command endpoint of a protocol-level meter: what the firmware's `CommandHandler`
 * (src/commands/handler.ts) does with an envelope from the downlink, in the same order and
 * with the same verdicts (docs/commands.md §4): strict parse, key ring, target meter, key
 * and role, dual control, time window, the signer's counter, the Ed25519 signatures
 * (strict, RFC 8032), the counter persisted before anything acts, the argument size from
 * the opcode table, the action; every outcome recorded in the chain (CommandAccepted, or a
 * rate-limited CommandRejected with an alert) and answered with the acknowledgement (a CBOR array, src/wire/ack.ts `encodeCommandAck`).
 *
 * The formats and the pure rules are the wire core's and the firmware's own where they can
 * run in Node: `parseEnvelope`, `toBeSigned`, keys and rings (src/wire/), `decideTimeSync`
 * (src/commands/timesync.ts), outcomes (src/wire/ack.ts). `precheck`
 * (src/crypto/verifier.ts), the key changes (src/crypto/keyring.ts), the policy and the
 * disconnect state machine import `@devicescript/core` through their flash layer, and the
 * refusal log (src/commands/rejectionlog.ts) imports ports.ts, whose timer does not
 * type-check under Node's setTimeout: their few pure lines are written again here.
 * test/node/fleet_protocol.test.ts pins the result to the firmware's command vectors
 * (test/vectors/envelope.json: every verdict of the scenario).
 */
import { createHash, createPublicKey, verify as nodeVerify, KeyObject } from "node:crypto"
import { ed25519 } from "@noble/curves/ed25519.js"
import { encodeCommandAck, encodeOutcome, OutcomeLayout } from "../../../src/wire/ack"
import {
    CommandEnvelope,
    counterAdvance,
    counterInReach,
    decideManifest,
    decodeManifest,
    ManifestReason,
    MAX_DISCONNECTS_PER_DAY,
    MAX_EPOCH_STEP,
    MAX_RANDOM_LIMIT_S,
    parseEnvelope,
    suitClassId,
} from "../../../src/wire/envelope"
import { toBeSigned } from "../../../src/wire/cose"
import { decodeKeyEntry, decodeRing, encodeRing, findKey, KeyEntry, mayKeySign, ringProblem } from "../../../src/wire/keys"
import { ARGS_VARIABLE, Opcode, opcodeArgsSize, Role, Verdict } from "../../../src/wire/opcodes"
import { decodeCalendar } from "../../../src/wire/calendar"
import { RecordKind } from "../../../src/wire/record"
import { AlertKind } from "../../../src/wire/report"
import { decideTimeSync } from "../../../src/commands/timesync"

/** SHA-256 as the wire core takes it (src/wire/crypto.ts) */
const SHA256 = { sha256: (parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest() }

/** src/commands/rejectionlog.ts: refusals recorded in a burst, and the refill period (ms) */
const REJECTION_BURST = 8
const REJECTION_REFILL_MS = 300000

/** DLMS class 70 control_state (src/commands/disconnect.ts). */
export const enum ControlState {
    Disconnected = 0,
    Connected = 1,
    ReadyForReconnection = 2,
}

/** The command policy record (src/commands/policy.ts), defaults included. */
export interface Policy {
    privacy: number
    dualControl: boolean
    maxDisconnectsPerDay: number
    randomLimitSeconds: number
    uplinkEpoch: number
    firmwareSequence: number
    timeFloor: number
    day: number
    disconnectsToday: number
}

export function defaultPolicy(): Policy {
    return { privacy: 0, dualControl: false, maxDisconnectsPerDay: 2, randomLimitSeconds: 600, uplinkEpoch: 0, firmwareSequence: 0, timeFloor: 0, day: 0, disconnectsToday: 0 }
}

/** What the endpoint keeps in flash (`cv.*`): the ring, the signers' counters, the policy, the disconnect state. */
export interface CommandImage {
    /** the provisioned anchor ring (`cv.anchor`, hex) until the first boot installs it */
    anchor?: string
    /** the ring in force (hex ring body) and its generation */
    ring?: string
    generation: number
    /** key id → u64 counter (hex, 16 digits) ‖ first 8 bytes of the signer's public key (hex) */
    counters: Record<string, string>
    policy: Policy
    control: ControlState
    disconnectPending: boolean
}

/** The rest of the meter, as the firmware's handler sees it through its ports (src/commands/ports.ts). */
export interface CommandPorts {
    meterId: Buffer
    /** board id a firmware manifest must name ("simulator" for the simulated board) */
    boardId: string
    /** UTC seconds now, 0 while the time is unknown */
    utcNow(): number
    /** an authenticated time sync: set the clock, record TimeSet (old, new) */
    setClock(utc: number): void
    /** append a record to the chain and wake the uplink */
    record(kind: number, time: number, payload: Buffer): void
    /** raise an uplink alert (AlertKind) */
    raiseAlert(kind: number): void
    /** the policy persisted a new uplink key epoch */
    rollEpoch(epoch: number): void
    /** run `due` after `seconds` of meter time (one pending disconnect; a new one replaces it) */
    schedule(seconds: number, due: () => void): void
    cancelSchedule(): void
    /** a uniform u32 */
    random(): number
    /** real milliseconds, for the refusal rate limit */
    millis(): number
    /** a tariff calendar was accepted */
    applyTariff?(calendar: Buffer): void
    /** the newest UTC time on record at boot (the last interval's): a time sync's floor while the time is unknown */
    recordedTime?: number
    /**
     * verify signatures with node:crypto (OpenSSL, ~15 times faster) instead of strict
     * RFC 8032 with @noble/curves as the firmware: for large fleets, whose envelopes come
     * from the head-end's signer (both accept and refuse alike there; crafted non-canonical
     * encodings are what only the strict check refuses)
     */
    fastSignatures?: boolean
}

export class CommandEndpoint {
    readonly image: CommandImage
    private keys: KeyEntry[] = []
    /** the refusal log's token bucket (src/commands/rejectionlog.ts): 8 records, one more per 5 minutes */
    private tokens = REJECTION_BURST
    private lastRefill: number
    private suppressed = 0
    /** uptime (real ms) at which the daily disconnect count last started again: the boot (src/commands/handler.ts) */
    private countStartMs: number
    /** handleCommand runs one command at a time, as the firmware's */
    private busy: Promise<unknown> = Promise.resolve()

    constructor(
        private ports: CommandPorts,
        image: CommandImage
    ) {
        this.image = image
        this.lastRefill = ports.millis()
        this.countStartMs = ports.millis()
    }

    /** A fresh image for a provisioned meter: the anchor ring of its settings (`cv.anchor`). */
    static provisioned(anchorRing: Buffer): CommandImage {
        return { anchor: anchorRing.toString("hex"), generation: 0, counters: {}, policy: defaultPolicy(), control: ControlState.Connected, disconnectPending: false }
    }

    /**
     * After boot (the firmware's `start`): installs the anchor as generation 1 when no ring
     * is in force, and reschedules a disconnect that was pending at the power cut with a
     * fresh offset. Returns whether a ring is in force.
     */
    boot(): boolean {
        const ring = this.image.ring ? decodeRing(Buffer.from(this.image.ring, "hex")) : undefined
        if (ring) this.keys = ring
        else {
            const anchor = this.image.anchor ? decodeRing(Buffer.from(this.image.anchor, "hex")) : undefined
            if (anchor) {
                this.keys = anchor
                this.image.ring = this.image.anchor
                this.image.generation = 1
            }
        }
        delete this.image.anchor
        if (this.image.disconnectPending) this.scheduleDisconnect()
        return this.keys.length > 0
    }

    /** The privacy level the uplink must respect. */
    privacyLevel(): number {
        return this.image.policy.privacy
    }

    /** The key epoch of the uplink (the policy keeps it). */
    uplinkEpoch(): number {
        return this.image.policy.uplinkEpoch
    }

    /** Whether the relay is closed (only in Connected). */
    relayClosed(): boolean {
        return this.image.control === ControlState.Connected
    }

    /** The consumer presses the arm button: ReadyForReconnection → Connected. */
    pressButton() {
        if (this.image.control === ControlState.ReadyForReconnection) this.image.control = ControlState.Connected
    }

    /** Verifies and executes one envelope; resolves with the acknowledgement. Never rejects. */
    handleCommand(bytes: Buffer): Promise<Buffer> {
        const run = this.busy.then(() => this.handleOne(bytes))
        this.busy = run.catch(() => {})
        return run
    }

    private async handleOne(bytes: Buffer): Promise<Buffer> {
        const v = this.verify(bytes)
        const detail = [0]
        if (v.verdict === Verdict.Accepted) {
            try {
                v.verdict = this.execute(v.env!, v.signers!, detail)
            } catch {
                v.verdict = Verdict.ActionFailed
            }
        }
        if (v.verdict === Verdict.Accepted) this.ports.record(RecordKind.CommandAccepted, this.ports.utcNow(), encodeOutcome(OutcomeLayout.Accepted, v.verdict, v.env, detail[0]))
        else this.reject(v.verdict, v.env)
        return encodeCommandAck(v.verdict, v.env, detail[0])
    }

    /**
     * RejectionLog.reject: the refusal is recorded (CommandRejected: verdict, command, the
     * refusals suppressed before it) and alerted while the bucket has a token, else counted.
     */
    private reject(verdict: number, c: CommandEnvelope | undefined) {
        const now = this.ports.millis()
        const refill = Math.floor((now - this.lastRefill) / REJECTION_REFILL_MS)
        if (refill > 0) {
            this.tokens = Math.min(REJECTION_BURST, this.tokens + refill)
            this.lastRefill += refill * REJECTION_REFILL_MS
        }
        if (this.tokens < 1) {
            this.suppressed++
            return
        }
        this.tokens--
        const p = encodeOutcome(OutcomeLayout.Rejected, verdict, c, Math.min(this.suppressed, 4294967295))
        this.suppressed = 0
        this.ports.record(RecordKind.CommandRejected, this.ports.utcNow(), p)
        this.ports.raiseAlert(AlertKind.CommandRejected)
    }

    /** src/crypto/verifier.ts `CommandVerifier.verify`: the checks in the order of docs/commands.md §4, the counter persisted last. */
    private verify(raw: Buffer): { verdict: number; env?: CommandEnvelope; signers?: KeyEntry[] } {
        const parsed = parseEnvelope(raw)
        if (typeof parsed === "number") return { verdict: parsed }
        const env = parsed
        const pre = this.precheck(env)
        if (pre.verdict !== Verdict.Accepted) return { verdict: pre.verdict, env }
        const signers = pre.signers
        const last = this.lastCounter(signers[0])
        if (counterAdvance(env, last[0], last[1]) <= 0) return { verdict: Verdict.Replay, env, signers }
        if (!counterInReach(env, last[0], last[1])) return { verdict: Verdict.CounterOutOfReach, env, signers }
        for (let i = 0; i < env.signatureCount; i++) {
            let ok = false
            const msg = toBeSigned(env.cose, i)
            const sig = env.cose.signatures[i].signature
            try {
                ok = this.ports.fastSignatures ? nodeVerify(null, msg, publicKeyObject(signers[i].publicKey), sig) : ed25519.verify(sig, msg, signers[i].publicKey, { zip215: false })
            } catch {
                ok = false
            }
            if (!ok) return { verdict: Verdict.BadSignature, env, signers }
        }
        // persisted first: a power cut while acting leaves the command spent
        const c = Buffer.alloc(16)
        c.writeUInt32BE(env.counterHi, 0)
        c.writeUInt32BE(env.counterLo, 4)
        signers[0].publicKey.copy(c, 8, 0, 8)
        this.image.counters[String(signers[0].id)] = c.toString("hex")
        return { verdict: Verdict.Accepted, env, signers }
    }

    /** src/crypto/verifier.ts `precheck`: everything that needs neither flash nor a signature. */
    private precheck(env: CommandEnvelope): { verdict: number; signers: KeyEntry[] } {
        const signers: KeyEntry[] = []
        if (this.keys.length === 0) return { verdict: Verdict.NotProvisioned, signers }
        if (!env.meterId.equals(this.ports.meterId)) return { verdict: Verdict.WrongMeter, signers }
        for (let i = 0; i < env.signatureCount; i++) {
            const k = findKey(this.keys, env.sigKeyIds[i])
            if (!k) return { verdict: Verdict.UnknownKey, signers }
            // block 0 issues, block 1 co-signs (a network operator only co-signs a disconnect)
            if (!mayKeySign(k, env.opcode, i > 0)) return { verdict: Verdict.OpcodeNotAllowed, signers }
            signers.push(k)
        }
        if (signers.length === 2 && signers[0].role === signers[1].role) return { verdict: Verdict.DualControlRequired, signers }
        if (signers.length < 2 && this.image.policy.dualControl && env.opcode === Opcode.Disconnect) return { verdict: Verdict.DualControlRequired, signers }
        const now = this.ports.utcNow()
        // a clock run past the u32 range cannot judge a window either (docs/commands.md §5)
        if (now === 0 || now > 4294967295) {
            if (env.opcode !== Opcode.TimeSync) return { verdict: Verdict.TimeUnknown, signers }
        } else {
            if (now < env.notBefore) return { verdict: Verdict.NotYetValid, signers }
            if (now > env.expiry) return { verdict: Verdict.Expired, signers }
        }
        return { verdict: Verdict.Accepted, signers }
    }

    /** src/crypto/counters.ts: the counter of `key`, [0, 0] when none or when it belongs to another public key under the same id. */
    private lastCounter(key: KeyEntry): number[] {
        const hex = this.image.counters[String(key.id)]
        if (!hex) return [0, 0]
        const b = Buffer.from(hex, "hex")
        if (!b.subarray(8, 16).equals(key.publicKey.subarray(0, 8))) return [0, 0]
        return [b.readUInt32BE(0), b.readUInt32BE(4)]
    }

    /** The opcode table's argument size, then the action (src/commands/actions.ts). */
    private execute(env: CommandEnvelope, signers: KeyEntry[], out: number[]): number {
        const args = env.args
        const size = opcodeArgsSize(env.opcode)
        if (size !== ARGS_VARIABLE && args.length !== size) return Verdict.BadArguments
        const p = this.image.policy
        const byRoot = signers.some(k => k.role === Role.Root)
        switch (env.opcode) {
            case Opcode.Disconnect: {
                if (!byRoot) {
                    // src/commands/policy.ts takeDisconnect: the count starts again on a new UTC day after 24 h of uptime
                    const day = Math.floor(this.ports.utcNow() / 86400)
                    const nowMs = this.ports.millis()
                    if (day !== p.day && nowMs - this.countStartMs >= 86400000) {
                        p.day = day
                        p.disconnectsToday = 0
                        this.countStartMs = nowMs
                    }
                    if (p.disconnectsToday >= p.maxDisconnectsPerDay) return Verdict.DailyLimit
                    p.disconnectsToday++
                }
                this.image.disconnectPending = true
                out[0] = this.scheduleDisconnect()
                return Verdict.Accepted
            }
            case Opcode.ReconnectArm:
                this.ports.cancelSchedule()
                this.image.disconnectPending = false
                if (this.image.control === ControlState.Disconnected) this.image.control = ControlState.ReadyForReconnection
                out[0] = this.image.control
                return Verdict.Accepted
            case Opcode.SetTariff:
                try {
                    decodeCalendar(args)
                } catch {
                    return Verdict.BadArguments
                }
                this.ports.applyTariff?.(args)
                return Verdict.Accepted
            case Opcode.SetRandomLimit: {
                const s = args.readUInt16BE(0)
                if (s > MAX_RANDOM_LIMIT_S) return Verdict.BadArguments
                p.randomLimitSeconds = s
                return Verdict.Accepted
            }
            case Opcode.SetPrivacy:
                if (args[0] > 2) return Verdict.BadArguments
                // src/commands/actions.ts: old × 256 + new, for the uplink's privacy rule
                out[0] = p.privacy * 256 + args[0]
                p.privacy = args[0]
                return Verdict.Accepted
            case Opcode.TimeSync: {
                const t = args.readUInt32BE(0)
                const now = this.ports.utcNow()
                const rec = this.ports.recordedTime
                const floor = now === 0 && rec !== undefined && rec > p.timeFloor ? rec : p.timeFloor
                const r = decideTimeSync(t, now, floor, env.notBefore, env.expiry, byRoot)
                if (r !== Verdict.Accepted) return r
                p.timeFloor = t
                this.ports.setClock(t)
                out[0] = t
                return Verdict.Accepted
            }
            case Opcode.UplinkEpoch: {
                const e = args.readUInt32BE(0)
                if (!(e >= p.uplinkEpoch + 1 && e <= p.uplinkEpoch + MAX_EPOCH_STEP)) return Verdict.BadArguments
                p.uplinkEpoch = e
                this.ports.rollEpoch(e)
                out[0] = e
                return Verdict.Accepted
            }
            case Opcode.FirmwareManifest: {
                // src/commands/actions.ts firmwareManifest: the root's signature, then the wire core's decideManifest
                const m = decodeManifest(args, SHA256)
                let r = m as number
                if (typeof m !== "number") {
                    const s = m.auth.signatures[0]
                    const k = s.kid.length === 1 ? findKey(this.keys, s.kid[0]) : undefined
                    if (!k || k.role !== Role.Root || !ed25519.verify(s.signature, toBeSigned(m.auth, 0), k.publicKey, { zip215: false })) r = ManifestReason.BadSignature
                    else r = decideManifest(m, p.firmwareSequence, suitClassId(SHA256, this.ports.boardId))
                }
                if (typeof m === "number" || r !== ManifestReason.Ok) {
                    out[0] = r
                    return Verdict.FirmwareRejected
                }
                p.firmwareSequence = m.sequence
                out[0] = m.sequence
                return Verdict.Accepted
            }
            case Opcode.SetDisconnectPolicy:
                if (args[0] > 1 || args[1] > MAX_DISCONNECTS_PER_DAY) return Verdict.BadArguments
                p.dualControl = args[0] === 1
                p.maxDisconnectsPerDay = args[1]
                return Verdict.Accepted
            default: {
                const keys = keyChange(env.opcode, this.keys, args)
                if (!keys) return Verdict.KeyChangeRefused
                this.keys = keys
                this.image.ring = encodeRing(keys).toString("hex")
                this.image.generation++
                out[0] = this.image.generation
                return Verdict.Accepted
            }
        }
    }

    /** An offset in [0, limit] s from a random u32 (src/commands/disconnect.ts randomOffset); the relay opens when it is due. */
    private scheduleDisconnect(): number {
        const offset = Math.floor((this.ports.random() / 4294967296) * (this.image.policy.randomLimitSeconds + 1))
        this.ports.schedule(offset, () => {
            this.image.control = ControlState.Disconnected
            this.image.disconnectPending = false
        })
        return offset
    }
}

/** src/crypto/keyring.ts `keyChange`: the ring after KeyAdd, KeyRemove, KeyReplace or RootRotate, or undefined when refused. */
function keyChange(op: number, keys: KeyEntry[], args: Buffer): KeyEntry[] | undefined {
    let r: KeyEntry[]
    if (op === Opcode.KeyRemove) {
        const gone = args.length === 1 ? findKey(keys, args[0]) : undefined
        if (!gone || gone.role === Role.Root) return undefined
        r = keys.filter(x => x !== gone)
    } else {
        const k = decodeKeyEntry(args)
        if (!k) return undefined
        const isRoot = k.role === Role.Root
        const old = findKey(keys, k.id)
        if (op === Opcode.RootRotate) {
            if (!isRoot || (old && old.role !== Role.Root)) return undefined
            r = [k, ...keys.filter(x => x.role !== Role.Root)]
        } else if (op === Opcode.KeyAdd) {
            if (isRoot || old) return undefined
            r = [...keys, k]
        } else {
            if (!old || isRoot || old.role === Role.Root) return undefined
            r = keys.map(x => (x === old ? k : x))
        }
    }
    return ringProblem(r) === undefined ? r : undefined
}

const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex")
const keyObjects = new Map<string, KeyObject>()

/** An Ed25519 public key for node:crypto (SPKI DER prefix of RFC 8410 ‖ the 32 bytes), cached. */
function publicKeyObject(pub: Buffer): KeyObject {
    const k = pub.toString("hex")
    let o = keyObjects.get(k)
    if (!o) {
        o = createPublicKey({ key: Buffer.concat([SPKI_ED25519, pub]), format: "der", type: "spki" })
        keyObjects.set(k, o)
    }
    return o
}
