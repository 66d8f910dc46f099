import * as ds from "@devicescript/core"
import { median } from "./stats"
import { chacha20Poly1305Open, chacha20Poly1305Seal } from "../../src/crypto/chacha20poly1305"
import { nativeCrypto } from "../../src/crypto/native"

// Issue 12: what a COSE_Encrypt0 uplink (ChaCha20-Poly1305, alg 24, in bytecode) would cost
// a half-hourly frame, against the native AES-256-CCM seal the uplink uses today and the
// VM loop of vm.bench.ts, both timed in every round next to it: the host is shared and its
// load changes from second to second, so the medians of the per-round ratios are the
// load-independent figures (docs/uplink.md section 16).
//
// The frame: a half-hourly report body is 63 bytes (docs/uplink.md section 13). Its
// associated data would be the Enc_structure ["Encrypt0", << {1: 24} >>, frame header]
// (RFC 9052 section 5.3): 30 bytes with the 14-byte header.
const key = hex`3975e7e5862998d411eceeeeaa4d877e77c564bf71c5948ce9827bae24a13dce`
const nonce12 = hex`7e57000000000001 0000002a 2100 0000`.slice(0, 12)
const nonce13 = hex`7e57000000000001 0000002a 21`
const enc = hex`83 68 456e637279707430 44 a1011818 4e 027e57000000000001000000002a`
const body = Buffer.alloc(63)
for (let i = 0; i < 63; i++) body[i] = (i * 37 + 11) & 255
// frames per timing: the simulator's clock counts whole milliseconds
const N = 50
const NCCM = 500

async function loop1e5() {
    let x = 0
    for (let b = 0; b < 50; b++) {
        await ds.sleep(0)
        for (let i = 0; i < 2000; i++) x = (x + i) | 0
    }
    return x
}

// warm-up, and the seal must open
let sealed = await chacha20Poly1305Seal(key, nonce12, enc, body)
const back = await chacha20Poly1305Open(key, nonce12, enc, sealed)
if (back === null || back.toString("hex") !== body.toString("hex")) console.log("aead bench: the frame does not open")
else {
    const seal: number[] = []
    const open: number[] = []
    const ccm: number[] = []
    const vsCcm: number[] = []
    const inLoops: number[] = []
    const loops: number[] = []
    for (let r = 0; r < 11; r++) {
        let t0 = ds.millis()
        await loop1e5()
        const loop = ds.millis() - t0
        loops.push(loop)
        t0 = ds.millis()
        for (let i = 0; i < N; i++) sealed = await chacha20Poly1305Seal(key, nonce12, enc, body)
        const s = (ds.millis() - t0) / N
        t0 = ds.millis()
        for (let i = 0; i < N; i++) await chacha20Poly1305Open(key, nonce12, enc, sealed)
        open.push((ds.millis() - t0) / N)
        // the simulator's clock moves only at a yield: one after the native seals
        t0 = ds.millis()
        for (let i = 0; i < NCCM; i++) nativeCrypto.ccmSeal(key, nonce13, body)
        await ds.sleep(0)
        const c = (ds.millis() - t0) / NCCM
        seal.push(s)
        ccm.push(c)
        vsCcm.push(s / c)
        inLoops.push(s / loop)
    }
    console.log(`BENCH aead_frame_ms ${median(seal)}`)
    console.log(`BENCH aead_open_frame_ms ${median(open)}`)
    console.log(`BENCH ccm_frame_ms ${median(ccm)}`)
    console.log(`BENCH aead_frame_vs_ccm ${median(vsCcm)}`)
    console.log(`BENCH aead_frame_in_vm_loops ${median(inLoops)}`)
    console.log(`BENCH aead_vm_loop_100k_ms ${median(loops)}`)

    // throughput: a 1 KB body (16 ChaCha20 blocks, 64 Poly1305 blocks, two yields more)
    const kb = Buffer.alloc(1024)
    const big: number[] = []
    for (let r = 0; r < 5; r++) {
        const t0 = ds.millis()
        await chacha20Poly1305Seal(key, nonce12, enc, kb)
        big.push(ds.millis() - t0)
    }
    console.log(`BENCH aead_1kb_ms ${median(big)}`)
}
console.log("BENCH_DONE")
