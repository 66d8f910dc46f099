import { Board } from "../board/board"
import { Ade7953Source } from "./ade7953"
import { MeterClock } from "./clock"
import { MetrologyConfig } from "./config"
import { HouseholdSource } from "./household"
import { PulseSource } from "./pulse"
import { EnergySource } from "./source"

/**
 * Energy-source factories for `startMetrology` (settings `mt.source`, docs/metrology.md).
 * Each entry file passes the narrowest one for its target: DeviceScript compiles in only
 * what is referenced, and an image's code must end within 64 KB.
 */

/** Simulator: the seeded household (`sim`, default) or the pulse input fed by tests (`pulse`). */
export function simulatorSource(board: Board, clock: MeterClock, cfg: MetrologyConfig): EnergySource {
    if (cfg.source === "pulse") return new PulseSource(board.pulseInput, { impPerKWh: cfg.impPerKWh, direction: cfg.pulseDir, silentS: cfg.silentS })
    return new HouseholdSource(clock, { seed: cfg.seed, baseW: cfg.baseW, solarPeakW: cfg.solarW })
}

/** Boards: the S0/LED pulse input (`pulse`, default) or an ADE7953 on I2C (`ade7953`). */
export function boardSource(board: Board, clock: MeterClock, cfg: MetrologyConfig): EnergySource {
    if (cfg.source === "ade7953") return new Ade7953Source(board.i2c, { address: cfg.adeAddr, lsbPerKWh: cfg.adeLsbKWh })
    return new PulseSource(board.pulseInput, { impPerKWh: cfg.impPerKWh, direction: cfg.pulseDir, silentS: cfg.silentS })
}

/** Every source (tests and benchmarks). */
export function createSource(board: Board, clock: MeterClock, cfg: MetrologyConfig): EnergySource {
    if (cfg.source === "ade7953") return boardSource(board, clock, cfg)
    return simulatorSource(board, clock, cfg)
}
