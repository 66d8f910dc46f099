// @timeout 180000
// The bytecode ChaCha20-Poly1305 (src/crypto/chacha20poly1305.ts) against RFC 8439 and
// Node's OpenSSL (test/vectors/aead_gen.ts), and against a COSE_Encrypt0 of @ldclabs/cose-ts.
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { chacha20Poly1305Open, chacha20Poly1305Seal, poly1305Tag } from "../../src/crypto/chacha20poly1305"
import { CborMap, CborTag, decodeCbor, encodeCbor } from "../../src/wire/cbor"
import { AEAD_VECTORS, COSE_ENCRYPT0, POLY_VECTORS } from "./vectors/aead"

const hexb = (s: string) => Buffer.from(s, "hex")

describe("ChaCha20-Poly1305 (RFC 8439 section 2.8)", () => {
    test("seals every vector to OpenSSL's bytes and opens it back", async () => {
        for (let i = 0; i < AEAD_VECTORS.length; i++) {
            const [name, key, nonce, aad, pt, sealed] = AEAD_VECTORS[i]
            await ds.sleep(0)
            const s = await chacha20Poly1305Seal(hexb(key), hexb(nonce), hexb(aad), hexb(pt))
            expect(s.toString("hex")).toBe(sealed)
            const o = await chacha20Poly1305Open(hexb(key), hexb(nonce), hexb(aad), hexb(sealed))
            expect(o === null).toBe(false)
            expect(o.toString("hex")).toBe(pt)
            console.log(`${name}: sealed, opened`)
        }
    })
    test("a flipped bit anywhere in aad, ciphertext, tag or nonce does not open", async () => {
        for (let i = 0; i < AEAD_VECTORS.length; i++) {
            const [name, key, nonce, aad, pt, sealed] = AEAD_VECTORS[i]
            const s = hexb(sealed)
            const a = hexb(aad)
            const nn = hexb(nonce)
            // first and last byte of the ciphertext and the tag, and of the aad when there is one
            const at = [0, s.length - 1, s.length - 16]
            for (let j = 0; j < at.length; j++) {
                await ds.sleep(0)
                const b = hexb(sealed)
                b[at[j]] ^= 0x80
                expect(await chacha20Poly1305Open(hexb(key), nn, a, b)).toBe(null)
            }
            if (a.length > 0) {
                const b = hexb(aad)
                b[b.length - 1] ^= 1
                expect(await chacha20Poly1305Open(hexb(key), nn, b, s)).toBe(null)
            }
            nn[11] ^= 1
            expect(await chacha20Poly1305Open(hexb(key), nn, a, s)).toBe(null)
            // a truncated message (one byte of tag missing) and one shorter than a tag
            expect(await chacha20Poly1305Open(hexb(key), hexb(nonce), a, s.slice(0, s.length - 1))).toBe(null)
            expect(await chacha20Poly1305Open(hexb(key), hexb(nonce), a, s.slice(0, 15))).toBe(null)
        }
    })
    test("Poly1305 edge cases of RFC 8439 appendix A.3", async () => {
        for (let i = 0; i < POLY_VECTORS.length; i++) {
            const [name, key, msg, tag] = POLY_VECTORS[i]
            expect((await poly1305Tag(hexb(key), hexb(msg))).toString("hex")).toBe(tag)
            console.log(`${name}: ok`)
        }
    })
    test("wrong key or nonce lengths throw", async () => {
        let thrown = 0
        try {
            await chacha20Poly1305Seal(Buffer.alloc(31), Buffer.alloc(12), Buffer.alloc(0), Buffer.alloc(1))
        } catch (e) {
            thrown++
        }
        try {
            await chacha20Poly1305Open(Buffer.alloc(32), Buffer.alloc(13), Buffer.alloc(0), Buffer.alloc(17))
        } catch (e) {
            thrown++
        }
        expect(thrown).toBe(2)
    })
})

describe("COSE_Encrypt0 with alg 24 (RFC 9052 section 5.3, RFC 9053 section 4.3)", () => {
    test("opens @ldclabs/cose-ts's message and seals the same bytes", async () => {
        const v = COSE_ENCRYPT0
        const d = decodeCbor(hexb(v.message), [16])
        expect(d.reason).toBe(0)
        const arr = (d.value as CborTag).value as any[]
        expect((d.value as CborTag).tag).toBe(16)
        const prot = arr[0] as Buffer
        const iv = (arr[1] as CborMap).get(5) as Buffer
        const ct = arr[2] as Buffer
        expect(iv.toString("hex")).toBe(v.iv)
        // Enc_structure = ["Encrypt0", protected, external_aad] (RFC 9052 section 5.3)
        const enc = encodeCbor(["Encrypt0", prot, hexb(v.external)])
        const pt = await chacha20Poly1305Open(hexb(v.key), iv, enc, ct)
        expect(pt === null).toBe(false)
        expect(pt.toString("hex")).toBe(v.payload)
        const again = await chacha20Poly1305Seal(hexb(v.key), iv, enc, hexb(v.payload))
        expect(again.toString("hex")).toBe(ct.toString("hex"))
        // another frame header as external data: the message does not open
        const other = encodeCbor(["Encrypt0", prot, hexb(v.external.slice(0, -2) + "2b")])
        expect(await chacha20Poly1305Open(hexb(v.key), iv, other, ct)).toBe(null)
    })
})
