import { equalBytes, getU32BE, setU32BE } from "../wire/bytes"
import { setChecked, Storage } from "../storage/storage"
import { nativeCrypto } from "./native"

/**
 * A value in flash that survives a power cut in the middle of its own update
 * (docs/commands.md §2, "Power cuts"). Two slots, `<name>a` and `<name>b`, each
 * `generation (u32 BE) ‖ payload ‖ first 8 bytes of SHA-256(generation ‖ payload)`. An
 * update writes the slot not in force with the next generation; until that write is
 * complete and checks, the other slot — the previous value — stays in force. This is the
 * "write new, then switch" order with the switch folded into the generation number.
 *
 * The settings store's own writes are all-or-nothing (src/storage/storage.ts); the two
 * slots and the checksum keep a torn or corrupted write from ever taking a key ring or a
 * counter back, whatever the flash underneath does.
 */
export class DurableRecord {
    private storage: Storage
    private name: string
    private active = ""
    /** generation of the value in force, 0 when none */
    generation = 0

    /** `name` + "a"/"b" must be a valid storage key (≤ 13 characters). */
    constructor(storage: Storage, name: string) {
        this.storage = storage
        this.name = name
    }

    /** The payload in force (valid slot with the higher generation), or undefined. */
    async load(): Promise<Buffer> {
        const a = openSlot(await this.storage.get(this.name + "a"))
        const b = openSlot(await this.storage.get(this.name + "b"))
        let best = a
        let slot = "a"
        if (b && (!a || getU32BE(b, 0) > getU32BE(a, 0))) {
            best = b
            slot = "b"
        }
        if (!best) {
            this.active = ""
            this.generation = 0
            return undefined
        }
        this.active = slot
        this.generation = getU32BE(best, 0)
        return best.slice(4, best.length - CHECK_SIZE)
    }

    /**
     * Writes `payload` to the slot not in force with the next generation, read back and
     * compared (`setChecked`: a write the flash dropped must not pass for a persisted
     * counter); it is in force once this resolves.
     */
    async save(payload: Buffer): Promise<void> {
        const target = this.active === "a" ? "b" : "a"
        const gen = this.generation + 1
        // the slot: generation ‖ payload ‖ check (written out here: firmware code is counted per function)
        const n = 4 + payload.length
        const b = Buffer.alloc(n + CHECK_SIZE)
        setU32BE(b, 0, gen)
        b.set(payload, 4)
        b.set(nativeCrypto.sha256([b.slice(0, n)]).slice(0, CHECK_SIZE), n)
        await setChecked(this.storage, this.name + target, b)
        this.active = target
        this.generation = gen
    }
}

const CHECK_SIZE = 8

/** The slot if its checksum holds, else undefined (missing, torn or corrupted). */
function openSlot(b: Buffer): Buffer {
    if (!b || b.length < 4 + CHECK_SIZE) return undefined
    const n = b.length - CHECK_SIZE
    if (!equalBytes(nativeCrypto.sha256([b.slice(0, n)]).slice(0, CHECK_SIZE), b.slice(n, b.length))) return undefined
    return b
}
