/**
 * What each authenticated command does: the firmware's half of the opcode table. The wire
 * half (src/wire/opcodes.ts) names each opcode, says who may sign it and how long its
 * arguments are; the handler has checked all that, verified the envelope and persisted its
 * counter before an action runs. An action checks the argument values and the policy,
 * acts, and returns its verdict (docs/commands.md §3); `out[0]` gets the acknowledgement's
 * detail. Adding an opcode: one row in the wire table, one action here, its tests.
 */
import { getU16BE, getU32BE, isIntIn } from "../wire/bytes"
import { toBeSigned } from "../wire/cose"
import { decideManifest, decodeManifest, ManifestReason, MAX_DISCONNECTS_PER_DAY, MAX_EPOCH_STEP, MAX_RANDOM_LIMIT_S, SignedManifest, suitClassId } from "../wire/envelope"
import { findKey } from "../wire/keys"
import { Opcode, PrivacyLevel, Role, Verdict } from "../wire/opcodes"
import { nativeCrypto } from "../crypto/native"
import { keyChange, KeyRingStore } from "../crypto/keyring"
import { SignatureCheck, Verification } from "../crypto/verifier"
import { DisconnectControl } from "./disconnect"
import { CommandPolicy } from "./policy"
import { CalendarPort, ClockPort, FirmwarePort, UplinkEpochPort } from "./ports"
import { decideTimeSync } from "./timesync"

/** The rest of the meter that actions drive (part of the handler's configuration). */
export interface ActionPorts {
    /** board id whose SUIT class id a firmware manifest must name (`board.id`) */
    boardId: string
    /** `ed25519Verify` from src/crypto/ed25519.ts: commands and the firmware manifest's root signature */
    signatureCheck: SignatureCheck
    clock: ClockPort
    calendar: CalendarPort
    uplink: UplinkEpochPort
    firmware: FirmwarePort
    /** milliseconds since boot (ds.millis): the rejection rate limit, the daily disconnect limit's uptime */
    millis: () => number
    /** the newest UTC time on record in the index store (its last interval) when the meter booted: the floor of a time sync while the time is unknown, with the last synced time */
    recordedTime?: number
}

/** What actions act on: the command endpoint (src/commands/handler.ts) is one. */
export interface ActionContext {
    policy: CommandPolicy
    disconnect: DisconnectControl
    ring: KeyRingStore
    cfg: ActionPorts
}

/** An opcode's action: returns the verdict, puts the ack detail in `out[0]`. */
export type Action = (c: ActionContext, v: Verification, args: Buffer, out: number[]) => Promise<number>

/**
 * The action of each opcode, indexed by opcode (a known opcode without one is a bug:
 * command.actions.test.ts checks). Built by the handler when it starts rather than at
 * module load: a table at top level would put all of this module first in the image's
 * string table, where other modules' names are cheaper to reference.
 */
export function actionTable(): Action[] {
    const none: Action = undefined
    // index = opcode (src/wire/opcodes.ts): 1..9, then the key changes 16..19
    return [
        none,
        disconnect,
        reconnectArm,
        setTariff,
        setPolicy,
        setPolicy,
        timeSync,
        uplinkEpoch,
        firmwareManifest,
        setPolicy,
        none,
        none,
        none,
        none,
        none,
        none,
        changeKeys,
        changeKeys,
        changeKeys,
        changeKeys,
    ]
}

/** Schedules a disconnect after the random offset; at most N a UTC day (and 24 h of uptime) unless the root signed. Detail: the offset (s). */
async function disconnect(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const p = c.policy
    if (!v.byRoot) {
        if (!p.takeDisconnect(Math.floor(c.cfg.clock.utcNow() / 86400), c.cfg.millis())) return Verdict.DailyLimit
        await p.save()
    }
    out[0] = await c.disconnect.remoteDisconnect(p.randomLimitSeconds)
    return Verdict.Accepted
}

/** Cancels a pending disconnect and arms a disconnected meter. Detail: the control state after. */
async function reconnectArm(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    await c.disconnect.remoteReconnect()
    out[0] = c.disconnect.state()
    return Verdict.Accepted
}

/** A new tariff calendar, validated by the calendar port (docs/metrology.md). */
async function setTariff(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    if (args.length === 0 || !c.cfg.calendar.validate(args)) return Verdict.BadArguments
    await c.cfg.calendar.apply(args)
    return Verdict.Accepted
}

/**
 * A policy setting, stored: SetPrivacy (a PrivacyLevel: what the uplink may carry; detail:
 * the old level × 256 + the new one),
 * SetRandomLimit (the disconnect randomisation limit, ≤ 3600 s, root only),
 * SetDisconnectPolicy (dual control 0/1 and disconnects a day ≤ 48, root only).
 */
async function setPolicy(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const p = c.policy
    const op = v.env.opcode
    if (op === Opcode.SetPrivacy) {
        if (args[0] > PrivacyLevel.Monthly) return Verdict.BadArguments
        // old × 256 + new in the chain's CommandAccepted record: the uplink learns from the
        // chain which level each record was taken under (docs/uplink.md §8)
        out[0] = p.privacy * 256 + args[0]
        p.privacy = args[0]
    } else if (op === Opcode.SetRandomLimit) {
        const s = getU16BE(args, 0)
        if (s > MAX_RANDOM_LIMIT_S) return Verdict.BadArguments
        p.randomLimitSeconds = s
    } else {
        if (args[0] > 1 || args[1] > MAX_DISCONNECTS_PER_DAY) return Verdict.BadArguments
        p.dualControl = args[0] === 1
        p.maxDisconnectsPerDay = args[1]
    }
    await p.save()
    return Verdict.Accepted
}

/**
 * Sets the clock within the bounds of docs/commands.md §5; the time floor is persisted
 * first (a root sync may lower it). While the time is unknown the floor is also the newest
 * time on record at boot. Detail: the time set.
 */
async function timeSync(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const t = getU32BE(args, 0)
    const p = c.policy
    const now = c.cfg.clock.utcNow()
    const rec = c.cfg.recordedTime
    const floor = now === 0 && rec !== undefined && rec > p.timeFloor ? rec : p.timeFloor
    const r = decideTimeSync(t, now, floor, v.env.notBefore, v.env.expiry, v.byRoot === true)
    if (r !== Verdict.Accepted) return r
    p.timeFloor = t
    await p.save()
    await c.cfg.clock.set(t)
    out[0] = t
    return Verdict.Accepted
}

/**
 * Rolls the uplink key epoch, which never goes back (an old epoch's keys may be
 * compromised) and moves at most MAX_EPOCH_STEP a command. Detail: the epoch.
 */
async function uplinkEpoch(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const e = getU32BE(args, 0)
    const p = c.policy
    if (!isIntIn(e, p.uplinkEpoch + 1, p.uplinkEpoch + MAX_EPOCH_STEP)) return Verdict.BadArguments
    p.uplinkEpoch = e
    await p.save()
    await c.cfg.uplink.setEpoch(e)
    out[0] = e
    return Verdict.Accepted
}

/**
 * Accepts a SUIT manifest signed by the ring's root, for this board, with a higher sequence
 * (docs/commands.md §7); the sequence is persisted before staging. Detail: the sequence, or
 * why it was refused (a ManifestReason, or the CborReason or CoseReason of its bytes).
 */
async function firmwareManifest(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const m = decodeManifest(args, nativeCrypto)
    let r = m as number
    if (typeof m !== "number") {
        // SUIT: the manifest is authenticated before anything in it is used
        // the key its kid's first byte names must be the root (whatever the kid's length: the
        // signature must verify with the root's key all the same)
        const s = m.auth.signatures[0]
        const k = findKey(c.ring.keys, s.kid[0])
        r = ManifestReason.BadSignature
        if (k && k.role === Role.Root && (await c.cfg.signatureCheck(k.publicKey, toBeSigned(m.auth, 0), s.signature)))
            r = decideManifest(m, c.policy.firmwareSequence, suitClassId(nativeCrypto, c.cfg.boardId))
    }
    out[0] = r
    if (r !== ManifestReason.Ok) return Verdict.FirmwareRejected
    const p = c.policy
    p.firmwareSequence = (m as SignedManifest).sequence
    await p.save()
    await c.cfg.firmware.stage(m as SignedManifest)
    out[0] = p.firmwareSequence
    return Verdict.Accepted
}

/** A key change (docs/commands.md §2, `keyChange`), committed as one ring write. Detail: the ring generation after it. */
async function changeKeys(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const change = keyChange(v.env.opcode, c.ring.keys, args)
    if (change.refused) return Verdict.KeyChangeRefused
    await c.ring.commit(change.keys)
    out[0] = c.ring.generation()
    return Verdict.Accepted
}
