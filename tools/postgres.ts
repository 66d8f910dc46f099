/**
 * A throwaway PostgreSQL server for tests and benchmarks: finds the Debian binaries
 * (`/usr/lib/postgresql/<version>/bin`, or `$PG_BIN`), creates a data directory in a
 * temp dir, starts the server on a free loopback port with its own socket directory, and
 * stops it and removes everything at the end (also when the process exits early).
 *
 * PostgreSQL refuses to run as root, so as root initdb and the server run as the
 * `postgres` user (`runuser`, with the temp dir given to it). Authentication is `trust`
 * on 127.0.0.1 only: a test server, never a production one.
 *
 *   const pg = await startPostgres()         // throws PostgresUnavailable without binaries
 *   const url = await pg.createDatabase("t1") // postgres://trustmeter@127.0.0.1:port/t1
 *   await pg.stop()
 */
import { execFileSync, spawnSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"

export class PostgresUnavailable extends Error {}

export interface PostgresServer {
    /** the server's major version and binaries */
    version: string
    bin: string
    port: number
    /** URL of the `postgres` database as the superuser `trustmeter` */
    url: string
    /** creates an empty database and returns its URL */
    createDatabase(name: string): Promise<string>
    /** CPU seconds used so far by the server's processes (postmaster, its live children and the reaped ones) */
    cpuSeconds(): number
    /** immediate stop (as a crash: no checkpoint), then start again on the same port and data */
    crashAndRestart(): Promise<void>
    stop(): Promise<void>
}

/** The directory with initdb, pg_ctl and postgres, or undefined when PostgreSQL is not installed. */
export function findPostgresBin(): string | undefined {
    const has = (d: string) => ["initdb", "pg_ctl", "postgres"].every(b => existsSync(join(d, b)))
    if (process.env.PG_BIN) return has(process.env.PG_BIN) ? process.env.PG_BIN : undefined
    const root = "/usr/lib/postgresql"
    let versions: string[] = []
    try {
        versions = readdirSync(root).filter(v => /^\d+$/.test(v))
    } catch {
        return undefined
    }
    // the newest installed major version
    for (const v of versions.sort((a, b) => Number(b) - Number(a))) if (has(join(root, v, "bin"))) return join(root, v, "bin")
    return undefined
}

/** Why real-server tests would be skipped, or undefined when they can run. */
export function postgresSkipReason(): string | undefined {
    if (!findPostgresBin()) return "PostgreSQL binaries not found in /usr/lib/postgresql/*/bin (or $PG_BIN): real-server tests skipped; install them with apt-get install -y postgresql"
    if (process.getuid?.() === 0 && !postgresUser()) return "running as root and there is no postgres user to run the server as: real-server tests skipped"
    return undefined
}

/** Starts a server; throws PostgresUnavailable when it cannot (see postgresSkipReason). */
export async function startPostgres(o: { settings?: Record<string, string> } = {}): Promise<PostgresServer> {
    const why = postgresSkipReason()
    if (why) throw new PostgresUnavailable(why)
    const bin = findPostgresBin()!
    const user = process.getuid?.() === 0 ? postgresUser() : undefined
    const dir = mkdtempSync(join(tmpdir(), "tm-pg-"))
    if (user) chownSync(dir, user.uid, user.gid)
    const data = join(dir, "data")
    const log = join(dir, "server.log")
    const run = (cmd: string, args: string[]) => {
        const argv = user ? ["runuser", "-u", "postgres", "--", join(bin, cmd), ...args] : [join(bin, cmd), ...args]
        const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", cwd: dir, timeout: 120_000 })
        if (r.status !== 0) throw new Error(`${cmd} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || "").trim().split("\n").slice(-3).join(" | ")}`)
        return r.stdout
    }
    const version = execFileSync(join(bin, "postgres"), ["--version"], { encoding: "utf8" }).trim()
    let stopped = false
    const stopNow = () => {
        if (stopped) return
        stopped = true
        try {
            run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
        } catch {
            // not running
        }
        rmSync(dir, { recursive: true, force: true })
    }
    process.once("exit", stopNow)
    try {
        run("initdb", ["-D", data, "-U", "trustmeter", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        const port = await freePort()
        const options = ["-c", `port=${port}`, "-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=${dir}`]
        for (const [k, v] of Object.entries(o.settings ?? {})) options.push("-c", `${k}=${v}`)
        const start = () => run("pg_ctl", ["-D", data, "-l", log, "-w", "-t", "60", "-o", options.map(x => (x.includes(" ") ? `'${x}'` : x)).join(" "), "start"])
        start()
        const url = `postgres://trustmeter@127.0.0.1:${port}/postgres`
        return {
            version,
            bin,
            port,
            url,
            async createDatabase(name: string) {
                if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name ${name}: lower case letters, digits, _`)
                const c = new pg.Client(url)
                await c.connect()
                try {
                    await c.query(`CREATE DATABASE ${name}`)
                } finally {
                    await c.end()
                }
                return `postgres://trustmeter@127.0.0.1:${port}/${name}`
            },
            cpuSeconds: () => serverCpuSeconds(data),
            async crashAndRestart() {
                run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
                start()
            },
            async stop() {
                process.removeListener("exit", stopNow)
                stopNow()
            },
        }
    } catch (e) {
        process.removeListener("exit", stopNow)
        stopNow()
        let tail = ""
        try {
            tail = readFileSync(log, "utf8").trim().split("\n").slice(-5).join("\n")
        } catch {
            // no log yet
        }
        throw new Error(`${(e as Error).message}${tail ? `\n${tail}` : ""}`)
    }
}

/** Sums utime + stime of the postmaster and its children, and the reaped children's (cutime + cstime), from /proc. */
function serverCpuSeconds(data: string): number {
    const pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0])
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
    let total = 0
    for (const p of readdirSync("/proc")) {
        if (!/^\d+$/.test(p)) continue
        let stat: string
        try {
            stat = readFileSync(`/proc/${p}/stat`, "utf8")
        } catch {
            continue // exited meanwhile
        }
        // fields after the command name in parentheses: state ppid ... utime(14) stime(15) cutime(16) cstime(17)
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
        const ppid = Number(f[1])
        if (Number(p) === pid) total += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
        else if (ppid === pid) total += Number(f[11]) + Number(f[12])
    }
    return total / ticks
}

function postgresUser(): { uid: number; gid: number } | undefined {
    try {
        const line = readFileSync("/etc/passwd", "utf8")
            .split("\n")
            .find(l => l.startsWith("postgres:"))
        if (!line) return undefined
        const f = line.split(":")
        return { uid: Number(f[2]), gid: Number(f[3]) }
    } catch {
        return undefined
    }
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = createServer()
        s.once("error", reject)
        s.listen(0, "127.0.0.1", () => {
            const port = (s.address() as { port: number }).port
            s.close(() => resolve(port))
        })
    })
}
