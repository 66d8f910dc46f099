import {
    ArmButtonPort,
    Board,
    I2CPort,
    PulseInputPort,
    RelayPort,
    StatusLedPort,
    wrapAddU32,
} from "./board"

/**
 * Simulated twins of the board's ports. They behave like the hardware from the meter's
 * point of view, and add test hooks (`press()`, `inject()`, `respond()`) that the real
 * board cannot offer.
 */

export class SimulatedRelay implements RelayPort {
    private closed = true
    /** number of times the relay changed state (a real relay counts operations too) */
    operations = 0
    isClosed() {
        return this.closed
    }
    async setClosed(closed: boolean) {
        if (closed !== this.closed) this.operations++
        this.closed = closed
    }
}

export class SimulatedArmButton implements ArmButtonPort {
    private handlers: (() => void)[] = []
    onPress(handler: () => void) {
        this.handlers.push(handler)
    }
    /** test hook: the consumer presses the button */
    press() {
        for (const h of this.handlers) h()
    }
}

export class SimulatedStatusLed implements StatusLedPort {
    private on = false
    async set(on: boolean) {
        this.on = on
    }
    isOn() {
        return this.on
    }
}

export class SimulatedPulseInput implements PulseInputPort {
    private n = 0
    count() {
        return this.n
    }
    /** test hook: `k` pulses arrive now (the counter wraps at 2^32 like the hardware's) */
    inject(k: number) {
        this.n = wrapAddU32(this.n, k)
    }
    /** test hook: start the counter at a chosen value, e.g. just below the wrap */
    preset(n: number) {
        this.n = n
    }
}

/**
 * An I2C bus with register-mapped fake devices. Unknown addresses fail like a NACK on
 * hardware, so a driver's "IC silent" path can be tested.
 */
export class SimulatedI2C implements I2CPort {
    private devices: { [addr: string]: (reg: Buffer, size: number) => Buffer } = {}
    writes: { address: number; data: Buffer }[] = []
    /** test hook: attach a fake device answering register reads */
    respond(address: number, reader: (reg: Buffer, size: number) => Buffer) {
        this.devices[address + ""] = reader
    }
    /** test hook: detach a device (wire cut) */
    detach(address: number) {
        delete this.devices[address + ""]
    }
    private device(address: number) {
        const d = this.devices[address + ""]
        if (!d) throw new Error(`i2c: no device at address ${address}`)
        return d
    }
    async writeBuf(address: number, data: Buffer) {
        this.device(address)
        this.writes.push({ address, data })
    }
    async readReg(address: number, reg: Buffer, size: number) {
        return this.device(address)(reg, size)
    }
}

export interface SimulatedBoard extends Board {
    relay: SimulatedRelay
    armButton: SimulatedArmButton
    statusLed: SimulatedStatusLed
    pulseInput: SimulatedPulseInput
    i2c: SimulatedI2C
}

/** A fresh simulated board; used by `src/main.ts` in the simulator and by device tests. */
export function simulatedBoard(): SimulatedBoard {
    return {
        id: "simulator",
        simulated: true,
        relay: new SimulatedRelay(),
        armButton: new SimulatedArmButton(),
        statusLed: new SimulatedStatusLed(),
        pulseInput: new SimulatedPulseInput(),
        i2c: new SimulatedI2C(),
    }
}
