import * as ds from "@devicescript/core"
import "@devicescript/gpio"
import { i2c } from "@devicescript/i2c"
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
 * What a board entry hands over. DeviceScript needs server configurations as literals, so
 * the entry file starts the relay and button servers itself (`startRelay({ pin: pins.RELAY })`)
 * and passes the clients; the GPIO pins are passed as they are.
 */
export interface MeterHardware {
    relay: ds.Relay
    armButton: ds.Button
    pulse: ds.InputPin
    statusLed: ds.OutputPin
}

/** Pulse edges closer than this are contact bounce, not energy (S0 pulses are >= 30 ms). */
export const PULSE_DEBOUNCE_MS = 20

class HardwareRelay implements RelayPort {
    private relay: ds.Relay
    private closed = false
    constructor(relay: ds.Relay) {
        this.relay = relay
    }
    isClosed() {
        return this.closed
    }
    async setClosed(closed: boolean) {
        await this.relay.enabled.write(closed)
        this.closed = closed
    }
}

class HardwareArmButton implements ArmButtonPort {
    private button: ds.Button
    constructor(button: ds.Button) {
        this.button = button
    }
    onPress(handler: () => void) {
        this.button.down.subscribe(handler)
    }
}

class HardwareStatusLed implements StatusLedPort {
    private on = false
    private pin: ds.OutputPin
    constructor(pin: ds.OutputPin) {
        this.pin = pin
        pin.setMode(ds.GPIOMode.Output)
    }
    async set(on: boolean) {
        this.pin.write(on ? 1 : 0)
        this.on = on
    }
    isOn() {
        return this.on
    }
}

class HardwarePulseInput implements PulseInputPort {
    private n = 0
    private last = -1
    constructor(pin: ds.InputPin) {
        pin.setMode(ds.GPIOMode.InputPullUp)
        // S0 outputs pull the line low for each pulse: count falling edges, debounced
        const self = this
        pin.subscribe(v => {
            const now = ds.millis()
            if (v !== 0 || (self.last >= 0 && now - self.last < PULSE_DEBOUNCE_MS)) return
            self.last = now
            self.n = wrapAddU32(self.n, 1)
        })
    }
    count() {
        return this.n
    }
    lastPulseMillis() {
        return this.last
    }
}

class HardwareI2C implements I2CPort {
    async writeBuf(address: number, data: Buffer) {
        await i2c.xfer(address, data)
    }
    async readReg(address: number, reg: Buffer, size: number) {
        return await i2c.xfer(address, reg, size)
    }
}

/** Binds the board ports to real pins. Never call this in the simulator: pins hang there. */
export function hardwareBoard(id: string, hw: MeterHardware): Board {
    return {
        id: id,
        simulated: false,
        relay: new HardwareRelay(hw.relay),
        armButton: new HardwareArmButton(hw.armButton),
        statusLed: new HardwareStatusLed(hw.statusLed),
        pulseInput: new HardwarePulseInput(hw.pulse),
        i2c: new HardwareI2C(),
    }
}
