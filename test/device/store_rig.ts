import { expect } from "@devicescript/test"
import { IndexStore } from "../../src/store/indexstore"
import { MemoryFlash } from "../../src/store/flash"
import { decodeRecord } from "../../src/store/record"
import { chainKey0, evolveKey, tagValid, verifySegment, GENESIS_PREV } from "../../src/store/chain"

/** Shared set-up of the index-store device suites: one meter identity, a RAM flash. */
export const ID = Buffer.from("7e57000000000001", "hex")
export const SECRET = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex")

export async function open(f: MemoryFlash, slots = 6, onAlert?: (k: number, p: Buffer) => void) {
    return await IndexStore.open({ meterId: ID, meterSecret: SECRET, flash: f, slots: slots, onAlert: onAlert, snapshotPeriodMs: 1000 })
}

/** A 4-byte stand-in interval payload carrying `n`. */
export function interval(n: number) {
    const b = Buffer.alloc(4)
    b.setAt(0, "u32", n)
    return b
}

/** What the head-end does: links against the head, and every tag from K_0. */
export async function headEndCheck(s: IndexStore) {
    const recs = s.recordsAfter(-1, 1000)
    const first = decodeRecord(recs[0]).seq
    let key = chainKey0(SECRET, ID)
    for (let i = 0; i < first; i++) key = evolveKey(key)
    for (let i = 0; i < recs.length; i++) {
        expect(tagValid(key, recs[i])).toBe(true)
        key = evolveKey(key)
    }
    const anchor = first === 0 ? { seq: -1, hash: GENESIS_PREV } : { seq: first - 1, hash: decodeRecord(recs[0]).prev }
    const v = await verifySegment(recs, anchor, s.head())
    expect(v.ok).toBe(true)
    return recs
}
