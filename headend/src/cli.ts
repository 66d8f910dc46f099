/**
 * `trustmeter`: the head-end's command line for the tasks outside the demo.
 *
 *   trustmeter keys init [--force]            create the utility's keys (root, supplier, network operator);
 *                                             never replaces an existing file without --force
 *   trustmeter keys show                      print the public keys and the meters
 *   trustmeter provision <meter> [--id HEX16] [--broker mqtt[s]://[user:password@]host:port] [--out FILE]
 *                                             add a meter (new 32-byte secret) and write its settings file
 *   trustmeter sign <command> [args] --meter <meter> [--role R] [--cosign R] [--counter N] [--valid 1h|FROM..TO] [--diag]
 *                                             print a signed command (COSE_Sign1/COSE_Sign) in hex, and with
 *                                             --diag in CBOR diagnostic notation; commands:
 *                                             disconnect, arm, set-tariff <flat|day-night|hex>,
 *                                             set-random-limit <s>, set-privacy <half-hourly|daily|monthly>,
 *                                             time-sync [utc], rotate-uplink <from> <to>
 *   trustmeter verify-chain <file> --meter <meter> [--anchor SEQ:HASH]
 *                                             check an exported index chain from genesis (or from the
 *                                             trusted checkpoint --anchor): first bad record or OK
 *   trustmeter export-chain <meter> [--database DIR|postgres://…] [--dir DIR] [--flash] [--out FILE]
 *                                             write the meter's index chain in the format verify-chain reads:
 *                                             what the head-end stored, or (--flash) the simulated meter's flash
 *   trustmeter serve [--broker mqtt[s]://[user:password@]host:port] [--database DIR|postgres://…]
 *                                             run the head-end's ingestion service for the keystore's meters
 *                                             until SIGINT/SIGTERM: frames from the broker, state in the database
 *
 * Global: `--keystore FILE` (default .keystore.json in the repository, or $TRUSTMETER_KEYSTORE);
 * `--help` (or `-h`) after any command prints its usage.
 * Every failure prints one line saying what is wrong and what to do, and exits non-zero
 * (2: bad usage, 1: the operation failed); files are written atomically.
 */
import { lstatSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { runDirHolder } from "./run_lock.ts"
import { brokerSettings, parseBrokerUrl } from "./broker.ts"
import {
    DEFAULT_KEYSTORE,
    Keystore,
    MeterEntry,
    KeystoreError,
    ROLES,
    Role,
    addMeter,
    chainKeyOf,
    createKeystore,
    findMeter,
    loadKeystore,
    saveKeystore,
    writeFileAtomic,
} from "./keystore.ts"
import { meterSettings, settingsEnvFile } from "./provision.ts"
import { METERS_DIR } from "./paths.ts"
import { buildCommand, COMMAND_NAMES, COMMANDS, nextCounter } from "./operations.ts"
import { commandDiagnostic } from "./commands.ts"
import { ChainFileError, exportFromFlash, formatChainFile, parseAnchor, parseChainFile, verifyChainRecords } from "./chain_file.ts"
import { decodeRecord } from "./chain.ts"
import { MAX_UNKNOWN_WINDOW_S } from "../../src/commands/timesync"

/** A failure the user can fix; `code` 2 = usage. */
export class CliError extends Error {
    constructor(
        message: string,
        readonly code = 1
    ) {
        super(message)
    }
}

export const USAGE = `usage: trustmeter <keys init|keys show|provision|sign|verify-chain|export-chain|serve> ... (trustmeter --help for details)`

/** What `trustmeter <command> --help` prints. */
const COMMAND_HELP: Record<string, () => string> = {
    keys: () => `usage: trustmeter keys init [--force] [--keystore FILE]
         create the utility's keys (root, supplier, network operator) in a new file, mode 0600;
         an existing file (even a damaged one) is only replaced with --force
       trustmeter keys show [--keystore FILE]
         print the public keys and the provisioned meters`,
    provision: () => `usage: trustmeter provision <meter> [--id HEX16] [--broker mqtt[s]://[user:password@]host:port] [--out FILE] [--keystore FILE]
  add a meter (new 32-byte secret, id 7e57… unless --id) and write its settings in .env form
  (default .meters/<meter>.env, mode 0600) for a devtools deploy to a board (docs/hil.md).
  --broker: where the meter finds its broker (default mqtt://127.0.0.1:1883); user name and
  password go into UP_USER/UP_PASS, mqtts:// sets UP_PROTO "tls"`,
    sign: () => `usage: trustmeter sign <command> [args] --meter <meter> [--role R] [--cosign R] [--counter N] [--valid 1h|FROM..TO] [--diag] [--keystore FILE]
  print a signed command (docs/commands.md: COSE_Sign1, or COSE_Sign with --cosign) in hex. Commands:
${COMMANDS.map(c => `    ${`${c.name} ${c.args}`.padEnd(40)} ${c.help} (default role ${c.role})`).join("\n")}
  --role R       sign with another role (${ROLES.join(", ")}), e.g. to show a refusal
  --cosign R     add a second signature (dual control)
  --diag         also print the command in CBOR diagnostic notation (RFC 8949 §8), payload decoded
  --counter N    the signer's counter: 1..2^53-1, at most ${MAX_COUNTER_AHEAD_S / 3600} h ahead of the clock counter, and at
                 most 2^20 beyond the expiry in microseconds (a meter refuses more: CounterOutOfReach)
                 (default: microseconds since 1970, strictly increasing)
  --valid D      valid from now for D (90s, 15m, 1h, 2d; default 1h), or FROM..TO in UTC (ISO 8601
                 with a zone such as 2026-11-25T10:00Z, or seconds since 1970; ..TO = from now); a
                 time-sync expires at most ${MAX_UNKNOWN_WINDOW_S} s after the time it sets`,
    "verify-chain": () => `usage: trustmeter verify-chain <file> --meter <meter> [--anchor SEQ:HASH] [--keystore FILE]
  check an exported index chain (what export-chain writes: one record in hex per line, # comments;
  or the records back to back in binary) with the meter's K_0: every tag, link and sequence number.
  The chain must start at the genesis record (seq 0), or right after --anchor SEQ:HASH, a
  checkpoint you trust (e.g. the last head the head-end verified: seq and its 64-hex record hash).
  Prints OK (exit 0), or NOT VERIFIED / BROKEN with the first bad record (exit 1)`,
    "export-chain": () => `usage: trustmeter export-chain <meter> [--database DIR|postgres://…] [--dir DIR] [--flash] [--out FILE] [--keystore FILE]
  write the meter's index chain, one record in hex per line, oldest first (verify-chain reads it).
  Source, the first that applies:
    --database DIR|postgres://…   the records the head-end stored there (docs/headend-storage.md)
    --flash                       what the simulated meter's flash still holds (below)
    $DATABASE_URL, or DIR/.headend/db if it exists: what npm start stored (DIR: --dir, default .meters)
    otherwise the simulated meter's flash, DIR/<meter>/.devicescript/flash/sim.bin: the records
      the meter still holds (the unacknowledged ones, at most 32), found by tag under that
      meter's keys and linked from the newest back.
  A database is never created or migrated here, and an embedded one is not opened while the
  npm start that owns it runs (PGlite is one process at a time).
  Default output: standard output`,
    serve: () => `usage: trustmeter serve [--broker mqtt[s]://[user:password@]host:port] [--database DIR|postgres://…] [--keystore FILE]
  run the head-end's ingestion service (docs/headend.md, "The ingestion service") for every meter
  of the keystore until SIGINT or SIGTERM: uplink frames from the broker (u/+, default
  mqtt://127.0.0.1:1883), decided, committed to the database, acknowledged on d/<id>.
  --database: a postgres:// URL (a PostgreSQL server) or a directory for the embedded database;
    default $DATABASE_URL, else .headend/db in the current directory (created on first use).
  A restart, even after kill -9, continues every chain, replay window and downlink counter.
  Prints one line when serving, one per clone alert and error, and the counts when stopped`,
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. Output goes to `out`/`err`. */
export async function main(argv: string[], out: (s: string) => void = console.log, err: (s: string) => void = console.error): Promise<number> {
    try {
        const a = parseArgs(argv)
        const ksPath = a.opts.keystore ?? process.env.TRUSTMETER_KEYSTORE ?? DEFAULT_KEYSTORE
        const [cmd, ...rest] = a.positional
        if (a.opts.help || cmd === "help") {
            const topic = cmd === "help" ? rest[0] : cmd
            if (topic === undefined) out(fullHelp())
            else if (COMMAND_HELP[topic]) out(COMMAND_HELP[topic]())
            else throw new CliError(`unknown command "${topic}": ${USAGE}`, 2)
            return 0
        }
        switch (cmd) {
            case "keys":
                return keys(rest, a.opts, ksPath, out)
            case "provision":
                return provision(rest, a.opts, ksPath, out)
            case "sign":
                return await sign(rest, a.opts, ksPath, out)
            case "verify-chain":
                return await verifyChain(rest, a.opts, ksPath, out)
            case "export-chain":
                return await exportChain(rest, a.opts, ksPath, out)
            case "serve":
                return await serve(rest, a.opts, ksPath, out, err)
            case undefined:
                out(fullHelp())
                return 2
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

const VALUE_OPTS = new Set(["keystore", "id", "broker", "out", "meter", "role", "cosign", "counter", "valid", "anchor", "dir", "database"])
const FLAG_OPTS = new Set(["force", "help", "flash", "diag"])

/** The whole usage: this file's header comment. */
function fullHelp(): string {
    return readFileSync(new URL(import.meta.url), "utf8").split("*/")[0].replace(/^\/\*\*\n?/, "").replace(/^ \* ?/gm, "")
}

function parseArgs(argv: string[]): Args & { opts: Record<string, string> } {
    const positional: string[] = []
    const opts: Record<string, string> = {}
    for (let i = 0; i < argv.length; i++) {
        const x = argv[i] === "-h" ? "--help" : argv[i]
        if (x.startsWith("--")) {
            // --opt=value: the value is everything after the first "=" (a password may hold more)
            const eq = x.indexOf("=")
            const k = eq < 0 ? x.slice(2) : x.slice(2, eq)
            const inline = eq < 0 ? undefined : x.slice(eq + 1)
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
    let settings: Record<string, Buffer>
    try {
        settings = { ...meterSettings(ks, m, { broker: { host: broker.host, port: broker.port } }), ...brokerSettings(broker) }
    } catch (e) {
        throw new CliError((e as Error).message, 2)
    }
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
    if (!opts.meter) throw new CliError(`sign needs --meter <name or id> (the command names its target meter)`, 2)
    if (opts.role && !ROLES.includes(opts.role as Role)) throw new CliError(`unknown role "${opts.role}": use one of ${ROLES.join(", ")}`, 2)
    const ks = loadKeystore(ksPath)
    const meter = findMeter(ks, opts.meter)
    if (!meter) throw new CliError(`no meter "${opts.meter}" in ${ksPath}: add it with \`trustmeter provision ${opts.meter}\``, 2)
    const now = Math.floor(Date.now() / 1000)
    const counter = opts.counter === undefined ? undefined : parseCounter(opts.counter, nextCounter())
    const window = parseValid(opts.valid, now)
    if (opts.cosign && !ROLES.includes(opts.cosign as Role)) throw new CliError(`unknown role "${opts.cosign}": use one of ${ROLES.join(", ")}`, 2)
    if (!COMMAND_NAMES.includes(name)) throw new CliError(`unknown command "${name}": use one of ${COMMAND_NAMES.join(", ")}`, 2)
    if (name === "time-sync") checkTimeSyncWindow(args.length === 1 && /^\d+$/.test(args[0]) ? Number(args[0]) : now, window)
    let command: Buffer
    try {
        command = buildCommand(ks, meter, name, args, {
            role: opts.role as Role | undefined,
            cosign: opts.cosign as Role | undefined,
            counter,
            now,
            notBefore: window.notBefore,
            validSeconds: window.expiry - now,
        })
    } catch (e) {
        throw new CliError((e as Error).message, 2)
    }
    out(Buffer.from(command).toString("hex"))
    if (opts.diag) out(commandDiagnostic(command))
    return 0
}

async function verifyChain(rest: string[], opts: Record<string, string>, ksPath: string, out: (s: string) => void): Promise<number> {
    if (rest.length !== 1) throw new CliError("usage: trustmeter verify-chain <exported-chain-file> --meter <meter> [--anchor SEQ:HASH]", 2)
    if (!opts.meter) throw new CliError("verify-chain needs --meter <name or id>: the record tags are keyed by that meter's secret", 2)
    const anchor = opts.anchor === undefined ? undefined : parseAnchor(opts.anchor)
    if (opts.anchor !== undefined && !anchor)
        throw new CliError(`bad --anchor "${opts.anchor}": write SEQ:HASH, the seq of a record you trust and its record hash in 64 hex (what verify-chain prints as the head)`, 2)
    let data: Buffer
    try {
        data = readFileSync(rest[0])
    } catch (e) {
        throw new CliError(`cannot read ${rest[0]} (${(e as NodeJS.ErrnoException).code}): give the path of a chain written by \`trustmeter export-chain\``)
    }
    const ks = loadKeystore(ksPath)
    const meter = findMeter(ks, opts.meter)
    if (!meter) throw new CliError(`no meter "${opts.meter}" in ${ksPath}`, 2)
    let records
    try {
        records = parseChainFile(data)
    } catch (e) {
        if (e instanceof ChainFileError) throw new CliError(`${e.message.replace(/^line (\d+)/, `line $1 of ${rest[0]}`)}: a chain file holds one record in hex per line (# comments), as export-chain writes it`)
        throw e
    }
    const v = verifyChainRecords(meter, records, anchor)
    out(`${v.status}: ${v.summary}`)
    return v.ok ? 0 : 1
}

async function exportChain(rest: string[], opts: Record<string, string>, ksPath: string, out: (s: string) => void): Promise<number> {
    if (rest.length !== 1) throw new CliError("usage: trustmeter export-chain <meter> [--dir DIR] [--out FILE]", 2)
    const ks = loadKeystore(ksPath)
    const meter = findMeter(ks, rest[0])
    if (!meter) throw new CliError(`no meter "${rest[0]}" in ${ksPath}: \`trustmeter keys show\` lists them`, 2)
    const dir = opts.dir ?? METERS_DIR
    if (opts.database !== undefined) return exportChainFromDatabase(meter, opts.database, dir, opts.out, out)
    // what npm start stored: $DATABASE_URL, or the embedded database under the meters directory
    if (!opts.flash && (process.env.DATABASE_URL || existsAt(join(dir, ".headend/db/PG_VERSION")))) return exportChainFromDatabase(meter, undefined, dir, opts.out, out)
    // --flash, or no database: what the simulated meter's flash still holds
    const flash = join(dir, meter.name, ".devicescript/flash/sim.bin")
    let img: Buffer
    try {
        img = readFileSync(flash)
    } catch (e) {
        throw new CliError(`no flash for meter ${meter.name} at ${flash} (${(e as NodeJS.ErrnoException).code}): export-chain reads a simulated meter's flash; run \`npm start\` first, or give its --dir`)
    }
    const x = exportFromFlash(img, meter)
    return writeChainExport(meter, x.records, [
        `source: the simulated meter's flash ${flash}, ${new Date().toISOString()}`,
        "the meter keeps only unacknowledged records: an export starts at genesis only until the first is evicted",
        ...x.notes,
    ], opts.out, out)
}

/**
 * serve: the ingestion service (headend/src/service.ts) for the keystore's meters until
 * SIGINT or SIGTERM. The broker is reached before the database is opened (an unreachable
 * broker creates nothing).
 */
async function serve(rest: string[], opts: Record<string, string>, ksPath: string, out: (s: string) => void, err: (s: string) => void): Promise<number> {
    if (rest.length) throw new CliError(`unexpected argument "${rest[0]}": ${COMMAND_HELP.serve().split("\n")[0]}`, 2)
    const ks = loadKeystore(ksPath)
    // loaded here: the database drivers and the MQTT client are not needed by any other command
    const { databaseTarget, describeTarget, openDatabase } = await import("./db/index.ts")
    const { HeadEndService, connectBroker } = await import("./service.ts")
    let target: ReturnType<typeof databaseTarget>
    try {
        target = databaseTarget({ database: opts.database, env: process.env, runDir: process.cwd() })
    } catch (e) {
        throw new CliError((e as Error).message, 2)
    }
    const link = await connectBroker(opts.broker ?? "mqtt://127.0.0.1:1883")
    let db: Awaited<ReturnType<typeof openDatabase>>
    try {
        db = await openDatabase(target)
    } catch (e) {
        await link.client.endAsync(true).catch(() => {})
        throw e
    }
    const secrets = new Map(ks.meters.map(m => [m.meterId, Buffer.from(m.secret, "hex")]))
    const chainKeys = new Map(ks.meters.map(m => [m.meterId, chainKeyOf(m)]))
    const names = new Map(ks.meters.map(m => [m.meterId, m.name]))
    const service = HeadEndService.open({
        db,
        ownsDatabase: true,
        secretOf: id => secrets.get(id),
        chainKeyOf: id => chainKeys.get(id),
        log: line => err(line),
        events: { clone: a => out(`clone alert: ${names.get(a.meterId) ?? a.meterId}: ${a.evidence}: ${a.detail}`) },
    })
    const stop = new Promise<string>(res => {
        for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => res(sig))
    })
    await service.attach(link)
    out(`serving ${ks.meters.length} meter(s) from ${link.url}, ${describeTarget(target)}`)
    const sig = await stop
    await service.close()
    const st = service.stats
    const refused = Object.entries(st.refused).map(([k, n]) => `${k} ${n}`).join(", ")
    out(`stopped (${sig}): ${st.received} frame(s) received, ${st.accepted} accepted, refused: ${refused || "none"}, ${st.errors} error(s)`)
    return 0
}

/** export-chain --database: the records the head-end stored (docs/headend-storage.md), oldest first. */
async function exportChainFromDatabase(meter: MeterEntry, database: string | undefined, runDir: string, file: string | undefined, out: (s: string) => void): Promise<number> {
    // loaded here: the database drivers are not needed by any other command
    const { databaseTarget, describeTarget, openDatabase, readRecords } = await import("./db/index.ts")
    let target: ReturnType<typeof databaseTarget>
    try {
        target = databaseTarget({ database, env: process.env, runDir: database === undefined ? runDir : process.cwd() })
    } catch (e) {
        throw new CliError((e as Error).message, 2)
    }
    // a read never creates a database: an empty new one would export nothing and look fine
    if (target.backend === "pglite") {
        if (!existsAt(join(target.dir, "PG_VERSION")))
            throw new CliError(`no head-end database at ${target.dir}: give the directory the head-end stores in (--database DIR), or a postgres:// URL`)
        // PGlite is one process at a time: a running npm start holds the lock of the run directory (<dir>/.headend/db)
        const holder = runDirHolder(dirname(dirname(target.dir)))
        if (holder !== undefined) throw new CliError(`npm start (pid ${holder}) is running with ${target.dir}: stop it first, or export what the meter holds with --flash`)
    }
    const db = await openDatabase(target, { migrate: false }).catch(e => {
        throw new CliError(`cannot open ${describeTarget(target)} (${(e as Error).message.split("\n")[0]})`)
    })
    const records: Uint8Array[] = []
    try {
        for (let from = 0; ; ) {
            const rows = await readRecords(db, meter.meterId, from)
            for (const r of rows) records.push(new Uint8Array(r.data))
            if (rows.length < 10_000) break
            from = rows[rows.length - 1].seq + 1
        }
    } finally {
        await db.close()
    }
    return writeChainExport(meter, records, [`source: the head-end's database, ${describeTarget(target)}, ${new Date().toISOString()}`], file, out)
}

/** Writes a chain file to `file` (atomically) or to `out`. */
function writeChainExport(meter: MeterEntry, records: Uint8Array[], header: string[], file: string | undefined, out: (s: string) => void): number {
    const seqs = records.length ? `seq ${decodeRecord(records[0])?.seq}..${decodeRecord(records[records.length - 1])?.seq}` : "none"
    const text = formatChainFile(records, [`trustmeter chain export: meter ${meter.name} (${meter.meterId}), ${records.length} records (${seqs})`, ...header])
    if (file === undefined) {
        out(text.replace(/\n$/, ""))
        return 0
    }
    try {
        writeFileAtomic(file, text, 0o644)
    } catch (e) {
        throw new CliError(`cannot write ${file} (${(e as NodeJS.ErrnoException).code}): choose another place with --out FILE`)
    }
    out(`${records.length} records (${seqs}) of ${meter.name} written to ${file}`)
    return 0
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

/** The command's counter is a CBOR uint of at most 2^53 - 1 (docs/commands.md §1). */
const COUNTER_MAX = 2n ** 53n - 1n
/**
 * How far `--counter` may run ahead of the clock counter (microseconds since 1970, what
 * every head-end signer uses): a meter accepts any larger counter once, and then refuses
 * every later command of that signer as a Replay until its key is replaced.
 */
export const MAX_COUNTER_AHEAD_S = 86_400
/** The command's times are u32 UTC seconds (docs/commands.md §1): the last is in 2106. */
const U32_MAX = 0xffffffff

/** `--counter`: 1..2^53-1 and at most MAX_COUNTER_AHEAD_S ahead of `clock`; one line per refusal. */
export function parseCounter(s: string, clock: bigint): bigint {
    if (!/^\d{1,40}$/.test(s)) throw new CliError(`bad --counter "${s}": a whole number from 1 to 2^53-1`, 2)
    const c = BigInt(s)
    if (c > COUNTER_MAX) throw new CliError(`--counter ${s} does not fit the command's counter: at most 2^53-1 (${COUNTER_MAX})`, 2)
    if (c === 0n) throw new CliError(`--counter 0 is never accepted: a meter wants more than the signer's last counter, which starts at 0 (it refuses Replay); use 1 or more`, 2)
    const ahead = c - clock
    const max = BigInt(MAX_COUNTER_AHEAD_S) * 1_000_000n
    if (ahead > max) {
        const days = ahead / 86_400_000_000n
        throw new CliError(
            `--counter ${s} is ${days > 0n ? `${days} days` : "too far"} ahead of the clock counter (microseconds since 1970, now ${clock}): a meter would accept it once, then refuse every later command of this signer as Replay until its key is replaced; use at most ${clock + max}`,
            2
        )
    }
    return c
}

/** A command's validity window: UTC seconds, not-before 0 = no lower bound. */
export interface ValidWindow {
    notBefore: number
    expiry: number
}

/**
 * `--valid`: a duration from `now` ("1h", default 1h), or `FROM..TO` (UTC: ISO 8601 with a
 * zone, or seconds since 1970; an empty FROM = no lower bound). Refuses, one line each,
 * what the meter would refuse or could never use: an empty or already-expired window, an
 * inverted one (the meter: Malformed), an expiry beyond the u32 field.
 */
export function parseValid(s: string | undefined, now: number): ValidWindow {
    let w: ValidWindow
    if (s === undefined) w = { notBefore: 0, expiry: now + 3600 }
    else if (s.includes("..")) {
        const [a, b] = s.split("..", 2)
        w = { notBefore: a === "" ? 0 : utcArg(a, s), expiry: utcArg(b, s) }
    } else {
        const d = Math.round(parseDuration(s, "--valid"))
        if (d <= 0) throw new CliError(`--valid "${s}" would be expired at once: give a positive duration such as 1h`, 2)
        w = { notBefore: 0, expiry: now + d }
    }
    const iso = (t: number) => new Date(t * 1000).toISOString().replace(".000Z", "Z")
    if (w.expiry > U32_MAX) throw new CliError(`--valid "${s}" ends beyond 2106-02-07 (the envelope's expiry is u32 seconds): choose an earlier end`, 2)
    if (w.notBefore > w.expiry) throw new CliError(`--valid "${s}" is inverted: it starts (${iso(w.notBefore)}) after it ends (${iso(w.expiry)}); the meter refuses it as Malformed`, 2)
    if (w.expiry <= now) throw new CliError(`--valid "${s}" is already expired at ${iso(w.expiry)} (now ${iso(now)}): the meter refuses it as Expired`, 2)
    return w
}

/** A time sync the meter would refuse by its own bounds (docs/commands.md §5, src/commands/timesync.ts). */
function checkTimeSyncWindow(t: number, w: ValidWindow) {
    if (t < w.notBefore || t > w.expiry)
        throw new CliError(`time-sync to ${t} is outside its own validity window ${w.notBefore}..${w.expiry}: the meter refuses it (TimeOutOfBounds); widen --valid or pick another time`, 2)
    if (w.expiry - t > MAX_UNKNOWN_WINDOW_S)
        throw new CliError(
            `time-sync must expire at most ${MAX_UNKNOWN_WINDOW_S} s after the time it sets (a meter without a clock refuses it: TimeOutOfBounds); this one expires ${w.expiry - t} s after: use --valid ${MAX_UNKNOWN_WINDOW_S / 60}m or less`,
            2
        )
}

/** One side of `--valid FROM..TO`: seconds since 1970, or ISO 8601 with a time zone. */
function utcArg(x: string, whole: string): number {
    if (/^\d{1,10}$/.test(x)) return Number(x)
    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?$/.exec(x)
    if (!iso) throw new CliError(`bad --valid "${whole}": write FROM..TO as UTC seconds or ISO 8601 (2026-11-25T10:00Z), or a duration such as 1h`, 2)
    if (!iso[3]) throw new CliError(`bad --valid "${whole}": give "${x}" a time zone (Z for UTC, or +01:00), so it means one instant`, 2)
    return Math.floor(Date.parse(x) / 1000)
}

/** "90", "90s", "15m", "1h", "2d" -> seconds. */
export function parseDuration(s: string, what: string): number {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(s)
    if (!m) throw new CliError(`bad ${what} "${s}": write a duration such as 30s, 15m, 1h`, 2)
    const mult = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] ?? "s"]!
    return Number(m[1]) * mult
}

if (process.argv[1] && /headend\/src\/cli\.ts$/.test(process.argv[1])) process.exit(await main(process.argv.slice(2)))
