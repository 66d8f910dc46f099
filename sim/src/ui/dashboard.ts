/**
 * The dashboard's read model and operator actions over the running demo (`npm start`).
 * Live state is what the terminal view shows (DemoState: relay, chain status, counts, the
 * log); a meter's history is what the head-end's database holds (headend/src/web/stored.ts:
 * load profile, register blocks, command log with answers, reported alerts, clone
 * evidence), plus what the head-end saw this run and does not store (refused frames, a
 * broken chain, tamper lines on the meter's console). Actions are the demo's own operator
 * commands (Demo.command, rotateKey, pressButton), signed by the demo's keystore: no
 * signing code here.
 */
import type { Demo } from "../demo.ts"
import type { MeterEntry, Role } from "../../../headend/src/keystore.ts"
import type { StoredRecord } from "../../../headend/src/station.ts"
import type { Sql } from "../../../headend/src/db/index.ts"
import { StoredHistory } from "../../../headend/src/web/stored.ts"
import { COMMANDS } from "../../../headend/src/operations.ts"
import { Verdict, verdictName } from "../../../headend/src/commands.ts"
import {
    ActionInfo,
    ActionResult,
    DashboardActions,
    DashboardReadModel,
    FleetView,
    LogLine,
    MeterDetail,
    MeterSummary,
    intervalPoints,
} from "../../../headend/src/web/model.ts"
import type { DemoState, LogEntry, MeterStatus } from "./state.ts"

/** What the read model needs of the demo. */
export interface DemoSource {
    state: DemoState
    /** the station's stored records (decoded) and the head-end's database */
    station: { records(meterId: string): StoredRecord[]; service: { db: Sql } }
    simNow(): number
    /** the meters' clock speed-up */
    scale: number
}

/** Per meter, at most this many of this run's alerts are kept (the oldest go first). */
const KEEP = 1000
const FLEET_LOG = 40
/** This run's log lines about a meter that the database does not hold: the head-end's refusals of frames, a broken chain, the meter's console. */
const UNSTORED_ALERT = /head-end refused a frame|chain BROKEN| says: |the meter reports tamper/

export class DemoReadModel implements DashboardReadModel {
    private listeners = new Set<() => void>()
    private history: StoredHistory
    /** per meter, this run's alerts and refusals from the log */
    private alerts = new Map<string, LogLine[]>()
    /** the newest log entry already sorted into the per-meter lists (DemoState keeps only its last 500) */
    private seen?: LogEntry

    constructor(
        private demo: DemoSource,
        private title: () => string
    ) {
        // a time the database wrote (host clock) on the meters' accelerated clock
        this.history = new StoredHistory(demo.station.service.db, at => demo.simNow() - Math.round(((Date.now() - at.getTime()) / 1000) * demo.scale))
        demo.state.onChange(() => {
            for (const f of this.listeners) f()
        })
    }

    subscribe(listener: () => void): () => void {
        this.listeners.add(listener)
        return () => this.listeners.delete(listener)
    }

    fleet(): FleetView {
        this.sortLog()
        const s = this.demo.state
        return {
            title: this.title(),
            now: Date.now(),
            meterTime: this.demo.simNow(),
            meters: s.meters.map(m => this.summary(m)),
            log: s.log.slice(-FLEET_LOG).map(line),
        }
    }

    async meter(meterId: string): Promise<MeterDetail | undefined> {
        this.sortLog()
        const m = this.demo.state.meters.find(x => x.meterId === meterId)
        if (!m) return undefined
        const h = this.history
        const [intervals, registers, commands, stored] = await Promise.all([h.intervals(meterId), h.registers(meterId), h.commands(meterId), h.alerts(meterId)])
        const unstored = (this.alerts.get(meterId) ?? []).filter(l => UNSTORED_ALERT.test(l.text))
        return {
            ...this.summary(m),
            lastRegisters: registers[registers.length - 1],
            intervals: [...intervals],
            registers,
            commands,
            alertLog: [...stored, ...unstored].sort((a, b) => a.at - b.at),
        }
    }

    private summary(m: MeterStatus): MeterSummary {
        const intervals = intervalPoints(this.demo.station.records(m.meterId))
        const alerts = this.alerts.get(m.meterId) ?? []
        return {
            name: m.name,
            meterId: m.meterId,
            process: m.process,
            relay: m.relay,
            chain: m.chain,
            frames: m.frames,
            records: m.records,
            refused: m.refused,
            lastReading: intervals[intervals.length - 1],
            alerts: alerts.length,
            lastAlert: m.lastAlert ?? alerts[alerts.length - 1]?.text,
            privacy: m.privacy,
        }
    }

    /**
     * Sorts new log entries into each meter's alerts of this run (alerts, refusals by the
     * meter or the head-end), by the meter's name in the text as the terminal shows it.
     */
    private sortLog() {
        const log = this.demo.state.log
        const from = this.seen ? log.lastIndexOf(this.seen) + 1 : 0
        for (const e of log.slice(from)) {
            if (e.kind !== "alert" && e.kind !== "rejected") continue
            for (const m of this.demo.state.meters) if (names(e.text, m.name)) keep(this.alerts, m.meterId, line(e))
        }
        if (log.length) this.seen = log[log.length - 1]
    }
}

/** The demo's operator actions, as the terminal's keys d, a, r, t, p, k, c run them. */
export function demoActions(demo: Demo): DashboardActions {
    const role = (name: string) => COMMANDS.find(c => c.name === name)!.role
    const list: ActionInfo[] = [
        { name: "disconnect", label: "Disconnect", scope: "meter", signedBy: role("disconnect"), describe: "Open the relay, after the meter's own random offset (up to 600 s)" },
        { name: "arm", label: "Arm", scope: "meter", signedBy: role("arm"), describe: "Arm the relay: the consumer's button press closes it (a remote reconnect only arms)" },
        { name: "reconnect", label: "Reconnect", scope: "meter", signedBy: role("arm"), describe: "Arm the relay, then the consumer presses the meter's button (simulated)" },
        { name: "tariff", label: "Tariff…", scope: "meter", signedBy: role("set-tariff"), describe: "Set the time-of-use tariff calendar", choices: ["day-night", "flat"] },
        { name: "privacy", label: "Privacy…", scope: "meter", signedBy: role("set-privacy"), describe: "Set the privacy level: how finely the meter reports consumption", choices: ["half-hourly", "daily", "monthly"] },
        { name: "rotate-operator-key", label: "Rotate operator key", scope: "fleet", signedBy: "root", describe: "Replace the network operator's key on every meter (KeyReplace); the keystore changes once every meter confirmed" },
        { name: "change-supplier", label: "Change supplier", scope: "fleet", signedBy: "root", describe: "Install a new supplier key on every meter (KeyReplace); the old supplier's commands are refused from then on" },
    ]
    const run = async (meter: MeterEntry, action: string, args: string[]): Promise<string> => {
        const answer = (a: Awaited<ReturnType<Demo["command"]>>) => (!a ? "no answer yet" : a.verdict === Verdict.Accepted ? "accepted" : `REFUSED: ${verdictName(a.verdict)}`)
        const one = (choices: string[]) => {
            if (args.length !== 1 || !choices.includes(args[0])) throw new Error(`${action} takes one of: ${choices.join(", ")}`)
            return args[0]
        }
        switch (action) {
            case "disconnect":
                return answer(await demo.command(meter, "disconnect"))
            case "arm":
                return answer(await demo.command(meter, "arm"))
            case "reconnect": {
                demo.state.addLog("info", `${meter.name}: reconnect = arm, then the consumer presses the meter's button (GB "Arm")`)
                const a = await demo.command(meter, "arm")
                await demo.pressButton(meter)
                return `${answer(a)}; button pressed`
            }
            case "tariff":
                return answer(await demo.command(meter, "set-tariff", [one(["day-night", "flat"])]))
            case "privacy": {
                const level = one(["half-hourly", "daily", "monthly"])
                demo.state.meter(meter.meterId)!.privacy = level
                return answer(await demo.command(meter, "set-privacy", [level]))
            }
            case "rotate-operator-key":
            case "change-supplier": {
                const r: Role = action === "change-supplier" ? "supplier" : "networkOperator"
                if (r === "supplier") demo.state.addLog("info", "change of supplier: the root replaces the supplier's key on every meter; the old supplier's commands are refused from now on")
                return (await demo.rotateKey(r)) ? "every meter accepted the new key; keystore updated" : "not confirmed by every meter: keystore unchanged"
            }
        }
        throw new Error(`no action "${action}"`)
    }
    return {
        list: () => list,
        async act(meterId, action, args): Promise<ActionResult> {
            const info = list.find(a => a.name === action)
            const meter = demo.ks.meters.find(m => m.meterId === meterId)
            if (!info) return { ok: false, message: `no action "${action}"` }
            if (!meter && info.scope === "meter") return { ok: false, message: `no meter ${meterId}` }
            const done = run(meter ?? demo.ks.meters[0], action, args).then(
                text => ({ ok: true, message: text }),
                (e: Error) => {
                    demo.state.addLog("error", e.message)
                    return { ok: false, message: e.message.split("\n")[0] }
                }
            )
            // the answer rides on the meter's next report, an interval away: say "sent" rather than hold the request
            const sent = new Promise<ActionResult>(res => setTimeout(() => res({ ok: true, message: "signed and sent; the meter's answer appears in the command log" }), 1500))
            return Promise.race([done, sent])
        },
    }
}

function line(e: LogEntry): LogLine {
    return { at: e.at, kind: e.kind, text: e.text }
}

function keep<T>(m: Map<string, T[]>, key: string, v: T) {
    let a = m.get(key)
    if (!a) m.set(key, (a = []))
    a.push(v)
    if (a.length > KEEP) a.splice(0, a.length - KEEP)
}

/** True when `text` names the meter `name` as a word ("meter-1" is not in "meter-12"). */
function names(text: string, name: string): boolean {
    for (let i = text.indexOf(name); i >= 0; i = text.indexOf(name, i + 1)) {
        const before = text[i - 1]
        const after = text[i + name.length]
        if ((before === undefined || !/[\w-]/.test(before)) && (after === undefined || !/[\w-]/.test(after))) return true
    }
    return false
}
