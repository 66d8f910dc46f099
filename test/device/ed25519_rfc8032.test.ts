// @timeout 60000
// RFC 8032 section 7.1 test vectors (the published ones, written here as constants) and
// the strictness rules that need no generated data.
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { ed25519Verify } from "../../src/crypto/ed25519"

// TEST 1: empty message
const pk1 = hex`d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a`
const sig1 = hex`e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b`
// TEST 2: one byte
const pk2 = hex`3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c`
const sig2 = hex`92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00`
// TEST 3: two bytes
const pk3 = hex`fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025`
const sig3 = hex`6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a`
// TEST SHA(abc)
const pkAbc = hex`ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf`
const sigAbc = hex`dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704`
const msgAbc = hex`ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f`

describe("ed25519Verify on RFC 8032 section 7.1", () => {
    test("TEST 1 (empty message) verifies", async () => {
        expect(await ed25519Verify(pk1, Buffer.alloc(0), sig1)).toBe(true)
    })
    test("TEST 2 (1 byte) verifies, and not with another message", async () => {
        expect(await ed25519Verify(pk2, hex`72`, sig2)).toBe(true)
        expect(await ed25519Verify(pk2, hex`73`, sig2)).toBe(false)
    })
    test("TEST 3 (2 bytes) verifies, and not under another key", async () => {
        expect(await ed25519Verify(pk3, hex`af82`, sig3)).toBe(true)
        expect(await ed25519Verify(pk2, hex`af82`, sig3)).toBe(false)
    })
    test("TEST SHA(abc) verifies", async () => {
        expect(await ed25519Verify(pkAbc, msgAbc, sigAbc)).toBe(true)
    })
    test("wrong lengths and missing inputs are false, not exceptions", async () => {
        expect(await ed25519Verify(pk1.slice(0, 31), Buffer.alloc(0), sig1)).toBe(false)
        expect(await ed25519Verify(Buffer.concat(pk1, hex`00`), Buffer.alloc(0), sig1)).toBe(false)
        expect(await ed25519Verify(pk1, Buffer.alloc(0), sig1.slice(0, 63))).toBe(false)
        expect(await ed25519Verify(pk1, Buffer.alloc(0), Buffer.concat(sig1, hex`00`))).toBe(false)
        expect(await ed25519Verify(null, Buffer.alloc(0), sig1)).toBe(false)
        expect(await ed25519Verify(pk1, null, sig1)).toBe(false)
        expect(await ed25519Verify(pk1, Buffer.alloc(0), null)).toBe(false)
    })
    test("concurrent calls are serialised and each gets its own answer", async () => {
        // three fibers verifying at once share the verifier's scratch state
        const got: boolean[] = [null, null, null]
        setTimeout(async () => {
            got[0] = await ed25519Verify(pk2, hex`72`, sig2)
        }, 0)
        setTimeout(async () => {
            got[1] = await ed25519Verify(pk2, hex`73`, sig2)
        }, 0)
        setTimeout(async () => {
            got[2] = await ed25519Verify(pk1, Buffer.alloc(0), sig1)
        }, 0)
        while (got[0] === null || got[1] === null || got[2] === null) await ds.sleep(20)
        expect(got[0]).toBe(true)
        expect(got[1]).toBe(false)
        expect(got[2]).toBe(true)
    })
})
