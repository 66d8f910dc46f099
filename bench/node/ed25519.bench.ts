// Ed25519 host-side figures: @noble/curves' strict verify in Node (the reference the
// firmware's ed25519_verify_ms is compared to, same run), and the verifier's heap and
// bytecode cost measured with two heap-probe firmware programs (with and without it).
import { copyFileSync, mkdtempSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ed25519 } from "@noble/curves/ed25519.js"
import { BYTECODE, build, devs } from "../../tools/devs.ts"

const pk = Buffer.from("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "hex")
const sig = Buffer.from(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    "hex"
)
const msg = Buffer.from("72", "hex")

function median(xs: number[]) {
    const s = [...xs].sort((a, b) => a - b)
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Builds a heap probe, runs it headless until its OutOfMemory panic; free heap and bytecode size. */
async function probe(entry: string): Promise<{ freeBytes: number; bytecodeBytes: number; output: string }> {
    await build(entry)
    const file = join(mkdtempSync(join(tmpdir(), "tm-ed25519-heap-")), "probe.devs")
    copyFileSync(BYTECODE, file)
    const r = await devs(["run", file, "--test", "--test-self-exit", "-T", "60000"], { timeoutMs: 90_000 })
    const heaps = [...r.output.matchAll(/HEAP (\d+)/g)].map(m => Number(m[1]))
    if (!/OutOfMemory/.test(r.output) || heaps.length === 0) throw new Error(`${entry}: no OutOfMemory after HEAP lines:\n${r.output.slice(-2000)}`)
    return { freeBytes: heaps[heaps.length - 1], bytecodeBytes: statSync(file).size, output: r.output }
}

export default async function (results: Record<string, number>) {
    for (let i = 0; i < 50; i++) ed25519.verify(sig, msg, pk, { zip215: false }) // warm-up (JIT, tables)
    const times: number[] = []
    for (let r = 0; r < 11; r++) {
        const t0 = performance.now()
        for (let i = 0; i < 20; i++) if (!ed25519.verify(sig, msg, pk, { zip215: false })) throw new Error("noble rejects TEST 2")
        times.push((performance.now() - t0) / 20)
    }
    const out: Record<string, number> = { noble_verify_ms: median(times) }
    if (results.ed25519_verify_ms !== undefined) out.ed25519_vs_noble_ratio = results.ed25519_verify_ms / out.noble_verify_ms

    const base = await probe("bench/device/ed25519_heap_probe_base.ts")
    const withVerifier = await probe("bench/device/ed25519_heap_probe_verifier.ts")
    if (!/VERIFIED true/.test(withVerifier.output)) throw new Error("heap probe: the verification failed")
    out.ed25519_heap_bytes = base.freeBytes - withVerifier.freeBytes
    out.verifier_bytecode_bytes = withVerifier.bytecodeBytes - base.bytecodeBytes
    return out
}
