// @timeout 120000
// Ed25519 vectors, part 2 of 8 (vector ids with id % 8 === 1): RFC 8032 section 7.1,
// random keys and messages, corrupted copies and edge cases, each checked against
// @noble/curves' strict answer (test/vectors/ed25519.json). Split in eight to keep each
// file under a minute under the test mode's GC stress.
import { describe, test, expect } from "@devicescript/test"
import { ed25519Verify } from "../../src/crypto/ed25519"
import { ED25519_VECTORS } from "./vectors/ed25519_2"

describe("ed25519Verify agrees with @noble/curves (zip215: false), part 2", () => {
    test("the part is not empty", () => {
        expect(ED25519_VECTORS.length > 30).toBe(true)
    })
    ED25519_VECTORS.forEach(v => {
        test(`#${v.id} ${v.comment}`, async () => {
            const got = await ed25519Verify(Buffer.from(v.pk, "hex"), Buffer.from(v.msg, "hex"), Buffer.from(v.sig, "hex"))
            expect(got).toBe(v.valid)
        })
    })
})
