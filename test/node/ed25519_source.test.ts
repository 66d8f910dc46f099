// The firmware's Ed25519 sources (src/crypto/field25519.ts, scalar25519.ts, edwards25519.ts,
// sha512.ts, ed25519.ts) run in Node: the field arithmetic against BigInt on random and
// extreme limbs, SHA-512 against node:crypto, and the whole verifier against every vector of
// test/vectors/ed25519.json (noble's strict answers) and against noble on random signatures.
// The device suites (test/device/ed25519_*.test.ts) run the same files in the VM; this one
// is quick and catches an arithmetic slip (a bound, a carry) before a device run.
//
// The sources are DeviceScript: `import * as ds from "@devicescript/core"` (only ds.sleep
// here), `hex` template literals, and the VM's Buffer methods getAt/blitAt/variadic concat.
// loadCrypto() copies them to a temporary directory with the import replaced by a stub and
// `hex` defined, and gives Buffer those methods: nothing else is changed.
import { test } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { createHash, randomBytes } from "node:crypto"
import { ed25519 } from "@noble/curves/ed25519.js"
import { JSON_FILE, type Ed25519Vector } from "../vectors/ed25519-gen.ts"

const ROOT = resolve(import.meta.dirname, "../..")
const FILES = ["field25519", "scalar25519", "edwards25519", "sha512", "ed25519"]
const P = 2n ** 255n - 19n

function installBufferMethods() {
    const proto = Buffer.prototype as any
    proto.getAt ??= function (this: Buffer, off: number, fmt: string) {
        if (fmt !== "u32") throw new Error(`getAt ${fmt} not shimmed`)
        return this.readUInt32LE(off)
    }
    proto.blitAt ??= function (this: Buffer, dst: number, src: Buffer, srcOff: number, len: number) {
        src.copy(this, dst, srcOff, srcOff + len)
    }
    const concat = Buffer.concat
    if (!(Buffer as any).__variadic) {
        ;(Buffer as any).concat = (...a: any[]) => (Array.isArray(a[0]) ? concat(a[0], a[1]) : concat(a))
        ;(Buffer as any).__variadic = true
    }
}

async function loadCrypto(): Promise<Record<string, any>> {
    installBufferMethods()
    const dir = mkdtempSync(join(tmpdir(), "tm-ed25519-src-"))
    for (const f of FILES) {
        let s = readFileSync(join(ROOT, "src/crypto", f + ".ts"), "utf8")
        s = s.replace(/import \* as ds from "@devicescript\/core"\n/, "const ds = { sleep: async (_ms: number) => {} }\n")
        s = s.replace(/from "\.\.\/wire\/bytes"/g, `from ${JSON.stringify(join(ROOT, "src/wire/bytes.ts"))}`)
        s = s.replace(/from "\.\/(\w+)"/g, 'from "./$1.ts"')
        s =
            "const hex = (s: TemplateStringsArray) => Buffer.from(s.raw.join('').replace(/\\s+/g, ''), 'hex')\n" + s
        writeFileSync(join(dir, f + ".ts"), s)
    }
    const mods: Record<string, any> = {}
    for (const f of FILES) mods[f] = await import(join(dir, f + ".ts"))
    return mods
}

const crypto = await loadCrypto()
const F = crypto.field25519
/** o = a * b (op 0), a + b (op 1) or a - b (op 2): one instruction of `fexec` */
const op = (code: number, o: number[], a: number[], b: number[]) => F.fexec([o, a, b], Buffer.from([code, 0, 1, 2]), 0, 4)
const fmul = (o: number[], a: number[], b: number[]) => op(0, o, a, b)
const fadd = (o: number[], a: number[], b: number[]) => op(1, o, a, b)
const fsub = (o: number[], a: number[], b: number[]) => op(2, o, a, b)

/** A field element's value (limbs may be loose and signed). */
function val(a: number[]): bigint {
    let v = 0n
    for (let i = 11; i >= 0; i--) v = v * 4194304n + BigInt(a[i])
    return v
}
const mod = (v: bigint) => ((v % P) + P) % P

/** Deterministic pseudo-random limbs in [lo, hi]. */
function* rng(seed: number) {
    let s = seed >>> 0
    for (;;) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0
        yield s / 4294967296
    }
}

test("fmul: products of loose, signed and extreme limbs are exact mod p, result limbs |l| <= 2^21 + 1", () => {
    const r = rng(7)
    const rand = (lo: number, hi: number) => Math.floor(lo + (hi - lo + 1) * (r.next().value as number))
    // the documented input bound: |limb| < 2^24.3 (a sum or difference of two fmul results or canonical elements, plus one more)
    const B = Math.floor(2 ** 24.3)
    const kinds: (() => number[])[] = [
        () => Array.from({ length: 12 }, () => rand(0, 4194303)),
        () => Array.from({ length: 12 }, () => rand(-B, B)),
        () => Array.from({ length: 12 }, () => B),
        () => Array.from({ length: 12 }, () => -B),
        () => Array.from({ length: 12 }, (_, i) => (i % 2 ? B : -B)),
        () => Array.from({ length: 12 }, () => rand(-2097153, 2097153)),
    ]
    const o = F.fe()
    for (let n = 0; n < 3000; n++) {
        const a = kinds[n % kinds.length]()
        const b = kinds[Math.floor(n / kinds.length) % kinds.length]()
        fmul(o, a, b)
        assert.equal(mod(val(o)), mod(val(a) * val(b)), `fmul ${a} ${b}`)
        for (const l of o) assert.ok(Number.isInteger(l) && Math.abs(l) <= 2097153, `limb ${l}`)
        // aliasing: o = a * a in place
        const c = a.slice()
        fmul(c, c, c)
        assert.equal(mod(val(c)), mod(val(a) * val(a)))
    }
})

test("fsub, fadd, fcanon, fequal on signed limbs; funpackY; fpow2523", async () => {
    const r = rng(11)
    const big = () => {
        let v = 0n
        for (let i = 0; i < 8; i++) v = (v << 32n) | BigInt(Math.floor((r.next().value as number) * 4294967296))
        return v % (2n ** 255n)
    }
    const toFe = (v: bigint) => {
        const b = Buffer.alloc(32)
        let x = v
        for (let i = 0; i < 32; i++) {
            b[i] = Number(x & 255n)
            x >>= 8n
        }
        const o = F.fe()
        const ok = F.funpackY(o, b, 0)
        return { o, ok }
    }
    const o = F.fe()
    const c = F.fe()
    for (let n = 0; n < 500; n++) {
        const x = big()
        const y = big()
        const X = toFe(x)
        const Y = toFe(y)
        assert.equal(X.ok, x < P)
        assert.equal(val(X.o), x)
        // products then differences: the limbs go negative
        const a = F.fe()
        const b = F.fe()
        fmul(a, X.o, Y.o)
        fmul(b, Y.o, Y.o)
        fsub(o, a, b)
        assert.equal(mod(val(o)), mod(x * y - y * y))
        F.fcanon(c, o)
        assert.equal(val(c), mod(x * y - y * y))
        for (const l of c) assert.ok(l >= 0 && l < 4194304)
        fsub(o, b, a)
        fadd(o, o, a)
        assert.ok(F.fequal(o, b))
        fsub(o, F.ZERO, o)
        F.fcanon(c, o)
        assert.equal(val(c), mod(-y * y))
    }
    // canonical forms of 0, p - 1, p, p + 1 .. 2^255 - 1 and of negative values
    for (const v of [0n, 1n, P - 1n, P, P + 1n, 2n ** 255n - 1n]) {
        const t = F.fe()
        let x = v
        for (let i = 0; i < 12; i++) {
            t[i] = Number(x & 4194303n)
            x >>= 22n
        }
        F.fcanon(c, t)
        assert.equal(val(c), mod(v))
        fsub(o, F.ZERO, t)
        F.fcanon(c, o)
        assert.equal(val(c), mod(-v))
    }
    const z = toFe(big()).o
    await F.fpow2523(o, z)
    assert.equal(mod(val(o)), modpow(mod(val(z)), 2n ** 252n - 3n))
})

function modpow(b: bigint, e: bigint): bigint {
    let r = 1n
    let x = b % P
    while (e > 0n) {
        if (e & 1n) r = (r * x) % P
        x = (x * x) % P
        e >>= 1n
    }
    return r
}

test("sha512 matches node:crypto at the padding edges", async () => {
    for (const n of [0, 1, 3, 111, 112, 113, 127, 128, 129, 239, 240, 256, 1000]) {
        const m = randomBytes(n)
        const d: Buffer = await crypto.sha512.sha512(m)
        assert.equal(d.toString("hex"), createHash("sha512").update(m).digest("hex"), `length ${n}`)
    }
})

test("ed25519Verify gives noble's strict answer on every vector of test/vectors/ed25519.json", async () => {
    const doc = JSON.parse(readFileSync(JSON_FILE, "utf8")) as { vectors: Ed25519Vector[] }
    const h = (s: string) => Buffer.from(s, "hex")
    for (const v of doc.vectors) {
        const ok = await crypto.ed25519.ed25519Verify(h(v.pk), h(v.msg), h(v.sig))
        assert.equal(ok, v.valid, `vector ${v.id}: ${v.comment}`)
    }
})

test("ed25519Verify against noble: random keys and messages, valid and corrupted, keys alternating (the cached key replaced)", async () => {
    const keys = Array.from({ length: 3 }, (_, i) => {
        const sk = createHash("sha256").update(`key ${i}`).digest()
        return { sk, pk: Buffer.from(ed25519.getPublicKey(sk)) }
    })
    for (let n = 0; n < 60; n++) {
        const k = keys[n % 3]
        const msg = randomBytes(n * 3)
        const sig = Buffer.from(ed25519.sign(msg, k.sk))
        assert.equal(await crypto.ed25519.ed25519Verify(k.pk, msg, sig), true)
        const bad = Buffer.from(sig)
        bad[n % 64] ^= 1 << n % 8
        const expect = ed25519.verify(bad, msg, k.pk, { zip215: false })
        assert.equal(await crypto.ed25519.ed25519Verify(k.pk, msg, bad), expect)
        assert.equal(await crypto.ed25519.ed25519Verify(keys[(n + 1) % 3].pk, msg, sig), false)
    }
})
