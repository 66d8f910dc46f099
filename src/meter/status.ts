/**
 * The meter's console status protocol. Lines starting with `METER ` are read by the
 * simulated fleet and demo (sim/src/demo.ts), the end-to-end and smoke tests and the tools:
 * keep them byte-identical. They are
 *
 *   METER boot board=<id>                       METER chain ok=<0|1> head=<seq> checked=<n>
 *   METER unprovisioned: <why>; run `trustmeter provision`
 *   METER no trust anchor: commands are refused until provisioned
 *   METER snapshot rejected: <why>              METER event <kind> <detail>
 *   METER interval start=<s> status=<bits> import=<mWh> export=<mWh> seq=<seq>
 *   METER firmware manifest accepted seq=<n> board=<id>
 *   METER status import=<mWh> export=<mWh> power=<W> relay=<0|1> head=<seq> acked=<seq> up=<0|1> utc=<s>
 *
 * each printed where it happens (src/app.ts, src/meter/); the periodic status line is here.
 */
import { Registers } from "../wire/registers"

// The parts the status line reads, as narrow views of the real modules (passed one by one:
// an object of them would cost bytecode at every boot for nothing).
/** the metering unit (src/metrology/config.ts) */
export interface StatusUnit {
    meter: { registers(): Registers; powerW(): number }
    clock: { utc(): number }
}
/** the board (src/board/board.ts) */
export interface StatusBoard {
    relay: { isClosed(): boolean }
    statusLed: { set(on: boolean): Promise<void> }
}
export type StatusStore = { head(): { seq: number } }
export type StatusUplink = { ackedSeq(): number }
export type StatusLink = { isConnected(): boolean }

/** `METER status …`: registers, power, relay, store head and acknowledged seq, link, UTC. */
export function statusLine(unit: StatusUnit, board: StatusBoard, store: StatusStore, uplink: StatusUplink, link: StatusLink): string {
    const reg = unit.meter.registers()
    // (a template literal takes at most a few substitutions in DeviceScript)
    const a = `METER status import=${reg.importMWh} export=${reg.exportMWh} power=${unit.meter.powerW()} relay=${board.relay.isClosed() ? 1 : 0}`
    const b = ` head=${store.head().seq} acked=${uplink.ackedSeq()} up=${link.isConnected() ? 1 : 0} utc=${unit.clock.utc()}`
    return a + b
}

/** Every 5 s: blinks the status LED and prints the status line. */
export function startStatusReport(unit: StatusUnit, board: StatusBoard, store: StatusStore, uplink: StatusUplink, link: StatusLink): void {
    let on = false
    setInterval(async () => {
        on = !on
        await board.statusLed.set(on)
        console.log(statusLine(unit, board, store, uplink, link))
    }, 5000)
}
