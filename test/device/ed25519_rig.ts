import { describe, test, expect } from "@devicescript/test"
import { ed25519Verify } from "../../src/crypto/ed25519"
import { Ed25519Vector } from "./vectors/ed25519"

/**
 * The suite of one part of the Ed25519 vectors (test/device/ed25519_vectors_<n>.test.ts):
 * every vector through `ed25519Verify`, which must give @noble/curves' strict answer.
 */
export function describeVectorPart(part: number, vectors: Ed25519Vector[]) {
    describe(`ed25519Verify agrees with @noble/curves (zip215: false), part ${part}`, () => {
        test("the part is not empty", () => {
            expect(vectors.length > 30).toBe(true)
        })
        vectors.forEach(v => {
            test(`#${v.id} ${v.comment}`, async () => {
                const got = await ed25519Verify(Buffer.from(v.pk, "hex"), Buffer.from(v.msg, "hex"), Buffer.from(v.sig, "hex"))
                expect(got).toBe(v.valid)
            })
        })
    })
}
