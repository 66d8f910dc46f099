import * as ds from "@devicescript/core"
import { ArmButtonPort, RelayPort } from "../board/board"
import { encodeCommandAck, encodeOutcome, OutcomeLayout } from "../wire/ack"
import { ARGS_VARIABLE, opcodeArgsSize, Verdict } from "../wire/opcodes"
import { Storage } from "../storage/storage"
import { CounterStore } from "../crypto/counters"
import { KeyRingStore } from "../crypto/keyring"
import { CommandVerifier, SignatureCheck, Verification } from "../crypto/verifier"
import { Action, ActionContext, ActionPorts, actionTable } from "./actions"
import { DisconnectControl } from "./disconnect"
import { CommandPolicy } from "./policy"
import { AlertSink, CommandEventKind, EventSink, TimerPort } from "./ports"
import { RejectionLog } from "./rejectionlog"

/**
 * The meter's command endpoint (docs/commands.md): the uplink hands every command
 * envelope it receives to `handleCommand(bytes)` and sends the acknowledgement (a CBOR
 * array, src/wire/ack.ts `encodeCommandAck`) back. Verification (src/crypto/verifier.ts) decides; then the opcode table checks the
 * argument size (src/wire/opcodes.ts) and the opcode's action (src/commands/actions.ts)
 * checks the values and acts. One command at a time.
 */

/** What the command endpoint is wired to (docs/commands.md §10). */
export interface CommandHandlerConfig extends ActionPorts {
    /** 8-byte meter id (settings METER_ID) */
    meterId: Buffer
    /** where the key ring, counters, policy and disconnect state live (`settingsStorage` on a meter) */
    storage: Storage
    /** `ed25519Verify` from src/crypto/ed25519.ts */
    signatureCheck: SignatureCheck
    relay: RelayPort
    armButton: ArmButtonPort
    events: EventSink
    alerts: AlertSink
    timer: TimerPort
    /** a uniform random u32 (randomBuffer(4)) */
    random: () => number
    /** settings key prefix, "cv." on a meter (tests use their own) */
    prefix?: string
}

export class CommandHandler implements ActionContext {
    /** the key ring in force */
    ring: KeyRingStore
    policy: CommandPolicy
    disconnect: DisconnectControl
    rejections: RejectionLog
    /** what the handler is wired to (the actions use its ports) */
    readonly cfg: CommandHandlerConfig
    private verifier: CommandVerifier
    /** the firmware's half of the opcode table: opcode → action */
    private actions: Action[]
    private busy = false

    constructor(cfg: CommandHandlerConfig) {
        this.cfg = cfg
        const prefix = cfg.prefix || "cv."
        this.ring = new KeyRingStore(cfg.storage, prefix)
        this.policy = new CommandPolicy(cfg.storage, prefix)
        this.disconnect = new DisconnectControl(cfg.relay, cfg.armButton, cfg.storage, cfg.timer, cfg.random, prefix)
        this.rejections = new RejectionLog(cfg.events, cfg.alerts, cfg.millis)
        this.actions = actionTable()
        this.verifier = new CommandVerifier(this.ring, new CounterStore(cfg.storage, prefix), cfg.signatureCheck, {
            meterId: cfg.meterId,
            clock: cfg.clock,
            policy: this.policy,
        })
    }

    /**
     * After boot: loads the key ring (installing the provisioned anchor once), the policy and
     * the disconnect state; the daily disconnect count runs on uptime from here (docs/commands.md §6).
     */
    async start(): Promise<boolean> {
        const provisioned = await this.ring.load()
        await this.policy.load()
        this.policy.countStartMs = this.cfg.millis()
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
     * (docs/commands.md §8). Never throws for any input.
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
        const detail = [0]
        if (v.verdict === Verdict.Accepted) {
            // the opcode table's argument size, then the opcode's action (src/commands/actions.ts)
            try {
                const args = v.env.args
                const size = opcodeArgsSize(v.env.opcode)
                v.verdict = size !== ARGS_VARIABLE && args.length !== size ? Verdict.BadArguments : await this.actions[v.env.opcode](this, v, args, detail)
            } catch (e) {
                v.verdict = Verdict.ActionFailed
            }
        }
        const env = v.env
        if (v.verdict === Verdict.Accepted) {
            try {
                await this.cfg.events.record(CommandEventKind.Accepted, encodeOutcome(OutcomeLayout.Accepted, v.verdict, env, detail[0]))
            } catch (e) {}
        } else await this.rejections.reject(v.verdict, env)
        return encodeCommandAck(v.verdict, env, detail[0])
    }
}
