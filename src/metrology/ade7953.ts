import { I2CPort } from "../board/board"
import { EnergyCounter, EnergySource, SourceReading } from "./source"

/**
 * ADE7953 single-phase metering IC (Analog Devices) on `board.i2c`: the IC integrates active
 * energy itself, the driver reads its energy register once per tick. DeviceScript reaches
 * I2C on both boards (the HLW8012/BL0937 need pulse timing at kHz rates and the PZEM-004T a
 * UART that DeviceScript's board layer does not expose here). Wiring: docs/metrology.md.
 *
 * The register AENERGYA is read-with-reset (LCYCMODE.RSTREAD, the power-on default, which
 * the first read sets again), so every read returns the energy since the previous one: positive is
 * import, negative export. `lsbPerKWh` (settings `mt.adeLsbKWh`) is the calibration: LSBs of
 * AENERGYA per kWh, found by running a known load (docs/metrology.md, "Calibration").
 * After `failLimit` failed reads in a row (NACK: IC silent, wire cut) reads report a fault.
 */
export class Ade7953Source implements EnergySource {
    readonly kind = "ade7953"
    private i2c: I2CPort
    private address: number
    private imp: EnergyCounter
    private exp: EnergyCounter
    private failLimit: number
    private fails = 0
    private ready = false
    private lastMeterMs = -1
    private lastW = 0

    constructor(i2c: I2CPort, opts?: Ade7953Options) {
        const o = opts || {}
        this.i2c = i2c
        this.address = o.address === undefined ? Ade7953.Address : o.address
        const lsb = o.lsbPerKWh === undefined ? DEFAULT_LSB_PER_KWH : o.lsbPerKWh
        this.imp = new EnergyCounter(lsb)
        this.exp = new EnergyCounter(lsb)
        this.failLimit = o.failLimit === undefined ? 3 : o.failLimit
    }

    async read(meterMs: number): Promise<SourceReading> {
        const dt = this.lastMeterMs < 0 ? 0 : meterMs - this.lastMeterMs
        this.lastMeterMs = meterMs
        let raw: number
        const i2c = this.i2c
        const a = this.address
        try {
            if (!this.ready) {
                // init: checks the IC answers, unlocks and writes the datasheet's optimum
                // setting, sets RSTREAD
                const b = await i2c.readReg(a, Buffer.from(Ade7953Write.Version, "hex"), 1)
                if (b.length !== 1) throw new Error(`ade7953: short read of the version`)
                const v = b[0]
                // a bus without the IC reads as all ones (pull-ups) or all zeros
                if (v === 0 || v === 0xff) throw new Error(`ade7953: implausible version ${v}`)
                // register address (16 bit) ‖ value, as hex string data (free against the code limit):
                // unlock, optimum setting, RSTREAD, in this order
                for (const w of [Ade7953Write.Unlock, Ade7953Write.Optimum, Ade7953Write.RstRead]) await i2c.writeBuf(a, Buffer.from(w, "hex"))
                this.ready = true
            }
            raw = signed24(await i2c.readReg(a, Buffer.from(Ade7953Write.EnergyA, "hex"), 4))
        } catch (e) {
            this.fails++
            // re-initialise once the IC answers again (it may have been reset)
            this.ready = false
            const msg = (e as Error).message
            if (this.fails < this.failLimit) return { importMWh: 0, exportMWh: 0, powerW: this.lastW, ok: true }
            return { importMWh: 0, exportMWh: 0, powerW: 0, ok: false, reason: `ade7953: ${this.fails} failed reads: ${msg}` }
        }
        // nothing below throws: a reading counts once the read succeeded
        this.fails = 0
        const imp = raw > 0 ? this.imp.add(raw) : 0
        const exp = raw < 0 ? this.exp.add(-raw) : 0
        if (dt > 0) this.lastW = Math.round(((imp - exp) * 3600) / dt)
        return { importMWh: imp, exportMWh: exp, powerW: this.lastW, ok: true }
    }
}

/** ADE7953 I2C address and registers (ADE7953 datasheet Rev. C, Table 19 ff. and "Optimum settings"). */
export const enum Ade7953 {
    /** 7-bit I2C address */
    Address = 0x38,
    /** 8-bit: LCYCMODE, bit 6 RSTREAD (energy registers reset on read) */
    LineCycleMode = 0x04,
    RstRead = 0x40,
    /** 8-bit: write 0xAD here to unlock register 0x120 */
    Unlock = 0xfe,
    UnlockKey = 0xad,
    /** 16-bit register 0x120 must hold 0x0030 ("optimum settings") */
    OptimumValue = 0x30,
    /** 8-bit silicon version */
    Version = 0x702,
    /** 32-bit view of the 24-bit signed AENERGYA */
    EnergyA = 0x31e,
}

/** The bytes `read()` sends (the first time, and again after a fault, the set-up ones): a 16-bit register address, then the value written. */
const enum Ade7953Write {
    /** 0x0FE = 0xAD: unlocks register 0x120 */
    Unlock = "00fead",
    /** 0x120 = 0x0030 (16 bit) */
    Optimum = "01200030",
    /** LCYCMODE (0x004) = RSTREAD */
    RstRead = "000440",
    /** the addresses read: VERSION (0x702), AENERGYA (0x31E) */
    Version = "0702",
    EnergyA = "031e",
}

/** Default calibration (LSB/kWh); every installation must be calibrated. */
export const DEFAULT_LSB_PER_KWH = 100000

/** Settings of the ADE7953 driver (`mt.adeAddr`, `mt.adeLsbKWh`). */
export interface Ade7953Options {
    /** 7-bit I2C address, default 0x38 */
    address?: number
    /** calibration: AENERGYA LSBs per kWh */
    lsbPerKWh?: number
    /** failed reads in a row before the source reports a fault, default 3 */
    failLimit?: number
}

/**
 * The 24-bit two's-complement value in the low 3 bytes of a big-endian 32-bit read; the top
 * byte must be its sign extension, else the bus delivered garbage.
 */
export function signed24(b: Buffer): number {
    if (b.length !== 4) throw new Error(`ade7953: ${b.length}-byte read, 4 expected`)
    const neg = (b[1] & 0x80) !== 0
    if (b[0] !== (neg ? 0xff : 0x00)) throw new Error(`ade7953: top byte ${b[0]} is not a sign extension`)
    const v = b[1] * 65536 + b[2] * 256 + b[3]
    return neg ? v - 16777216 : v
}
