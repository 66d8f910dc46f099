/**
 * Uplink bytes on the wire (issue 14, docs/uplink.md §13): the real firmware (src/main.ts,
 * built privately) in the DeviceScript simulator, three meters of the demo's fleet
 * (sim/src/demo.ts: embedded broker, head-end station with its database, time sync on
 * first contact), one per privacy level, set by the supplier-signed `set-privacy` command
 * as the head-end sends it. Every client reaches the broker through a counting TCP proxy
 * (bench/node/uplink_bytes_wire.ts) that logs each whole MQTT packet of each connection.
 *
 * After the levels are accepted and a warm-up (the backlog of boot drained), the window
 * runs `--uplink-days` simulated days (default 2) on the meters' accelerated clock
 * (`--uplink-interval` real seconds per 30-minute interval, default 1: ×1800). All three
 * levels run at once, over the same window.
 *
 * - uplink_bytes_per_day_{hh,daily,monthly}: bytes of the MQTT PUBLISH packets the meter
 *   sent (fixed header, topic and frame) per simulated day, counted at the broker.
 * - uplink_down_bytes_per_day_{hh,daily,monthly}: PUBLISH bytes the meter received (acks,
 *   commands) per simulated day; uplink_total_bytes_per_day_hh both directions at hh.
 * - uplink_frames_per_day_{hh,daily,monthly}: PUBLISH packets the meter sent per day.
 * - uplink_{daily,monthly}_vs_hh_ratio: against the half-hourly meter of the same run (the
 *   reference); uplink_wire_vs_model_ratio_hh: the half-hourly meter's PUBLISH bytes, plus
 *   its CONNECT + SUBSCRIBE and a day's PINGREQs (what the model counts), against the model
 *   of bench/node/uplink.bench.ts (uplink_model_bytes_per_day_hh) when it ran in the same run.
 * - uplink_keepalive_up_bytes_per_day: the PINGREQs of one real day at the keep-alive the
 *   meter's CONNECT carried on the wire (2 bytes every 0.9 × keep-alive). The keep-alive
 *   runs on real time, not on the accelerated clock, so a simulated day holds almost none
 *   of them: this one figure is derived (from the wire's keep-alive value), not counted.
 *
 *   npm run bench -- uplink_bytes [--uplink-days=N] [--uplink-interval=S]
 * (under `flock /tmp/trustmeter-devtools.lock`: it starts devs devtools on ports 8081-8083)
 */
import { copyFileSync, mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ROOT, devs } from "../../tools/devs.ts"
import { startBroker } from "../../headend/src/broker.ts"
import { Demo } from "../../sim/src/demo.ts"
import { Verdict } from "../../headend/src/commands.ts"
import { PacketType, WirePacket, startWireCounter } from "./uplink_bytes_wire.ts"

const LEVELS = ["half-hourly", "daily", "monthly"] as const
const KEY = { "half-hourly": "hh", daily: "daily", monthly: "monthly" } as const

const opt = (k: string) => process.argv.find(a => a.startsWith(`--uplink-${k}=`))?.split("=")[1]
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/** Compiles src/main.ts in a private directory (the shared bytecode.devs is other builds' too). */
async function buildFirmware(out: string) {
    const dir = mkdtempSync(join(tmpdir(), "tm-uplink-bytes-build-"))
    try {
        for (const f of ["src", "boards", "package.json", "devsconfig.json", "node_modules"]) symlinkSync(join(ROOT, f), join(dir, f))
        const r = await devs(["build", "src/main.ts"], { cwd: dir, timeoutMs: 180_000 })
        if (r.code !== 0) throw new Error(`devs build src/main.ts failed:\n${r.output}`)
        copyFileSync(join(dir, ".devicescript/bin/bytecode.devs"), out)
    } finally {
        rmSync(dir, { recursive: true, force: true })
    }
}

async function until(what: string, cond: () => boolean, timeoutMs: number) {
    const end = Date.now() + timeoutMs
    while (!cond()) {
        if (Date.now() > end) throw new Error(`uplink_bytes: timed out waiting for ${what}`)
        await sleep(250)
    }
}

const sum = (ps: WirePacket[]) => ps.reduce((a, p) => a + p.bytes, 0)

export default async function (results: Record<string, number>) {
    const intervalS = Number(opt("interval") ?? 1)
    const days = Number(opt("days") ?? 2)
    if (!(intervalS > 0) || !(days > 0)) throw new Error("uplink_bytes: --uplink-interval and --uplink-days take positive numbers")
    const tmp = mkdtempSync(join(tmpdir(), "tm-uplink-bytes-"))
    const firmware = join(tmp, "firmware.devs")
    const log = (l: string) => console.log(`uplink_bytes: ${l}`)
    log("building src/main.ts")
    await buildFirmware(firmware)
    const broker = await startBroker()
    const wire = await startWireCounter(broker)
    let demo: Demo | undefined
    try {
        demo = await Demo.start({
            meters: LEVELS.length,
            intervalS,
            brokerUrl: wire.url,
            keystorePath: join(tmp, "keystore.json"),
            dir: join(tmp, "meters"),
            database: join(tmp, "db"),
            firmware,
            fresh: true,
            log,
        })
        const d = demo
        const meters = d.ks.meters.slice(0, LEVELS.length)
        const fleetMeter = (i: number) => d.fleetMeter(meters[i])
        // the demo's network operator syncs each meter's clock on its first report
        const synced = (i: number) => /^METER status .* utc=[1-9]/m.test(fleetMeter(i).device.output().replace(/^WASM> /gm, ""))
        await until("every meter's time sync", () => meters.every((_, i) => synced(i)), 180_000)
        log(`clocks set (×${d.scale}); setting the privacy levels`)
        for (let i = 1; i < LEVELS.length; i++) {
            const a = await d.command(meters[i], "set-privacy", [LEVELS[i]], { waitMs: 60_000 })
            if (a?.verdict !== Verdict.Accepted) throw new Error(`uplink_bytes: ${meters[i].name} did not accept set-privacy ${LEVELS[i]}: ${JSON.stringify(a)}`)
            d.state.meter(meters[i].meterId)!.privacy = LEVELS[i]
        }
        // warm-up: the boot's backlog drains, the last command answers ride out
        await sleep(4 * intervalS * 1000)
        log(`window: ${days} simulated day(s), ${((days * 48 * intervalS) / 60).toFixed(1)} real minutes`)
        const t0 = Date.now()
        const s0 = d.simNow()
        await sleep(days * 48 * intervalS * 1000)
        const t1 = Date.now()
        const simDays = (d.simNow() - s0) / 86400
        const out: Record<string, number> = {}
        const rows: string[] = []
        let keepAliveS = 0
        let connectBytes = 0
        for (let i = 0; i < LEVELS.length; i++) {
            const id = `tm-${meters[i].meterId}`
            const all = wire.packets(id, t0, t1)
            const conns = wire.connections.filter(c => c.clientId === id)
            if (!conns.length) throw new Error(`uplink_bytes: no connection of ${id} went through the counter`)
            keepAliveS = conns[conns.length - 1].keepAliveS
            // the session's CONNECT and SUBSCRIBE as the meter sent them (once per connection)
            if (i === 0) connectBytes = sum(conns[0].packets.filter(p => p.dir === "up" && (p.type === PacketType.Connect || p.type === PacketType.Subscribe)))
            const upPub = all.filter(p => p.dir === "up" && p.type === PacketType.Publish)
            const downPub = all.filter(p => p.dir === "down" && p.type === PacketType.Publish)
            const reconnects = all.filter(p => p.type === PacketType.Connect).length
            const k = KEY[LEVELS[i]]
            out[`uplink_bytes_per_day_${k}`] = Math.round(sum(upPub) / simDays)
            out[`uplink_down_bytes_per_day_${k}`] = Math.round(sum(downPub) / simDays)
            out[`uplink_frames_per_day_${k}`] = Number((upPub.length / simDays).toFixed(2))
            rows.push(
                `${LEVELS[i].padEnd(12)} up ${String(sum(upPub)).padStart(7)} B in ${String(upPub.length).padStart(3)} PUBLISH, down ${String(sum(downPub)).padStart(7)} B in ${String(downPub.length).padStart(3)}, ` +
                    `all packets up ${sum(all.filter(p => p.dir === "up"))} B / down ${sum(all.filter(p => p.dir === "down"))} B, reconnects ${reconnects}`
            )
        }
        const hh = out.uplink_bytes_per_day_hh
        for (const k of ["daily", "monthly"])
            if (out[`uplink_frames_per_day_${k}`] === 0)
                log(`WARNING: the ${k} meter sent no frame in ${simDays.toFixed(1)} simulated days: the window is shorter than its period, so its figure leaves its report out; measure it over a whole period (--uplink-days=31 for monthly)`)
        // the levels were in effect: the aggregating meters sent fewer frames than the half-hourly one
        for (const k of ["daily", "monthly"])
            if (!(out[`uplink_frames_per_day_${k}`] < out.uplink_frames_per_day_hh)) throw new Error(`uplink_bytes: the ${k} meter sent as many frames as the half-hourly one: its level is not in effect`)
        out.uplink_total_bytes_per_day_hh = hh + out.uplink_down_bytes_per_day_hh
        out.uplink_daily_vs_hh_ratio = Number((out.uplink_bytes_per_day_daily / hh).toFixed(4))
        out.uplink_monthly_vs_hh_ratio = Number((out.uplink_bytes_per_day_monthly / hh).toFixed(4))
        out.uplink_keepalive_up_bytes_per_day = keepAliveS ? 2 * Math.ceil(86400 / (0.9 * keepAliveS)) : 0
        // like for like with the model, which counts one CONNECT + SUBSCRIBE, the PUBLISHes and the PINGREQs of a day
        if (results.uplink_model_bytes_per_day_hh)
            out.uplink_wire_vs_model_ratio_hh = Number(((hh + out.uplink_keepalive_up_bytes_per_day + connectBytes) / results.uplink_model_bytes_per_day_hh).toFixed(4))
        out.uplink_window_sim_days = Number(simDays.toFixed(3))
        log(`measured over ${simDays.toFixed(3)} simulated days (${((t1 - t0) / 1000).toFixed(0)} s real, clock ×${d.scale}), keep-alive ${keepAliveS} s and CONNECT + SUBSCRIBE ${connectBytes} B on the wire:`)
        for (const r of rows) log(`  ${r}`)
        return out
    } finally {
        await demo?.stop()
        await wire.close()
        await broker.close()
        rmSync(tmp, { recursive: true, force: true })
    }
}
