import { UplinkFlash } from "./flash"

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
    private flash: UplinkFlash
    private key: string
    private block: number
    /** how many block reservations were written (each is one flash write) */
    reservations = 0

    /** `key`: the settings key (`up.fc` uplink); `block`: counters per reservation */
    constructor(flash: UplinkFlash, key: string, block: number) {
        this.flash = flash
        this.key = key
        this.block = block
    }

    /** Loads the reservation for `epoch`. A new epoch (a new key) starts again at 1. */
    async open(epoch: number) {
        const saved = await this.flash.read(this.key)
        this.epoch = epoch
        if (saved && saved.e === epoch && typeof saved.n === "number") {
            this.cur = saved.n
            this.limit = saved.n
        } else {
            this.cur = 0
            this.limit = 0
        }
    }

    /** The key epoch the counter runs under. */
    keyEpoch() {
        return this.epoch
    }

    /** The next counter value, reserving a new block in flash first when needed. */
    async next(): Promise<number> {
        if (this.cur >= this.limit) {
            const lim = this.cur + this.block
            // u32 on the wire; running out needs a key epoch roll, never a wrap
            if (lim > 4294967295) throw new RangeError("frame counter exhausted: roll the key epoch")
            await this.flash.write(this.key, { e: this.epoch, n: lim })
            this.limit = lim
            this.reservations++
        }
        this.cur++
        return this.cur
    }
}
