import * as ds from "@devicescript/core"
import { median } from "./stats"
import { ed25519Verify } from "../../src/crypto/ed25519"
import { sha512 } from "../../src/crypto/sha512"

// Ed25519 verification on a long-running simulated device (no GC stress): RFC 8032
// section 7.1 TEST 1, TEST 2 and TEST SHA(abc) in turn, so every call decodes its public key
// and builds its tables (the verifier keeps those of the last key only), after one warm-up
// call (the first call also builds the base point's tables, which are then kept); then the
// same signer again (its tables reused: a meter's usual case).
const pk1 = hex`d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a`
const sig1 = hex`e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b`
const pk2 = hex`3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c`
const sig2 = hex`92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00`
const pkAbc = hex`ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf`
const sigAbc = hex`dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704`
const msgAbc = hex`ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f`

// the same 100k-iteration loop as vm.bench.ts, timed in each round next to the
// verifications: the host is shared and its load changes from second to second, so the
// median of the per-round ratios verify / loop is the load-independent figure
async function loop1e5() {
    let x = 0
    for (let b = 0; b < 50; b++) {
        await ds.sleep(0)
        for (let i = 0; i < 2000; i++) x = (x + i) | 0
    }
    return x
}

let t0 = ds.millis()
// (TEST SHA(abc) first: then each call of a round finds another key cached)
const ok0 = await ed25519Verify(pkAbc, msgAbc, sigAbc)
console.log(`BENCH ed25519_first_verify_ms ${ds.millis() - t0}`)
const times: number[] = []
const ratios: number[] = []
let ok = ok0
for (let r = 0; r < 11; r++) {
    t0 = ds.millis()
    await loop1e5()
    const loop = ds.millis() - t0
    t0 = ds.millis()
    ok = (await ed25519Verify(pk1, Buffer.alloc(0), sig1)) && ok
    ok = (await ed25519Verify(pk2, hex`72`, sig2)) && ok
    ok = (await ed25519Verify(pkAbc, msgAbc, sigAbc)) && ok
    const t = (ds.millis() - t0) / 3
    times.push(t)
    ratios.push(t / loop)
}
if (!ok) console.log("ed25519 bench: a valid signature did not verify")
else {
    console.log(`BENCH ed25519_verify_ms ${median(times)}`)
    console.log(`BENCH ed25519_verify_in_vm_loops ${median(ratios)}`)
}

// the same signer again: its decoded key and tables are reused
const same: number[] = []
const sameRatios: number[] = []
for (let r = 0; r < 7; r++) {
    t0 = ds.millis()
    await loop1e5()
    const loop = ds.millis() - t0
    t0 = ds.millis()
    ok = (await ed25519Verify(pkAbc, msgAbc, sigAbc)) && ok
    const t = ds.millis() - t0
    same.push(t)
    sameRatios.push(t / loop)
}
if (!ok) console.log("ed25519 bench: a valid signature did not verify")
console.log(`BENCH ed25519_verify_same_key_ms ${median(same)}`)
console.log(`BENCH ed25519_verify_same_key_in_vm_loops ${median(sameRatios)}`)

// a rejected signature (wrong message) costs a full verification too
const bad: number[] = []
for (let r = 0; r < 5; r++) {
    t0 = ds.millis()
    await ed25519Verify(pk2, hex`73`, sig2)
    bad.push(ds.millis() - t0)
}
console.log(`BENCH ed25519_reject_ms ${median(bad)}`)

// SHA-512 throughput on 1 KB (8 blocks + padding)
const kb = Buffer.alloc(1024)
const sh: number[] = []
for (let r = 0; r < 5; r++) {
    t0 = ds.millis()
    await sha512(kb)
    sh.push(ds.millis() - t0)
}
console.log(`BENCH sha512_1kb_ms ${median(sh)}`)

console.log("BENCH_DONE")
