/**
 * The live terminal view of `npm start`: a table of meters, the operator's and the
 * attacker's keys, and the log of commands, verdicts and alerts. Redraws at most 4 times
 * a second; reads DemoState only. Keys go to `onKey`.
 */
import { chainText, DemoState, LogEntry } from "./state.ts"
import { OBIS } from "../../../headend/src/obis.ts"
import { registerPoint } from "../../../headend/src/web/model.ts"

/**
 * The registers as the table shows them: a reported register block (hex, src/wire/registers.ts)
 * by OBIS code, `1.0.1.8.0 12.345 kWh 1.0.2.8.0 0.000 kWh`; the meter's status line as it is.
 */
export function registersText(registers: string): string {
    const p = /^[0-9a-f]+$/.test(registers) ? registerPoint(Buffer.from(registers, "hex"), 0) : undefined
    if (!p) return registers
    const kwh = (code: string) => `${code} ${(p.obis[code] / 1000).toFixed(3)} kWh`
    return [kwh(OBIS.importTotal), kwh(OBIS.exportTotal)].join(" ")
}

const ESC = "\x1b["
const color = (c: number, s: string) => `${ESC}${c}m${s}${ESC}0m`
const KIND_COLOR: Record<LogEntry["kind"], number> = { info: 37, command: 36, accepted: 32, rejected: 33, alert: 31, attack: 35, error: 31 }

export interface TerminalViewOptions {
    title: string
    /** index of the meter the operator keys act on */
    selected: () => number
    out?: NodeJS.WriteStream
}

export class TerminalView {
    private dirty = true
    private timer: NodeJS.Timeout
    private out: NodeJS.WriteStream

    constructor(
        private state: DemoState,
        private opts: TerminalViewOptions
    ) {
        this.out = opts.out ?? process.stdout
        state.onChange(() => (this.dirty = true))
        this.out.write(`${ESC}?25l`) // hide the cursor while drawing
        this.timer = setInterval(() => this.draw(), 250)
    }

    /** Forces a redraw (e.g. after the selection changed). */
    touch() {
        this.dirty = true
    }

    close() {
        clearInterval(this.timer)
        this.draw(true)
        this.out.write(`${ESC}?25h\n`)
    }

    /** Renders the whole screen as text (also used by tests). */
    render(width = this.out.columns || 120, height = this.out.rows || 40): string {
        const s = this.state
        const lines: string[] = []
        lines.push(color(1, this.opts.title) + "  " + s.banner)
        lines.push("")
        lines.push(color(1, pad("  meter", 12) + pad("id", 18) + pad("relay", 22) + pad("chain", 26) + pad("frames", 8) + pad("stored", 8) + pad("refused", 9) + "last interval"))
        s.meters.forEach((m, i) => {
            const sel = i === this.opts.selected() ? color(7, `${i + 1}>`) : `${i + 1} `
            const chain = m.chain.state === "broken" ? color(31, chainText(m.chain)) : m.chain.state === "verified" ? color(32, chainText(m.chain)) : chainText(m.chain)
            lines.push(
                sel + pad(" " + m.name, 10) + pad(m.meterId, 18) + pad(m.process === "running" ? m.relay : m.process, 22) + padAnsi(chain, 26) + pad(String(m.frames), 8) + pad(String(m.records), 8) + pad(String(m.refused), 9) + (m.lastInterval ?? "-")
            )
            const extra = [m.registers ? `registers ${registersText(m.registers).slice(0, 90)}` : "", m.lastAlert ? color(31, `last alert: ${m.lastAlert}`) : "", m.console ? color(90, `console: ${m.console}`) : ""].filter(Boolean).join("  ")
            if (extra) lines.push("     " + extra)
        })
        lines.push("")
        lines.push(color(1, "operator ") + "d disconnect · a arm · r reconnect (button) · t tariff · p privacy · k rotate keys · c change supplier · 1-9 select meter")
        lines.push(color(1, "attacks  ") + "F forged · R replayed · O for another meter · M mass disconnect · U tampered uplink · S tampered stored record · q quit")
        lines.push(color(90, "─".repeat(Math.min(width, 140))))
        const room = Math.max(3, height - lines.length - 1)
        for (const e of s.log.slice(-room)) lines.push(color(KIND_COLOR[e.kind], `${new Date(e.at).toISOString().slice(11, 19)} ${e.text}`).slice(0, width + 9))
        return lines.join("\n")
    }

    private draw(force = false) {
        if (!this.dirty && !force) return
        this.dirty = false
        this.out.write(`${ESC}H${ESC}2J` + this.render())
    }
}

function pad(s: string, n: number) {
    return s.length >= n ? s.slice(0, n - 1) + " " : s + " ".repeat(n - s.length)
}

function padAnsi(s: string, n: number) {
    const visible = s.replace(/\x1b\[[0-9;]*m/g, "").length
    return visible >= n ? s : s + " ".repeat(n - visible)
}
