/**
 * `npm run bench`: runs every benchmark and prints one table; writes bench/results.json as
 * one flat JSON object, metric name → number.
 *
 * - bench/device/*.bench.ts: firmware benchmarks. Each is compiled and run as a
 *   long-running simulated device (through `devs devtools`, so without the GC stress of
 *   test mode). It prints `BENCH <metric> <number>` lines and finally `BENCH_DONE`.
 *   Report medians of repeated runs from inside the benchmark.
 * - bench/node/*.bench.ts: host benchmarks. Each default-exports
 *   `async (results) => ({ metric: number, ... })`; they run after the device benchmarks
 *   and see their results, so a host bench can report a ratio against a firmware figure
 *   measured in the same run.
 *
 *   npm run bench                 everything
 *   npm run bench -- ed25519      only files whose name contains "ed25519"
 *   npm run bench -- firmware_code  only firmware_code_bytes: the largest function code end
 *                                 of the three firmware images, really built (tools/codesize.ts)
 *   npm run bench -- --fleet      only the fleet bench (bench/node/fleet_bench.ts, docs/scale.md)
 *   npm run bench -- uplink_bytes [--uplink-days=2] [--uplink-interval=1]
 *                                 only the uplink bytes on the wire: the real firmware, one
 *                                 meter per privacy level, a byte counter at the broker
 *                                 (bench/node/uplink_bytes.bench.ts; starts devs devtools)
 *   npm run bench -- --device     the firmware benchmarks on the board attached over USB
 *                                 serial (--device=serial|usb|sim to choose; docs/hil.md);
 *                                 writes bench/results.device.json instead
 */
import { readdirSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { pathToFileURL } from "node:url"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { ROOT, BYTECODE, build, killTree, runSimulatedDevice, startDevtools } from "../tools/devs.ts"
import { copyFileSync } from "node:fs"
import { DeviceGone, HilDevice, Transport, findSerialBoard, runBenchesOnDevice, transportOption } from "../tools/hil.ts"
import { FIRMWARE_ENTRIES, buildPrivate } from "../tools/codesize.ts"

const filters = process.argv.slice(2).filter(a => !a.startsWith("--"))
const pick = (dir: string) =>
    readdirSync(join(ROOT, dir))
        .filter(f => f.endsWith(".bench.ts"))
        .filter(f => filters.length === 0 || filters.some(x => f.includes(x)))
        .sort()
        .map(f => join(dir, f))

const results: Record<string, number> = {}
const rows: [string, string, number][] = []
function record(source: string, metric: string, value: number) {
    results[metric] = value
    rows.push([source, metric, value])
}

/** Parses a device's `BENCH <metric> <number>` lines. */
export function parseBenchLines(output: string): Record<string, number> {
    const out: Record<string, number> = {}
    for (const m of output.matchAll(/BENCH ([A-Za-z0-9_]+) (-?[0-9.eE+-]+)/g)) out[m[1]] = Number(m[2])
    return out
}

async function deviceBenches(files: string[]) {
    if (files.length === 0) return
    const devtools = await startDevtools()
    try {
        for (const f of files) {
            await build(f)
            const code = join(mkdtempSync(join(tmpdir(), "tm-bench-")), "bench.devs")
            copyFileSync(BYTECODE, code)
            const dev = runSimulatedDevice(code, join(code, "..", "meter"), "00000000be4c0001")
            try {
                await dev.waitFor(/BENCH_DONE/, 600_000)
            } catch (e) {
                console.error(`${f}: ${(e as Error).message}`)
                process.exitCode = 1
            } finally {
                dev.powerCut()
            }
            for (const [k, v] of Object.entries(parseBenchLines(dev.output()))) record(f, k, v)
        }
    } finally {
        killTree(devtools)
    }
}

async function nodeBenches(files: string[]) {
    for (const f of files) {
        const mod = await import(pathToFileURL(join(ROOT, f)).href)
        const r: Record<string, number> = await mod.default(results)
        for (const [k, v] of Object.entries(r)) record(f, k, v)
    }
}

// --device: on a board (or --device=sim: a simulated device) through devtools, via tools/hil.ts
const device: Transport | "detect" | undefined = process.argv.includes("--device")
    ? "detect"
    : transportOption(process.argv.slice(2).filter(a => a.startsWith("--device=")))
async function boardBenches(files: string[], transport: Transport | "detect") {
    if (files.length === 0) return
    if (transport === "detect") {
        const port = await findSerialBoard()
        if (!port) {
            console.error("bench --device: no board attached (no serial port with a Raspberry Pi 2e8a or Espressif 303a USB id); " +
                "flash and plug one in (docs/hil.md), or name the transport: --device=serial|usb")
            process.exit(1)
        }
        console.log(`bench --device: board on ${port}`)
        transport = "serial"
    }
    let dev: HilDevice | undefined
    let gone = false
    try {
        dev = await HilDevice.open(transport)
        for (const r of await runBenchesOnDevice(dev, files)) {
            if (r.error) {
                console.error(`${r.file}: ${r.error}\n${r.output.split("\n").slice(-20).join("\n")}`)
                process.exitCode = 1
            }
            for (const [k, v] of Object.entries(parseBenchLines(r.output))) record(`${r.file} @${transport}`, k, v)
        }
    } catch (e) {
        if (!(e instanceof DeviceGone)) throw e
        console.error(`bench --device: ${e.message}`)
        gone = true
    } finally {
        await dev?.close()
    }
    if (gone) process.exit(1)
}

/**
 * firmware_code_bytes: the largest function code end (the offset the runtime's 64 KB limit
 * applies to; goal 56 KB) of the simulator's and the boards' images. Runs with the whole
 * bench or a filter that is part of "firmware_code".
 */
async function firmwareCode() {
    if (filters.length > 0 && !filters.some(x => "firmware_code".includes(x))) return
    let max = 0
    for (const e of FIRMWARE_ENTRIES) {
        const b = await buildPrivate(e)
        console.log(`${e}: code ends at ${b.codeEnd}`)
        max = Math.max(max, b.codeEnd)
    }
    record("tools/codesize.ts", "firmware_code_bytes", max)
}

// ---- --fleet (bench/node/fleet_bench.ts), not part of the default run ----
//   npm run bench -- --fleet [--fleet-meters=10000] [--fleet-interval=30]   (real seconds per simulated half hour)
// Protocol-level meters through a real mosquitto into head-end workers on MQTT 5 shared
// subscriptions over one PostgreSQL server (docs/scale.md). Adds its fleet_* figures to
// bench/results.json, read again just before writing: other metrics stay as they are.
if (process.argv.includes("--fleet")) {
    const { runFleetBench } = await import("./node/fleet_bench.ts")
    const { readFileSync } = await import("node:fs")
    const opt = (k: string) => process.argv.find(a => a.startsWith(`--fleet-${k}=`))?.split("=")[1]
    const r = await runFleetBench({ meters: Number(opt("meters") ?? 10_000), intervalS: Number(opt("interval") ?? 30), log: l => console.log(l) })
    for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(44)} ${v}`)
    const out = join(ROOT, "bench/results.json")
    const prev = JSON.parse(readFileSync(out, "utf8"))
    writeFileSync(out, JSON.stringify({ ...prev, ...r }, null, 2) + "\n")
    console.log(`\nwrote ${Object.keys(r).length} fleet metrics to ${relative(ROOT, out)}`)
    process.exit(r.fleet_lost_intervals === 0 && r.fleet_duplicate_intervals === 0 ? 0 : 1)
}
// ---- end --fleet ----

if (device) await boardBenches(pick("bench/device"), device)
else await deviceBenches(pick("bench/device"))
await nodeBenches(pick("bench/node"))
if (!device) await firmwareCode()

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4))
const w = Math.max(6, ...rows.map(r => r[1].length))
console.log(`\n${"metric".padEnd(w)}  ${"value".padStart(12)}  source`)
for (const [src, k, v] of rows) console.log(`${k.padEnd(w)}  ${fmt(v).padStart(12)}  ${relative(ROOT, join(ROOT, src))}`)
const out = join(ROOT, device ? "bench/results.device.json" : "bench/results.json")
if (filters.length === 0) writeFileSync(out, JSON.stringify(results, null, 2) + "\n")
else {
    // a filtered run updates only its own metrics
    let prev: Record<string, number> = {}
    try {
        prev = JSON.parse((await import("node:fs")).readFileSync(out, "utf8"))
    } catch {}
    writeFileSync(out, JSON.stringify({ ...prev, ...results }, null, 2) + "\n")
}
console.log(`\nwrote ${relative(ROOT, out)} (${Object.keys(results).length} metrics)`)
