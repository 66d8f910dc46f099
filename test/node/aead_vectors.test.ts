// The AEAD vectors (test/vectors/aead_gen.ts) are current, and each one opens with Node's
// OpenSSL and with @ldclabs/cose-ts, the references the firmware's bytecode
// ChaCha20-Poly1305 is checked against (test/device/aead.test.ts).
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { createDecipheriv } from "node:crypto"
import { aeadVectors, deviceModule } from "../vectors/aead_gen.ts"

const root = new URL("../..", import.meta.url).pathname
const v = JSON.parse(readFileSync(root + "test/vectors/aead.json", "utf8"))
const h = (s: string) => Buffer.from(s, "hex")

test("aead vectors are current (JSON and device module)", async () => {
    const fresh = await aeadVectors()
    assert.deepEqual(v, JSON.parse(JSON.stringify(fresh)))
    assert.equal(readFileSync(root + "test/device/vectors/aead.ts", "utf8"), deviceModule(fresh))
})

test("every sealed vector opens with OpenSSL's chacha20-poly1305", () => {
    for (const [name, key, nonce, aad, pt, sealed] of v.aead) {
        const s = h(sealed)
        const d = createDecipheriv("chacha20-poly1305", h(key), h(nonce), { authTagLength: 16 })
        d.setAAD(h(aad), { plaintextLength: s.length - 16 })
        d.setAuthTag(s.subarray(s.length - 16))
        assert.equal(Buffer.concat([d.update(s.subarray(0, s.length - 16)), d.final()]).toString("hex"), pt, name)
    }
})
