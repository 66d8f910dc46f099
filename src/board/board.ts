/**
 * The board layer: the only part of the firmware that knows about pins.
 *
 * Everything else in `src/` talks to these small interfaces, so the same meter code runs
 * on a Pico W, on an ESP32-C3 and in the DeviceScript simulator. Each port has a simulated
 * twin in `simulated.ts`; `hardware.ts` binds the ports to real pins.
 */

/** The load-switching relay (the meter's "off switch"). */
export interface RelayPort {
    /** true when the relay is closed, i.e. the premises are supplied */
    isClosed(): boolean
    /** drive the relay; resolves once the hardware has been told */
    setClosed(closed: boolean): Promise<void>
}

/** The consumer's local push button (GB "Arm" semantics: a press reconnects an armed meter). */
export interface ArmButtonPort {
    /** register a handler called once per press (after debouncing) */
    onPress(handler: () => void): void
}

/** A single status LED. */
export interface StatusLedPort {
    set(on: boolean): Promise<void>
    isOn(): boolean
}

/**
 * A pulse input (meter LED / S0 output). `count()` is a free-running, debounced pulse
 * counter that wraps at 2^32; consumers take differences modulo 2^32.
 */
export interface PulseInputPort {
    count(): number
}

/** A minimal I2C master, enough for a metering IC such as the ADE7953. */
export interface I2CPort {
    writeBuf(address: number, data: Buffer): Promise<void>
    /** write `reg` (register address bytes), then read `size` bytes */
    readReg(address: number, reg: Buffer, size: number): Promise<Buffer>
}

export interface Board {
    /** board id, e.g. "simulator", "trustmeter_pico_w" */
    id: string
    simulated: boolean
    relay: RelayPort
    armButton: ArmButtonPort
    statusLed: StatusLedPort
    pulseInput: PulseInputPort
    i2c: I2CPort
}

/** 2^32. Written out: the compiler folds `%` with hex literals above 2^31 wrongly. */
export const U32 = 4294967296

/** u32 difference `now - before` of two wrapping counters. */
export function counterDelta(now: number, before: number): number {
    let d = now - before
    if (d < 0) d += U32
    return d
}

/** `(value + k)` wrapped to u32, for 0 <= k < 2^32. `%` is avoided: see U32. */
export function wrapAddU32(value: number, k: number): number {
    const v = value + k
    return v >= U32 ? v - U32 : v
}
