/**
 * OBIS codes (IEC 62056-6-1, object identification system; the DLMS UA Blue Book's
 * naming of COSEM objects) of every register, profile channel and log the head-end keeps:
 * the one table the head-end's storage (migration 003_obis.sql, which the test
 * test/node/obis.test.ts holds to this table), its views (the dashboard's JSON and labels,
 * the record view) and docs/obis.md name them by. Written `A.B.C.D.E` (value group F = 255,
 * "current value / not used", left out, as is usual in the short form).
 *
 * A = 1 electricity, 0 abstract; B = 0 no channel; C: 1 active power import (+A), 2 active
 * power export (−A), 99 profiles and logs, 96 service entries, 1 (with A = 0) clock;
 * D: 8 time integral 1 (a register since the start), 6 maximum demand, 29 time integral 5
 * (energy over one capture period: a load-profile channel), 98 event logs;
 * E: 0 total, 1..4 tariff (time-of-use rate) 1..4.
 */
import { TOU_REGISTERS } from "../../src/wire/calendar"
import { AlertKind } from "../../src/wire/report"
import type { Registers } from "../../src/wire/registers"

export type ObisClass = "register" | "demand" | "profile" | "channel" | "log" | "data"

export interface ObisEntry {
    /** A.B.C.D.E */
    code: string
    /** what it is, in words (dashboard labels, docs) */
    name: string
    /** unit of its values at the head-end ("" for logs and profiles) */
    unit: string
    class: ObisClass
}

/** The codes, by what they name. */
export const OBIS = {
    /** active energy import (+A), total: the import register */
    importTotal: "1.0.1.8.0",
    /** active energy export (−A), total */
    exportTotal: "1.0.2.8.0",
    /** +A per time-of-use rate 1..4 (the firmware's TOU register 0..3) */
    importRate: ["1.0.1.8.1", "1.0.1.8.2", "1.0.1.8.3", "1.0.1.8.4"],
    /** −A per time-of-use rate 1..4 */
    exportRate: ["1.0.2.8.1", "1.0.2.8.2", "1.0.2.8.3", "1.0.2.8.4"],
    /** maximum demand +A (highest average import power over one interval) */
    maxDemand: "1.0.1.6.0",
    /** load profile 1: the half-hourly interval records */
    loadProfile: "1.0.99.1.0",
    /** load-profile channel: +A over the capture period (the interval) */
    intervalImport: "1.0.1.29.0",
    /** load-profile channel: −A over the capture period */
    intervalExport: "1.0.2.29.0",
    /** load-profile channel: the interval's status (AMR profile status) */
    profileStatus: "0.0.96.10.1",
    /** clock (the interval's start, the record's time) */
    clock: "0.0.1.0.0",
    /** standard event log */
    standardLog: "0.0.99.98.0",
    /** fraud detection log: this meter's security log */
    securityLog: "0.0.99.98.1",
    /** disconnector control log */
    disconnectorLog: "0.0.99.98.2",
    /** communication event log */
    communicationLog: "0.0.99.98.5",
    /** device id 1 (the meter id) */
    deviceId: "0.0.96.1.0",
} as const

/** Every code with its name, unit and class: the rows of the `obis_codes` table (migration 003). */
export const OBIS_TABLE: readonly ObisEntry[] = [
    { code: OBIS.importTotal, name: "active energy import (+A), total", unit: "Wh", class: "register" },
    ...OBIS.importRate.map((code, i) => ({ code, name: `active energy import (+A), rate ${i + 1}`, unit: "Wh", class: "register" as const })),
    { code: OBIS.exportTotal, name: "active energy export (−A), total", unit: "Wh", class: "register" },
    ...OBIS.exportRate.map((code, i) => ({ code, name: `active energy export (−A), rate ${i + 1}`, unit: "Wh", class: "register" as const })),
    { code: OBIS.maxDemand, name: "maximum demand, active import (+A)", unit: "W", class: "demand" },
    { code: OBIS.loadProfile, name: "load profile (interval records)", unit: "", class: "profile" },
    { code: OBIS.intervalImport, name: "active energy import (+A) in the interval", unit: "Wh", class: "channel" },
    { code: OBIS.intervalExport, name: "active energy export (−A) in the interval", unit: "Wh", class: "channel" },
    { code: OBIS.profileStatus, name: "interval status (profile status)", unit: "", class: "channel" },
    { code: OBIS.clock, name: "clock", unit: "s", class: "data" },
    { code: OBIS.standardLog, name: "standard event log", unit: "", class: "log" },
    { code: OBIS.securityLog, name: "fraud detection log (security log)", unit: "", class: "log" },
    { code: OBIS.disconnectorLog, name: "disconnector control log", unit: "", class: "log" },
    { code: OBIS.communicationLog, name: "communication event log", unit: "", class: "log" },
    { code: OBIS.deviceId, name: "device id (meter id)", unit: "", class: "data" },
]

/** The entry of `code`; undefined for a code not in the table. */
export function obisEntry(code: string): ObisEntry | undefined {
    return OBIS_TABLE.find(e => e.code === code)
}

/** `1.0.1.8.0 active energy import (+A), total`: a label for a view. */
export function obisLabel(code: string): string {
    const e = obisEntry(code)
    return e ? `${code} ${e.name}` : code
}

/**
 * The register codes in the order of the register block and the interval record's block
 * (src/wire/registers.ts `registerValues`): import, export, import rates 1..4, export rates 1..4.
 */
export const REGISTER_BLOCK_ORDER: readonly string[] = [OBIS.importTotal, OBIS.exportTotal, ...OBIS.importRate, ...OBIS.exportRate]
if (OBIS.importRate.length !== TOU_REGISTERS) throw new Error("obis: one code per TOU register")

/** The registers as OBIS code → Wh (the wire's mWh / 1000). */
export function registersByObis(r: Pick<Registers, "importMWh" | "exportMWh" | "touImportMWh" | "touExportMWh">): Record<string, number> {
    const mwh = [r.importMWh, r.exportMWh, ...r.touImportMWh, ...r.touExportMWh]
    const out: Record<string, number> = {}
    REGISTER_BLOCK_ORDER.forEach((code, i) => (out[code] = mwh[i] / 1000))
    return out
}

/**
 * The log each chain record kind (src/wire/record.ts `RecordKind`) belongs to; interval
 * records are the load profile. The rows of `obis_record_kinds` (migration 003).
 */
export const RECORD_KIND_OBIS: Readonly<Record<number, string>> = {
    0x01: OBIS.standardLog, // genesis
    0x10: OBIS.loadProfile, // interval close
    0x11: OBIS.standardLog, // register snapshot
    0x20: OBIS.standardLog, // power down
    0x21: OBIS.standardLog, // power up
    0x30: OBIS.securityLog, // command rejected
    0x31: OBIS.securityLog, // key change
    0x32: OBIS.securityLog, // tamper
    0x33: OBIS.standardLog, // time set (clock adjusted)
    0x34: OBIS.standardLog, // store full
    0x35: OBIS.disconnectorLog, // relay change
    0x36: OBIS.securityLog, // command accepted (every authorized command is audited)
}

/** The log each uplink alert kind (src/wire/report.ts `AlertKind`) belongs to. */
export const ALERT_KIND_OBIS: Readonly<Record<number, string>> = {
    [AlertKind.Tamper]: OBIS.securityLog,
    [AlertKind.CommandRejected]: OBIS.securityLog,
    [AlertKind.StoreFull]: OBIS.standardLog,
    [AlertKind.SourceFault]: OBIS.standardLog,
    [AlertKind.BadDownlink]: OBIS.communicationLog,
}

/** The OBIS code of the log (or profile) a chain record of `kind` belongs to. */
export function recordObis(kind: number): string | undefined {
    return RECORD_KIND_OBIS[kind]
}

/**
 * Maximum demand as the firmware computes it at each interval close (src/metrology/metrology.ts
 * `closeRecord`): the average import power over the nominal interval, whole watts.
 */
export function intervalDemandW(importMWh: number, lengthMin: number): number {
    return Math.floor((importMWh * 36) / (lengthMin * 600))
}
