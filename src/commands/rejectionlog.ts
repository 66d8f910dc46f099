import { CommandRef, encodeOutcome, OutcomeLayout } from "../wire/ack"
import { U32_MAX } from "../wire/bytes"
import { AlertSink, CommandEventKind, EventSink } from "./ports"

/**
 * Records refused commands as events and alerts, rate-limited (docs/commands.md, "Events
 * and alerts"): a token bucket of BURST records refilled one per REFILL_MS, so a flood of
 * forged commands costs at most ~290 flash records a day; the refusals beyond that are
 * counted and the count travels in the next record that is written.
 */

export const REJECTION_BURST = 8
export const REJECTION_REFILL_MS = 300000

export class RejectionLog {
    private events: EventSink
    private alerts: AlertSink
    private millis: () => number
    private tokens = REJECTION_BURST
    private lastRefill: number
    /** refusals not recorded since the last record */
    suppressed = 0
    /** refusals recorded in total (since boot) */
    recorded = 0

    constructor(events: EventSink, alerts: AlertSink, millis: () => number) {
        this.events = events
        this.alerts = alerts
        this.millis = millis
        this.lastRefill = millis()
    }

    /**
     * Records the refusal of `c` (undefined: an envelope that did not parse) if the budget
     * allows, else counts it. The event and alert payload is the wire core's
     * CommandRejected layout (src/wire/ack.ts) with the refusals suppressed before this one.
     * Never throws.
     */
    async reject(verdict: number, c: CommandRef | undefined): Promise<boolean> {
        const now = this.millis()
        const refill = Math.floor((now - this.lastRefill) / REJECTION_REFILL_MS)
        if (refill > 0) {
            this.tokens = Math.min(REJECTION_BURST, this.tokens + refill)
            this.lastRefill = this.lastRefill + refill * REJECTION_REFILL_MS
        }
        if (this.tokens < 1) {
            this.suppressed++
            return false
        }
        this.tokens--
        const p = encodeOutcome(OutcomeLayout.Rejected, verdict, c, Math.min(this.suppressed, U32_MAX))
        this.suppressed = 0
        this.recorded++
        try {
            await this.events.record(CommandEventKind.Rejected, p)
        } catch (e) {
            // a full or failing store must not turn a refusal into a crash
        }
        try {
            await this.alerts.alert(CommandEventKind.Rejected, p)
        } catch (e) {}
        return true
    }
}
