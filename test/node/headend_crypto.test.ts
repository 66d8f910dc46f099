// The head-end's AES-256-CCM (headend/src/crypto.ts: CBC-MAC and CTR on AES contexts kept
// per key) gives the bytes of Node's own aes-256-ccm (OpenSSL), for every length a frame
// can have, on first and repeated use of a key, with keys interleaved; and it refuses
// every altered byte of a sealed message without returning plaintext.
import { test } from "node:test"
import assert from "node:assert/strict"
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"
import { nodeCrypto } from "../../headend/src/crypto.ts"

function opensslSeal(key: Buffer, nonce: Buffer, pt: Buffer): Buffer {
    const c = createCipheriv("aes-256-ccm", key, nonce, { authTagLength: 16 })
    const ct = c.update(pt)
    c.final()
    return Buffer.concat([ct, c.getAuthTag()])
}

function opensslOpen(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer {
    const d = createDecipheriv("aes-256-ccm", key, nonce, { authTagLength: 16 })
    d.setAuthTag(sealed.subarray(sealed.length - 16))
    const pt = d.update(sealed.subarray(0, sealed.length - 16))
    d.final()
    return pt
}

test("ccm: the same bytes as OpenSSL for lengths 1..2100 (a frame body has at least one byte), keys reused and interleaved", () => {
    const keys = [randomBytes(32), randomBytes(32), randomBytes(32)]
    let n = 0
    for (let len = 1; len <= 2100; len += len < 80 ? 1 : 37) {
        for (const key of keys) {
            // three uses: the first through OpenSSL's ccm, later ones on the kept contexts
            for (let rep = 0; rep < 3; rep++) {
                const nonce = randomBytes(13)
                const pt = randomBytes(len)
                const sealed = nodeCrypto.ccmSeal(key, nonce, pt)
                assert.equal(sealed.toString("hex"), opensslSeal(key, nonce, pt).toString("hex"), `seal len ${len} rep ${rep}`)
                assert.equal(nodeCrypto.ccmOpen(key, nonce, sealed).toString("hex"), pt.toString("hex"), `open len ${len} rep ${rep}`)
                assert.equal(opensslOpen(key, nonce, sealed).toString("hex"), pt.toString("hex"))
                n++
            }
        }
    }
    assert.ok(n > 500)
})

test("ccm: every altered byte, a wrong nonce or key, and a truncation are refused", () => {
    const key = randomBytes(32)
    const nonce = randomBytes(13)
    const pt = randomBytes(150)
    nodeCrypto.ccmSeal(key, nonce, pt) // the key is on its kept contexts from here on
    const sealed = nodeCrypto.ccmSeal(key, nonce, pt)
    for (let i = 0; i < sealed.length; i++) {
        for (const bit of [0x01, 0x80]) {
            const bad = Buffer.from(sealed)
            bad[i] ^= bit
            assert.throws(() => nodeCrypto.ccmOpen(key, nonce, bad), /ccm: bad tag/, `byte ${i} bit ${bit}`)
        }
    }
    const otherNonce = Buffer.from(nonce)
    otherNonce[12] ^= 1
    assert.throws(() => nodeCrypto.ccmOpen(key, otherNonce, sealed), /ccm: bad tag/)
    const otherKey = Buffer.from(key)
    otherKey[0] ^= 1
    for (let rep = 0; rep < 2; rep++) assert.throws(() => nodeCrypto.ccmOpen(otherKey, nonce, sealed), /ccm: bad tag/)
    assert.throws(() => nodeCrypto.ccmOpen(key, nonce, sealed.subarray(0, sealed.length - 1)), /ccm: bad tag/)
    assert.throws(() => nodeCrypto.ccmOpen(key, nonce, sealed.subarray(0, 15)), /ccm: truncated/)
    // a refused message leaves the contexts as they were: the next one still opens
    assert.equal(nodeCrypto.ccmOpen(key, nonce, sealed).toString("hex"), pt.toString("hex"))
})

test("ccm: a 12-byte nonce is refused", () => {
    const key = randomBytes(32)
    nodeCrypto.ccmSeal(key, randomBytes(13), Buffer.alloc(1))
    assert.throws(() => nodeCrypto.ccmSeal(key, randomBytes(12), Buffer.alloc(1)), /nonce/)
})

test("ccm: a key Buffer changed in place is used with its new bytes, not the contexts of the old ones", () => {
    const key = randomBytes(32)
    const nonce = randomBytes(13)
    const pt = randomBytes(64)
    for (let i = 0; i < 3; i++) nodeCrypto.ccmSeal(key, nonce, pt) // contexts made for the old bytes
    randomBytes(32).copy(key)
    const sealed = nodeCrypto.ccmSeal(key, nonce, pt)
    assert.equal(sealed.toString("hex"), opensslSeal(key, nonce, pt).toString("hex"))
    assert.equal(nodeCrypto.ccmOpen(key, nonce, opensslSeal(key, nonce, pt)).toString("hex"), pt.toString("hex"))
})

test("ccm: 6,000 keys in turn, each used again after all the others (a fleet's frame keys)", () => {
    const keys = Array.from({ length: 6000 }, () => randomBytes(32))
    const nonce = randomBytes(13)
    const pt = randomBytes(40)
    for (let round = 0; round < 3; round++) {
        for (const [i, key] of keys.entries()) {
            const sealed = nodeCrypto.ccmSeal(key, nonce, pt)
            if (i % 97 === 0 || round === 2) assert.equal(sealed.toString("hex"), opensslSeal(key, nonce, pt).toString("hex"), `key ${i} round ${round}`)
        }
    }
})

test("ccm: consecutive frame counters (the key stream made one nonce ahead) give OpenSSL's bytes, whatever comes between", () => {
    const key = randomBytes(32)
    const other = randomBytes(32)
    const id = randomBytes(8)
    const nonceOf = (counter: number, dir = 0x10) => {
        const n = Buffer.alloc(13)
        id.copy(n, 0)
        n.writeUInt32BE(counter, 8)
        n[12] = dir
        return n
    }
    // lengths that grow past the stream made ahead, shrink, and stay; a forged frame, another
    // key, a repeated nonce and a skipped counter in between; the last counter has no next
    const steps: { counter: number; len: number; forge?: boolean; otherKey?: boolean }[] = []
    for (let c = 1; c <= 40; c++) steps.push({ counter: c, len: [25, 25, 137, 200, 16, 17, 1, 300][c % 8], forge: c % 9 === 0, otherKey: c % 7 === 0 })
    steps.push({ counter: 40, len: 60 }, { counter: 45, len: 60 }, { counter: 46, len: 60 }, { counter: 0xffff_fffe, len: 30 }, { counter: 0xffff_ffff, len: 30 })
    // warm: each key on its kept contexts
    for (const k of [key, other]) nodeCrypto.ccmOpen(k, nonceOf(0), opensslSeal(k, nonceOf(0), Buffer.alloc(5)))
    // opened as the uplink is, then sealed as the acks are (a frame key serves one direction)
    for (const s of steps) {
        const k = s.otherKey ? other : key
        const nonce = nonceOf(s.counter)
        const pt = randomBytes(s.len)
        const sealed = opensslSeal(k, nonce, pt)
        if (s.forge) {
            const bad = Buffer.from(sealed)
            bad[0] ^= 1
            assert.throws(() => nodeCrypto.ccmOpen(k, nonce, bad), /ccm: bad tag/)
        }
        assert.equal(nodeCrypto.ccmOpen(k, nonce, sealed).toString("hex"), pt.toString("hex"), `open counter ${s.counter}`)
    }
    for (const s of steps) {
        const k = s.otherKey ? other : key
        const nonce = nonceOf(s.counter, 0x11)
        const pt = randomBytes(s.len)
        assert.equal(nodeCrypto.ccmSeal(k, nonce, pt).toString("hex"), opensslSeal(k, nonce, pt).toString("hex"), `seal counter ${s.counter}`)
    }
})
