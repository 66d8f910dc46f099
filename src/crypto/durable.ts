import { digest } from "@devicescript/crypto"
import { FlashStore } from "./flash"
import { getU32BE, setU32BE } from "./bytes"

/**
 * A value in flash that survives a power cut in the middle of its own update
 * (docs/commands.md, "Durable records"). Two slots, `<name>a` and `<name>b`, each
 * `generation (u32 BE) ‖ payload ‖ first 8 bytes of SHA-256(generation ‖ payload)`. An
 * update writes the slot not in force with the next generation; until that write is
 * complete and checks, the other slot — the previous value — stays in force. This is the
 * "write new, then switch" order with the switch folded into the generation number.
 */
export class DurableRecord {
    private flash: FlashStore
    private name: string
    private active = ""
    /** generation of the value in force, 0 when none */
    generation = 0

    /** `name` + "a"/"b" must be a valid settings key (≤ 13 characters). */
    constructor(flash: FlashStore, name: string) {
        this.flash = flash
        this.name = name
    }

    /** The payload in force (valid slot with the higher generation), or undefined. */
    async load(): Promise<Buffer> {
        const a = openSlot(await this.flash.get(this.name + "a"))
        const b = openSlot(await this.flash.get(this.name + "b"))
        let best = a
        let slot = "a"
        if (b && (!a || slotGeneration(b) > slotGeneration(a))) {
            best = b
            slot = "b"
        }
        if (!best) {
            this.active = ""
            this.generation = 0
            return undefined
        }
        this.active = slot
        this.generation = slotGeneration(best)
        return best.slice(4, best.length - CHECK_SIZE)
    }

    /** Writes `payload` to the slot not in force with the next generation; it is in force once this resolves. */
    async save(payload: Buffer): Promise<void> {
        let target = "a"
        if (this.active === "a") target = "b"
        const gen = this.generation + 1
        await this.flash.set(this.name + target, sealSlot(gen, payload))
        this.active = target
        this.generation = gen
    }
}

const CHECK_SIZE = 8

/** Slot bytes for `payload` at `generation`. */
export function sealSlot(generation: number, payload: Buffer): Buffer {
    const b = Buffer.alloc(4 + payload.length + CHECK_SIZE)
    setU32BE(b, 0, generation)
    b.blitAt(4, payload, 0, payload.length)
    const h = digest("sha256", b.slice(0, 4 + payload.length))
    b.blitAt(4 + payload.length, h, 0, CHECK_SIZE)
    return b
}

/** The slot if its checksum holds, else undefined (missing, torn or corrupted). */
function openSlot(b: Buffer): Buffer {
    if (!b || b.length < 4 + CHECK_SIZE) return undefined
    const n = b.length - CHECK_SIZE
    const h = digest("sha256", b.slice(0, n))
    for (let i = 0; i < CHECK_SIZE; i++) if (h[i] !== b[n + i]) return undefined
    return b
}

function slotGeneration(b: Buffer): number {
    return getU32BE(b, 0)
}
