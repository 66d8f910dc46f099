/** The meter's billing registers and maximum demand (the values the index store protects). */
import { TOU_REGISTERS } from "./calendar"

/** Billing registers, all in whole mWh. Each TOU array sums to its total. */
export interface Registers {
    importMWh: number
    exportMWh: number
    touImportMWh: number[]
    touExportMWh: number[]
}

/** Maximum demand: highest average import power of an interval, W; `start` is its UTC start (0 if unknown). */
export interface MaxDemand {
    watts: number
    start: number
}

/** Registers all zero. */
export function zeroRegisters(): Registers {
    const ti: number[] = []
    const te: number[] = []
    for (let i = 0; i < TOU_REGISTERS; i++) {
        ti.push(0)
        te.push(0)
    }
    return { importMWh: 0, exportMWh: 0, touImportMWh: ti, touExportMWh: te }
}

