/**
 * Provisioning a simulated meter: the head-end's settings (headend/src/provision.ts)
 * written into the flash of a DeviceScript simulator over the devtools Jacdac bus.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { DEVS, killTree } from "../../tools/devs.ts"
import { JacdacBus } from "../../tools/jacdac.ts"
import { identityDigest } from "../../headend/src/provision.ts"
import { writeFileAtomic } from "../../headend/src/keystore.ts"

/**
 * Writes `settings` into the simulated meter living in `dir` (device id `meterId`). Needs
 * a running `devs devtools`. If the meter's flash was provisioned with another identity
 * (keystore recreated), the flash is wiped first: its chain and counters belong to keys
 * that no longer exist.
 */
export async function provisionSimulatedMeter(dir: string, meterId: string, settings: Record<string, Buffer>, timeoutMs = 30_000) {
    mkdirSync(dir, { recursive: true })
    const stamp = join(dir, "provisioned")
    const digest = identityDigest(settings)
    const flash = join(dir, ".devicescript/flash")
    if (existsSync(flash) && (!existsSync(stamp) || readFileSync(stamp, "utf8").trim() !== digest))
        rmSync(flash, { recursive: true, force: true })
    const vm = spawn(DEVS, ["run", "--wait", "--device-id", meterId, "--no-colors"], {
        cwd: dir,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
    })
    let out = ""
    vm.stdout!.on("data", d => (out += d))
    vm.stderr!.on("data", d => (out += d))
    let bus: JacdacBus | undefined
    try {
        bus = await JacdacBus.connect()
        await bus.writeSettings(meterId, settings, timeoutMs)
    } catch (e) {
        throw new Error(`provisioning meter ${meterId} failed: ${(e as Error).message}\n${out.slice(-1500)}`)
    } finally {
        bus?.close()
        killTree(vm)
        await new Promise(r => (vm.exitCode !== null ? r(0) : vm.once("close", r)))
    }
    writeFileAtomic(stamp, digest + "\n")
}
