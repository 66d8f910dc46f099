import { Storage, setChecked } from "../storage/storage"
import { U32_MAX, getU32BE, isU32, setU32BE } from "../wire/bytes"

/**
 * Frame counters that never repeat, also across reboots and power cuts
 * (docs/uplink.md §5). A counter is the CCM nonce's variable part, so a repeat under the
 * same key would leak the XOR of two plaintexts and allow forgeries.
 *
 * Blocks of counters are reserved in flash *before* use: flash holds `limit`, the highest
 * counter that may have been used. After a reboot counting resumes above `limit`; the
 * unused rest of the last block is skipped, never reused.
 */
export class FrameCounter {
    private cur = 0
    private limit = 0
    private epoch = 0
    private storage: Storage
    private key: string
    private block: number
    /** how many block reservations were written (each is one flash write) */
    reservations = 0

    /** `key`: the storage key (`up.fc` uplink); `block`: counters per reservation */
    constructor(storage: Storage, key: string, block: number) {
        this.storage = storage
        this.key = key
        this.block = block
    }

    /** Loads the reservation for `epoch`. A new epoch (a new key) starts again at 1. */
    async open(epoch: number) {
        this.epoch = epoch
        this.cur = await readEpochCounter(this.storage, this.key, epoch)
        this.limit = this.cur
    }

    /** The next counter value, reserving a new block in flash first when needed. */
    async next(): Promise<number> {
        if (this.cur >= this.limit) {
            const lim = this.cur + this.block
            // u32 on the wire; running out needs a key epoch roll, never a wrap
            if (lim > U32_MAX) throw new RangeError("frame counter exhausted: roll the key epoch")
            const e = this.epoch
            await writeEpochCounter(this.storage, this.key, e, lim)
            // re-checked after the wait: a limit reserved for another epoch is no limit here
            if (this.epoch !== e) throw new Error("frame counter: epoch changed")
            this.limit = lim
            this.reservations++
        }
        this.cur++
        return this.cur
    }
}

/**
 * The counter stored under `key` for key epoch `epoch` (0 when none, or when it belongs to
 * another epoch): 8 bytes, u32 epoch ‖ u32 counter (docs/uplink.md §6). A value written
 * by an earlier firmware as JSON `{"e":…,"n":…}` is still read, so an update never
 * restarts a counter under the same key; anything else unreadable throws rather than
 * guess (a guess could reuse a nonce).
 */
export async function readEpochCounter(s: Storage, key: string, epoch: number): Promise<number> {
    const b = await s.get(key)
    if (b === undefined) return 0
    let e: number
    let n: number
    if (b.length === 8) {
        e = getU32BE(b, 0)
        n = getU32BE(b, 4)
    } else {
        let o: any = undefined
        try {
            o = JSON.parse(b.toString())
        } catch (x) {}
        if (!o || !isU32(o.e) || !isU32(o.n)) throw new RangeError("uplink: " + key + " unreadable")
        e = o.e
        n = o.n
    }
    return e === epoch ? n : 0
}

/** Stores `n` for `epoch` under `key`, read back (it guards a nonce or a replay window). */
export async function writeEpochCounter(s: Storage, key: string, epoch: number, n: number): Promise<void> {
    const b = Buffer.alloc(8)
    setU32BE(b, 0, epoch)
    setU32BE(b, 4, n)
    await setChecked(s, key, b)
}
