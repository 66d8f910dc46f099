import * as ds from "@devicescript/core"
import { randomBuffer } from "@devicescript/crypto"
import { Board } from "./board/board"
import { CommandHandler } from "./commands/handler"
import { MqttLink, Uplink, readUplinkConfig, storeRecordSource } from "./comms/index"
import { ed25519Verify } from "./crypto/ed25519"
import { MeterEvents } from "./meter/events"
import { IntervalLog } from "./meter/interval_log"
import { registerCadence } from "./meter/register_cadence"
import { startStatusReport } from "./meter/status"
import { SourceFactory, startMetrology } from "./metrology/config"
import { settingsStorage } from "./storage/settings"
import { DEFAULT_SLOTS, IndexStore } from "./store/indexstore"
import { decodeMeterState, recoverMeterState } from "./store/meterstate"
import { RecordKind } from "./wire/record"
import { encodeRegisters } from "./wire/registers"

/**
 * Wires the meter's modules to a board; the entry files (`main.ts`, `main_pico_w.ts`,
 * `main_esp32_c3.ts`) choose the board and the energy sources it can use.
 *
 *   metrology ──interval──▶ index store ──records──▶ uplink ──MQTT──▶ head-end
 *        ▲                      ▲                      │
 *        └── clock, tariff ── commands ◀──envelopes────┘
 *
 * The protocols between the modules live in src/meter/: interval persistence, the register
 * block's cadence, alert translation and the `METER ` console protocol (status.ts).
 *
 * Callbacks are passed as method references (`events.storeAlert`): the VM binds a method
 * read from an object to that object, and each arrow would be one more function in the
 * image (its 64 KB code limit). This file runs only in DeviceScript.
 */
export async function startMeter(board: Board, sources: SourceFactory) {
    console.log(`METER boot board=${board.id}`)
    const mu = await startMetrology(board, settingsStorage, sources)
    let cfg
    try {
        cfg = await readUplinkConfig(settingsStorage)
    } catch (e) {
        // an unprovisioned meter still measures, but keeps nothing: it has no chain key
        console.log(`METER unprovisioned: ${(e as Error).message}; run \`trustmeter provision\``)
        mu.run()
        return
    }
    const events = new MeterEvents()
    events.clock = mu.clock
    const store = await IndexStore.open({
        meterId: cfg.meterId,
        meterSecret: cfg.secret,
        storage: settingsStorage,
        now: mu.clock.utc,
        onAlert: events.storeAlert,
    })
    events.chain = store
    const verdict = store.verdict()
    console.log(`METER chain ok=${verdict.ok ? 1 : 0} head=${store.head().seq} checked=${verdict.checked}`)
    // registers and profile resume from the persisted state, repaired first and checked
    // against the chain (an edited state is tamper: registers rebuilt from the chain)
    const rec = await recoverMeterState(store)
    const intervals = new IntervalLog(store, mu.meter, rec.state)
    await store.append(RecordKind.PowerUp, mu.clock.utc(), Buffer.alloc(0))
    const commands = new CommandHandler({
        meterId: cfg.meterId,
        boardId: board.id,
        storage: settingsStorage,
        signatureCheck: ed25519Verify,
        // time syncs, outcomes, refusals, epoch rolls, manifests: to the chain and upstream
        clock: events,
        events: events,
        alerts: events,
        uplink: events,
        firmware: events,
        relay: board.relay,
        armButton: board.armButton,
        calendar: mu.tariff,
        timer: mu.clock, // meter time: an accelerated simulation's disconnect offsets shrink
        random: () => randomBuffer(4).getAt(0, "u32"),
        millis: ds.millis,
        recordedTime: (decodeMeterState(store.loadSnapshot()) || { dueTime: 0 }).dueTime, // a time-sync floor after a reboot
    })
    if (!(await commands.start())) console.log("METER no trust anchor: commands are refused until provisioned")
    const perDay = (24 * 60) / mu.meter.intervalMinutes()
    const link = new MqttLink(cfg.broker, cfg.meterIdHex)
    const uplink = new Uplink({
        meterId: cfg.meterId,
        secret: cfg.secret,
        storage: settingsStorage,
        epoch: commands.uplinkEpoch, // the command policy's; a roll arrives through `setEpoch`
        source: storeRecordSource(store),
        transport: link,
        commands: { handle: commands.handleCommand },
        privacyLevel: commands.privacyLevel,
        registers: registerCadence(perDay, () => encodeRegisters(mu.meter.registers())),
        // at a privacy level, records wait for their period's read up to 3/4 of the store (docs/uplink.md §8)
        maxAggregateRecords: (DEFAULT_SLOTS * 3) / 4,
    })
    events.uplink = uplink
    if (!verdict.ok || rec.tampered) events.storeAlert(RecordKind.Tamper)
    intervals.uplink = uplink
    mu.meter.onEvent(events.metrologyEvent)
    await uplink.start()
    link.start()
    mu.run()
    intervals.run(10000)
    startStatusReport(mu, board, store, uplink, link)
}
