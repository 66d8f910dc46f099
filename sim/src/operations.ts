/**
 * Operator operations shared by the `trustmeter` CLI and the live demo: which role signs
 * which command, how a command's arguments are read from the command line, and the bridge
 * to the command signer (sim/src/commands.ts) and the chain verifier (sim/src/chain.ts),
 * which other modules own.
 */
import { Keystore, MeterEntry, Role } from "./keystore.ts"

/** A command the operator can send, with the role that signs it by default. */
export interface CommandSpec {
    name: string
    /** opcode (src/crypto/envelope.ts, docs/commands.md "Opcodes") */
    opcode: number
    role: Role
    /** what the arguments look like, for usage messages */
    args: string
    help: string
}

export const COMMANDS: CommandSpec[] = [
    { name: "disconnect", opcode: 1, role: "supplier", args: "", help: "open the relay (after the meter's random offset)" },
    { name: "arm", opcode: 2, role: "supplier", args: "", help: "allow reconnection: the consumer's button closes the relay" },
    { name: "set-tariff", opcode: 3, role: "supplier", args: "<calendar>", help: "replace the time-of-use calendar" },
    { name: "set-random-limit", opcode: 4, role: "networkOperator", args: "<seconds>", help: "upper bound of the disconnect offset" },
    { name: "set-privacy", opcode: 5, role: "supplier", args: "<half-hourly|daily|monthly>", help: "what the uplink may carry" },
    { name: "time-sync", opcode: 6, role: "networkOperator", args: "[utc-seconds]", help: "set the meter's clock" },
    { name: "rotate-uplink", opcode: 7, role: "networkOperator", args: "<epoch>", help: "roll the uplink key epoch" },
    { name: "key-replace", opcode: 18, role: "root", args: "<role>", help: "replace a role's key (rotation, change of supplier)" },
]
export const COMMAND_NAMES = COMMANDS.map(c => c.name)

export interface SignOptions {
    /** sign with this role instead of the command's default (to show a refusal) */
    role?: Role
    /** signer counter; default: strictly increasing from the clock */
    counter?: bigint
    /** validity window from now, seconds */
    validSeconds?: number
}

/** Builds and signs a command envelope for `meter`. */
export async function buildCommand(ks: Keystore, meter: MeterEntry, name: string, args: string[], opts: SignOptions = {}): Promise<Uint8Array> {
    const spec = COMMANDS.find(c => c.name === name)
    if (!spec) throw new Error(`unknown command "${name}"`)
    const signer = await loadSigner()
    if (!signer) throw new Error("command signing is not available yet: sim/src/commands.ts (the head-end signer) has not landed")
    return signer(ks, meter, spec, args, { ...opts, counter: opts.counter ?? nextCounter() })
}

export interface ChainReport {
    ok: boolean
    summary: string
}

/** Verifies a chain exported by the head-end for `meter` (sim/src/chain.ts). */
export async function verifyExportedChain(meter: MeterEntry, data: Buffer): Promise<ChainReport> {
    const verify = await loadChainVerifier()
    if (!verify) throw new Error("chain verification is not available yet: sim/src/chain.ts (the index-store verifier) has not landed")
    return verify(meter, data)
}

let lastCounter = 0n
/** Signer counters: microseconds since 1970, strictly increasing within this process (GB practice: a time-based counter). */
export function nextCounter(): bigint {
    let c = BigInt(Date.now()) * 1000n
    if (c <= lastCounter) c = lastCounter + 1n
    lastCounter = c
    return c
}

type Signer = (ks: Keystore, meter: MeterEntry, spec: CommandSpec, args: string[], opts: SignOptions & { counter: bigint }) => Promise<Uint8Array>
type ChainVerifier = (meter: MeterEntry, data: Buffer) => Promise<ChainReport>

// The modules below land in parallel; until they do, these return undefined.
async function loadSigner(): Promise<Signer | undefined> {
    return undefined
}

async function loadChainVerifier(): Promise<ChainVerifier | undefined> {
    return undefined
}
