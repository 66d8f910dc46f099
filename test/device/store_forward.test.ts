import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { nativeCrypto } from "../../src/crypto/native"
import { PowerCutStorage, RamStorage } from "../../src/storage/twins"
import { KEY_K0 } from "../../src/store/indexstore"
import { ascii } from "../../src/wire/bytes"
import { ChainHead, ChainState, GENESIS_PREV, checkNext, evolveKey, next, recordTag, seal } from "../../src/wire/chain"
import { RecordKind, TamperReason, TAG_SIZE, decodeRecord } from "../../src/wire/record"
import { ID, SECRET, headEndCheck, interval, keyFor, open } from "./store_rig"

/**
 * Forward security (issue 13, docs/index-store.md "What a reader of the flash can forge"):
 * an attacker holds the whole flash image at time t and the provisioning secrets the
 * meter still holds (METER_SECRET, METER_ID). They must not be able to re-tag any record
 * sealed before t so that the head-end's verification (the wire core's `checkNext` with
 * every tag from the K_0 the head-end anchors on, the loop of headend/src/chain.ts
 * `verifyChain`) accepts it.
 *
 * The attacker's candidate keys: every 32-byte window of every value in the image (raw,
 * and hex-decoded when the value is a JSON hex string as provisioning writes them), the
 * secret itself, and the chain key derivations from the secret (the HKDF the store used
 * before issue 13). A candidate that tags a stored record is a key the attacker should
 * not have; with it the attacker rewrites the chain from there on, and the verifier runs.
 */

/** The head-end's K_0 (what `verifyChain` is given). */
const VERIFIER_K0 = keyFor(0)

function candidates(image: { [key: string]: Buffer }): Buffer[] {
    const out: Buffer[] = [SECRET]
    for (const info of ["trustmeter/chain/v1", "trustmeter/chain/v2", "trustmeter/chain"])
        out.push(nativeCrypto.hkdfSha256(SECRET, ID, ascii(info)))
    const keys = Object.keys(image)
    for (let k = 0; k < keys.length; k++) {
        const raw = image[keys[k]]
        const vs: Buffer[] = [raw]
        const t = raw.toString()
        if (t.length === 66 && t[0] === '"') vs.push(Buffer.from(t.slice(1, 65), "hex"))
        for (let j = 0; j < vs.length; j++) for (let o = 0; o + 32 <= vs[j].length; o++) out.push(vs[j].slice(o, o + 32))
    }
    return out
}

/** The stored records, oldest first (seq 0..head). */
function records(s: { recordsAfter(seq: number, max: number): Buffer[] }): Buffer[] {
    return s.recordsAfter(-1, 1000)
}

/** The head-end's walk from genesis with every tag; true when the chain is accepted. */
function verifierAccepts(recs: Buffer[]): boolean {
    let head: ChainHead = { seq: -1, hash: GENESIS_PREV }
    let key = VERIFIER_K0
    for (let i = 0; i < recs.length; i++) {
        if (checkNext(nativeCrypto, head, recs[i], key) !== TamperReason.None) return false
        head = next(nativeCrypto, head, recs[i])
        key = evolveKey(nativeCrypto, key)
    }
    return true
}

/**
 * With `key` = K_i (it tags record i), rewrites record `j` >= i (another interval payload)
 * and re-seals every later record onto it: what the attacker uploads instead.
 */
function forge(recs: Buffer[], i: number, key: Buffer, j: number): Buffer[] {
    let k = key
    for (let m = i; m < j; m++) k = evolveKey(nativeCrypto, k)
    const prev = decodeRecord(recs[j]).prev
    let st: ChainState = { head: { seq: j - 1, hash: prev }, key: k }
    const out = recs.slice(0, j)
    for (let m = j; m < recs.length; m++) {
        const r = decodeRecord(recs[m])
        const p = m === j ? interval(999999) : r.payload
        const sealed = seal(nativeCrypto, st, r.kind, r.time, p)
        out.push(sealed.record.encoded)
        st = sealed.state
    }
    return out
}

/**
 * Runs the attack on the image `f.raw` taken now (t): returns how many forged chains the
 * verifier accepted (each rewriting a record sealed before t).
 */
async function attack(f: RamStorage, recs: Buffer[]): Promise<number> {
    const image: { [key: string]: Buffer } = {}
    const keys = Object.keys(f.raw)
    for (let k = 0; k < keys.length; k++) image[keys[k]] = f.raw[keys[k]].slice(0)
    const cs = candidates(image)
    let accepted = 0
    for (let c = 0; c < cs.length; c++) {
        if ((c & 7) === 0) await ds.sleep(0)
        for (let i = 0; i < recs.length; i++) {
            const n = recs[i].length - TAG_SIZE
            if (recordTag(nativeCrypto, cs[c], recs[i].slice(0, n)).toString("hex") !== recs[i].slice(n, n + TAG_SIZE).toString("hex")) continue
            // the attacker holds K_i: rewrite the first interval record at or after i
            let j = i
            while (j < recs.length && decodeRecord(recs[j]).kind !== RecordKind.IntervalClose) j++
            if (j === recs.length) {
                console.log(`candidate ${c} is K_${i} (no interval record after it to rewrite)`)
                accepted++
                continue
            }
            const forged = forge(recs, i, cs[c], j)
            const ok = verifierAccepts(forged)
            console.log(`candidate ${c} from the flash image is K_${i}: record ${j} re-tagged, verifier accepts: ${ok}`)
            if (ok) accepted++
        }
    }
    return accepted
}

describe("index store: forward security against a reader of the flash", () => {
    test("the verifier accepts the genuine chain and a forgery made with the true key (the check can succeed)", async () => {
        const f = new RamStorage()
        const s = await open(f)
        for (let i = 1; i <= 3; i++) await s.append(RecordKind.IntervalClose, 1764000000 + 1800 * i, interval(i))
        const recs = records(s)
        expect(recs.length).toBe(4)
        expect(verifierAccepts(recs)).toBe(true)
        // a forgery with K_1, which only the head-end's escrow holds, is accepted
        const forged = forge(recs, 0, VERIFIER_K0, 1)
        expect(forged[1].toString("hex") === recs[1].toString("hex")).toBe(false)
        expect(verifierAccepts(forged)).toBe(true)
        // ...and one under a wrong key is not
        expect(verifierAccepts(forge(recs, 0, SECRET, 1))).toBe(false)
    })
    test("with the flash at t and METER_SECRET, no record sealed before t can be re-tagged", async () => {
        const f = new RamStorage()
        const s = await open(f)
        // t = right after the genesis record
        expect(await attack(f, records(s))).toBe(0)
        for (let i = 1; i <= 3; i++) await s.append(RecordKind.IntervalClose, 1764000000 + 1800 * i, interval(i))
        // t = after three interval records
        expect(await attack(f, records(s))).toBe(0)
        // t = after a reboot and one more record
        const s2 = await open(f)
        await s2.append(RecordKind.IntervalClose, 1764000000 + 1800 * 4, interval(4))
        const recs = records(s2)
        expect(recs.length).toBe(5)
        expect(verifierAccepts(recs)).toBe(true)
        expect(await attack(f, recs)).toBe(0)
    })
    test("K_0 leaves the flash once the genesis record is sealed (also after a power cut before the delete)", async () => {
        const f = new RamStorage()
        const s = await open(f)
        expect(f.raw[KEY_K0] === undefined).toBe(true)
        expect(tagValidUnder(keyFor(0), records(s)[0])).toBe(true)
        // cut after the genesis record and head, before st.k0 is deleted
        const g = new PowerCutStorage(new RamStorage())
        g.cutAfter(2)
        let threw = false
        try {
            await open(g)
        } catch (e) {
            threw = true
        }
        expect(threw).toBe(true)
        g.restore()
        const inner = g.inner as RamStorage
        expect(inner.raw[KEY_K0] === undefined).toBe(false)
        const s2 = await open(g)
        expect(inner.raw[KEY_K0] === undefined).toBe(true)
        expect(s2.verdict().ok).toBe(true)
        expect(s2.head().seq).toBe(0)
        await s2.append(RecordKind.IntervalClose, 0, interval(1))
        await headEndCheck(s2)
    })
    test("K_0 written again over a live chain is deleted at boot and changes nothing", async () => {
        const f = new RamStorage()
        const s = await open(f)
        await s.append(RecordKind.IntervalClose, 0, interval(1))
        f.raw[KEY_K0] = Buffer.from('"abababababababababababababababababababababababababababababababab"')
        const s2 = await open(f)
        expect(f.raw[KEY_K0] === undefined).toBe(true)
        expect(s2.verdict().ok).toBe(true)
        await s2.append(RecordKind.IntervalClose, 0, interval(2))
        await headEndCheck(s2)
    })
    test("a blank flash without K_0 still records, under a key nobody holds", async () => {
        const f = new RamStorage()
        f.raw["x.y"] = Buffer.from("not blank") // the rig provisions only a blank flash
        const s = await open(f)
        expect(s.head().seq).toBe(0)
        expect(tagValidUnder(keyFor(0), records(s)[0])).toBe(false)
        expect(await attack(f, records(s))).toBe(0)
    })
})

function tagValidUnder(key: Buffer, rec: Buffer): boolean {
    const n = rec.length - TAG_SIZE
    return recordTag(nativeCrypto, key, rec.slice(0, n)).toString("hex") === rec.slice(n, n + TAG_SIZE).toString("hex")
}
