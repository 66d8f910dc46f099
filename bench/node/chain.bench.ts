// The head-end verifier (headend/src/chain.ts) over 1,000 records: links and every tag, as a
// reference for the device's boot-time link walk (chain_verify_1000_ms).
import { evolveKey, recordHash, sealRecord, verifyChain } from "../../headend/src/chain.ts"
import { chainKey0 } from "../../test/fixtures/chain_k0.ts"

export default async function (results: Record<string, number>) {
    const key0 = chainKey0(new Uint8Array(32).fill(7), new Uint8Array(8).fill(1))
    const records: Uint8Array[] = []
    let key = key0
    let prev: Uint8Array = new Uint8Array(32)
    for (let i = 0; i < 1000; i++) {
        const r = sealRecord(key, 0x10, i, 1764000000 + 1800 * i, new Uint8Array(16).fill(i & 0xff), prev)
        records.push(r)
        prev = recordHash(r)
        key = evolveKey(key)
    }
    const times: number[] = []
    for (let k = 0; k < 7; k++) {
        const t0 = performance.now()
        const v = verifyChain(records, key0, { checkpoint: { seq: 999, hash: prev } })
        if (!v.ok) throw new Error("chain bench: verification failed")
        times.push(performance.now() - t0)
    }
    times.sort((a, b) => a - b)
    const out: Record<string, number> = { node_chain_verify_1000_ms: times[3] }
    if (results.chain_verify_1000_ms !== undefined) out.chain_verify_device_vs_node_ratio = results.chain_verify_1000_ms / times[3]
    return out
}
