/**
 * Provisioning a simulated meter: the head-end's settings (headend/src/provision.ts)
 * written into the flash of a DeviceScript simulator over the devtools Jacdac bus.
 */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { DEVS, killTree, trackChild } from "../../tools/devs.ts"
import { JacdacBus } from "../../tools/jacdac.ts"
import { CHAIN_KEY_SETTING } from "../../headend/src/provision.ts"
import { writeFileAtomic } from "../../headend/src/keystore.ts"

/**
 * Writes `settings` into the simulated meter living in `dir` (device id `meterId`). Needs
 * a running `devs devtools`. If the meter's flash belongs to another identity (keystore
 * recreated: another secret), the flash is wiped first, and `log` says so before: its
 * chain and counters belong to keys that no longer exist. A key rotation is no reason:
 * the meter received it as a signed command (KeyReplace, RootRotate), and a ring already
 * in force ignores the `cv.anchor` written again here (docs/commands.md §2).
 *
 * The chain key K_0 (`st.k0`) is written only to a blank flash: a kept flash holds a chain
 * that carries its own key (the meter deleted K_0 after its genesis record), and writing
 * K_0 again would put it back in flash until the next boot deletes it.
 */
export async function provisionSimulatedMeter(dir: string, meterId: string, settings: Record<string, Buffer>, timeoutMs = 30_000, log?: (msg: string) => void) {
    mkdirSync(dir, { recursive: true })
    const why = flashWipeReason(dir, settings)
    if (why) {
        log?.(`meter ${meterId} (${dir}): wiping its flash: ${why}`)
        rmSync(join(dir, FLASH_DIR), { recursive: true, force: true })
        rmSync(join(dir, TAMPER_MARK), { force: true })
    }
    const write = settingsToWrite(dir, settings)
    const vm = trackChild(
        spawn(DEVS, ["run", "--wait", "--device-id", meterId, "--no-colors"], {
            cwd: dir,
            stdio: ["ignore", "pipe", "pipe"],
            detached: true,
        })
    )
    let out = ""
    vm.stdout!.on("data", d => (out += d))
    vm.stderr!.on("data", d => (out += d))
    let bus: JacdacBus | undefined
    try {
        bus = await JacdacBus.connect()
        await bus.writeSettings(meterId, write, timeoutMs)
    } catch (e) {
        throw new Error(`provisioning meter ${meterId} failed: ${(e as Error).message}\n${out.slice(-1500)}`)
    } finally {
        bus?.close()
        killTree(vm)
        await new Promise(r => (vm.exitCode !== null ? r(0) : vm.once("close", r)))
    }
    writeProvisionStamp(dir, settings)
}

/** What goes onto the meter in `dir` now: `settings` without K_0 when its flash is kept (it holds a chain). */
export function settingsToWrite(dir: string, settings: Record<string, Buffer>): Record<string, Buffer> {
    const write = { ...settings }
    if (existsSync(join(dir, FLASH_DIR))) delete write[CHAIN_KEY_SETTING]
    return write
}

const FLASH_DIR = ".devicescript/flash"
const STAMP = "provisioned"
/**
 * Left in a meter's directory by the demo's stored-record attack (sim/src/attacks.ts, `S`)
 * before it alters a record in the flash: that record can never verify again, so the meter
 * would be refused for good on every later run. The next start wipes that flash (announced).
 */
export const TAMPER_MARK = "tampered-by-demo"

/**
 * Which meter a flash belongs to: a digest of its id, its secret and its chain key K_0, the
 * settings every key of the meter comes from. Not the anchor ring: the meter's ring changes
 * by signed commands after provisioning, so the provisioning-time ring says nothing about
 * the flash. A stamp names the digest when the flash was first provisioned; later runs
 * write no K_0 (`provisionSimulatedMeter`) but the keystore still holds it, so the digest
 * is the same.
 */
export function meterIdentity(settings: Record<string, Buffer>): string {
    const h = createHash("sha256").update("trustmeter/sim-identity/v3")
    for (const k of ["METER_ID", "METER_SECRET", CHAIN_KEY_SETTING]) h.update(k).update(settings[k] ?? Buffer.alloc(0))
    return "v3:" + h.digest("hex").slice(0, 32)
}

/**
 * Why the flash in `dir` must be wiped before provisioning `settings`, or undefined to keep
 * it: its stamp names another identity, or it has none. A stamp from before v2 (a digest
 * over id, secret and anchor ring) counts when it matches the current settings.
 */
export function flashWipeReason(dir: string, settings: Record<string, Buffer>): string | undefined {
    if (!existsSync(join(dir, FLASH_DIR))) return undefined
    const mark = join(dir, TAMPER_MARK)
    if (existsSync(mark))
        return `the demo's stored-record attack (S) altered it in an earlier run (${readFileSync(mark, "utf8").trim()}): that record can never verify again, so its chain starts again from genesis`
    const stampFile = join(dir, STAMP)
    if (!existsSync(stampFile)) return "it has no provisioning stamp (provisioned by something else): its chain cannot be tied to this keystore"
    const stamp = readFileSync(stampFile, "utf8").trim()
    if (stamp === meterIdentity(settings)) return undefined
    if (!stamp.startsWith("v3:"))
        return "it was provisioned before the random chain key K_0 (its chain's key derives from METER_SECRET, which the firmware no longer accepts): its chain starts again from genesis"
    return "it was provisioned with another secret or chain key (keystore recreated?): its chain and counters belong to keys that no longer exist"
}

/** Records which identity the flash in `dir` now belongs to. */
export function writeProvisionStamp(dir: string, settings: Record<string, Buffer>) {
    writeFileAtomic(join(dir, STAMP), meterIdentity(settings) + "\n")
}
