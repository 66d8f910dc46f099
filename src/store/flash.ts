/**
 * Where the index store keeps its bytes: a small key → Buffer port, bound either to the
 * runtime's settings store (flash) or to RAM (tests, benchmarks). Only this file and
 * `indexstore.ts` do I/O.
 *
 * The runtime's settings store (jacdac-c `jd_fstor.c`) appends every write as a new copy
 * and programs the 24-byte directory entry last, so one `set` is all-or-nothing across a
 * power cut; it garbage-collects by copying the live entries into the other header area
 * and erasing it (docs/index-store.md, "Flash").
 */
import * as ds from "@devicescript/core"
import { settings } from "@devicescript/settings"

export interface FlashPort {
    /** the stored value, or undefined when the key is missing or deleted */
    get(key: string): Promise<Buffer>
    /** stores `value` under `key` (all or nothing across a power cut) */
    set(key: string, value: Buffer): Promise<void>
    /** resolves once every earlier `set` has reached flash */
    sync(): Promise<void>
}

/** Settings keys are at most 13 characters (the settings client's limit). */
export const MAX_KEY_LENGTH = 13

/** The runtime's settings store (flash on a board, `.devicescript/flash/sim.bin` in the simulator). */
export function settingsFlash(): FlashPort {
    return {
        get: getSetting,
        set: async (key, value) => {
            checkKey(key)
            // an empty value means "deleted" to the settings service
            if (value.length === 0) throw new RangeError("empty value")
            await settings.set(key, value)
        },
        // the settings service handles packets in order: once a `get` is answered, every
        // earlier `set` has been programmed and synced
        sync: async () => {
            await getSetting("st.hd")
        },
    }
}

/** A RAM twin of the settings store that also counts what the real one would write. */
export interface MemoryFlash extends FlashPort {
    /** bytes the settings store would program: 24-byte entry + value padded to 8, per changed value */
    bytesWritten: number
    writes: number
    /** the next `n` sets succeed, every later one throws "power cut" without writing */
    cutAfter(n: number): void
    /** undo `cutAfter` (power restored) */
    restore(): void
    /** while true, sets are dropped without an error (the settings service does that when flash is full) */
    dropWrites: boolean
    /** direct access for tamper tests */
    raw: { [key: string]: Buffer }
}

export function memoryFlash(): MemoryFlash {
    const raw: { [key: string]: Buffer } = {}
    let budget = -1
    const m: MemoryFlash = {
        bytesWritten: 0,
        writes: 0,
        dropWrites: false,
        raw: raw,
        get: async key => {
            const v = raw[key]
            return v ? v.slice(0) : undefined
        },
        set: async (key, value) => {
            checkKey(key)
            // yield like real I/O does (the VM aborts a fiber that runs 128K steps without one)
            await ds.sleep(0)
            if (budget === 0) throw new Error("power cut")
            if (budget > 0) budget--
            if (m.dropWrites) return
            const old = raw[key]
            // jd_fstor skips a write whose value is unchanged
            if (old && old.length === value.length && old.toString("hex") === value.toString("hex")) return
            raw[key] = value.slice(0)
            m.writes++
            m.bytesWritten += fstorCost(value.length)
        },
        sync: async () => {},
        cutAfter: n => {
            budget = n
        },
        restore: () => {
            budget = -1
        },
    }
    return m
}

/** Flash bytes one settings write of `size` bytes costs: directory entry + data padded to 8. */
export function fstorCost(size: number): number {
    return 24 + (size === 0 ? 8 : Math.ceil(size / 8) * 8)
}

async function getSetting(key: string): Promise<Buffer> {
    checkKey(key)
    const pkt = await ds.actionReport(
        settings,
        "get",
        async () => await settings.get(key),
        p => p.decode()[0] === key
    )
    const v: Buffer = pkt.decode()[1]
    if (!v || v.length === 0) return undefined
    return v
}

function checkKey(key: string) {
    if (!key || key.length > MAX_KEY_LENGTH) throw new RangeError("bad settings key")
}
