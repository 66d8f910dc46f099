// The wire core's byte helpers and the head-end's crypto binding, on the same vectors the
// firmware checks (test/device/wire_bytes.test.ts).
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { concatBytes, copyBytes, equalBytes, getU32BE, isU32, modU, u32Bytes, U32_MAX } from "../../src/wire/bytes"
import { nodeCrypto } from "../../headend/src/crypto.ts"
import { deviceModule, wireBytesVectors } from "../vectors/wire_bytes_gen.ts"

const root = new URL("../..", import.meta.url).pathname
const v = JSON.parse(readFileSync(root + "test/vectors/wire_bytes.json", "utf8"))
const h = (s: string) => Buffer.from(s, "hex")

test("vectors are current (JSON and device module)", () => {
    const fresh = wireBytesVectors()
    assert.deepEqual(v, JSON.parse(JSON.stringify(fresh)))
    assert.equal(readFileSync(root + "test/device/vectors/wire_bytes.ts", "utf8"), deviceModule(fresh))
})

test("u32 big-endian on every vector", () => {
    for (const [n, hx] of v.u32) {
        assert.equal(u32Bytes(n).toString("hex"), hx)
        assert.equal(getU32BE(h(hx), 0), n)
    }
    assert.equal(isU32(U32_MAX), true)
    assert.equal(isU32(U32_MAX + 1), false)
    assert.equal(modU(4294967295, 256), 255)
})

test("copyBytes copies even where Node's slice is a view", () => {
    const a = h("00112233")
    const c = copyBytes(a, 1, 3)
    c[0] = 0xee
    assert.equal(a[1], 0x11)
    assert.equal(concatBytes(a, c).toString("hex"), "00112233ee22")
    assert.equal(equalBytes(a, h("00112233")), true)
    assert.equal(equalBytes(a, h("001122")), false)
})

test("node:crypto binding gives the vectors' bytes, CCM refuses a flipped bit", () => {
    const c = v.crypto
    assert.equal(nodeCrypto.sha256([h(c.a), h(c.b)]).toString("hex"), c.sha256)
    assert.equal(nodeCrypto.hmacSha256(h(c.key), h(c.a)).toString("hex"), c.hmac)
    assert.equal(nodeCrypto.hkdfSha256(h(c.key), h(c.salt), h(c.info)).toString("hex"), c.hkdf)
    const sealed = nodeCrypto.ccmSeal(h(c.key), h(c.nonce), h(c.a))
    assert.equal(sealed.toString("hex"), c.ccm)
    assert.equal(nodeCrypto.ccmOpen(h(c.key), h(c.nonce), sealed).toString("hex"), c.a)
    sealed[0] ^= 1
    assert.throws(() => nodeCrypto.ccmOpen(h(c.key), h(c.nonce), sealed), /bad tag/)
})
