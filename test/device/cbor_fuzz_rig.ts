import * as ds from "@devicescript/core"
import { expect } from "@devicescript/test"
import { CborReason, decodeCbor, encodeCbor } from "../../src/wire/cbor"
import { decodeCose } from "../../src/wire/cose"
import { CBOR_INVALID, CBOR_VALID } from "./vectors/cbor"
import { COSE_INVALID, COSE_VALID, COSE_WG } from "./vectors/cose"

/**
 * The CBOR/COSE fuzz run: inputs mutated from every vector (bit flips, byte changes,
 * truncations, deletions, and heads of other vectors inserted), fed to `decodeCbor` and
 * `decodeCose`. A decode returns a value or a reason; anything thrown is a crash. An
 * accepted input must re-encode to itself (one value, one encoding). The run yields after
 * every call, as a worst-case decode takes up to ~40% of a VM slice.
 */
export async function cborFuzzPart(part: number, count: number) {
    const seeds: Buffer[] = []
    for (let i = 0; i < CBOR_VALID.length; i++) seeds.push(Buffer.from(CBOR_VALID[i][1] as string, "hex"))
    for (let i = 0; i < CBOR_INVALID.length; i++) seeds.push(Buffer.from(CBOR_INVALID[i][0] as string, "hex"))
    for (let i = 0; i < COSE_VALID.length; i++) seeds.push(Buffer.from(COSE_VALID[i][1] as string, "hex"))
    for (let i = 0; i < COSE_INVALID.length; i++) seeds.push(Buffer.from(COSE_INVALID[i][1] as string, "hex"))
    for (let i = 0; i < COSE_WG.length; i++) seeds.push(Buffer.from(COSE_WG[i][7] as string, "hex"))
    let s = 0x5eedcb00 + part * 7919
    // xorshift32 on int32, reduced below 2^31 so `%` is exact in the VM
    const r = (n: number) => {
        s ^= s << 13
        s ^= s >> 17
        s ^= s << 5
        return (s & 0x7fffffff) % n
    }
    let refused = 0
    let accepted = 0
    let crashes = 0
    let coseAccepted = 0
    const reasons: number[] = []
    for (let i = 0; i <= 64; i++) reasons.push(0)
    for (let i = 0; i < count; i++) {
        const input = mutate(seeds[r(seeds.length)], seeds[r(seeds.length)], r)
        try {
            const d = decodeCbor(input, [18, 98])
            await ds.sleep(0)
            if (d.reason === CborReason.Ok) {
                accepted++
                const again = encodeCbor(d.value).toString("hex")
                if (again !== input.toString("hex")) {
                    console.log(`re-encoding differs: ${input.toString("hex")} -> ${again}`)
                    crashes++
                }
                await ds.sleep(0)
            } else {
                refused++
                reasons[d.reason]++
            }
            const m = decodeCose(input)
            if (typeof m !== "number") coseAccepted++
            else if (m >= 32) reasons[m]++
        } catch (e) {
            crashes++
            console.log(`crash on ${input.toString("hex")}: ${e}`)
        }
        await ds.sleep(0)
    }
    console.log(`cbor fuzz: ${count} inputs, ${refused} refused, ${crashes} crashes`)
    console.log(`  accepted ${accepted} (COSE ${coseAccepted}); refusals by CborReason 1..15: ${reasons.slice(1, 16).join(",")}; by CoseReason 32..41: ${reasons.slice(32, 42).join(",")}`)
    expect(crashes).toBe(0)
    expect(refused + accepted).toBe(count)
    // the mutations reach acceptance and every refusal of the decoder, not just one of them
    expect(accepted > count / 20).toBe(true)
    for (let c = CborReason.Truncated; c <= CborReason.BadUtf8; c++) expect(reasons[c] > 0).toBe(true)
}

/** One mutation of `b` (never written: the result is a fresh buffer). */
function mutate(b: Buffer, other: Buffer, r: (n: number) => number): Buffer {
    const n = b.length
    const at = n > 0 ? r(n) : 0
    const kind = r(6)
    if (kind === 0 || kind === 1) {
        // 1 to 3 bit flips, or one byte set to anything
        const m = Buffer.alloc(n)
        m.set(b, 0)
        if (n > 0) {
            if (kind === 0) for (let k = r(3); k >= 0; k--) m[r(n)] ^= 1 << r(8)
            else m[at] = r(256)
        }
        return m
    }
    if (kind === 2) return b.slice(0, at) // truncation
    if (kind === 3) {
        // delete 1 to 4 bytes
        const end = Math.min(n, at + 1 + r(4))
        const m = Buffer.alloc(n - (end - at))
        m.set(b.slice(0, at), 0)
        m.set(b.slice(end, n), at)
        return m
    }
    // insert the first 1 to 9 bytes of another vector (a head, often with its argument)
    const k = Math.min(other.length, 1 + r(9))
    const m = Buffer.alloc(n + k)
    m.set(b.slice(0, at), 0)
    m.set(other.slice(0, k), at)
    m.set(b.slice(at, n), at + k)
    return m
}
