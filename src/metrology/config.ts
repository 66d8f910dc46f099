import { Board } from "../board/board"
import { Storage } from "../storage/storage"
import { CalendarCheck, TariffCalendar, decodeCalendar } from "../wire/calendar"
import { MeterClock } from "./clock"
import { Metrology } from "./metrology"
import { EnergySource } from "./source"

/**
 * The imperative shell of metrology: reads the `mt.` settings from the storage port, builds
 * the clock, the source and the engine, ticks it on a timer, and persists the tariff
 * calendar. `src/app.ts` wires it (docs/metrology.md, "Wiring"); everything it builds is
 * pure and tested apart from it.
 */
export interface MetrologyConfig {
    /** "sim" (default in the simulator), "pulse" (default on boards) or "ade7953" */
    source: string
    intervalMin: number
    /** simulation time scale (ignored on hardware: always 1) */
    scale: number
    tickMs: number
    seed: number
    baseW: number
    solarW: number
    impPerKWh: number
    pulseDir: string
    silentS: number
    adeAddr: number
    adeLsbKWh: number
}

/** The setting holding the active tariff calendar: its encoding, raw (docs/metrology.md). */
export const CALENDAR_KEY = "mt.cal"

/**
 * Builds the energy source named by `cfg.source`. The factories live in `sources.ts`; an
 * entry passes only the ones its target can use, so a board build carries no simulated
 * household and the simulator no ADE7953 driver (the image's 64 KB code limit).
 */
export type SourceFactory = (board: Board, clock: MeterClock, cfg: MetrologyConfig) => EnergySource

/** What `startMetrology` hands back to the wiring. */
export interface MeteringUnit {
    clock: MeterClock
    meter: Metrology
    source: EnergySource
    config: MetrologyConfig
    /**
     * The command handler's calendar port (src/commands/ports.ts `CalendarPort`) over
     * `applyTariff`: `validate` decodes (decoding validates), `apply` throws the reason.
     */
    tariff: { validate(calendarBytes: Buffer): boolean; apply(calendarBytes: Buffer): Promise<void> }
    /** starts the tick timer; call after subscribing to events and restoring the snapshot */
    run(): void
}

/**
 * Reads the settings, builds clock (unless the caller passes one, e.g. to hand it to the
 * command verifier first), source and engine, and loads the persisted calendar (`mt.cal`).
 * Nothing ticks until `run()`, so the caller can restore a snapshot first.
 */
export async function startMetrology(board: Board, storage: Storage, makeSource: SourceFactory, clock?: MeterClock): Promise<MeteringUnit> {
    // the settings (keys <= 13 characters, prefix `mt.`) and their defaults; docs/metrology.md
    // lists them. Their values are JSON text (what `.env` files and provisioning write).
    const s = storage
    const cfg: MetrologyConfig = {
        source: await str(s, "mt.source", board.simulated ? "sim" : "pulse"),
        intervalMin: await num(s, "mt.ivlMin", 30),
        scale: board.simulated ? await num(s, "mt.scale", 1) : 1,
        tickMs: await num(s, "mt.tickMs", 1000),
        seed: await num(s, "mt.seed", 1),
        baseW: await num(s, "mt.baseW", 180),
        solarW: await num(s, "mt.solarW", 2500),
        impPerKWh: await num(s, "mt.impKWh", 1000),
        pulseDir: await str(s, "mt.pulseDir", "import"),
        silentS: await num(s, "mt.silentS", 3600),
        adeAddr: await num(s, "mt.adeAddr", 0x38),
        adeLsbKWh: await num(s, "mt.adeLsbKWh", 100000),
    }
    if (!clock) clock = new MeterClock({ scale: cfg.scale })
    const source = makeSource(board, clock, cfg)
    const meter = new Metrology({ clock: clock, source: source, intervalMin: cfg.intervalMin })
    const bytes = await storage.get(CALENDAR_KEY)
    if (bytes !== undefined) {
        try {
            meter.setCalendar(decodeCalendar(bytes))
        } catch (e) {
            console.log(`metrology: stored calendar rejected: ${(e as Error).message}`)
        }
    }
    let running = false
    return {
        clock: clock,
        meter: meter,
        source: source,
        config: cfg,
        tariff: {
            validate: (calendarBytes: Buffer): boolean => {
                try {
                    decodeCalendar(calendarBytes)
                    return true
                } catch (e) {
                    return false
                }
            },
            apply: async (calendarBytes: Buffer): Promise<void> => {
                const r = await applyTariff(meter, storage, calendarBytes)
                if (!r.ok) throw new RangeError((r as any).reason)
            },
        },
        run: () => {
            if (running) return
            running = true
            // a slow I2C read must not overlap the next tick: skip the tick instead
            let busy = false
            setInterval(async () => {
                if (busy) return
                busy = true
                try {
                    await meter.tick()
                } finally {
                    busy = false
                }
            }, cfg.tickMs)
        },
    }
}

/**
 * Applies the bytes of an authenticated "set tariff" command: decode, validate, switch,
 * persist to `mt.cal`. Returns the reason when the calendar is rejected (nothing changes).
 */
export async function applyTariff(meter: Metrology, storage: Storage, calendarBytes: Buffer): Promise<CalendarCheck> {
    let cal: TariffCalendar
    try {
        cal = decodeCalendar(calendarBytes)
    } catch (e) {
        return { ok: false, reason: (e as Error).message }
    }
    const c = meter.setCalendar(cal)
    if (c.ok) await storage.set(CALENDAR_KEY, calendarBytes)
    return c
}

/** Setting `key` as a string: its JSON value, or `def` when absent or not JSON. */
async function str(storage: Storage, key: string, def: string): Promise<string> {
    const b = await storage.get(key)
    if (b === undefined) return def
    try {
        return JSON.parse(b.toString()) + ""
    } catch (e) {
        return def
    }
}

/** Setting `key` as a number (a JSON number or a numeric string), else `def`. */
async function num(storage: Storage, key: string, def: number): Promise<number> {
    const n = parseFloat(await str(storage, key, "" + def))
    return isNaN(n) ? def : n
}
