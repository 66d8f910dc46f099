/**
 * `npm run test:hil`: runs every device suite (test/device/**\/*.test.ts, the files
 * `npm test` runs in the simulator) on a device reached through `devs devtools`, one
 * deploy per suite, and ends with one line `N passed, N failed` (exit 1 on any failure,
 * a suite timeout, or a device that stops answering). See docs/hil.md.
 *
 *   npm run test:hil                  a board found on a serial port, else a simulated device
 *   npm run test:hil -- --serial      the board on a serial port (devs devtools --serial)
 *   npm run test:hil -- --usb         the board over USB (devs devtools --usb; needs `usb`)
 *   npm run test:hil -- --sim         a simulated device this runner starts
 *   npm run test:hil -- chain         only suites whose path contains "chain"
 *
 * More options: --network / --no-network (whether the device reaches the broker; default:
 * the simulator does, a board does not), --dir <folder> (suites from another folder),
 * --connect-timeout <ms> (how long the first deploy may wait for the board; 30000),
 * --timeout-scale <x> (multiplies each suite's @timeout, for slow boards; 1).
 */
import { readdirSync, statSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { ROOT, readSuiteTags } from "../tools/devs.ts"
import { DeviceGone, HilDevice, Transport, findSerialBoard, runSuiteOnDevice, suiteSkipReason, transportOption } from "../tools/hil.ts"

const args = process.argv.slice(2)
const valueOf = (name: string) => {
    const i = args.indexOf(name)
    return i >= 0 ? args[i + 1] : undefined
}
const valued = new Set(["--dir", "--connect-timeout", "--timeout-scale"])
const filters = args.filter((a, i) => !a.startsWith("--") && !valued.has(args[i - 1]))
const dir = resolve(ROOT, valueOf("--dir") ?? "test/device")
const connectTimeoutMs = Number(valueOf("--connect-timeout") ?? 30_000)
const timeoutScale = Number(valueOf("--timeout-scale") ?? 1)
const network = args.includes("--network") ? true : args.includes("--no-network") ? false : undefined

function listSuites(d: string): string[] {
    const out: string[] = []
    for (const e of readdirSync(d).sort()) {
        const p = join(d, e)
        if (statSync(p).isDirectory()) out.push(...listSuites(p))
        else if (e.endsWith(".test.ts")) out.push(p)
    }
    return out.filter(f => filters.length === 0 || filters.some(x => relative(ROOT, f).includes(x)))
}

let transport: Transport | undefined = transportOption(args)
if (!transport) {
    const port = await findSerialBoard()
    transport = port ? "serial" : "sim"
    console.log(
        port
            ? `hil: found a board on ${port}: running on it over serial (--sim runs on the simulator instead)`
            : "hil: no board attached (none found on the serial ports): running on a SIMULATED device (--serial or --usb for a board)"
    )
}
console.log(`hil: device over ${transport === "sim" ? "devtools, simulated by this runner" : `devs devtools --${transport}`}`)

let passed = 0
let failed = 0
let skipped = 0
const failures: string[] = []
const suites = listSuites(dir)
let dev: HilDevice | undefined
// Ctrl-C or a CI job's cancel: stop devtools and the simulator (they run detached) first
for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.once(sig, () => {
        console.log(`\nhil: ${sig}: stopping the device`)
        void (dev ? dev.close() : Promise.resolve()).finally(() => process.exit(130))
    })
try {
    dev = await HilDevice.open(transport, { connectTimeoutMs })
    const traits = dev.traits(network)
    for (let i = 0; i < suites.length; i++) {
        const rel = relative(ROOT, suites[i])
        const tags = readSuiteTags(suites[i])
        tags.timeoutMs = Math.round(tags.timeoutMs * timeoutScale)
        const why = suiteSkipReason(tags, traits)
        if (why) {
            skipped++
            console.log(`skip ${rel} (${why})`)
            continue
        }
        const t0 = Date.now()
        try {
            const r = await runSuiteOnDevice(dev, rel, tags)
            passed += r.passed
            failed += r.failed
            const secs = ((Date.now() - t0) / 1000).toFixed(1)
            if (r.failed) {
                failures.push(rel)
                console.log(`FAIL ${rel}: ${r.passed} passed, ${r.failed} failed${r.aborted ? " (aborted)" : ""} [${secs}s]`)
                console.log(r.output.split("\n").slice(-60).join("\n"))
            } else console.log(`ok   ${rel}: ${r.passed} passed [${secs}s]`)
        } catch (e) {
            if (!(e instanceof DeviceGone)) throw e
            failed++
            failures.push(rel)
            const left = suites.length - i - 1
            console.log(`FAIL ${rel}: ${e.message}${left ? `\n${left} more suite(s) not run` : ""}`)
            break
        }
    }
} catch (e) {
    if (!(e instanceof DeviceGone)) throw e
    failed++
    failures.push("device")
    console.log(`FAIL device over ${transport}: ${e.message}`)
} finally {
    await dev?.close()
}
if (failures.length) console.log(`\nfailed: ${failures.join(", ")}`)
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`)
process.exit(failed || passed === 0 ? 1 : 0)
