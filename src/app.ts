import * as ds from "@devicescript/core"
import { randomBuffer } from "@devicescript/crypto"
import { Board } from "./board/board"
import { CommandHandler } from "./commands/handler"
import { CommandEventKind } from "./commands/ports"
import { AlertKind, MqttLink, StoreRecordSource, Uplink, readUplinkConfig } from "./comms/index"
import { ed25519Verify } from "./crypto/ed25519"
import { SourceFactory, applyTariff, startMetrology } from "./metrology/config"
import { settingsStorage } from "./storage/settings"
import { decodeCalendar } from "./wire/calendar"
import { IntervalRecord, IntervalStatus, decodeInterval, encodeInterval } from "./wire/interval"
import { encodeRegisters } from "./wire/registers"
import { DEFAULT_SLOTS, IndexStore } from "./store/indexstore"
import { encodeMeterState, recoverMeterState } from "./store/meterstate"
import { RecordKind, decodeRecord, putU32BE } from "./store/record"

/**
 * Wires the meter's modules to a board. This is the whole firmware apart from the choice
 * of board and of the energy sources it can use, which the entry files (`main.ts`,
 * `main_pico_w.ts`, `main_esp32_c3.ts`) make.
 *
 *   metrology ──interval──▶ index store ──records──▶ uplink ──MQTT──▶ head-end
 *        ▲                      ▲                      │
 *        └── clock, tariff ── commands ◀──envelopes────┘
 *
 * Console lines starting with `METER ` are a stable status protocol that the head-end's
 * fleet runner and the end-to-end tests read.
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

    let uplink: Uplink
    const alert = (kind: number) => {
        if (uplink) uplink.raiseAlert(kind)
    }
    const store = await IndexStore.open({
        meterId: cfg.meterId,
        meterSecret: cfg.secret,
        now: () => mu.clock.utc(),
        onAlert: kind => alert(kind === RecordKind.StoreFull ? AlertKind.StoreFull : AlertKind.Tamper),
    })
    const verdict = store.verdict()
    console.log(`METER chain ok=${verdict.ok ? 1 : 0} head=${store.head().seq} checked=${verdict.checked}`)

    // registers and profile: resume from the persisted state, repairing an interval
    // record that a power cut kept out of the chain
    const rec = await recoverMeterState(store)
    // the interval part of the persisted state, kept between closes
    let last = rec.state ? rec.state : { dueSeq: 0, dueTime: 0, lastInterval: undefined as Buffer, snapshot: undefined as Buffer }
    if (rec.state) {
        try {
            mu.meter.restore(rec.state.snapshot)
        } catch (e) {
            console.log(`METER snapshot rejected: ${(e as Error).message}`)
        }
    }
    await store.append(RecordKind.PowerUp, mu.clock.utc(), Buffer.alloc(0))

    const commands = new CommandHandler({
        meterId: cfg.meterId,
        boardId: board.id,
        storage: settingsStorage,
        signatureCheck: ed25519Verify,
        clock: {
            utcNow: () => mu.clock.utc(),
            set: async (utc: number) => {
                const before = mu.clock.utc()
                mu.clock.set(utc)
                const p = Buffer.alloc(8)
                putU32BE(p, 0, before)
                putU32BE(p, 4, utc)
                await store.append(RecordKind.TimeSet, utc, p)
            },
        },
        relay: board.relay,
        armButton: board.armButton,
        events: {
            record: async (kind: number, payload: Buffer) => {
                if (kind === CommandEventKind.Rejected) await store.append(RecordKind.CommandRejected, mu.clock.utc(), payload)
                else await store.append(RecordKind.CommandAccepted, mu.clock.utc(), payload)
                if (uplink) uplink.notify()
            },
        },
        alerts: {
            alert: async (kind: number, payload: Buffer) => alert(AlertKind.CommandRejected),
        },
        calendar: {
            validate: (b: Buffer) => {
                try {
                    decodeCalendar(b) // validates
                    return true
                } catch (e) {
                    return false
                }
            },
            apply: async (b: Buffer) => {
                const r = await applyTariff(mu.meter, settingsStorage, b)
                if (!r.ok) throw new RangeError((r as any).reason)
            },
        },
        uplink: {
            setEpoch: async (epoch: number) => {
                if (uplink) await uplink.rollEpoch(epoch)
            },
        },
        firmware: {
            // DeviceScript replaces bytecode only through its deploy protocol (devtools or
            // the cloud gateway); the accepted manifest is recorded so that a deploy of an
            // image with this digest can be checked against it (docs/commands.md).
            stage: async manifest => {
                console.log(`METER firmware manifest accepted seq=${manifest.sequence} board=${manifest.board}`)
            },
        },
        // timers run on meter time: in an accelerated simulation (mt.scale) a disconnect's
        // random offset shrinks with the clock; on hardware the scale is 1
        timer: {
            after: (ms: number, fn: () => void | Promise<void>) => setTimeout(fn, ms / mu.clock.scale),
            cancel: (h: number) => clearTimeout(h),
        },
        random: () => randomBuffer(4).getAt(0, "u32"),
        millis: ds.millis,
    })
    const provisioned = await commands.start()
    if (!provisioned) console.log("METER no trust anchor: commands are refused until provisioned")

    // the register block (62 bytes) goes up after boot and then once a day: the interval
    // records carry the energy in between, and 62 bytes in every half-hourly frame would
    // double the meter's daily traffic (docs/uplink.md, "Bytes per day")
    const perDay = (24 * 60) / mu.meter.intervalMinutes()
    let framesSinceRegisters = perDay
    const registersDue = (): Buffer => {
        if (framesSinceRegisters++ < perDay) return undefined
        framesSinceRegisters = 1
        return encodeRegisters(mu.meter.registers())
    }
    const link = new MqttLink(cfg.broker, cfg.meterIdHex)
    uplink = new Uplink({
        meterId: cfg.meterId,
        secret: cfg.secret,
        storage: settingsStorage,
        // the command policy keeps the key epoch; a roll reaches the uplink through `setEpoch`
        epoch: () => commands.uplinkEpoch(),
        source: new StoreRecordSource(store),
        transport: link,
        commands: { handle: async (b: Buffer) => await commands.handleCommand(b) },
        privacyLevel: () => commands.privacyLevel(),
        registers: registersDue,
        energy: {
            importWh: (data: Buffer) => intervalOf(data, true),
            exportWh: (data: Buffer) => intervalOf(data, false),
        },
        intervalsPerDay: perDay,
        // a daily or monthly total spans at most 3/4 of the store (docs/uplink.md §8)
        maxAggregateRecords: (DEFAULT_SLOTS * 3) / 4,
    })
    if (!verdict.ok) alert(AlertKind.Tamper)

    // interval closes are persisted one at a time, in order, outside the metrology tick
    const closed: IntervalRecord[] = []
    let draining = false
    const drain = async () => {
        if (draining) return
        draining = true
        try {
            while (closed.length) await persistInterval(closed.shift())
        } finally {
            draining = false
        }
    }
    mu.meter.onIntervalClose((r: IntervalRecord) => {
        closed.push(r)
        setTimeout(drain, 0)
    })
    const persistInterval = async (r: IntervalRecord) => {
        const payload = encodeInterval(r)
        const time = r.status & IntervalStatus.TimeUnknown ? 0 : r.start
        // state first, record second: recoverMeterState repairs a cut between the two
        last = { dueSeq: store.head().seq + 1, dueTime: time, lastInterval: payload, snapshot: mu.meter.snapshot() }
        await store.saveSnapshot(encodeMeterState(last), true)
        await store.append(RecordKind.IntervalClose, time, payload)
        console.log(`METER interval start=${r.start} status=${r.status} import=${r.importMWh} export=${r.exportMWh} seq=${store.head().seq}`)
        uplink.notify()
    }
    mu.meter.onEvent((kind, detail) => {
        console.log(`METER event ${kind} ${detail}`)
        if (kind === "source-fault") alert(AlertKind.SourceFault)
    })

    await uplink.start()
    link.start()
    mu.run()

    // running registers between interval closes: the store rate-limits these writes to
    // its snapshot period (flash wear, docs/index-store.md)
    setInterval(async () => {
        last.snapshot = mu.meter.snapshot()
        await store.saveSnapshot(encodeMeterState(last))
    }, 10000)
    let led = false
    setInterval(async () => {
        led = !led
        await board.statusLed.set(led)
        const reg = mu.meter.registers()
        // (a template literal takes at most a few substitutions in DeviceScript)
        const relay = board.relay.isClosed() ? 1 : 0
        const up = link.isConnected() ? 1 : 0
        const a = `METER status import=${reg.importMWh} export=${reg.exportMWh} power=${mu.meter.powerW()} relay=${relay}`
        const b = ` head=${store.head().seq} acked=${uplink.ackedSeq()} up=${up} utc=${mu.clock.utc()}`
        console.log(a + b)
    }, 5000)
}

/** Energy of a stored interval record, for the daily and monthly privacy aggregates. */
function intervalOf(stored: Buffer, imported: boolean): number {
    const r = decodeRecord(stored)
    if (!r || r.kind !== RecordKind.IntervalClose) return 0
    try {
        const iv = decodeInterval(r.payload)
        return Math.floor((imported ? iv.importMWh : iv.exportMWh) / 1000)
    } catch (e) {
        return 0
    }
}
