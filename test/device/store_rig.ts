import { expect } from "@devicescript/test"
import { nativeCrypto } from "../../src/crypto/native"
import { Storage } from "../../src/storage/storage"
import { IndexStore, KEY_K0 } from "../../src/store/indexstore"
import { verifySegment } from "../../src/store/chain"
import { GENESIS_PREV, evolveKey, tagValid } from "../../src/wire/chain"
import { decodeRecord } from "../../src/wire/record"

/** Shared set-up of the index-store device suites: one meter identity, a storage twin. */
export const ID = Buffer.from("7e57000000000001", "hex")
export const SECRET = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex")

/** The rig meter's chain key K_0: random per meter in the field (the keystore escrows it), fixed here. */
export const K0 = Buffer.from("5f0e1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7", "hex")

/**
 * Provisioning as `trustmeter provision` does it: `st.k0` = K_0 as a JSON hex string, on a
 * blank flash only (a `RamStorage`, or one under a `PowerCutStorage`, with no value at all).
 */
export function provision(f: Storage) {
    const ram = (f as any).raw ? f : (f as any).inner
    if (ram && (ram as any).raw && Object.keys((ram as any).raw).length === 0) (ram as any).raw[KEY_K0] = Buffer.from('"' + K0.toString("hex") + '"')
}

/** Opens the rig meter's store on `f`, provisioning it first if the flash is blank. */
export async function open(f: Storage, slots = 6, onAlert?: (k: number, p: Buffer) => void) {
    provision(f)
    return await IndexStore.open({ meterId: ID, meterSecret: SECRET, storage: f, slots: slots, onAlert: onAlert, snapshotPeriodMs: 1000 })
}

/** A 4-byte stand-in interval payload carrying `n`. */
export function interval(n: number) {
    const b = Buffer.alloc(4)
    b.setAt(0, "u32", n)
    return b
}

/** K_seq, evolved from K_0 of the rig's meter (what the head-end's escrow gives). */
export function keyFor(seq: number): Buffer {
    let k = K0
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
