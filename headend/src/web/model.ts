/**
 * What the operator's dashboard shows, and what it may ask for: the read model (fleet
 * summary, per meter its load profile, registers, chain status, command log and alerts)
 * and the actions (signed operator commands). The HTTP server (server.ts) depends only on
 * these two interfaces; `npm start` implements them over the demo (sim/src/ui/dashboard.ts),
 * a head-end on the database can implement them over headend/src/db.
 *
 * Nothing here carries a secret: every field is something an operator may see on a screen
 * (meter ids, public verdicts, energy). The server test checks that no meter secret or
 * signing key reaches the page.
 */
import { decodeRegisters } from "../../../src/wire/registers"
import { IntervalStatus } from "../../../src/wire/interval"
import { RecordKind, decodeInterval } from "../records.ts"
import { OBIS, OBIS_TABLE, registersByObis } from "../obis.ts"

/** Chain status as the head-end verified it (docs/index-store.md). */
export type ChainView = { state: "unknown" } | { state: "verified"; head: number } | { state: "broken"; at: number; reason: string }

/** One closed interval of a meter's load profile (docs/metrology.md, "Interval record"). */
export interface IntervalPoint {
    /** the record's seq in the meter's chain */
    seq: number
    /** UTC seconds of the interval's start (meter time); seconds since power-up when `timeKnown` is false */
    start: number
    lengthMin: number
    importMWh: number
    exportMWh: number
    /** IntervalStatus bits; 0 = complete */
    status: number
    /** false for intervals measured before the meter's first time sync */
    timeKnown: boolean
}

/** A register block as the meter reported it (docs/metrology.md, "Register block"), all mWh. */
export interface RegisterPoint {
    /** UTC seconds (meter time) when the head-end received it */
    at: number
    importMWh: number
    exportMWh: number
    touImportMWh: number[]
    touExportMWh: number[]
    /** the same registers by OBIS code (headend/src/obis.ts), Wh: 1.0.1.8.0, 1.0.2.8.0, 1.0.1.8.1-4, 1.0.2.8.1-4 */
    obis: Record<string, number>
}

/** One line of a log: commands and answers, alerts. `at` is milliseconds since 1970 (host clock). */
export interface LogLine {
    at: number
    kind: string
    text: string
}

/** One meter in the fleet table. */
export interface MeterSummary {
    name: string
    /** 16 hex digits */
    meterId: string
    /** the simulated device's process ("running", "crashed", ...), when there is one */
    process?: string
    /** "connected", "disconnected", "armed", "disconnecting in 300s", or "?" until reported */
    relay: string
    chain: ChainView
    /** authenticated frames accepted, records stored (each once), frames refused */
    frames: number
    records: number
    refused: number
    /** the newest interval stored */
    lastReading?: IntervalPoint
    /** the newest register block */
    lastRegisters?: RegisterPoint
    /** alerts so far, and the newest in words */
    alerts: number
    lastAlert?: string
    /** privacy level last set by the operator */
    privacy?: string
}

export interface FleetView {
    /** one line: fleet, broker, interval */
    title: string
    /** host clock, ms */
    now: number
    /** the meters' clock (UTC seconds), when the head-end keeps one */
    meterTime?: number
    meters: MeterSummary[]
    /** the newest fleet-wide log lines, oldest first */
    log: LogLine[]
}

export interface MeterDetail extends MeterSummary {
    /** every interval stored, by seq */
    intervals: IntervalPoint[]
    /** every register block received, oldest first */
    registers: RegisterPoint[]
    /** commands sent to this meter and its answers, oldest first */
    commands: LogLine[]
    /** alerts about this meter, oldest first */
    alertLog: LogLine[]
}

/** The dashboard's read side. Implementations only read; they may be async (a database). */
export interface DashboardReadModel {
    fleet(): FleetView | Promise<FleetView>
    /** undefined for a meter the head-end does not know */
    meter(meterId: string): MeterDetail | undefined | Promise<MeterDetail | undefined>
    /** calls `listener` after anything shown may have changed; returns the unsubscribe */
    subscribe(listener: () => void): () => void
}

/** An operator action as the page offers it. */
export interface ActionInfo {
    /** the name `act` takes, e.g. "disconnect" */
    name: string
    /** button label */
    label: string
    /** "meter": acts on the selected meter; "fleet": on every meter */
    scope: "meter" | "fleet"
    /** the role whose key signs it (shown in the confirmation) */
    signedBy: string
    /** what the confirmation says it does */
    describe: string
    /** the choices of its one argument, when it takes one */
    choices?: string[]
}

export interface ActionResult {
    ok: boolean
    /** one line for the operator */
    message: string
}

/** The dashboard's write side: signed operator commands, signed by the head-end's keystore. */
export interface DashboardActions {
    list(): ActionInfo[]
    /** runs `action` on `meterId` (ignored for fleet actions); never throws, says why in the result */
    act(meterId: string, action: string, args: string[]): Promise<ActionResult>
}

/** The interval records among a meter's stored records, decoded by the wire core; others are skipped. */
export function intervalPoints(records: readonly { seq: number; kind: number; payload: Buffer }[]): IntervalPoint[] {
    const out: IntervalPoint[] = []
    for (const r of records) {
        if (r.kind !== RecordKind.IntervalClose) continue
        const iv = decodeInterval(r.payload)
        if (!iv) continue
        out.push({
            seq: r.seq,
            start: iv.start,
            lengthMin: iv.lengthMin,
            importMWh: iv.importMWh,
            exportMWh: iv.exportMWh,
            status: iv.status,
            timeKnown: (iv.status & IntervalStatus.TimeUnknown) === 0,
        })
    }
    return out
}

/** A register block received at `at` (meter UTC seconds), decoded strictly; undefined if it does not decode. */
export function registerPoint(block: Buffer, at: number): RegisterPoint | undefined {
    try {
        const r = decodeRegisters(block)
        return { at, importMWh: r.importMWh, exportMWh: r.exportMWh, touImportMWh: r.touImportMWh, touExportMWh: r.touExportMWh, obis: registersByObis(r) }
    } catch {
        return undefined
    }
}

/**
 * The OBIS names the page labels its values with (GET /api/obis): the codes by what they
 * name, and the table of code, name and unit (headend/src/obis.ts, docs/obis.md).
 */
export const OBIS_VIEW = { codes: OBIS, table: OBIS_TABLE }
