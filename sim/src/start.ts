/**
 * `npm start`: a secured fleet you can watch and attack.
 *
 *   npm start [-- --meters 3] [--interval 10s] [--duration 60s] [--headless]
 *             [--broker mqtt://host:port] [--keystore FILE] [--dir DIR] [--firmware F.devs] [--fresh]
 *
 * Starts the embedded MQTT broker (or uses --broker), provisions the fleet's keys and
 * meters, runs the real firmware for each meter in the DeviceScript simulator, and shows
 * the live view (keys: operator actions and attacks). `--headless --duration 60s` runs the
 * whole script of checks and attacks unattended, prints a summary and exits 1 if any
 * check failed. Ctrl-C stops cleanly.
 */
// only what parsing the options needs is imported up front: --help and bad options answer
// without loading the fleet; the rest is imported once the options are known
import { parseDuration } from "../../headend/src/cli.ts"
import { parseBrokerUrl } from "../../headend/src/broker.ts"
import { DEFAULT_KEYSTORE } from "../../headend/src/keystore.ts"
import { DEFAULT_WEB_HOST, DEFAULT_WEB_PORT, checkWebBinding } from "../../headend/src/web/server.ts"
import type { Demo } from "./demo.ts"

interface StartOptions {
    meters: number
    intervalS: number
    durationS?: number
    headless: boolean
    broker?: string
    keystore: string
    fresh: boolean
    /** where the meters keep their flash (default .meters/) */
    dir?: string
    /** compiled firmware (.devs) to run instead of building src/main.ts */
    firmware?: string
    /** the head-end's database: a directory or postgres://… (default $DATABASE_URL, else <dir>/.headend/db) */
    database?: string
    /** the operator's dashboard (docs/headend.md, "Dashboard"); undefined: none */
    web?: { host: string; port: number; token?: string }
}

const USAGE = "usage: npm start -- [--meters N] [--interval 10s] [--duration 60s] [--headless] [--broker mqtt[s]://[user:password@]host:port] [--keystore FILE] [--dir DIR] [--database DIR|postgres://…] [--firmware FILE.devs] [--fresh] [--web-port N] [--web-host H] [--web-token T] [--no-web] [--help]"

/** What `npm start -- --help` prints. */
const HELP = `${USAGE}

A fleet of simulated meters running the real firmware, the head-end station, and a live view
where you send operator commands and attacks (docs/headend.md).

  --meters N         meters in the fleet, 1 to 9 (default 3)
  --interval D       real length of a 30-minute metering interval, 1s to 30m (default 10s:
                     the meters' clocks run x180)
  --duration D       stop after D (the live view runs until Ctrl-C or q without it)
  --headless         no live view: run the script of checks and attacks, print a summary,
                     exit 1 if a check failed (needs --duration)
  --broker URL       use this MQTT broker instead of the embedded one on 127.0.0.1;
                     mqtt://host:port, mqtts://host:port (TLS), user name and password as
                     mqtt://user:password@host:port (percent-encode : @ / in them)
  --keystore FILE    the utility's keys and meter secrets (default .keystore.json, or
                     $TRUSTMETER_KEYSTORE); created on first run, mode 0600
  --dir DIR          where the meters keep their flash (default .meters)
  --database D       the head-end's database: postgres://user:password@host:port/db (a
                     PostgreSQL server), or a directory for the embedded one; default
                     $DATABASE_URL, else <dir>/.headend/db. It keeps what the head-end stored,
                     so a restart continues every chain, window and counter
  --firmware F.devs  run this compiled firmware instead of building src/main.ts
  --fresh            wipe the meters' flash first (each wipe is announced)
  --web-port N       the operator's dashboard on this port (default ${DEFAULT_WEB_PORT}; 0 picks a free one);
                     its address is printed at start. Headless runs serve it only with a --web option
  --web-host H       listen on H instead of ${DEFAULT_WEB_HOST}; any other address needs --web-token
  --web-token T      the operator token every request must carry (or $TRUSTMETER_WEB_TOKEN),
                     at least 16 characters: open http://H:N/?token=T once
  --no-web           no dashboard
  --help, -h         this text

Ctrl-C, q, SIGTERM or the end of --duration stop every meter, devtools and the broker.
One instance at a time: devtools needs ports 8081-8083.`

function parse(argv: string[]): StartOptions | "help" {
    if (argv.includes("--help") || argv.includes("-h")) return "help"
    const o: StartOptions = { meters: 3, intervalS: 10, headless: false, keystore: process.env.TRUSTMETER_KEYSTORE ?? DEFAULT_KEYSTORE, fresh: false }
    const web: { host?: string; port?: number; token?: string; off?: boolean } = {}
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i]
        const val = () => {
            const v = argv[++i]
            if (v === undefined || v.startsWith("--")) throw new Error(`${a} needs a value; ${USAGE}`)
            return v
        }
        if (a === "--meters") {
            const v = val()
            if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 9) throw new Error(`--meters takes 1 to 9, not "${v}"`)
            o.meters = Number(v)
        } else if (a === "--interval") {
            o.intervalS = parseDuration(val(), "--interval")
            if (o.intervalS < 1 || o.intervalS > 1800) throw new Error(`--interval must be between 1s and 30m (the real interval length)`)
        } else if (a === "--duration") {
            o.durationS = parseDuration(val(), "--duration")
            if (o.durationS < 5) throw new Error("--duration must be at least 5s")
        } else if (a === "--headless") o.headless = true
        else if (a === "--broker") {
            // checked now, kept whole: the station and the meters need the user name and password
            o.broker = val()
            parseBrokerUrl(o.broker)
        }
        else if (a === "--keystore") o.keystore = val()
        else if (a === "--fresh") o.fresh = true
        else if (a === "--dir") o.dir = val()
        else if (a === "--database") {
            o.database = val()
            // checked now, without loading the database drivers: a URL of another scheme is one line, exit 2
            const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(o.database)
            if (scheme && !/^postgres(ql)?$/i.test(scheme[1])) throw new Error(`--database ${scheme[1]}://…: only postgres:// URLs, or a directory for the embedded database`)
        }
        else if (a === "--firmware") o.firmware = val()
        else if (a === "--web-port") {
            const v = val()
            if (!/^\d+$/.test(v) || Number(v) > 65535) throw new Error(`--web-port takes 0 to 65535, not "${v}"`)
            web.port = Number(v)
        } else if (a === "--web-host") web.host = val()
        else if (a === "--web-token") web.token = val()
        else if (a === "--no-web") web.off = true
        else throw new Error(`unknown option "${a}"; ${USAGE}`)
    }
    if (o.headless && !o.durationS) throw new Error("--headless needs --duration, e.g. --headless --duration 60s")
    // the dashboard: always in the live view, in a headless run only when asked for
    const token = web.token ?? (process.env.TRUSTMETER_WEB_TOKEN || undefined)
    if (!web.off && (!o.headless || web.port !== undefined || web.host !== undefined || web.token !== undefined)) {
        o.web = { host: web.host ?? DEFAULT_WEB_HOST, port: web.port ?? DEFAULT_WEB_PORT, token }
        checkWebBinding(o.web.host, token)
    }
    return o
}

async function main() {
    let o: StartOptions
    try {
        const p = parse(process.argv.slice(2))
        if (p === "help") {
            console.log(HELP)
            return 0
        }
        o = p
    } catch (e) {
        console.error(`trustmeter: ${(e as Error).message}`)
        return 2
    }
    const say = (m: string) => console.log(m)
    // From here on this program starts child processes (build, devtools, simulated meters),
    // each in its own process group: Ctrl-C in the terminal does not reach them. So the
    // signal handlers come first; every exit path then ends them (tools/devs.ts ends the
    // tracked children when this process exits, an uncaught exception included).
    let finish: ((code: number) => Promise<void>) | undefined
    let signalled = false
    const onSignal = (name: string, code: number) => {
        if (finish && !signalled) {
            signalled = true
            if (o.headless) console.log(`interrupted (${name})`)
            // a stop that hangs must not keep the children alive: force the exit
            setTimeout(() => process.exit(code), 10_000).unref()
            return void finish(code)
        }
        console.error(`trustmeter: interrupted (${name}) ${finish ? "again" : "while starting"}: every child process ends with this one`)
        process.exit(code)
    }
    for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) process.on(sig, () => onSignal(sig, code))

    const { Demo } = await import("./demo.ts")
    // the dashboard listens before the fleet starts: a taken port is said at once, and the page can be opened while the meters boot
    let dashboard: import("../../headend/src/web/server.ts").Dashboard | undefined
    if (o.web) {
        const { startDashboard } = await import("../../headend/src/web/server.ts")
        try {
            dashboard = await startDashboard(o.web)
        } catch (e) {
            console.error(`trustmeter: ${(e as Error).message}`)
            return 1
        }
        say(`dashboard ${dashboard.url}${o.web.token ? " (operator token required: open it once with ?token=<the token>)" : ""}`)
    }
    let demo: Demo
    try {
        demo = await Demo.start({ meters: o.meters, intervalS: o.intervalS, brokerUrl: o.broker, keystorePath: o.keystore, fresh: o.fresh, dir: o.dir, firmware: o.firmware, database: o.database, log: say })
    } catch (e) {
        console.error(`trustmeter: ${(e as Error).message.split("\n")[0]}`)
        await dashboard?.close()
        return 1
    }
    const { summaryText } = await import("./ui/state.ts")
    const { TerminalView } = await import("./ui/terminal.ts")
    const { runScript } = await import("./script.ts")
    const title = `trustmeter · ${o.meters} meter(s) · broker ${demo.brokerUrl}${demo.broker ? " (embedded)" : ""} · interval ${o.intervalS} s (clock ×${demo.scale})`
    if (dashboard) {
        const { DemoReadModel, demoActions } = await import("./ui/dashboard.ts")
        dashboard.attach(new DemoReadModel(demo, () => title), demoActions(demo))
    }
    let stopping = false
    const stop = async (code: number) => {
        if (stopping) return
        stopping = true
        await dashboard?.close()
        await demo.stop()
        process.exit(code)
    }

    let view: InstanceType<typeof TerminalView> | undefined
    finish = async (code: number) => {
        view?.close()
        if (process.stdin.isTTY && !o.headless) process.stdin.setRawMode(false)
        if (o.headless || code === 0) console.log(summaryText(demo.state))
        await stop(code)
    }

    if (o.headless) {
        demo.state.onChange(() => {})
        const print = (e: { kind: string; text: string }) => console.log(`${e.kind.padEnd(8)} ${e.text}`)
        let shown = 0
        const t = setInterval(() => {
            for (const e of demo.state.log.slice(shown)) print(e)
            shown = demo.state.log.length
        }, 200)
        await runScript(demo, o.durationS! * 1000)
        clearInterval(t)
        for (const e of demo.state.log.slice(shown)) print(e)
        await finish(demo.state.failed().length ? 1 : 0)
        return 0
    }

    let selected = 0
    view = new TerminalView(demo.state, { title: dashboard ? `${title} · dashboard ${dashboard.url}` : title, selected: () => selected })
    const started = Date.now()
    setInterval(() => {
        const s = Math.floor((Date.now() - started) / 1000)
        demo.state.banner = `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}${o.durationS ? ` of ${o.durationS} s` : ""}`
        demo.state.changed()
    }, 1000)
    if (o.durationS) setTimeout(() => void finish!(0), o.durationS * 1000)
    demo.state.addLog("info", "fleet running: keys below act on the selected meter; Ctrl-C or q stops")
    if (process.stdin.isTTY) {
        process.stdin.setRawMode(true)
        process.stdin.resume()
        process.stdin.on("data", async d => {
            const k = d.toString()
            if (k === "\u0003" || k === "q") return void finish!(0)
            if (/^[1-9]$/.test(k) && Number(k) <= o.meters) {
                selected = Number(k) - 1
                view!.touch()
                return
            }
            await act(demo, k, demo.ks.meters.find(m => m.name === demo.state.meters[selected].name)!).catch(e => demo.state.addLog("error", (e as Error).message))
        })
    }
    return 0
}

/** One operator or attacker key. */
async function act(demo: Demo, key: string, meter: import("../../headend/src/keystore.ts").MeterEntry) {
    const { ATTACKS } = await import("./attacks.ts")
    const privacy = ["half-hourly", "daily", "monthly"]
    switch (key) {
        case "d":
            return void (await demo.command(meter, "disconnect"))
        case "a":
            return void (await demo.command(meter, "arm"))
        case "r":
            demo.state.addLog("info", `${meter.name}: reconnect = arm, then the consumer presses the meter's button (GB "Arm")`)
            await demo.command(meter, "arm")
            return void (await demo.pressButton(meter))
        case "t":
            return void (await demo.command(meter, "set-tariff", [demo.nextTariff(meter)]))
        case "p": {
            const s = demo.state.meter(meter.meterId)!
            s.privacy = privacy[(privacy.indexOf(s.privacy ?? "half-hourly") + 1) % privacy.length]
            return void (await demo.command(meter, "set-privacy", [s.privacy]))
        }
        case "k":
            return void (await demo.rotateKey("networkOperator"))
        case "c":
            demo.state.addLog("info", "change of supplier: the root replaces the supplier's key on every meter; the old supplier's commands are refused from now on")
            return void (await demo.rotateKey("supplier"))
    }
    const attack = ATTACKS.find(a => a.key === key)
    if (attack) {
        demo.state.addLog("attack", `ATTACK ${attack.name}: ${attack.describe}`)
        const r = await attack.run(demo, meter)
        demo.state.addLog(r.refused ? "accepted" : "alert", `${attack.name}: ${r.refused === true ? "DEFENDED" : r.refused === false ? "GOT THROUGH" : "no evidence"} — ${r.detail}`)
    }
}

process.exitCode = await main()
