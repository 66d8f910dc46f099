import * as ds from "@devicescript/core"
import { ArmButtonPort, RelayPort } from "../board/board"
import { CounterStore } from "../crypto/counters"
import { CommandEnvelope, envelopeArgs, Opcode, Verdict } from "../crypto/envelope"
import { FlashStore } from "../crypto/flash"
import { KeyChange, keyAdd, KeyRingStore, keyRemove, keyReplace, rootRotate } from "../crypto/keyring"
import { CommandVerifier, SignatureCheck, signedByRoot, Verification } from "../crypto/verifier"
import { DisconnectControl } from "./disconnect"
import { decideManifest, decodeManifest } from "./firmware"
import { CommandPolicy, MAX_DISCONNECTS_PER_DAY, MAX_RANDOM_LIMIT_S } from "./policy"
import {
    AlertSink,
    CalendarPort,
    ClockPort,
    CommandEventKind,
    EventSink,
    FirmwarePort,
    TimerPort,
    UplinkEpochPort,
} from "./ports"
import { RejectionLog } from "./rejectionlog"
import { decideTimeSync } from "./timesync"
import { getU16BE, getU32BE, setU32BE } from "../crypto/bytes"

/**
 * The meter's command endpoint (docs/commands.md): the uplink hands every command
 * envelope it receives to `handleCommand(bytes)` and sends the 16-byte acknowledgement
 * back. Verification (src/crypto/verifier.ts) decides; this class then checks the
 * command's arguments and policy and acts. One command at a time.
 */

/** What the command endpoint is wired to (docs/commands.md, "Wiring"). */
export interface CommandHandlerConfig {
    /** 8-byte meter id (settings METER_ID) */
    meterId: Buffer
    /** board id the firmware manifest must name (`board.id`) */
    boardId: string
    flash: FlashStore
    /** `ed25519Verify` from src/crypto/ed25519.ts */
    signatureCheck: SignatureCheck
    clock: ClockPort
    relay: RelayPort
    armButton: ArmButtonPort
    events: EventSink
    alerts: AlertSink
    calendar: CalendarPort
    uplink: UplinkEpochPort
    firmware: FirmwarePort
    timer: TimerPort
    /** a uniform random u32 (randomBuffer(4)) */
    random: () => number
    /** milliseconds since boot (ds.millis), for the rejection rate limit */
    millis: () => number
    /** settings key prefix, "cv." on a meter (tests use their own) */
    prefix?: string
}

/** Acknowledgement size: version ‖ verdict ‖ opcode ‖ signer ‖ counter (8) ‖ detail (u32 BE). */
export const ACK_SIZE = 16
export const ACK_VERSION = 1
/** Accepted-command event payload: opcode ‖ signer ‖ counter (8) ‖ detail (u32 BE). */
export const ACCEPTED_PAYLOAD_SIZE = 14

export class CommandHandler {
    /** the key ring in force */
    ring: KeyRingStore
    policy: CommandPolicy
    disconnect: DisconnectControl
    rejections: RejectionLog
    private verifier: CommandVerifier
    private cfg: CommandHandlerConfig
    private busy = false

    constructor(cfg: CommandHandlerConfig) {
        this.cfg = cfg
        const prefix = cfg.prefix || "cv."
        this.ring = new KeyRingStore(cfg.flash, prefix)
        this.policy = new CommandPolicy(cfg.flash, prefix)
        this.disconnect = new DisconnectControl(cfg.relay, cfg.armButton, cfg.flash, cfg.timer, cfg.random, prefix)
        this.rejections = new RejectionLog(cfg.events, cfg.alerts, cfg.millis)
        const self = this
        this.verifier = new CommandVerifier(() => self.ring.keys, new CounterStore(cfg.flash, prefix), cfg.signatureCheck, {
            meterId: cfg.meterId,
            utcNow: () => self.cfg.clock.utcNow(),
            needsDualControl: (op: number) => self.policy.dualControl && op === Opcode.Disconnect,
        })
    }

    /** After boot: loads the key ring (installing the provisioned anchor once), the policy and the disconnect state. */
    async start(): Promise<boolean> {
        const provisioned = await this.ring.load()
        await this.policy.load()
        await this.disconnect.restore(this.policy.randomLimitSeconds)
        return provisioned
    }

    /** The privacy level the uplink must respect (PrivacyLevel: 0 half-hourly, 1 daily, 2 monthly). */
    privacyLevel(): number {
        return this.policy.privacy
    }

    /** The uplink key epoch in force. */
    uplinkEpoch(): number {
        return this.policy.uplinkEpoch
    }

    /**
     * Verifies and executes one command envelope; returns the acknowledgement
     * (docs/commands.md, "Acknowledgement"). Never throws for any input.
     */
    async handleCommand(bytes: Buffer): Promise<Buffer> {
        while (this.busy) await ds.sleep(10)
        this.busy = true
        try {
            return await this.handleOne(bytes)
        } finally {
            this.busy = false
        }
    }

    private async handleOne(bytes: Buffer): Promise<Buffer> {
        let v: Verification
        try {
            v = await this.verifier.verify(bytes)
        } catch (e) {
            // flash failure while reading or persisting the counter: the command did not act
            v = { verdict: Verdict.ActionFailed, env: undefined, signers: undefined }
        }
        let detail = 0
        if (v.verdict === Verdict.Accepted) {
            const r = [0]
            try {
                v.verdict = await this.execute(v, r)
            } catch (e) {
                v.verdict = Verdict.ActionFailed
            }
            detail = r[0]
        }
        const env = v.env
        let op = 0
        let signer = 0
        let hi = 0
        let lo = 0
        if (env) {
            op = env.opcode
            signer = env.signerKeyId
            hi = env.counterHi
            lo = env.counterLo
        }
        if (v.verdict === Verdict.Accepted) await this.recordAccepted(env, detail)
        else await this.rejections.reject(v.verdict, op, signer, hi, lo)
        const ack = Buffer.alloc(ACK_SIZE)
        ack[0] = ACK_VERSION
        ack[1] = v.verdict
        ack[2] = op
        ack[3] = signer
        setU32BE(ack, 4, hi)
        setU32BE(ack, 8, lo)
        setU32BE(ack, 12, detail)
        return ack
    }

    /** Checks an authenticated command's arguments and policy, then acts. `detail[0]` gets the ack detail. */
    private async execute(v: Verification, detail: number[]): Promise<number> {
        const env = v.env
        const args = envelopeArgs(env)
        const op = env.opcode
        const p = this.policy
        if (op === Opcode.Disconnect) {
            if (args.length !== 0) return Verdict.BadArguments
            if (!signedByRoot(v)) {
                const day = Math.floor(this.cfg.clock.utcNow() / 86400)
                if (!p.takeDisconnect(day)) return Verdict.DailyLimit
                await p.save()
            }
            detail[0] = await this.disconnect.remoteDisconnect(p.randomLimitSeconds)
            return Verdict.Accepted
        }
        if (op === Opcode.ReconnectArm) {
            if (args.length !== 0) return Verdict.BadArguments
            await this.disconnect.remoteReconnect()
            detail[0] = this.disconnect.state()
            return Verdict.Accepted
        }
        if (op === Opcode.SetTariff) {
            if (args.length === 0 || !this.cfg.calendar.validate(args)) return Verdict.BadArguments
            await this.cfg.calendar.apply(args)
            return Verdict.Accepted
        }
        if (op === Opcode.SetRandomLimit) {
            if (args.length !== 2) return Verdict.BadArguments
            const s = getU16BE(args, 0)
            if (s > MAX_RANDOM_LIMIT_S) return Verdict.BadArguments
            p.randomLimitSeconds = s
            await p.save()
            return Verdict.Accepted
        }
        if (op === Opcode.SetPrivacy) {
            if (args.length !== 1 || args[0] > 2) return Verdict.BadArguments
            p.privacy = args[0]
            await p.save()
            return Verdict.Accepted
        }
        if (op === Opcode.TimeSync) {
            if (args.length !== 4) return Verdict.BadArguments
            const t = getU32BE(args, 0)
            const r = decideTimeSync(t, this.cfg.clock.utcNow(), p.timeFloor, env.notBefore, env.expiry, signedByRoot(v))
            if (r !== Verdict.Accepted) return r
            p.timeFloor = t
            await p.save()
            await this.cfg.clock.set(t)
            detail[0] = t
            return Verdict.Accepted
        }
        if (op === Opcode.UplinkEpoch) {
            if (args.length !== 4) return Verdict.BadArguments
            const e = getU32BE(args, 0)
            // a key epoch never goes back: an old epoch's keys may be compromised
            if (e <= p.uplinkEpoch) return Verdict.BadArguments
            p.uplinkEpoch = e
            await p.save()
            await this.cfg.uplink.setEpoch(e)
            detail[0] = e
            return Verdict.Accepted
        }
        if (op === Opcode.FirmwareManifest) {
            const m = decodeManifest(args)
            const r = decideManifest(m, p.firmwareSequence, this.cfg.boardId)
            if (r !== Verdict.Accepted) return r
            p.firmwareSequence = m.sequence
            await p.save()
            await this.cfg.firmware.stage(m)
            detail[0] = m.sequence
            return Verdict.Accepted
        }
        if (op === Opcode.SetDisconnectPolicy) {
            if (args.length !== 2 || args[0] > 1 || args[1] > MAX_DISCONNECTS_PER_DAY) return Verdict.BadArguments
            p.dualControl = args[0] === 1
            p.maxDisconnectsPerDay = args[1]
            await p.save()
            return Verdict.Accepted
        }
        let change: KeyChange = undefined
        const keys = this.ring.keys
        if (op === Opcode.KeyAdd) change = keyAdd(keys, args)
        else if (op === Opcode.KeyRemove) change = keyRemove(keys, args)
        else if (op === Opcode.KeyReplace) change = keyReplace(keys, args)
        else if (op === Opcode.RootRotate) change = rootRotate(keys, args)
        else return Verdict.BadArguments
        if (change.refused) return Verdict.KeyChangeRefused
        await this.ring.commit(change.keys)
        detail[0] = this.ring.generation()
        return Verdict.Accepted
    }

    private async recordAccepted(env: CommandEnvelope, detail: number) {
        const b = Buffer.alloc(ACCEPTED_PAYLOAD_SIZE)
        b[0] = env.opcode
        b[1] = env.signerKeyId
        setU32BE(b, 2, env.counterHi)
        setU32BE(b, 6, env.counterLo)
        setU32BE(b, 10, detail)
        try {
            await this.cfg.events.record(CommandEventKind.Accepted, b)
        } catch (e) {}
    }
}
