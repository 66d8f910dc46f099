/**
 * Generates the Ed25519 verification vectors: test/vectors/ed25519.json (the data) and
 * test/device/vectors/ed25519_<n>.ts (the same data as TS modules for the firmware tests,
 * which cannot read files; split in parts because one bytecode image cannot hold it all),
 * with what the parts share (the vector's shape) in test/device/vectors/ed25519.ts.
 *
 *   npx tsx test/vectors/ed25519-gen.ts           regenerate both (deterministic)
 *   npx tsx test/vectors/ed25519-gen.ts --module  only rewrite the TS modules from the JSON
 *
 * Every vector's `valid` is what `ed25519.verify(sig, msg, pub, { zip215: false })` of
 * @noble/curves says; the generator also asserts its own intent for each special case, so
 * a change in noble's strictness shows up here first. Randomness is a SHA-256 counter over
 * a fixed seed, so the output only changes when this script does.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { ed25519, ED25519_TORSION_SUBGROUP } from "@noble/curves/ed25519.js"
import { sha256, sha512 } from "@noble/hashes/sha2.js"

export interface Ed25519Vector {
    id: number
    group: string
    comment: string
    pk: string
    msg: string
    sig: string
    valid: boolean
}

const HERE = dirname(fileURLToPath(import.meta.url))
export const JSON_FILE = join(HERE, "ed25519.json")
/** The device tests' copy, in PARTS modules (one bytecode image cannot hold all of it). */
export const PARTS = 8
export const moduleFile = (part: number) => join(HERE, `../device/vectors/ed25519_${part + 1}.ts`)
/** The module the parts import their vector type from. */
export const COMMON_MODULE_FILE = join(HERE, "../device/vectors/ed25519.ts")

const Point = ed25519.Point
const L = Point.Fn.ORDER
const P = Point.Fp.ORDER
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"))
const cat = (...bs: Uint8Array[]) => new Uint8Array(Buffer.concat(bs))
const le = (n: bigint, len = 32) => {
    const out = new Uint8Array(len)
    for (let i = 0; i < len; i++) {
        out[i] = Number(n & 255n)
        n >>= 8n
    }
    return out
}
const fromLe = (b: Uint8Array) => {
    let n = 0n
    for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i])
    return n
}
const mod = (a: bigint, m: bigint) => ((a % m) + m) % m

/** noble's strict answer; exceptions (e.g. wrong lengths) count as "invalid" */
export function nobleVerify(pk: string, msg: string, sig: string): boolean {
    try {
        return ed25519.verify(unhex(sig), unhex(msg), unhex(pk), { zip215: false })
    } catch {
        return false
    }
}

let ctr = 0
function rand(n: number): Uint8Array {
    const out: number[] = []
    while (out.length < n) out.push(...sha256(new TextEncoder().encode(`trustmeter/ed25519-vectors/${ctr++}`)))
    return new Uint8Array(out.slice(0, n))
}
const randInt = (n: number) => fromLe(rand(4)) % BigInt(n)

/** k = SHA-512(R || A || M) mod L (RFC 8032 section 5.1.7) over the given bytes */
const challenge = (r: Uint8Array, a: Uint8Array, m: Uint8Array) => mod(fromLe(sha512(cat(r, a, m))), L)

export function generate(): Ed25519Vector[] {
    ctr = 0
    const out: Ed25519Vector[] = []
    const add = (group: string, comment: string, pk: Uint8Array, msg: Uint8Array, sig: Uint8Array, expect?: boolean) => {
        const v = { id: out.length + 1, group, comment, pk: hex(pk), msg: hex(msg), sig: hex(sig), valid: false }
        v.valid = nobleVerify(v.pk, v.msg, v.sig)
        if (expect !== undefined && v.valid !== expect)
            throw new Error(`vector ${v.id} (${group}: ${comment}): noble says ${v.valid}, intended ${expect}`)
        out.push(v)
        return v
    }

    // RFC 8032 section 7.1: the published keys and signatures; noble must reproduce them
    const rfc: [string, string, string, string, string][] = [
        ["TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"],
        ["TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "72", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"],
        ["TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", "af82", "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"],
        ["TEST 1024", "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5", RFC_TEST_1024_MSG, "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e", "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"],
        ["TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf", "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"],
    ]
    for (const [name, sk, msg, pk, sig] of rfc) {
        if (hex(ed25519.getPublicKey(unhex(sk))) !== pk || hex(ed25519.sign(unhex(msg), unhex(sk))) !== sig)
            throw new Error(`RFC 8032 ${name}: transcription error`)
        add("rfc8032", `RFC 8032 section 7.1 ${name}`, unhex(pk), unhex(msg), unhex(sig), true)
    }

    // random keys and messages; lengths include the SHA-512 padding edges of R || A || M
    // (64 + len = 111, 112, 128, 239, 240, 256)
    const lengths = [0, 1, 2, 3, 7, 8, 31, 32, 33, 46, 47, 48, 63, 64, 65, 100, 127, 128, 129, 174, 175, 176, 191, 192, 193, 255, 256, 300]
    while (lengths.length < 100) lengths.push(Number(randInt(301)))
    const good: { sk: Uint8Array; pk: Uint8Array; msg: Uint8Array; sig: Uint8Array }[] = []
    for (const len of lengths) {
        const sk = rand(32)
        const pk = ed25519.getPublicKey(sk)
        const msg = rand(len)
        const sig = ed25519.sign(msg, sk)
        add("random", `random key, ${len}-byte message`, pk, msg, sig, true)
        good.push({ sk, pk, msg, sig })
    }

    // corrupted copies of the random ones: every one must fail
    const flip = (b: Uint8Array, bit: number) => {
        const c = b.slice()
        c[bit >> 3] ^= 1 << (bit & 7)
        return c
    }
    for (let i = 0; i < good.length; i++) {
        const g = good[i]
        switch (i % 10) {
            case 0: {
                const bit = Number(randInt(256))
                add("corrupt", `bit ${bit} of R flipped`, g.pk, g.msg, flip(g.sig, bit), false)
                break
            }
            case 1: {
                const bit = 256 + Number(randInt(253))
                add("corrupt", `bit ${bit - 256} of S flipped`, g.pk, g.msg, flip(g.sig, bit), false)
                break
            }
            case 2:
                if (g.msg.length === 0) add("corrupt", "one byte appended to the empty message", g.pk, new Uint8Array([0]), g.sig, false)
                else {
                    const bit = Number(randInt(g.msg.length * 8))
                    add("corrupt", `bit ${bit} of the message flipped`, g.pk, flip(g.msg, bit), g.sig, false)
                }
                break
            case 3: {
                const bit = Number(randInt(255))
                add("corrupt", `bit ${bit} of the public key flipped`, flip(g.pk, bit), g.msg, g.sig, false)
                break
            }
            case 4: {
                const s = fromLe(g.sig.slice(32)) + L
                add("corrupt", "S replaced by S + L (malleability)", g.pk, g.msg, cat(g.sig.slice(0, 32), le(s)), false)
                break
            }
            case 5:
                add("corrupt", "signature truncated to 63 bytes", g.pk, g.msg, g.sig.slice(0, 63), false)
                add("corrupt", "signature extended to 65 bytes", g.pk, g.msg, cat(g.sig, new Uint8Array([0])), false)
                break
            case 6:
                add("corrupt", "public key truncated to 31 bytes", g.pk.slice(0, 31), g.msg, g.sig, false)
                add("corrupt", "public key extended to 33 bytes", cat(g.pk, new Uint8Array([0])), g.msg, g.sig, false)
                break
            case 7:
                add("corrupt", "signature verified under another key", good[(i + 1) % good.length].pk, g.msg, g.sig, false)
                break
            case 8:
                add("corrupt", "R and S swapped", g.pk, g.msg, cat(g.sig.slice(32), g.sig.slice(0, 32)), false)
                break
            case 9: {
                const bit = 255 // the sign bit of x in R
                add("corrupt", "sign bit of R flipped", g.pk, g.msg, flip(g.sig, bit), false)
                add("corrupt", "sign bit of the public key flipped", flip(g.pk, 255), g.msg, g.sig, false)
                break
            }
        }
    }

    // hand-made edge cases (Wycheproof / "Taming the many EdDSAs" style)
    const g0 = good[5]
    const R0 = g0.sig.slice(0, 32)
    const S0 = fromLe(g0.sig.slice(32))
    add("edge", "S = L", g0.pk, g0.msg, cat(R0, le(L)), false)
    add("edge", "S = L + 1", g0.pk, g0.msg, cat(R0, le(L + 1n)), false)
    add("edge", "S = 2^256 - 1", g0.pk, g0.msg, cat(R0, le(2n ** 256n - 1n)), false)
    add("edge", "S with only the top bit set", g0.pk, g0.msg, cat(R0, le(2n ** 255n)), false)
    add("edge", "S = 0", g0.pk, g0.msg, cat(R0, le(0n)), false)
    add("edge", "S = L - 1", g0.pk, g0.msg, cat(R0, le(L - 1n)), false)
    add("edge", "S + 8L (top bits set)", g0.pk, g0.msg, cat(R0, le(S0 + 8n * L)), false)
    add("edge", "all-zero signature", g0.pk, g0.msg, new Uint8Array(64), false)
    add("edge", "all-zero public key (a point of order 4)", new Uint8Array(32), g0.msg, g0.sig, false)
    add("edge", "empty signature", g0.pk, g0.msg, new Uint8Array(0), false)
    add("edge", "empty public key", new Uint8Array(0), g0.msg, g0.sig, false)

    // points not on the curve: y with no x
    const offCurve: Uint8Array[] = []
    for (let y = 2n; offCurve.length < 2; y++) {
        const enc = le(y)
        try {
            Point.fromBytes(enc)
        } catch {
            offCurve.push(enc)
        }
    }
    add("edge", "R not on the curve", g0.pk, g0.msg, cat(offCurve[0], g0.sig.slice(32)), false)
    add("edge", "public key not on the curve", offCurve[1], g0.msg, g0.sig, false)

    // non-canonical encodings: y >= p, and x = 0 with the sign bit set
    const nonCanonical: [string, Uint8Array][] = [
        ["y = p (non-canonical 0)", le(P)],
        ["y = p + 1 (non-canonical identity)", le(P + 1n)],
        ["y = 2^255 - 1", le(2n ** 255n - 1n)],
        ["y = p + 1 with the sign bit set", le(P + 1n + 2n ** 255n)],
        ["y = 1, x = 0 with the sign bit set", le(1n + 2n ** 255n)],
        ["y = -1, x = 0 with the sign bit set", le(P - 1n + 2n ** 255n)],
    ]
    for (const [what, enc] of nonCanonical) add("edge", `public key ${what}`, enc, g0.msg, g0.sig, false)
    for (const [what, enc] of nonCanonical) add("edge", `R ${what}`, g0.pk, g0.msg, cat(enc, g0.sig.slice(32)), false)

    // a key a with A = aB: signatures made by hand with chosen R
    const a = mod(fromLe(rand(32)), L)
    const A = Point.BASE.multiply(a)
    const Abytes = A.toBytes()
    const signWithR = (Rbytes: Uint8Array, r: bigint, msg: Uint8Array, pk = Abytes, sk = a) =>
        cat(Rbytes, le(mod(r + challenge(Rbytes, pk, msg) * sk, L)))

    // R = identity: canonical encoding is fine (S = k a), the non-canonical y = p + 1 is not
    for (const msg of [rand(10), rand(20)]) {
        add("edge", "R = identity, canonical, S = k a (cofactored equation holds)", Abytes, msg, signWithR(le(1n), 0n, msg), true)
        add("edge", "R = identity encoded as y = p + 1, S = k a", Abytes, msg, signWithR(le(P + 1n), 0n, msg), false)
    }
    // small-order R (each torsion point): strict mode still accepts R of small order
    for (const t of ED25519_TORSION_SUBGROUP) {
        const msg = rand(16)
        add("edge", `small-order R ${t.slice(0, 8)}.., S = k a`, Abytes, msg, signWithR(unhex(t), 0n, msg), true)
    }
    // small-order public keys are refused whatever the signature
    for (const t of ED25519_TORSION_SUBGROUP) {
        const msg = rand(12)
        // with A of small order, S = 0 and R = identity satisfies the cofactored equation
        add("edge", `small-order public key ${t.slice(0, 8)}.., R = identity, S = 0`, unhex(t), msg, cat(le(1n), le(0n)), false)
    }
    // mixed-order points: the cofactored equation accepts them, a cofactorless one would
    // refuse 7 in 8; noble (and so the meter) accepts
    const T8 = Point.fromBytes(unhex(ED25519_TORSION_SUBGROUP[1]))
    if (!T8.double().double().double().is0() || T8.double().double().is0()) throw new Error("T8 has not order 8")
    let cofactorlessWouldFail = 0
    for (let j = 0; j < 8; j++) {
        const msg = rand(8 + j)
        const r = mod(fromLe(rand(32)), L)
        // R = rB + T8
        const Rm = Point.BASE.multiply(r).add(T8).toBytes()
        add("edge", "mixed-order R = rB + T8", Abytes, msg, signWithR(Rm, r, msg), true)
        // A' = aB + T8, R = rB
        const Am = A.add(T8).toBytes()
        const Rb = Point.BASE.multiply(r).toBytes()
        const k = challenge(Rb, Am, msg)
        if (k % 8n !== 0n) cofactorlessWouldFail++
        add("edge", `mixed-order public key A = aB + T8 (k mod 8 = ${k % 8n})`, Am, msg, cat(Rb, le(mod(r + k * a, L))), true)
    }
    if (cofactorlessWouldFail === 0) throw new Error("no mixed-order case separates cofactored from cofactorless")
    // a valid signature where S needs the whole 253 bits and k is small or zero-ish is not
    // constructible; instead: the base point itself as a public key with a random signature
    add("edge", "public key = B, unrelated signature", Point.BASE.toBytes(), g0.msg, g0.sig, false)
    return out
}

const GENERATED = "// GENERATED by test/vectors/ed25519-gen.ts from test/vectors/ed25519.json: do not edit."

/** The TS module the parts share: the shape of a vector. */
export function renderCommonModule(): string {
    return [
        GENERATED,
        `// One Ed25519 verification vector of the ${PARTS} parts ed25519_<1..${PARTS}>.ts (hex strings);`,
        "// `valid` is @noble/curves' strict (zip215: false) answer.",
        "export interface Ed25519Vector {",
        "    id: number",
        "    comment: string",
        "    pk: string",
        "    msg: string",
        "    sig: string",
        "    valid: boolean",
        "}",
        "",
    ].join("\n")
}

/**
 * The TS module with part `part` of the vectors (ids with id % PARTS === part) that the
 * device test ed25519_vectors_<part + 1> imports.
 */
export function renderModule(vectors: Ed25519Vector[], part: number): string {
    const mine = vectors.filter(v => v.id % PARTS === part)
    const lines = [
        GENERATED,
        `// Ed25519 verification vectors, part ${part + 1} of ${PARTS} (id % ${PARTS} === ${part}).`,
        'import { Ed25519Vector } from "./ed25519"',
        "export const ED25519_VECTORS: Ed25519Vector[] = [",
        ...mine.map(
            v =>
                `    { id: ${v.id}, comment: ${JSON.stringify(v.comment)}, pk: "${v.pk}", msg: "${v.msg}", sig: "${v.sig}", valid: ${v.valid} },`
        ),
        "]",
        "",
    ]
    return lines.join("\n")
}

// RFC 8032 section 7.1 TEST 1024 message (1023 bytes)
const RFC_TEST_1024_MSG =
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50" +
    "f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d65" +
    "8675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199e" +
    "e5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e06203b33890cc9b832f79ef80560cc" +
    "b9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd" +
    "7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed185ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5" +
    "aa3fb2d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187e" +
    "bb6092cf67bf2b13fd65f27088d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd6" +
    "2481d9089beccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128bab27a" +
    "f87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c" +
    "144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb751fb73e666c6c655ade8297297d07ad1" +
    "ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57" +
    "fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34dff7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a" +
    "7e08d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd4" +
    "19c17a3ca8e1b939ae49e488acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342" +
    "721aac0943bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5fb93246" +
    "f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11" +
    "faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380db2eaaa707b4c4185c32eddcdd306705e4d" +
    "c1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0"

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    let vectors: Ed25519Vector[]
    if (process.argv.includes("--module")) vectors = JSON.parse(readFileSync(JSON_FILE, "utf8")).vectors
    else {
        vectors = generate()
        const doc = {
            description:
                "Ed25519 (RFC 8032) verification vectors for trustmeter; valid = @noble/curves ed25519.verify(sig, msg, pk, { zip215: false }). Generated by test/vectors/ed25519-gen.ts.",
            count: vectors.length,
            vectors,
        }
        writeFileSync(JSON_FILE, JSON.stringify(doc, null, 1) + "\n")
    }
    writeFileSync(COMMON_MODULE_FILE, renderCommonModule())
    for (let part = 0; part < PARTS; part++) writeFileSync(moduleFile(part), renderModule(vectors, part))
    const valid = vectors.filter(v => v.valid).length
    console.log(`${vectors.length} vectors (${valid} valid, ${vectors.length - valid} invalid)`)
}
