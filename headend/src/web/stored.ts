/**
 * A meter's history for the dashboard, read from the head-end's database
 * (docs/headend-storage.md): the load profile (stored records), the register blocks (the
 * uplink frames that carried them), the command log with the meter's answers, and the
 * alerts (what the meter reported, clone evidence). Read only; what ingestion committed is
 * what the operator sees, across head-end restarts.
 *
 * Records are append-only (a trigger refuses any change), so the decoded load profile is
 * kept and only newer records are read on the next call.
 */
import type { Sql } from "../db/index.ts"
import { readCloneEvidence, readCommandLog, readMeterAlerts, readRecords } from "../db/index.ts"
import { meterBytes } from "../db/values.ts"
import { decodeRecord } from "../chain.ts"
import { Opcode, Verdict, opcodeName, verdictName } from "../commands.ts"
import { AlertKind } from "../../../src/wire/report"
import { IntervalPoint, LogLine, RegisterPoint, intervalPoints, registerPoint } from "./model.ts"

/** Alert kinds (src/wire/report.ts AlertKind) in words. */
export const ALERT_KIND_NAME: Record<number, string> = {
    [AlertKind.Tamper]: "tamper",
    [AlertKind.CommandRejected]: "command rejected",
    [AlertKind.StoreFull]: "store full",
    [AlertKind.SourceFault]: "source fault",
    [AlertKind.BadDownlink]: "bad downlink",
}

const PAGE = 10_000

export class StoredHistory {
    private profiles = new Map<string, { nextSeq: number; intervals: IntervalPoint[] }>()

    /**
     * @param db the head-end's database (opened and migrated)
     * @param meterTime the meters' clock at a host time (UTC seconds); the host clock by default
     */
    constructor(
        private db: Sql,
        private meterTime: (at: Date) => number = at => Math.floor(at.getTime() / 1000)
    ) {}

    /** Every stored interval of `meterId`, by seq. */
    async intervals(meterId: string): Promise<IntervalPoint[]> {
        let p = this.profiles.get(meterId)
        if (!p) this.profiles.set(meterId, (p = { nextSeq: 0, intervals: [] }))
        for (;;) {
            const page = await readRecords(this.db, meterId, p.nextSeq, PAGE)
            if (!page.length) break
            const decoded = page.flatMap(r => {
                const d = decodeRecord(r.data)
                return d ? [{ seq: r.seq, kind: d.kind, payload: Buffer.from(d.payload) }] : []
            })
            p.intervals.push(...intervalPoints(decoded))
            p.nextSeq = page[page.length - 1].seq + 1
            if (page.length < PAGE) break
        }
        return p.intervals
    }

    /**
     * Every register block `meterId` sent, oldest first. Its time is the meter's own: the
     * time field of the newest record stored with or before the frame (an interval just
     * closed, usually); `meterTime` of the frame's arrival when none had a time yet.
     */
    async registers(meterId: string): Promise<RegisterPoint[]> {
        const rows = await this.db.query<{ registers: Buffer; received_at: Date; last: Buffer | null }>(
            `SELECT f.registers, f.received_at,
                    (SELECT r.data FROM records r WHERE r.meter_id = f.meter_id AND r.received_at <= f.received_at ORDER BY r.seq DESC LIMIT 1) AS last
             FROM uplink_frames f WHERE f.meter_id = $1 AND f.registers IS NOT NULL ORDER BY f.epoch, f.counter`,
            [meterBytes(meterId)]
        )
        return rows.flatMap(r => {
            const t = r.last ? decodeRecord(r.last)?.time : undefined
            const p = registerPoint(r.registers, t ? t : this.meterTime(r.received_at))
            return p ? [p] : []
        })
    }

    /** The commands sent to `meterId` and the meter's answers, oldest first. */
    async commands(meterId: string): Promise<LogLine[]> {
        const out: LogLine[] = []
        for (const c of await readCommandLog(this.db, meterId)) {
            const name = opcodeName(c.opcode)
            out.push({ at: c.sentAt.getTime(), kind: "command", text: `→ ${name} signed by key ${c.signerKeyId}, counter ${c.counter}` })
            for (const a of c.answers) {
                const text =
                    a.verdict === undefined
                        ? `← an answer to ${name} that did not decode`
                        : a.verdict === Verdict.Accepted
                          ? `← accepted ${name}${c.opcode === Opcode.Disconnect ? `, relay opens in ${a.detail} s` : ""}`
                          : `← REFUSED ${name}: ${verdictName(a.verdict)}`
                out.push({ at: a.receivedAt.getTime(), kind: a.verdict === Verdict.Accepted ? "accepted" : "rejected", text })
            }
        }
        return out.sort((a, b) => a.at - b.at)
    }

    /** The alerts `meterId` reported and the clone evidence against it, oldest first. */
    async alerts(meterId: string): Promise<LogLine[]> {
        const out: LogLine[] = []
        for (const a of await readMeterAlerts(this.db, meterId))
            out.push({ at: a.receivedAt.getTime(), kind: "alert", text: `the meter reports: ${ALERT_KIND_NAME[a.kind] ?? `alert ${a.kind}`} ×${a.count}` })
        for (const e of await readCloneEvidence(this.db, meterId))
            out.push({ at: e.detectedAt.getTime(), kind: "alert", text: `clone evidence (${e.kind}${e.atSeq !== undefined ? ` at ${e.atSeq}` : ""}): ${e.detail}` })
        return out.sort((a, b) => a.at - b.at)
    }
}
