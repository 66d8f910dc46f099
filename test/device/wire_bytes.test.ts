import { describe, test, expect } from "@devicescript/test"
import { concatBytes, copyBytes, equalBytes, getU16BE, getU32BE, isU32, modU, setU16BE, setU32BE, u32Bytes, U32_MAX } from "../../src/wire/bytes"
import { nativeCrypto } from "../../src/crypto/native"
import { PowerCutStorage, RamStorage } from "../../src/storage/twins"
import { setChecked } from "../../src/storage/storage"
import { BYTES_U32, CRYPTO_VECTORS } from "./vectors/wire_bytes"

const hexb = (s: string) => Buffer.from(s, "hex")

describe("wire bytes: the VM traps, pinned (test/vectors/wire_bytes.json)", () => {
    test("u32 big-endian round trip on every vector, including ≥ 2^31", () => {
        for (let i = 0; i < BYTES_U32.length; i++) {
            const v = BYTES_U32[i][0] as number
            const hx = BYTES_U32[i][1] as string
            expect(u32Bytes(v).toString("hex")).toBe(hx)
            expect(getU32BE(hexb(hx), 0)).toBe(v)
            expect(getU32BE(hexb(hx), 0) >= 0).toBe(true)
        }
    })
    test("u16 round trip", () => {
        const b = Buffer.alloc(2)
        setU16BE(b, 0, 65535)
        expect(b.toString("hex")).toBe("ffff")
        setU16BE(b, 0, 258)
        expect(getU16BE(b, 0)).toBe(258)
    })
    test("a u32 ≥ 2^31 is tested explicitly, never by truthiness", () => {
        const b = Buffer.alloc(4)
        setU32BE(b, 0, U32_MAX)
        expect(b.toString("hex")).toBe("ffffffff")
        expect(isU32(U32_MAX)).toBe(true)
        expect(isU32(U32_MAX + 1)).toBe(false)
        expect(isU32(-1)).toBe(false)
        expect(isU32(1.5)).toBe(false)
        expect(modU(4294967295, 256)).toBe(255)
        expect(modU(3000000000, 7)).toBe(3000000000 - Math.floor(3000000000 / 7) * 7)
    })
    test("copyBytes copies, concat, equality", () => {
        const a = hexb("00112233")
        const c = copyBytes(a, 1, 3)
        c[0] = 0xee
        expect(a[1]).toBe(0x11)
        expect(concatBytes(a, c).toString("hex")).toBe("00112233ee22")
        expect(equalBytes(a, hexb("00112233"))).toBe(true)
        expect(equalBytes(a, hexb("00112234"))).toBe(false)
        expect(equalBytes(a, hexb("001122"))).toBe(false)
        expect(equalBytes(a, undefined)).toBe(false)
    })
})

describe("wire crypto: the firmware binding gives the head-end's bytes", () => {
    test("SHA-256, HMAC, HKDF, AES-256-CCM known answers", () => {
        const v = CRYPTO_VECTORS
        expect(nativeCrypto.sha256([hexb(v.a), hexb(v.b)]).toString("hex")).toBe(v.sha256)
        expect(nativeCrypto.hmacSha256(hexb(v.key), hexb(v.a)).toString("hex")).toBe(v.hmac)
        expect(nativeCrypto.hkdfSha256(hexb(v.key), hexb(v.salt), hexb(v.info)).toString("hex")).toBe(v.hkdf)
        const sealed = nativeCrypto.ccmSeal(hexb(v.key), hexb(v.nonce), hexb(v.a))
        expect(sealed.toString("hex")).toBe(v.ccm)
        expect(nativeCrypto.ccmOpen(hexb(v.key), hexb(v.nonce), sealed).toString("hex")).toBe(v.a)
        sealed[0] ^= 1
        let threw = false
        try {
            nativeCrypto.ccmOpen(hexb(v.key), hexb(v.nonce), sealed)
        } catch (e) {
            threw = true
        }
        expect(threw).toBe(true)
    })
})

describe("storage twins", () => {
    test("RAM twin counts writes; a power cut stores nothing, then every write fails until restore", async () => {
        const ram = new RamStorage()
        const s = new PowerCutStorage(ram)
        await setChecked(s, "k1", hexb("01"))
        s.cutAfter(1)
        await s.set("k2", hexb("02"))
        let cut = 0
        try {
            await s.set("k3", hexb("03"))
        } catch (e) {
            cut++
        }
        try {
            await s.set("k1", hexb("09"))
        } catch (e) {
            cut++
        }
        expect(cut).toBe(2)
        expect((await ram.get("k3")) === undefined).toBe(true)
        expect((await ram.get("k1")).toString("hex")).toBe("01")
        s.restore()
        await s.delete("k1")
        expect((await s.get("k1")) === undefined).toBe(true)
        expect(ram.writes).toBe(3)
    })
    test("a torn write keeps only its first bytes", async () => {
        const ram = new RamStorage()
        const s = new PowerCutStorage(ram)
        s.cutAfter(0, 2)
        let threw = false
        try {
            await s.set("k", hexb("0102030405"))
        } catch (e) {
            threw = true
        }
        expect(threw).toBe(true)
        expect((await ram.get("k")).toString("hex")).toBe("0102")
    })
    test("setChecked refuses a write the flash dropped", async () => {
        const ram = new RamStorage()
        ram.dropWrites = true
        let threw = false
        try {
            await setChecked(ram, "ctr", hexb("01"))
        } catch (e) {
            threw = true
        }
        expect(threw).toBe(true)
    })
})
