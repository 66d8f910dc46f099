import { expect } from "@devicescript/test"
import { nativeCrypto } from "../../src/crypto/native"
import { Storage } from "../../src/storage/storage"
import { IndexStore } from "../../src/store/indexstore"
import { verifySegment } from "../../src/store/chain"
import { GENESIS_PREV, chainKey0, evolveKey, tagValid } from "../../src/wire/chain"
import { decodeRecord } from "../../src/wire/record"

/** Shared set-up of the index-store device suites: one meter identity, a storage twin. */
export const ID = Buffer.from("7e57000000000001", "hex")
export const SECRET = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex")

export async function open(f: Storage, slots = 6, onAlert?: (k: number, p: Buffer) => void) {
    return await IndexStore.open({ meterId: ID, meterSecret: SECRET, storage: f, slots: slots, onAlert: onAlert, snapshotPeriodMs: 1000 })
}

/** A 4-byte stand-in interval payload carrying `n`. */
export function interval(n: number) {
    const b = Buffer.alloc(4)
    b.setAt(0, "u32", n)
    return b
}

/** K_seq, evolved from K_0 of the rig's meter. */
export function keyFor(seq: number): Buffer {
    let k = chainKey0(nativeCrypto, SECRET, ID)
    for (let i = 0; i < seq; i++) k = evolveKey(nativeCrypto, k)
    return k
}

/** What the head-end does: links against the head, and every tag from K_0. */
export async function headEndCheck(s: IndexStore) {
    const recs = s.recordsAfter(-1, 1000)
    const first = decodeRecord(recs[0])
    let key = keyFor(first.seq)
    for (let i = 0; i < recs.length; i++) {
        expect(tagValid(nativeCrypto, key, recs[i])).toBe(true)
        key = evolveKey(nativeCrypto, key)
    }
    const anchor = first.seq === 0 ? { seq: -1, hash: GENESIS_PREV } : { seq: first.seq - 1, hash: first.prev }
    const v = await verifySegment(recs, anchor, s.head())
    expect(v.reason).toBe(0)
    return recs
}
