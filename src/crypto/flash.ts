import * as ds from "@devicescript/core"
import { settings } from "@devicescript/settings"

/**
 * The small slice of persistent storage the command verifier needs: binary values under
 * short keys. `SettingsFlash` puts them in the DeviceScript settings (flash on a board,
 * `.devicescript/flash` in the simulator); `MemoryFlash` is the twin for tests, and
 * `InterruptibleFlash` simulates a power cut in the middle of a write.
 */
export interface FlashStore {
    /** the stored bytes, or undefined when the key is absent */
    get(key: string): Promise<Buffer>
    set(key: string, value: Buffer): Promise<void>
    delete(key: string): Promise<void>
}

/** DeviceScript settings keys are at most 13 characters. */
export const MAX_KEY_LENGTH = 13

/** Binary values in `@devicescript/settings`. */
export class SettingsFlash implements FlashStore {
    async get(key: string): Promise<Buffer> {
        checkKey(key)
        const pkt = await ds.actionReport(
            settings,
            "get",
            async () => await settings.get(key),
            p => p.decode()[0] === key
        )
        const b: Buffer = pkt.decode()[1]
        if (!b || !b.length) return undefined
        return b
    }
    async set(key: string, value: Buffer) {
        checkKey(key)
        await settings.set(key, value)
    }
    async delete(key: string) {
        checkKey(key)
        await settings.delete(key)
    }
}

/** An in-memory store (tests; a meter without flash would forget everything at reboot). */
export class MemoryFlash implements FlashStore {
    private values: { [key: string]: Buffer } = {}
    /** number of writes, to check what a command costs in flash */
    writes = 0
    async get(key: string): Promise<Buffer> {
        checkKey(key)
        const v = this.values[key]
        if (!v) return undefined
        return v.slice(0)
    }
    async set(key: string, value: Buffer) {
        checkKey(key)
        this.writes++
        this.values[key] = value.slice(0)
    }
    async delete(key: string) {
        checkKey(key)
        delete this.values[key]
    }
}

/**
 * Test twin of a power cut: the `n`-th write from now stores only the first `keep` bytes
 * of its value (a torn write) and throws, as if the meter lost power there.
 */
export class InterruptibleFlash implements FlashStore {
    inner: FlashStore
    private countdown = -1
    private keep = 0
    constructor(inner: FlashStore) {
        this.inner = inner
    }
    /** arm a power cut at the `n`-th next write (1 = the next one), keeping `keep` bytes */
    cutAtWrite(n: number, keep: number) {
        this.countdown = n
        this.keep = keep
    }
    async get(key: string) {
        return await this.inner.get(key)
    }
    async set(key: string, value: Buffer) {
        if (this.countdown > 0) {
            this.countdown--
            if (this.countdown === 0) {
                this.countdown = -1
                const n = Math.min(this.keep, value.length)
                await this.inner.set(key, value.slice(0, n))
                throw new Error("power cut")
            }
        }
        await this.inner.set(key, value)
    }
    async delete(key: string) {
        await this.inner.delete(key)
    }
}

function checkKey(key: string) {
    if (!key || key.length > MAX_KEY_LENGTH) throw new RangeError(`flash key '${key}' must be 1..13 characters`)
}
