/**
 * Test twins of the storage port: `RamStorage` keeps values in RAM and counts what the
 * runtime's settings store would program; `PowerCutStorage` wraps any storage and cuts the
 * power at a chosen write. Keep a `RamStorage` and hand it to a new instance of a module to
 * simulate a reboot.
 */
import * as ds from "@devicescript/core"
import { equalBytes } from "../wire/bytes"
import { Storage, checkKey } from "./storage"

/** Flash bytes one settings write of `size` bytes costs (jd_fstor): 24-byte entry + data padded to 8. */
export function fstorCost(size: number): number {
    return 24 + (size === 0 ? 8 : Math.ceil(size / 8) * 8)
}

/** Values in RAM, with the settings store's write accounting. */
export class RamStorage implements Storage {
    /** direct access for tamper tests: edit a value "with the meter off" */
    raw: { [key: string]: Buffer } = {}
    /** writes that reached flash (an unchanged value is skipped, as jd_fstor does) */
    writes = 0
    /** flash bytes those writes programmed (entry + padded data) */
    bytesWritten = 0
    /** while true, writes are dropped without an error (the settings service does that when full) */
    dropWrites = false

    async get(key: string): Promise<Buffer | undefined> {
        checkKey(key)
        const v = this.raw[key]
        return v ? v.slice(0) : undefined
    }
    async set(key: string, value: Buffer): Promise<void> {
        checkKey(key)
        // yield like real I/O (the VM aborts a fiber that runs 128K steps without one)
        await ds.sleep(0)
        if (this.dropWrites) return
        if (equalBytes(this.raw[key], value)) return
        this.raw[key] = value.slice(0)
        this.writes++
        this.bytesWritten += fstorCost(value.length)
    }
    async delete(key: string): Promise<void> {
        checkKey(key)
        if (this.raw[key] === undefined) return
        delete this.raw[key]
        this.writes++
        this.bytesWritten += fstorCost(0)
    }
}

/**
 * A power cut at a chosen write: `cutAfter(n)` lets the next `n` writes (sets and
 * deletes) through; write n + 1 fails with "power cut", storing nothing (the runtime's
 * write is all-or-nothing) or, with `keep` ≥ 0, the first `keep` bytes of its value (a torn
 * write, for code that must survive one anyway); every later write fails too, until
 * `restore()` (power back on). Reads always work: the next boot reads what is there.
 */
export class PowerCutStorage implements Storage {
    inner: Storage
    private budget = -1
    private keep = -1
    /** writes seen so far (let through or cut) */
    writes = 0
    constructor(inner: Storage) {
        this.inner = inner
    }
    cutAfter(n: number, keep?: number): void {
        this.budget = n
        this.keep = keep === undefined ? -1 : keep
    }
    /** power back on: writes go through again */
    restore(): void {
        this.budget = -1
        this.keep = -1
    }
    /** true once a cut has happened and power is not restored */
    isOff(): boolean {
        return this.keep === -2
    }
    async get(key: string): Promise<Buffer | undefined> {
        return await this.inner.get(key)
    }
    async set(key: string, value: Buffer): Promise<void> {
        await this.gate(key, value)
        await this.inner.set(key, value)
    }
    async delete(key: string): Promise<void> {
        await this.gate(key, undefined)
        await this.inner.delete(key)
    }
    private async gate(key: string, value: Buffer | undefined): Promise<void> {
        this.writes++
        if (this.budget < 0) return
        if (this.budget > 0) {
            this.budget--
            return
        }
        if (this.keep >= 0 && value !== undefined && this.keep > 0)
            await this.inner.set(key, value.slice(0, Math.min(this.keep, value.length)))
        this.keep = -2
        throw new Error("power cut")
    }
}
