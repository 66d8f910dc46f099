import { describe, test, expect } from "@devicescript/test"
import { decodeRing, encodeRing, mayKeySign, ringProblem, rootKey } from "../../src/wire/keys"
import { Role } from "../../src/wire/opcodes"
import { PowerCutStorage, RamStorage } from "../../src/storage/twins"
import { anchorBody, keyAdd, KeyRingStore, keyRemove, keyReplace, rootRotate } from "../../src/crypto/keyring"
import { CounterStore } from "../../src/crypto/counters"
import { entryArgs, ROOT_MASK, SUPPLIER_MASK, testKey, testRing } from "./vectors/envelope_kit"

describe("key ring invariants", () => {
    test("a ring needs exactly one root, unique ids, valid masks", () => {
        const r = testRing()
        expect(ringProblem(r)).toBe(undefined)
        expect(ringProblem([])).toBe("empty ring")
        expect(ringProblem([r[1], r[2]])).toBe("a ring needs exactly one root")
        expect(ringProblem([r[0], testKey(9, Role.Root, ROOT_MASK, "x")])).toBe("a ring needs exactly one root")
        expect(ringProblem([r[0], testKey(1, Role.Supplier, SUPPLIER_MASK, "x")])).toBe("duplicate key id")
        expect(ringProblem([r[0], testKey(5, 7, SUPPLIER_MASK, "x")])).toBe("unknown role")
        expect(ringProblem([r[0], testKey(5, Role.Supplier, 1, "x")])).toBe("bad opcode mask")
        expect(ringProblem([r[0], testKey(5, Role.Supplier, 2147483648, "x")])).toBe("bad opcode mask")
    })
    test("ring bodies round-trip and invalid bodies do not decode", () => {
        const b = encodeRing(testRing())
        expect(b.length).toBe(1 + 3 * 38)
        expect(decodeRing(b).length).toBe(3)
        expect(decodeRing(b.slice(0, b.length - 1))).toBe(undefined)
        const noRoot = encodeRing([testRing()[1]])
        expect(decodeRing(noRoot)).toBe(undefined)
    })
    test("root-only opcodes need the root whatever the mask says", () => {
        const sneaky = testKey(5, Role.Supplier, ROOT_MASK, "sneaky")
        expect(mayKeySign(sneaky, 16)).toBe(false)
        expect(mayKeySign(sneaky, 9)).toBe(false)
        expect(mayKeySign(sneaky, 4)).toBe(false)
        expect(mayKeySign(sneaky, 1)).toBe(true)
        expect(mayKeySign(testRing()[0], 16)).toBe(true)
        expect(mayKeySign(testRing()[1], 6)).toBe(false)
    })
    test("add, remove and replace keep the invariants; the root is never removed", () => {
        const r = testRing()
        const s2 = testKey(4, Role.Supplier, SUPPLIER_MASK, "supplier2")
        expect(keyAdd(r, entryArgs(s2)).keys.length).toBe(4)
        expect(keyAdd(r, entryArgs(r[1])).refused).toBe("key id in use")
        expect(keyAdd(r, entryArgs(testKey(4, Role.Root, ROOT_MASK, "r2"))).refused).toBe("a root is only installed by root rotation")
        expect(keyAdd(r, Buffer.alloc(37)).refused).toBe("malformed key")
        expect(keyRemove(r, Buffer.from([2])).keys.length).toBe(2)
        expect(keyRemove(r, Buffer.from([1])).refused).toBe("the root cannot be removed, only rotated")
        expect(keyRemove(r, Buffer.from([9])).refused).toBe("no such key")
        const rep = keyReplace(r, entryArgs(testKey(2, Role.Supplier, SUPPLIER_MASK, "new supplier")))
        expect(rep.keys[1].publicKey[0]).toBe(testKey(2, 2, 0, "new supplier").publicKey[0])
        expect(keyReplace(r, entryArgs(testKey(1, Role.Supplier, SUPPLIER_MASK, "x"))).refused).toBe("the root is only replaced by root rotation")
        let full = r
        for (let i = 10; i < 15; i++) full = keyAdd(full, entryArgs(testKey(i, Role.Supplier, SUPPLIER_MASK, "k" + i))).keys
        expect(full.length).toBe(8)
        expect(keyAdd(full, entryArgs(testKey(20, Role.Supplier, SUPPLIER_MASK, "k20"))).refused).toBe("too many keys")
    })
    test("root rotation replaces the one root", () => {
        const r = testRing()
        const nr = testKey(7, Role.Root, ROOT_MASK, "root2")
        const c = rootRotate(r, entryArgs(nr))
        expect(c.keys.length).toBe(3)
        expect(c.keys[0].id).toBe(7)
        expect(ringProblem(c.keys)).toBe(undefined)
        expect(rootRotate(r, entryArgs(testKey(7, Role.Supplier, ROOT_MASK, "x"))).refused).toBe("not a root key")
        expect(rootRotate(r, entryArgs(testKey(2, Role.Root, ROOT_MASK, "x"))).refused).toBe("key id in use")
    })
})

describe("key ring in flash", () => {
    test("an unprovisioned meter has no keys; the anchor is installed once and then deleted", async () => {
        const f = new RamStorage()
        const s = new KeyRingStore(f)
        expect(await s.load()).toBe(false)
        expect(s.keys.length).toBe(0)
        await f.set("cv.anchor", encodeRing(testRing()))
        expect(await s.load()).toBe(true)
        expect(s.keys.length).toBe(3)
        expect(s.generation()).toBe(1)
        expect(await f.get("cv.anchor")).toBe(undefined)
        const again = new KeyRingStore(f)
        expect(await again.load()).toBe(true)
        expect(rootKey(again.keys).id).toBe(1)
    })
    test("an anchor deployed from a .env file (JSON hex string) is installed too", async () => {
        const f = new RamStorage()
        await f.set("cv.anchor", Buffer.from(JSON.stringify(encodeRing(testRing()).toString("hex"))))
        const s = new KeyRingStore(f)
        expect(await s.load()).toBe(true)
        expect(s.keys.length).toBe(3)
        const g = new RamStorage()
        await g.set("cv.anchor", Buffer.from('"03zz"'))
        expect(await new KeyRingStore(g).load()).toBe(false)
        // a JSON hex anchor decodes only when every character is a hex digit, in either case
        const hexText = encodeRing(testRing()).toString("hex")
        const quoted = (t: string) => Buffer.from('"' + t + '"')
        expect(anchorBody(quoted(hexText.toUpperCase())).toString("hex")).toBe(hexText)
        expect(anchorBody(quoted(hexText.slice(0, hexText.length - 1)))).toBe(undefined)
        expect(anchorBody(quoted(hexText.slice(0, 10) + "g" + hexText.slice(11)))).toBe(undefined)
        expect(anchorBody(quoted(hexText + "0 "))).toBe(undefined)
        expect(decodeRing(anchorBody(quoted("")))).toBe(undefined)
    })
    test("an invalid anchor (no root) is never installed", async () => {
        const f = new RamStorage()
        await f.set("cv.anchor", encodeRing([testRing()[1]]))
        const s = new KeyRingStore(f)
        expect(await s.load()).toBe(false)
    })
    test("a power cut in the middle of a key change leaves the previous ring, root included", async () => {
        const mem = new RamStorage()
        await mem.set("cv.anchor", encodeRing(testRing()))
        const f = new PowerCutStorage(mem)
        const s = new KeyRingStore(f)
        await s.load()
        const nr = testKey(7, Role.Root, ROOT_MASK, "root2")
        const rotated = rootRotate(s.keys, entryArgs(nr)).keys
        for (let keep = 0; keep < 80; keep += 7) {
            f.cutAfter(0, keep)
            let cut = false
            try {
                await s.commit(rotated)
            } catch (e) {
                cut = true
            }
            expect(cut).toBe(true)
            const after = new KeyRingStore(mem)
            expect(await after.load()).toBe(true)
            expect(rootKey(after.keys).id).toBe(1)
            expect(after.keys.length).toBe(3)
        }
        // the completed change takes over, and survives a reboot
        const s2 = new KeyRingStore(mem)
        await s2.load()
        await s2.commit(rotated)
        const after = new KeyRingStore(mem)
        await after.load()
        expect(rootKey(after.keys).id).toBe(7)
        // and a cut during the next change falls back to the rotated ring, not the anchor
        const f3 = new PowerCutStorage(mem)
        const s3 = new KeyRingStore(f3)
        await s3.load()
        f3.cutAfter(0, 20)
        try {
            await s3.commit(keyRemove(s3.keys, Buffer.from([2])).keys)
        } catch (e) {}
        const after3 = new KeyRingStore(mem)
        await after3.load()
        expect(rootKey(after3.keys).id).toBe(7)
        expect(after3.keys.length).toBe(3)
    })
    test("commit refuses a ring without a root", async () => {
        const s = new KeyRingStore(new RamStorage())
        let threw = false
        try {
            await s.commit([testRing()[1]])
        } catch (e) {
            threw = true
        }
        expect(threw).toBe(true)
    })
    test("counters are bound to the key: a new supplier key starts from 0", async () => {
        const f = new RamStorage()
        const c = new CounterStore(f)
        const s1 = testRing()[1]
        await c.accept(s1, 0, 41)
        await c.accept(s1, 1, 42)
        const last = await c.last(s1)
        expect(last[0]).toBe(1)
        expect(last[1]).toBe(42)
        const s2 = testKey(2, Role.Supplier, SUPPLIER_MASK, "new supplier")
        expect((await c.last(s2))[1]).toBe(0)
        // a torn counter write keeps the previous counter (never rolls back to 0)
        const cut = new PowerCutStorage(f)
        const c2 = new CounterStore(cut)
        cut.cutAfter(0, 10)
        try {
            await c2.accept(s1, 1, 43)
        } catch (e) {}
        expect((await new CounterStore(f).last(s1))[1]).toBe(42)
    })
})
