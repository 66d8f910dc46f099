import { AlertSink, CommandEventKind, EventSink } from "./ports"
import { setU32BE } from "../crypto/bytes"

/**
 * Records refused commands as events and alerts, rate-limited (docs/commands.md, "Events
 * and alerts"): a token bucket of BURST records refilled one per REFILL_MS, so a flood of
 * forged commands costs at most ~290 flash records a day; the refusals beyond that are
 * counted and the count travels in the next record that is written.
 */

export const REJECTION_BURST = 8
export const REJECTION_REFILL_MS = 300000

/** Event/alert payload: verdict ‖ opcode ‖ signer key id ‖ counter (8) ‖ refusals suppressed before this one (u32 BE). */
export const REJECTION_PAYLOAD_SIZE = 15

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

    /** Records one refusal if the budget allows, else counts it. Never throws. */
    async reject(verdict: number, opcode: number, signer: number, counterHi: number, counterLo: number): Promise<boolean> {
        const now = this.millis()
        const refill = Math.floor((now - this.lastRefill) / REJECTION_REFILL_MS)
        if (refill > 0) {
            this.tokens = Math.min(REJECTION_BURST, this.tokens + refill)
            this.lastRefill += refill * REJECTION_REFILL_MS
        }
        if (this.tokens < 1) {
            this.suppressed++
            return false
        }
        this.tokens--
        const p = Buffer.alloc(REJECTION_PAYLOAD_SIZE)
        p[0] = verdict
        p[1] = opcode
        p[2] = signer
        setU32BE(p, 3, counterHi)
        setU32BE(p, 7, counterLo)
        setU32BE(p, 11, Math.min(this.suppressed, 4294967295))
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
