/**
 * The one storage port of the firmware: binary values under short keys, in the runtime's
 * settings flash on a meter (src/storage/settings.ts) or in RAM in tests
 * (src/storage/twins.ts, with a power-cut twin). Every module that persists state (index
 * store, command counters and key ring, uplink counters, metrology configuration) takes a
 * `Storage` as a dependency, so a test can cut power at any write.
 *
 * One `set` is all-or-nothing across a power cut: the runtime's settings store (jacdac-c
 * `jd_fstor.c`) appends the new copy and programs its directory entry last.
 */
import { equalBytes } from "../wire/bytes"

export interface Storage {
    /** the stored bytes, or undefined when the key is absent or deleted */
    get(key: string): Promise<Buffer | undefined>
    /** stores a non-empty `value` under `key` (all or nothing across a power cut) */
    set(key: string, value: Buffer): Promise<void>
    delete(key: string): Promise<void>
}

/** Settings keys are at most 13 characters (the runtime's settings client). */
export const MAX_KEY_LENGTH = 13

/** Throws on a key the settings store would refuse. */
export function checkKey(key: string): void {
    if (!key || key.length > MAX_KEY_LENGTH) throw new RangeError("storage key must be 1..13 chars: " + key)
}

/**
 * `set`, then read the value back and compare: for every write that guards a nonce or a
 * counter, where a write the flash silently dropped (full settings area) would let the
 * next boot reuse a value. Once it returns, every earlier write has reached flash too
 * (the settings service answers in order). Throws when the value did not stick.
 */
export async function setChecked(s: Storage, key: string, value: Buffer): Promise<void> {
    await s.set(key, value)
    if (!equalBytes(await s.get(key), value)) throw new Error("storage: " + key + " did not read back")
}
