/**
 * Operator operations shared by the `trustmeter` CLI and the live demo: which role signs
 * which command, how a command's arguments are read from the command line, signing with
 * the head-end signer (headend/src/commands.ts). Exported chains: headend/src/chain_file.ts.
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import {
    Opcode,
    PrivacyLevel,
    buildEnvelope,
    buildManifest,
    encodeKeyEntry,
    privacyArgs,
    randomLimitArgs,
    timeSyncArgs,
    uplinkEpochArgs,
} from "./commands.ts"
import { encodeCalendar } from "../../src/wire/calendar"
import { Keystore, MeterEntry, Role, RoleKey } from "./keystore.ts"
import { ROLE_CODE, roleKey } from "./provision.ts"
import { defaultMask, headEndKey } from "./commands.ts"

/** A command the operator can send, with the role that signs it by default. */
export interface CommandSpec {
    name: string
    opcode: number
    role: Role
    /** what the arguments look like, for usage messages */
    args: string
    help: string
    /** encodes the command-line arguments; throws a message saying what is expected */
    encode(args: string[], ks: Keystore): Buffer
}

const none = (name: string) => (args: string[]) => {
    if (args.length) throw new Error(`${name} takes no arguments`)
    return Buffer.alloc(0)
}

export const COMMANDS: CommandSpec[] = [
    { name: "disconnect", opcode: Opcode.Disconnect, role: "supplier", args: "", help: "open the relay after the meter's random offset", encode: none("disconnect") },
    { name: "arm", opcode: Opcode.ReconnectArm, role: "supplier", args: "", help: "arm: the consumer's button press closes the relay", encode: none("arm") },
    {
        name: "set-tariff",
        opcode: Opcode.SetTariff,
        role: "supplier",
        args: "<flat|day-night|hex calendar>",
        help: "replace the time-of-use calendar (docs/metrology.md)",
        encode: args => tariffArgs(one("set-tariff", args, "<flat|day-night|hex calendar>")),
    },
    {
        name: "set-random-limit",
        opcode: Opcode.SetRandomLimit,
        role: "root",
        args: "<seconds 0..3600>",
        help: "upper bound of the disconnect random offset",
        encode: args => randomLimitArgs(intArg(one("set-random-limit", args, "<seconds>"), 0, 3600, "seconds")),
    },
    {
        name: "set-privacy",
        opcode: Opcode.SetPrivacy,
        role: "supplier",
        args: "<half-hourly|daily|monthly>",
        help: "what the uplink may carry",
        encode: args => privacyArgs(privacyLevel(one("set-privacy", args, "<half-hourly|daily|monthly>"))),
    },
    {
        name: "time-sync",
        opcode: Opcode.TimeSync,
        role: "networkOperator",
        args: "[utc-seconds]",
        help: "set the meter's clock (default: now)",
        encode: args => timeSyncArgs(args.length ? intArg(one("time-sync", args, "[utc-seconds]"), 1, 0xffffffff, "utc seconds") : Math.floor(Date.now() / 1000)),
    },
    {
        name: "rotate-uplink",
        opcode: Opcode.UplinkEpoch,
        role: "networkOperator",
        args: "<from> <to>",
        help: "roll the uplink key epoch from the meter's (0 when new) to at most 16 more",
        encode: args => {
            if (args.length !== 2) throw new Error("rotate-uplink takes two arguments: <from> <to>, the meter's epoch and the next one (at most 16 more)")
            return uplinkEpochArgs(intArg(args[1], 1, 0xffffffff, "epoch"), intArg(args[0], 0, 0xffffffff, "epoch"))
        },
    },
    {
        name: "firmware",
        opcode: Opcode.FirmwareManifest,
        role: "networkOperator",
        args: "<image> <from> <to> [board]",
        help: "a SUIT manifest (signed by the root) of the image file, sequence <from> (the meter's) to <to>, for board (default simulator)",
        encode: (args, ks) => {
            if (args.length < 3 || args.length > 4)
                throw new Error("firmware takes <image> <from> <to> [board]: the image file, the meter's firmware sequence and the new one (at most 1024 more), the board id")
            let image: Buffer
            try {
                image = readFileSync(args[0])
            } catch (e) {
                throw new Error(`cannot read the image ${args[0]} (${(e as NodeJS.ErrnoException).code})`)
            }
            const board = args[3] ?? "simulator"
            if (!/^[\x21-\x7e]{1,32}$/.test(board)) throw new Error(`bad board id "${board}": 1..32 printable ASCII characters, e.g. trustmeter_pico_w`)
            const digest = createHash("sha256").update(image).digest()
            return buildManifest({ sequence: intArg(args[2], 1, 0xffffffff, "sequence"), imageSize: image.length, digest, board }, intArg(args[1], 0, 0xffffffff, "sequence"), roleKey(ks, "root"))
        },
    },
]
export const COMMAND_NAMES = COMMANDS.map(c => c.name)

export interface SignOptions {
    /** sign with this role instead of the command's default (to show a refusal) */
    role?: Role
    /** a second signature from another role (dual control) */
    cosign?: Role
    /** signer counter; default: strictly increasing from the clock */
    counter?: bigint
    /** validity window from now, seconds (default 3600) */
    validSeconds?: number
    /** not valid before this UTC second (default 0: no lower bound) */
    notBefore?: number
    /** UTC seconds "now" (default: the host clock) */
    now?: number
}

/** Builds and signs a command envelope for `meter`; throws with a one-line reason on bad arguments. */
export function buildCommand(ks: Keystore, meter: MeterEntry, name: string, args: string[], opts: SignOptions = {}): Buffer {
    const spec = COMMANDS.find(c => c.name === name)
    if (!spec) throw new Error(`unknown command "${name}"`)
    return signOpcode(ks, meter, spec.opcode, spec.encode(args, ks), { ...opts, role: opts.role ?? spec.role })
}

/** Signs `opcode` with `args` for `meter` by `opts.role` (default supplier). */
export function signOpcode(ks: Keystore, meter: MeterEntry, opcode: number, args: Buffer, opts: SignOptions = {}): Buffer {
    const now = opts.now ?? Math.floor(Date.now() / 1000)
    return buildEnvelope({
        meterId: Buffer.from(meter.meterId, "hex"),
        signer: roleKey(ks, opts.role ?? "supplier"),
        cosigner: opts.cosign ? roleKey(ks, opts.cosign) : undefined,
        counter: opts.counter ?? nextCounter(),
        notBefore: opts.notBefore ?? 0,
        expiry: now + Math.round(opts.validSeconds ?? 3600),
        opcode,
        args,
    })
}

/**
 * The root-signed key change that installs `next` for `role` (KeyReplace for a supplier or
 * network operator, same id; RootRotate for the root, signed by the old root).
 */
export function keyChangeCommand(ks: Keystore, meter: MeterEntry, role: Role, next: RoleKey, opts: SignOptions = {}): Buffer {
    const entry = encodeKeyEntry({
        id: next.keyId,
        role: ROLE_CODE[role],
        mask: defaultMask(ROLE_CODE[role]),
        publicKey: headEndKey(next.keyId, ROLE_CODE[role], 0, Buffer.from(next.secretKey, "hex")).publicKey,
    })
    return signOpcode(ks, meter, role === "root" ? Opcode.RootRotate : Opcode.KeyReplace, entry, { ...opts, role: "root" })
}

let lastCounter = 0n
/** Signer counters: microseconds since 1970, strictly increasing within this process (GB practice: a time-based counter). */
export function nextCounter(): bigint {
    let c = BigInt(Date.now()) * 1000n
    if (c <= lastCounter) c = lastCounter + 1n
    lastCounter = c
    return c
}

function one(name: string, args: string[], shape: string): string {
    if (args.length !== 1) throw new Error(`${name} takes one argument: ${shape}`)
    return args[0]
}

function intArg(s: string, min: number, max: number, what: string): number {
    if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) throw new Error(`bad ${what} "${s}": a whole number ${min}..${max}`)
    return Number(s)
}

function privacyLevel(s: string): number {
    const levels: Record<string, number> = { "half-hourly": PrivacyLevel.HalfHourly, daily: PrivacyLevel.Daily, monthly: PrivacyLevel.Monthly }
    if (!(s in levels)) throw new Error(`bad privacy level "${s}": half-hourly, daily or monthly`)
    return levels[s]
}

/**
 * Tariff calendars, encoded by the wire core's calendar codec, the one the meter decodes
 * (src/wire/calendar.ts, docs/metrology.md "Tariff calendar"). Presets: `flat` (one register all day) and
 * `day-night` (register 1 from 00:00 to 07:00 every day); or the encoding in hex.
 */
export function tariffArgs(s: string): Buffer {
    const night = [{ start: 0, end: 420, register: 1 }]
    if (s === "flat") return encodeCalendar({ id: 1, utcOffsetMin: 0, defaultRegister: 0, weekendMask: 0x41, weekday: [], weekend: [] })
    if (s === "day-night") return encodeCalendar({ id: 2, utcOffsetMin: 0, defaultRegister: 0, weekendMask: 0x41, weekday: night, weekend: night })
    if (/^([0-9a-fA-F]{2})+$/.test(s)) return Buffer.from(s, "hex")
    throw new Error(`bad tariff "${s}": flat, day-night, or the calendar in hex`)
}
