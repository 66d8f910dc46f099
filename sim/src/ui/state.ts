/**
 * What the demo shows: per meter its registers, last interval, chain status, relay state
 * and last alert; a log of commands, verdicts and alerts; and the checks the headless
 * summary reports. The controller (demo.ts) writes it, the views (terminal.ts, the
 * headless summary) only read it.
 */

/** Chain status as the head-end verified it. */
export type ChainStatus = { state: "unknown" } | { state: "verified"; head: number } | { state: "broken"; at: number; reason: string }

export interface MeterStatus {
    name: string
    meterId: string
    /** "booting", "running", "crashed", "restarting" */
    process: string
    registers?: string
    lastInterval?: string
    chain: ChainStatus
    /** "connected", "disconnected", "armed", or "?" until the meter reports it */
    relay: string
    lastAlert?: string
    /** authenticated uplink frames accepted from this meter */
    frames: number
    /** interval records stored at the head-end (each exactly once) */
    records: number
    /** frames the head-end refused (bad tag, replay, unknown meter...) */
    refused: number
    /** last console line of the simulated device */
    console?: string
    /** the last tamper/chain alarm the meter printed on its console */
    consoleAlert?: string
    /** privacy level last set by the operator */
    privacy?: string
}

export type LogKind = "info" | "command" | "accepted" | "rejected" | "alert" | "attack" | "error"

export interface LogEntry {
    at: number
    kind: LogKind
    text: string
}

/** One check of the headless summary. `pending` = could not run (says why), never a pass. */
export interface Check {
    name: string
    status: "pass" | "fail" | "pending"
    detail: string
}

export class DemoState {
    readonly started = Date.now()
    meters: MeterStatus[] = []
    log: LogEntry[] = []
    checks: Check[] = []
    /** one-line status under the title (broker, interval, time left) */
    banner = ""
    private listeners: (() => void)[] = []

    meter(nameOrId: string): MeterStatus | undefined {
        return this.meters.find(m => m.name === nameOrId || m.meterId === nameOrId)
    }

    addLog(kind: LogKind, text: string) {
        this.log.push({ at: Date.now(), kind, text })
        if (this.log.length > 500) this.log.splice(0, this.log.length - 500)
        this.changed()
    }

    /** Records (or updates) a check by name. */
    setCheck(name: string, status: Check["status"], detail: string) {
        const c = this.checks.find(x => x.name === name)
        if (c) {
            c.status = status
            c.detail = detail
        } else this.checks.push({ name, status, detail })
        this.changed()
    }

    failed(): Check[] {
        return this.checks.filter(c => c.status === "fail")
    }

    onChange(f: () => void) {
        this.listeners.push(f)
    }

    changed() {
        for (const f of this.listeners) f()
    }
}

export function chainText(c: ChainStatus): string {
    if (c.state === "verified") return `verified to #${c.head}`
    if (c.state === "broken") return `BROKEN at #${c.at} (${c.reason})`
    return "not yet seen"
}

/** The headless summary: one line per meter, one per check, and the verdict. */
export function summaryText(s: DemoState): string {
    const lines = [`trustmeter demo summary (${((Date.now() - s.started) / 1000).toFixed(0)} s)`]
    for (const m of s.meters)
        lines.push(
            `  ${m.name} ${m.meterId}: ${m.frames} frames, ${m.records} records, chain ${chainText(m.chain)}, relay ${m.relay}, refused ${m.refused}${m.lastAlert ? `, last alert ${m.lastAlert}` : ""}${m.console ? `\n      last console line: ${m.console}` : ""}`
        )
    lines.push("checks:")
    for (const c of s.checks) lines.push(`  ${c.status === "pass" ? "PASS" : c.status === "fail" ? "FAIL" : "WAIT"}  ${c.name}: ${c.detail}`)
    const f = s.failed().length
    const p = s.checks.filter(c => c.status === "pending").length
    lines.push(f ? `RESULT: ${f} check(s) failed` : `RESULT: all checks that ran passed${p ? ` (${p} could not run yet: WAIT lines say why)` : ""}`)
    return lines.join("\n")
}
