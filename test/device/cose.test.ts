// @timeout 120000
import { describe, test, expect } from "@devicescript/test"
import { CoseMessage, COSE_SIGN1_TAG, CoseReason, coseProtected, decodeCose, encodeCose, toBeSigned } from "../../src/wire/cose"
import { ed25519Verify } from "../../src/crypto/ed25519"
import { COSE_INVALID, COSE_VALID, COSE_WG } from "./vectors/cose"

const hexb = (s: string) => Buffer.from(s, "hex")

function decoded(hx: string): CoseMessage {
    const m = decodeCose(hexb(hx))
    if (typeof m === "number") console.log(`refused ${hx.slice(0, 40)}: ${m}`)
    expect(typeof m === "number").toBe(false)
    return m as CoseMessage
}

describe("COSE: the COSE working group's EdDSA examples (test/vectors/cose_wg.json)", () => {
    test("Ed25519 COSE_Sign1 and COSE_Sign: their Sig_structure, verified by the firmware's Ed25519", async () => {
        for (let i = 0; i < COSE_WG.length; i++) {
            const [file, structure, curve, kid, pub, payload, tbs, cbor] = COSE_WG[i] as string[]
            if (curve !== "Ed25519") continue
            const m = decoded(cbor)
            expect(m.tag === COSE_SIGN1_TAG).toBe(structure === "COSE_Sign1")
            expect(m.signatures.length).toBe(1)
            expect(m.signatures[0].kid.toString("hex")).toBe(kid)
            expect(m.payload.toString("hex")).toBe(payload)
            expect(toBeSigned(m, 0).toString("hex")).toBe(tbs)
            expect(await ed25519Verify(hexb(pub), toBeSigned(m, 0), m.signatures[0].signature)).toBe(true)
            // one flipped payload bit and the signature no longer verifies
            const bad = hexb(cbor)
            bad[cbor.indexOf(payload) / 2] ^= 1
            const mb = decoded(bad.toString("hex"))
            expect(await ed25519Verify(hexb(pub), toBeSigned(mb, 0), mb.signatures[0].signature)).toBe(false)
            console.log(`${file}: decoded, verified`)
        }
    })
    test("Ed448 examples are outside the profile: a 114-byte signature is refused", () => {
        for (let i = 0; i < COSE_WG.length; i++) {
            if (COSE_WG[i][2] !== "Ed448") continue
            expect(decodeCose(hexb(COSE_WG[i][7] as string))).toBe(CoseReason.BadSignatureSize)
        }
    })
})

describe("COSE: trustmeter command messages (test/vectors/cbor.json, cose)", () => {
    test("COSE_Sign1 and dual-signed COSE_Sign: kids, Sig_structures, signatures, same bytes back", async () => {
        for (let i = 0; i < COSE_VALID.length; i++) {
            const [name, hx, kids, pubs, payload, tbs] = COSE_VALID[i] as any[]
            const m = decoded(hx)
            expect(m.payload.toString("hex")).toBe(payload)
            expect(m.signatures.length).toBe(kids.length)
            for (let s = 0; s < kids.length; s++) {
                expect(m.signatures[s].kid.toString("hex")).toBe(kids[s])
                expect(m.signatures[s].protectedBytes.toString("hex")).toBe(coseProtected(hexb(kids[s])).toString("hex"))
                expect(toBeSigned(m, s).toString("hex")).toBe(tbs[s])
                expect(await ed25519Verify(hexb(pubs[s]), toBeSigned(m, s), m.signatures[s].signature)).toBe(true)
                // a signature checked against the other signer's Sig_structure fails
                if (kids.length === 2) expect(await ed25519Verify(hexb(pubs[s]), toBeSigned(m, 1 - s), m.signatures[s].signature)).toBe(false)
            }
            expect(encodeCose(m).toString("hex")).toBe(hx)
            console.log(`${name}: verified`)
        }
    })
    test("every malformed message is refused with its reason", () => {
        for (let i = 0; i < COSE_INVALID.length; i++) {
            const r = decodeCose(hexb(COSE_INVALID[i][1] as string))
            if (r !== COSE_INVALID[i][2]) console.log(`${COSE_INVALID[i][0]}: expected ${COSE_INVALID[i][2]}, got ${typeof r === "number" ? r : "a message"}`)
            expect(r).toBe(COSE_INVALID[i][2] as number)
        }
    })
})
