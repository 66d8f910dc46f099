/**
 * `trustmeter`: the head-end's command line for the tasks outside the demo.
 *
 *   trustmeter keys init [--force]            create the utility's keys (root, supplier, network operator)
 *   trustmeter keys show                      print the public keys and the meters
 *   trustmeter provision <meter> [--id HEX] [--broker mqtt://host:port] [--out FILE]
 *                                             add a meter (new 32-byte secret) and write its settings file
 *   trustmeter sign <command> [args] --meter <meter> [--role R] [--cosign R] [--counter N] [--valid 1h]
 *                                             print a signed command envelope in hex; commands:
 *                                             disconnect, arm, set-tariff <flat|day-night|hex>,
 *                                             set-random-limit <s>, set-privacy <half-hourly|daily|monthly>,
 *                                             time-sync [utc], rotate-uplink <epoch>
 *   trustmeter verify-chain <file> --meter <meter>
 *                                             check an exported index chain: first bad record or OK
 *
 * Global: `--keystore FILE` (default .keystore.json in the repository, or $TRUSTMETER_KEYSTORE).
 * Every failure prints one line saying what is wrong and what to do, and exits non-zero
 * (2: bad usage, 1: the operation failed); files are written atomically.
 */
import { lstatSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { parseBrokerUrl } from "./broker.ts"
import {
    DEFAULT_KEYSTORE,
    Keystore,
    KeystoreError,
    ROLES,
    Role,
    addMeter,
    createKeystore,
    findMeter,
    loadKeystore,
    saveKeystore,
    writeFileAtomic,
} from "./keystore.ts"
import { meterSettings, settingsEnvFile } from "./provision.ts"
import { METERS_DIR } from "./paths.ts"
import { buildCommand, COMMAND_NAMES, verifyExportedChain } from "./operations.ts"

/** A failure the user can fix; `code` 2 = usage. */
export class CliError extends Error {
    constructor(
        message: string,
        readonly code = 1
    ) {
        super(message)
    }
}

export const USAGE = `usage: trustmeter <keys init|keys show|provision|sign|verify-chain> ... (trustmeter help for details)`

/** Runs the CLI with `argv` (without node and script); returns the exit code. Output goes to `out`/`err`. */
export async function main(argv: string[], out: (s: string) => void = console.log, err: (s: string) => void = console.error): Promise<number> {
    try {
        const a = parseArgs(argv)
        const ksPath = a.opts.keystore ?? process.env.TRUSTMETER_KEYSTORE ?? DEFAULT_KEYSTORE
        const [cmd, ...rest] = a.positional
        switch (cmd) {
            case "keys":
                return keys(rest, a.opts, ksPath, out)
            case "provision":
                return provision(rest, a.opts, ksPath, out)
            case "sign":
                return await sign(rest, a.opts, ksPath, out)
            case "verify-chain":
                return await verifyChain(rest, a.opts, ksPath, out)
            case "help":
            case undefined:
                out(readFileSync(new URL(import.meta.url), "utf8").split("*/")[0].replace(/^\/\*\*\n?/, "").replace(/^ \* ?/gm, ""))
                return cmd === "help" ? 0 : 2
            default:
                throw new CliError(`unknown command "${cmd}": ${USAGE}`, 2)
        }
    } catch (e) {
        if (e instanceof CliError) {
            err(`trustmeter: ${e.message}`)
            return e.code
        }
        if (e instanceof KeystoreError) {
            err(`trustmeter: ${e.message}`)
            return 1
        }
        err(`trustmeter: ${(e as Error).message.split("\n")[0]}`)
        return 1
    }
}

interface Args {
    positional: string[]
    opts: Record<string, string>
    flags: Set<string>
}

const VALUE_OPTS = new Set(["keystore", "id", "broker", "out", "meter", "role", "cosign", "counter", "valid"])
const FLAG_OPTS = new Set(["force"])

function parseArgs(argv: string[]): Args & { opts: Record<string, string> } {
    const positional: string[] = []
    const opts: Record<string, string> = {}
    for (let i = 0; i < argv.length; i++) {
        const x = argv[i]
        if (x.startsWith("--")) {
            const [k, inline] = x.slice(2).split("=", 2)
            if (FLAG_OPTS.has(k)) opts[k] = "true"
            else if (VALUE_OPTS.has(k)) {
                const v = inline ?? argv[++i]
                if (v === undefined || v.startsWith("--")) throw new CliError(`option --${k} needs a value`, 2)
                opts[k] = v
            } else throw new CliError(`unknown option --${k}: ${USAGE}`, 2)
        } else positional.push(x)
    }
    return { positional, opts, flags: new Set() }
}

function keys(rest: string[], opts: Record<string, string>, ksPath: string, out: (s: string) => void): number {
    const [sub, ...extra] = rest
    if (extra.length) throw new CliError(`unexpected argument "${extra[0]}"`, 2)
    if (sub === "init") {
        // anything at the path counts, a damaged keystore too: its meter secrets may still be recoverable
        if (!opts.force && existsAt(ksPath)) {
            let why = ""
            try {
                loadKeystore(ksPath)
            } catch (e) {
                why = ` (${(e as Error).message.replace(`keystore ${ksPath} `, "it ").replace(/: restore it.*|: run `chmod.*/, "")})`
            }
            throw new CliError(
                `a keystore already exists at ${ksPath}${why}: keep it${why ? " or restore it" : ""}, or pass --force to replace every key (meters provisioned with it must then be re-provisioned)`
            )
        }
        const ks = createKeystore()
        try {
            saveKeystore(ks, ksPath, { exclusive: !opts.force })
        } catch (e) {
            const code = (e as NodeJS.ErrnoException).code
            if (code === "EEXIST") throw new CliError(`a keystore appeared at ${ksPath} meanwhile: nothing written; check who else creates keys there`)
            throw new CliError(`cannot write ${ksPath} (${code ?? (e as Error).message}): choose another place with --keystore FILE`)
        }
        out(`created ${ksPath} (mode 0600)`)
        for (const r of ROLES) out(`  ${r.padEnd(15)} key id ${ks.roles[r].keyId}  public ${ks.roles[r].publicKey}`)
        return 0
    }
    if (sub === "show") {
        const ks = loadKeystore(ksPath)
        for (const r of ROLES) out(`${r.padEnd(15)} key id ${ks.roles[r].keyId}  public ${ks.roles[r].publicKey}`)
        for (const m of ks.meters) out(`meter ${m.name.padEnd(10)} id ${m.meterId}`)
        return 0
    }
    throw new CliError(`unknown keys subcommand "${sub ?? ""}": use \`trustmeter keys init\` or \`trustmeter keys show\``, 2)
}

function provision(rest: string[], opts: Record<string, string>, ksPath: string, out: (s: string) => void): number {
    if (rest.length !== 1) throw new CliError("usage: trustmeter provision <meter-name> [--id 16-hex] [--broker mqtt://host:port] [--out FILE]", 2)
    const broker = parseBrokerUrlOrUsage(opts.broker ?? "mqtt://127.0.0.1:1883")
    const ks = loadKeystore(ksPath)
    const before = ks.meters.length
    let m
    try {
        m = addMeter(ks, rest[0], opts.id)
    } catch (e) {
        throw new CliError((e as Error).message, 2)
    }
    const file = opts.out ?? join(METERS_DIR, `${m.name}.env`)
    const settings = meterSettings(ks, m, { broker: { host: broker.host, port: broker.port } })
    // settings first, keystore second: a failure leaves no meter in the keystore without its file
    try {
        writeFileAtomic(file, settingsEnvFile(settings), 0o600)
    } catch (e) {
        throw new CliError(`cannot write ${file} (${(e as NodeJS.ErrnoException).code}): choose another place with --out FILE`)
    }
    if (ks.meters.length !== before) saveKeystore(ks, ksPath)
    out(`meter ${m.name}: id ${m.meterId}, settings written to ${file} (mode 0600)`)
    return 0
}

async function sign(rest: string[], opts: Record<string, string>, ksPath: string, out: (s: string) => void): Promise<number> {
    const [name, ...args] = rest
    if (!name) throw new CliError(`usage: trustmeter sign <command> [args] --meter <meter>; commands: ${COMMAND_NAMES.join(", ")}`, 2)
    if (!opts.meter) throw new CliError(`sign needs --meter <name or id> (the envelope names its target meter)`, 2)
    if (opts.role && !ROLES.includes(opts.role as Role)) throw new CliError(`unknown role "${opts.role}": use one of ${ROLES.join(", ")}`, 2)
    const ks = loadKeystore(ksPath)
    const meter = findMeter(ks, opts.meter)
    if (!meter) throw new CliError(`no meter "${opts.meter}" in ${ksPath}: add it with \`trustmeter provision ${opts.meter}\``, 2)
    let counter: bigint | undefined
    if (opts.counter !== undefined) {
        if (!/^\d{1,19}$/.test(opts.counter)) throw new CliError(`bad --counter "${opts.counter}": a decimal number below 2^64`, 2)
        counter = BigInt(opts.counter)
    }
    const validS = opts.valid === undefined ? 3600 : parseDuration(opts.valid, "--valid")
    if (opts.cosign && !ROLES.includes(opts.cosign as Role)) throw new CliError(`unknown role "${opts.cosign}": use one of ${ROLES.join(", ")}`, 2)
    if (!COMMAND_NAMES.includes(name)) throw new CliError(`unknown command "${name}": use one of ${COMMAND_NAMES.join(", ")}`, 2)
    let envelope: Buffer
    try {
        envelope = buildCommand(ks, meter, name, args, {
            role: opts.role as Role | undefined,
            cosign: opts.cosign as Role | undefined,
            counter,
            validSeconds: validS,
        })
    } catch (e) {
        throw new CliError((e as Error).message, 2)
    }
    out(Buffer.from(envelope).toString("hex"))
    return 0
}

async function verifyChain(rest: string[], opts: Record<string, string>, ksPath: string, out: (s: string) => void): Promise<number> {
    if (rest.length !== 1) throw new CliError("usage: trustmeter verify-chain <exported-chain-file> --meter <meter>", 2)
    if (!opts.meter) throw new CliError("verify-chain needs --meter <name or id>: the record tags are keyed by that meter's secret", 2)
    let data: Buffer
    try {
        data = readFileSync(rest[0])
    } catch (e) {
        throw new CliError(`cannot read ${rest[0]} (${(e as NodeJS.ErrnoException).code}): give the path of a chain exported by the head-end`)
    }
    const ks = loadKeystore(ksPath)
    const meter = findMeter(ks, opts.meter)
    if (!meter) throw new CliError(`no meter "${opts.meter}" in ${ksPath}`, 2)
    const r = verifyExportedChain(meter, data)
    out(r.ok ? `OK: ${r.summary}` : `BROKEN: ${r.summary}`)
    return r.ok ? 0 : 1
}

/** true when anything (file, directory, dangling link) exists at `path`. */
function existsAt(path: string): boolean {
    try {
        lstatSync(path)
        return true
    } catch (e) {
        return (e as NodeJS.ErrnoException).code !== "ENOENT"
    }
}

function parseBrokerUrlOrUsage(url: string) {
    try {
        return parseBrokerUrl(url)
    } catch (e) {
        throw new CliError((e as Error).message, 2)
    }
}

/** "90", "90s", "15m", "1h", "2d" -> seconds. */
export function parseDuration(s: string, what: string): number {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(s)
    if (!m) throw new CliError(`bad ${what} "${s}": write a duration such as 30s, 15m, 1h`, 2)
    const mult = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] ?? "s"]!
    return Number(m[1]) * mult
}

if (process.argv[1] && /headend\/src\/cli\.ts$/.test(process.argv[1])) process.exit(await main(process.argv.slice(2)))
