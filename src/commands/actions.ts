/**
 * What each authenticated command does: the firmware's half of the opcode table. The wire
 * half (src/wire/opcodes.ts) names each opcode, says who may sign it and how long its
 * arguments are; the handler has checked all that, verified the envelope and persisted its
 * counter before an action runs. An action checks the argument values and the policy,
 * acts, and returns its verdict (docs/commands.md §3); `out[0]` gets the acknowledgement's
 * detail. Adding an opcode: one row in the wire table, one action here, its tests.
 */
import { getU16BE, getU32BE } from "../wire/bytes"
import { KeyEntry } from "../wire/keys"
import { decodeManifest, MAX_DISCONNECTS_PER_DAY, MAX_RANDOM_LIMIT_S } from "../wire/envelope"
import { Opcode, PrivacyLevel, Verdict } from "../wire/opcodes"
import { KeyChange, keyAdd, KeyRingStore, keyRemove, keyReplace, rootRotate } from "../crypto/keyring"
import { signedByRoot, Verification } from "../crypto/verifier"
import { DisconnectControl } from "./disconnect"
import { decideManifest } from "./firmware"
import { CommandPolicy } from "./policy"
import { CalendarPort, ClockPort, FirmwarePort, UplinkEpochPort } from "./ports"
import { decideTimeSync } from "./timesync"

/** The rest of the meter that actions drive (part of the handler's configuration). */
export interface ActionPorts {
    /** board id a firmware manifest must name (`board.id`) */
    boardId: string
    clock: ClockPort
    calendar: CalendarPort
    uplink: UplinkEpochPort
    firmware: FirmwarePort
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
    const t: Action[] = []
    t[Opcode.Disconnect] = disconnect
    t[Opcode.ReconnectArm] = reconnectArm
    t[Opcode.SetTariff] = setTariff
    t[Opcode.SetRandomLimit] = setRandomLimit
    t[Opcode.SetPrivacy] = setPrivacy
    t[Opcode.TimeSync] = timeSync
    t[Opcode.UplinkEpoch] = uplinkEpoch
    t[Opcode.FirmwareManifest] = firmwareManifest
    t[Opcode.SetDisconnectPolicy] = setDisconnectPolicy
    t[Opcode.KeyAdd] = changeKeys
    t[Opcode.KeyRemove] = changeKeys
    t[Opcode.KeyReplace] = changeKeys
    t[Opcode.RootRotate] = changeKeys
    return t
}

/** Schedules a disconnect after the random offset; at most N a UTC day unless the root signed. Detail: the offset (s). */
async function disconnect(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const p = c.policy
    if (!signedByRoot(v)) {
        if (!p.takeDisconnect(Math.floor(c.cfg.clock.utcNow() / 86400))) return Verdict.DailyLimit
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

/** The disconnect randomisation limit (root only, ≤ 3600 s). */
async function setRandomLimit(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const s = getU16BE(args, 0)
    if (s > MAX_RANDOM_LIMIT_S) return Verdict.BadArguments
    c.policy.randomLimitSeconds = s
    await c.policy.save()
    return Verdict.Accepted
}

/** What the uplink may carry: a PrivacyLevel. */
async function setPrivacy(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    if (args[0] > PrivacyLevel.Monthly) return Verdict.BadArguments
    c.policy.privacy = args[0]
    await c.policy.save()
    return Verdict.Accepted
}

/** Sets the clock within the bounds of docs/commands.md §5; the time floor is persisted first. Detail: the time set. */
async function timeSync(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const t = getU32BE(args, 0)
    const p = c.policy
    const r = decideTimeSync(t, c.cfg.clock.utcNow(), p.timeFloor, v.env.notBefore, v.env.expiry, signedByRoot(v))
    if (r !== Verdict.Accepted) return r
    p.timeFloor = t
    await p.save()
    await c.cfg.clock.set(t)
    out[0] = t
    return Verdict.Accepted
}

/** Rolls the uplink key epoch, which never goes back (an old epoch's keys may be compromised). Detail: the epoch. */
async function uplinkEpoch(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const e = getU32BE(args, 0)
    const p = c.policy
    if (e <= p.uplinkEpoch) return Verdict.BadArguments
    p.uplinkEpoch = e
    await p.save()
    await c.cfg.uplink.setEpoch(e)
    out[0] = e
    return Verdict.Accepted
}

/** Accepts a manifest for this board with a higher sequence; the sequence is persisted before staging. Detail: the sequence. */
async function firmwareManifest(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const m = decodeManifest(args)
    const p = c.policy
    const r = decideManifest(m, p.firmwareSequence, c.cfg.boardId)
    if (r !== Verdict.Accepted) return r
    p.firmwareSequence = m.sequence
    await p.save()
    await c.cfg.firmware.stage(m)
    out[0] = m.sequence
    return Verdict.Accepted
}

/** Dual control (0/1) and the daily disconnect limit (≤ 48), root only. */
async function setDisconnectPolicy(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    if (args[0] > 1 || args[1] > MAX_DISCONNECTS_PER_DAY) return Verdict.BadArguments
    c.policy.dualControl = args[0] === 1
    c.policy.maxDisconnectsPerDay = args[1]
    await c.policy.save()
    return Verdict.Accepted
}

/** A key change (the pure change of each opcode from KeyAdd on, docs/commands.md §2), committed as one ring write. Detail: the ring generation after it. */
async function changeKeys(c: ActionContext, v: Verification, args: Buffer, out: number[]): Promise<number> {
    const changes: ((keys: KeyEntry[], args: Buffer) => KeyChange)[] = [keyAdd, keyRemove, keyReplace, rootRotate]
    const change = changes[v.env.opcode - Opcode.KeyAdd](c.ring.keys, args)
    if (change.refused) return Verdict.KeyChangeRefused
    await c.ring.commit(change.keys)
    out[0] = c.ring.generation()
    return Verdict.Accepted
}
