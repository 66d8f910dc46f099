/**
 * Vectors for the bytecode ChaCha20-Poly1305 (src/crypto/chacha20poly1305.ts):
 * test/vectors/aead.json and the same data as a firmware module (test/device/vectors/aead.ts).
 *
 *   npx tsx test/vectors/aead_gen.ts     rewrites both (deterministic)
 *
 * - `aead`: RFC 8439 section 2.8.2 (asserted against the published ciphertext and tag), then
 *   random keys, nonces, associated data and plaintexts sealed by Node's
 *   `createCipheriv("chacha20-poly1305")` (OpenSSL), with the lengths where the key stream
 *   and the MAC's padding change (0, 1, 15, 16, 17, 63, 64, 65, 511, 512, 513, 1000 bytes).
 *   Randomness is a SHA-256 counter over a fixed seed.
 * - `poly`: Poly1305 alone on RFC 8439 appendix A.3's edge cases that are whole 16-byte
 *   blocks (#5–#11: h ≥ p before the final reduction, carries through every limb, s
 *   overflowing 2^128), tags asserted against the RFC and against @noble/ciphers.
 * - `cose`: a COSE_Encrypt0 (alg 24) of a half-hourly report body made by the independent
 *   COSE library `@ldclabs/cose-ts`, with its key and external data, for the interop check.
 */
import { writeFileSync } from "node:fs"
import { createCipheriv, createHash } from "node:crypto"
import { fileURLToPath } from "node:url"
import { poly1305 } from "@noble/ciphers/_poly1305.js"
import { ChaCha20Poly1305Key } from "@ldclabs/cose-ts/chacha20poly1305"
import { Encrypt0Message } from "@ldclabs/cose-ts/encrypt0"
import { Header } from "@ldclabs/cose-ts/header"

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex")
const hx = (b: Uint8Array) => Buffer.from(b).toString("hex")

let counter = 0
/** n deterministic bytes: SHA-256("trustmeter/aead-vectors" ‖ u32 counter) blocks. */
function rand(n: number): Buffer {
    const out: Buffer[] = []
    let have = 0
    while (have < n) {
        const c = Buffer.alloc(4)
        c.writeUInt32BE(counter++)
        const d = createHash("sha256").update("trustmeter/aead-vectors").update(c).digest()
        out.push(d)
        have += d.length
    }
    return Buffer.concat(out).subarray(0, n)
}

/** Node's (OpenSSL's) AEAD_CHACHA20_POLY1305: ciphertext ‖ tag. */
export function nodeSeal(key: Buffer, nonce: Buffer, aad: Buffer, pt: Buffer): Buffer {
    const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 })
    c.setAAD(aad, { plaintextLength: pt.length })
    return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()])
}

function assertEq(what: string, got: string, want: string) {
    if (got !== want) throw new Error(`aead_gen: ${what}: got ${got}, RFC says ${want}`)
}

export async function aeadVectors() {
    counter = 0
    // RFC 8439 section 2.8.2
    const rfc = {
        key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
        nonce: "070000004041424344454647",
        aad: "50515253c0c1c2c3c4c5c6c7",
        pt: hx(Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")),
    }
    const rfcSealed = nodeSeal(h(rfc.key), h(rfc.nonce), h(rfc.aad), h(rfc.pt))
    assertEq("RFC 8439 2.8.2", hx(rfcSealed), hx(h(`
        d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b
        1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
        3ff4def08e4b7a9de576d26586cec64b6116
        1ae10b594f09e26a7e902ecbd0600691`)))
    const aead: string[][] = [["RFC 8439 2.8.2", rfc.key, rfc.nonce, rfc.aad, rfc.pt, hx(rfcSealed)]]
    const lengths: [number, number][] = [
        [0, 0], [0, 1], [12, 0], [1, 1], [15, 15], [16, 16], [17, 17], [31, 63], [32, 64], [33, 65],
        [30, 63], [0, 511], [5, 512], [40, 513], [16, 1000],
    ]
    for (const [a, n] of lengths) {
        const key = rand(32), nonce = rand(12), aad = rand(a), pt = rand(n)
        aead.push([`random aad ${a} plaintext ${n}`, hx(key), hx(nonce), hx(aad), hx(pt), hx(nodeSeal(key, nonce, aad, pt))])
    }

    // RFC 8439 appendix A.3, the whole-block cases: key = r ‖ s
    const r2 = "02" + "00".repeat(15), r1 = "01" + "00".repeat(15), zero = "00".repeat(16), ff = "ff".repeat(16)
    const r10 = "0100000000000000" + "0400000000000000"
    const m10 = "e33594d7505e43b90000000000000000" + "3394d7505e4379cd0100000000000000" + zero + "01000000000000000000000000000000"
    const edge: [string, string, string, string][] = [
        ["A.3 #5", r2 + zero, ff, "03" + "00".repeat(15)],
        ["A.3 #6", r2 + ff, "02" + "00".repeat(15), "03" + "00".repeat(15)],
        ["A.3 #7", r1 + zero, ff + "f0" + "ff".repeat(15) + "11" + "00".repeat(15), "05" + "00".repeat(15)],
        ["A.3 #8", r1 + zero, ff + "fb" + "fe".repeat(15) + "01".repeat(16), zero],
        ["A.3 #9", r2 + zero, "fd" + "ff".repeat(15), "fa" + "ff".repeat(15)],
        ["A.3 #10", r10 + zero, m10, "14000000000000005500000000000000"],
        ["A.3 #11", r10 + zero, m10.slice(0, 96), "13" + "00".repeat(15)],
    ]
    const poly: string[][] = []
    for (const [name, key, msg, tag] of edge) {
        assertEq(name, hx(poly1305(h(msg), h(key))), tag)
        poly.push([name, key, msg, tag])
    }

    // COSE_Encrypt0, alg 24 (RFC 9053 section 4.3), made by @ldclabs/cose-ts: a half-hourly
    // report body (docs/uplink.md section 13: 63 bytes) and the frame header as external data
    const secret = rand(32), iv = rand(12), body = rand(63), external = h("02 7e57000000000001 00 0000002a")
    const ckey = ChaCha20Poly1305Key.fromSecret(secret)
    const prot = new Header().setParam(1, 24)
    const unprot = new Header().setParam(5, new Uint8Array(iv))
    const msg = new Encrypt0Message(new Uint8Array(body), prot, unprot)
    const cose = Encrypt0Message.withTag(await msg.toBytes(ckey, new Uint8Array(external)))
    const back = await Encrypt0Message.fromBytes(ckey, cose, new Uint8Array(external))
    if (hx(back.payload) !== hx(body)) throw new Error("aead_gen: cose-ts does not open its own message")
    return {
        aead,
        poly,
        cose: { key: hx(secret), iv: hx(iv), external: hx(external), payload: hx(body), message: hx(cose) },
    }
}

export function deviceModule(v: Awaited<ReturnType<typeof aeadVectors>>): string {
    return `// GENERATED by test/vectors/aead_gen.ts from the same data as test/vectors/aead.json: do not edit.

/** name, key, nonce, aad, plaintext, sealed (ciphertext ‖ tag), hex */
export const AEAD_VECTORS: string[][] = ${JSON.stringify(v.aead, null, 1)}

/** name, one-time key (r ‖ s), message (whole blocks), tag, hex */
export const POLY_VECTORS: string[][] = ${JSON.stringify(v.poly, null, 1)}

/** a COSE_Encrypt0 (alg 24) made by @ldclabs/cose-ts */
export const COSE_ENCRYPT0 = ${JSON.stringify(v.cose, null, 4)}
`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
    const v = await aeadVectors()
    const root = fileURLToPath(new URL("../..", import.meta.url))
    writeFileSync(root + "test/vectors/aead.json", JSON.stringify(v, null, 2) + "\n")
    writeFileSync(root + "test/device/vectors/aead.ts", deviceModule(v))
}
