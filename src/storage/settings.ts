/**
 * `Storage` on the runtime's settings store: flash on a board, `.devicescript/flash/sim.bin`
 * in the simulator (8 KB there and on the RP2040, 16 KB on the ESP32-C3).
 */
import * as ds from "@devicescript/core"
import { settings } from "@devicescript/settings"
import { Storage, checkKey } from "./storage"

async function get(key: string): Promise<Buffer | undefined> {
    checkKey(key)
    const pkt = await ds.actionReport(
        settings,
        "get",
        async () => await settings.get(key),
        p => p.decode()[0] === key
    )
    const v: Buffer = pkt.decode()[1]
    // the settings service answers an absent or deleted key with an empty value
    if (!v || v.length === 0) return undefined
    return v
}

async function set(key: string, value: Buffer): Promise<void> {
    checkKey(key)
    if (value.length === 0) throw new RangeError("storage: empty value means deleted")
    await settings.set(key, value)
}

async function del(key: string): Promise<void> {
    checkKey(key)
    await settings.delete(key)
}

/** The meter's flash. */
export const settingsStorage: Storage = { get: get, set: set, delete: del }
