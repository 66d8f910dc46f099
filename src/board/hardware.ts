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
    U32,
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

/**
 * Every port of the board in one object (one constructor, one method table: firmware code
 * is counted per function): relay, arm button, status LED, S0 pulse input, I2C bus.
 */
class HardwarePorts implements RelayPort, ArmButtonPort, StatusLedPort, PulseInputPort, I2CPort {
    private relay: ds.Relay
    private closed = false
    private button: ds.Button
    private on = false
    private pin: ds.OutputPin
    private n = 0
    private last = -1
    constructor(hw: MeterHardware) {
        this.relay = hw.relay
        this.button = hw.armButton
        this.pin = hw.statusLed
        hw.statusLed.setMode(ds.GPIOMode.Output)
        const pulse = hw.pulse
        pulse.setMode(ds.GPIOMode.InputPullUp)
        // S0 outputs pull the line low for each pulse: count falling edges, debounced
        const self = this
        pulse.subscribe(v => {
            const now = ds.millis()
            if (v !== 0 || (self.last >= 0 && now - self.last < PULSE_DEBOUNCE_MS)) return
            self.last = now
            // wrapAddU32(n, 1), written out
            const n = self.n + 1
            self.n = n >= U32 ? n - U32 : n
        })
    }
    isClosed() {
        return this.closed
    }
    async setClosed(closed: boolean) {
        await this.relay.enabled.write(closed)
        this.closed = closed
    }
    onPress(handler: () => void) {
        this.button.down.subscribe(handler)
    }
    async set(on: boolean) {
        this.pin.write(on ? 1 : 0)
        this.on = on
    }
    isOn() {
        return this.on
    }
    count() {
        return this.n
    }
    async writeBuf(address: number, data: Buffer) {
        await i2c.xfer(address, data)
    }
    async readReg(address: number, reg: Buffer, size: number) {
        return await i2c.xfer(address, reg, size)
    }
}

/** Binds the board ports to real pins. Never call this in the simulator: pins hang there. */
export function hardwareBoard(id: string, hw: MeterHardware): Board {
    const p = new HardwarePorts(hw)
    return { id: id, simulated: false, relay: p, armButton: p, statusLed: p, pulseInput: p, i2c: p }
}
