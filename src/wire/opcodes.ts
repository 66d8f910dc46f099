/**
 * The vocabulary of signed commands, written once for the meter and the head-end
 * (docs/commands.md §2–§4): opcodes and the one table that describes them, roles and the
 * opcodes each gets by default, and the verdicts a meter answers with. DeviceScript
 * compiles this file into the firmware, tsc/tsx compile the same file for the head-end.
 */

/** Opcodes (docs/commands.md §3). Kept in 1..30 so a key's allowed set fits a positive 31-bit mask. */
export const enum Opcode {
    Disconnect = 1,
    ReconnectArm = 2,
    SetTariff = 3,
    SetRandomLimit = 4,
    SetPrivacy = 5,
    TimeSync = 6,
    UplinkEpoch = 7,
    FirmwareManifest = 8,
    SetDisconnectPolicy = 9,
    KeyAdd = 16,
    KeyRemove = 17,
    KeyReplace = 18,
    RootRotate = 19,
}

/** Highest opcode number a key mask can name (bit 31 would make the mask negative in the VM). */
export const MAX_OPCODE = 30

/** Roles (docs/commands.md §2): the role code is byte 1 of a key entry. */
export const enum Role {
    Root = 1,
    Supplier = 2,
    NetworkOperator = 3,
}

/**
 * Why a command was refused, in the order the verifier checks (docs/commands.md §4).
 * Every refusal has its own code; `Accepted` is 0. The numbers are contiguous:
 * `verdictName` relies on it.
 */
export const enum Verdict {
    Accepted = 0,
    Malformed = 1,
    BadVersion = 2,
    WrongMeter = 3,
    UnknownKey = 4,
    OpcodeNotAllowed = 5,
    DualControlRequired = 6,
    TimeUnknown = 7,
    NotYetValid = 8,
    Expired = 9,
    Replay = 10,
    BadSignature = 11,
    DailyLimit = 12,
    BadArguments = 13,
    TimeOutOfBounds = 14,
    FirmwareRejected = 15,
    KeyChangeRefused = 16,
    NotProvisioned = 17,
    ActionFailed = 18,
    CounterOutOfReach = 19,
}

/** The argument of SetPrivacy: how finely the uplink may report consumption (docs/commands.md §3). */
export const enum PrivacyLevel {
    HalfHourly = 0,
    Daily = 1,
    Monthly = 2,
}

/** Argument size of an opcode whose action decodes its own arguments (with its own verdict for bad ones). */
export const ARGS_VARIABLE = 255

/** Flags of an opcode in the table (`opcodeFlags`). */
export const enum OpFlag {
    /** only the root may sign it, whatever a key's mask says */
    RootOnly = 1,
    /**
     * only a supplier or the root issues it (signature block 0, the counter's owner); another
     * role whose mask holds it may only co-sign it (GBCS: the supplier disconnects; the
     * network operator's signature is the second one under dual control)
     */
    SupplierIssued = 2,
    /** the roles that get it in the default provisioning (bit = 1 << role); the root gets every opcode */
    Supplier = 4,
    NetworkOperator = 8,
}

/**
 * The opcode table (docs/commands.md §3), the one place an opcode is described: its
 * argument size (checked before the action runs: `BadArguments`), whether only the root
 * may sign it, and which roles get it by default; its name is in `opcodeName` below.
 * Root-only: key changes, and the two settings that defend against a mass off-switch
 * attack — a stolen supplier or network-operator key must not lift them. A disconnect is
 * issued by the supplier only: a stolen network-operator key cannot switch a meter off
 * alone, and dual control (supplier + network operator) stays available. The firmware's
 * half of the table is each opcode's action (src/commands/actions.ts); an opcode in
 * neither is `Malformed`. Flat triples: a table of small numbers costs the firmware image
 * the least (no row objects, no names).
 */
const OPCODES: number[] = [
    // opcode, argument size, flags
    Opcode.Disconnect, 0, OpFlag.SupplierIssued | OpFlag.Supplier | OpFlag.NetworkOperator,
    Opcode.ReconnectArm, 0, OpFlag.Supplier,
    Opcode.SetTariff, ARGS_VARIABLE, OpFlag.Supplier,
    Opcode.SetRandomLimit, 2, OpFlag.RootOnly,
    Opcode.SetPrivacy, 1, OpFlag.Supplier,
    Opcode.TimeSync, 4, OpFlag.NetworkOperator,
    Opcode.UplinkEpoch, 4, OpFlag.NetworkOperator,
    Opcode.FirmwareManifest, ARGS_VARIABLE, OpFlag.NetworkOperator,
    Opcode.SetDisconnectPolicy, 2, OpFlag.RootOnly,
    Opcode.KeyAdd, ARGS_VARIABLE, OpFlag.RootOnly,
    Opcode.KeyRemove, ARGS_VARIABLE, OpFlag.RootOnly,
    Opcode.KeyReplace, ARGS_VARIABLE, OpFlag.RootOnly,
    Opcode.RootRotate, ARGS_VARIABLE, OpFlag.RootOnly,
]

/** Index of `op`'s row in OPCODES, or -1 for an opcode this version does not know. */
function rowOf(op: number): number {
    for (let i = 0; i < OPCODES.length; i += 3) if (OPCODES[i] === op) return i
    return -1
}

/** true for the opcodes in the table; any other opcode is malformed. */
export function isKnownOpcode(op: number): boolean {
    return rowOf(op) >= 0
}

/** The OpFlag bits of `op` in the table; 0 for an opcode this version does not know. */
export function opcodeFlags(op: number): number {
    const i = rowOf(op)
    return i >= 0 ? OPCODES[i + 2] : 0
}

/** true for the opcodes only the root may sign, whatever a key's mask says. */
export function isRootOnlyOpcode(op: number): boolean {
    return (opcodeFlags(op) & OpFlag.RootOnly) !== 0
}

/** true for the opcodes only a supplier or the root may issue (sign first); other roles may co-sign them. */
export function isSupplierIssued(op: number): boolean {
    return (opcodeFlags(op) & OpFlag.SupplierIssued) !== 0
}

/** The exact argument size of a known `op`, or ARGS_VARIABLE (also for an unknown one). */
export function opcodeArgsSize(op: number): number {
    const i = rowOf(op)
    return i >= 0 ? OPCODES[i + 1] : ARGS_VARIABLE
}

/** Every opcode in the table, in number order. */
export function allOpcodes(): number[] {
    const out: number[] = []
    for (let i = 0; i < OPCODES.length; i += 3) out.push(OPCODES[i])
    return out
}

/** The opcodes `role` may sign in the default provisioning: all for the root. */
export function defaultOpcodes(role: number): number[] {
    const out: number[] = []
    for (let i = 0; i < OPCODES.length; i += 3) if (role === Role.Root || (OPCODES[i + 2] & (1 << role)) !== 0) out.push(OPCODES[i])
    return out
}

/**
 * The name of `op` (`Disconnect`), or `opcode <n>` for one this version does not know.
 * The names stay out of the table so that the firmware, which never prints them, does not
 * carry them.
 */
export function opcodeName(op: number): string {
    const names: { [op: number]: string } = {}
    names[Opcode.Disconnect] = "Disconnect"
    names[Opcode.ReconnectArm] = "ReconnectArm"
    names[Opcode.SetTariff] = "SetTariff"
    names[Opcode.SetRandomLimit] = "SetRandomLimit"
    names[Opcode.SetPrivacy] = "SetPrivacy"
    names[Opcode.TimeSync] = "TimeSync"
    names[Opcode.UplinkEpoch] = "UplinkEpoch"
    names[Opcode.FirmwareManifest] = "FirmwareManifest"
    names[Opcode.SetDisconnectPolicy] = "SetDisconnectPolicy"
    names[Opcode.KeyAdd] = "KeyAdd"
    names[Opcode.KeyRemove] = "KeyRemove"
    names[Opcode.KeyReplace] = "KeyReplace"
    names[Opcode.RootRotate] = "RootRotate"
    return isKnownOpcode(op) ? names[op] : "opcode " + op
}

/** The mask allowing exactly `opcodes`: bit n = opcode n (1..MAX_OPCODE, so `<<` stays positive). */
export function maskOf(opcodes: number[]): number {
    let m = 0
    for (const op of opcodes) m |= 1 << op
    return m
}

/** true when bit `opcode` is set in `mask` (a positive 31-bit number, so `>>` is exact). */
export function maskHas(mask: number, opcode: number): boolean {
    if (opcode < 1 || opcode > MAX_OPCODE) return false
    return ((mask >> opcode) & 1) === 1
}

/** The key ring's name of a role (docs/commands.md §2): `root`, `supplier`, `networkOperator`; else `role <n>`. */
export function roleName(role: number): string {
    if (role === Role.Root) return "root"
    if (role === Role.Supplier) return "supplier"
    if (role === Role.NetworkOperator) return "networkOperator"
    return "role " + role
}

/** The name of a verdict (`BadSignature`), or `verdict <n>` for one this version does not know. */
export function verdictName(v: number): string {
    const names = [
        "Accepted",
        "Malformed",
        "BadVersion",
        "WrongMeter",
        "UnknownKey",
        "OpcodeNotAllowed",
        "DualControlRequired",
        "TimeUnknown",
        "NotYetValid",
        "Expired",
        "Replay",
        "BadSignature",
        "DailyLimit",
        "BadArguments",
        "TimeOutOfBounds",
        "FirmwareRejected",
        "KeyChangeRefused",
        "NotProvisioned",
        "ActionFailed",
        "CounterOutOfReach",
    ]
    return v >= 0 && v < names.length && Math.floor(v) === v ? names[v] : "verdict " + v
}
