// @timeout 120000
import * as ds from "@devicescript/core"
import { describe, test, expect } from "@devicescript/test"
import { ed25519Verify } from "../../src/crypto/ed25519"
import { nativeCrypto } from "../../src/crypto/native"
import { decodeCommandAck } from "../../src/wire/ack"
import { concatBytes } from "../../src/wire/bytes"
import { CborMap, encodeCbor } from "../../src/wire/cbor"
import { toBeSigned } from "../../src/wire/cose"
import { decideManifest, decodeManifest, ManifestReason, signedManifest, SignedManifest, Suit, SUIT_VENDOR_ID, suitClassId, suitDigest, suitEnvelope } from "../../src/wire/envelope"
import { Verdict } from "../../src/wire/opcodes"
import { fakeSign, TestMeter, testEnvelope, testRing } from "./vectors/envelope_kit"
import { SUIT_CLASS_IDS, SUIT_CURRENT, SUIT_ROOT_PUBLIC_KEY, SUIT_VALID, SUIT_VECTORS } from "./vectors/suit"

// The firmware manifest as a SUIT envelope (docs/commands.md §7) on the meter: the
// head-end's golden vectors (test/vectors/suit_gen.ts, real Ed25519 by the vector root)
// through the firmware's decoder, Ed25519 and rules; then the whole command path of a
// meter (TestMeter: stand-in signatures) refusing each attack with its own reason in the
// acknowledgement's detail.

const hexb = (s: string) => Buffer.from(s, "hex")

describe("SUIT golden vectors (made by the head-end) on the meter", () => {
    test("the decoder gives each vector's reason; the rules give the rest", async () => {
        const cls = suitClassId(nativeCrypto, "simulator")
        for (let i = 0; i < SUIT_VECTORS.length; i++) {
            // (a decode takes a good part of a fiber's slice: docs/formats.md)
            await ds.sleep(0)
            const x = SUIT_VECTORS[i]
            const d = decodeManifest(hexb(x.hex), nativeCrypto)
            const got = typeof d === "number" ? d : 0
            if (got !== x.decoded) console.log(`${x.name}: decoded ${got}, expected ${x.decoded}`)
            expect(got).toBe(x.decoded)
            // past the decoder: the rules (a BadSignature vector is one whose signature fails)
            if (typeof d !== "number" && x.reason !== ManifestReason.BadSignature) expect(decideManifest(d as SignedManifest, SUIT_CURRENT, cls)).toBe(x.reason)
        }
        const ok = decodeManifest(hexb(SUIT_VECTORS[0].hex), nativeCrypto) as SignedManifest
        expect(ok.sequence).toBe(SUIT_VALID.sequence)
        expect(ok.imageSize).toBe(SUIT_VALID.imageSize)
        expect(ok.digest.toString("hex")).toBe(SUIT_VALID.digest)
        expect(ok.classId.toString("hex")).toBe(SUIT_VALID.classId)
        expect(ok.vendorId.toString("hex")).toBe(SUIT_VENDOR_ID)
    })
    test("the class id of each board is the head-end's (UUIDv8 from SHA-256)", () => {
        for (let i = 0; i < SUIT_CLASS_IDS.length; i++) expect(suitClassId(nativeCrypto, SUIT_CLASS_IDS[i].board).toString("hex")).toBe(SUIT_CLASS_IDS[i].classId)
    })
    test("the root's signature verifies with the firmware's Ed25519; edited after signing, it does not", async () => {
        const pub = hexb(SUIT_ROOT_PUBLIC_KEY)
        const ok = decodeManifest(hexb(SUIT_VECTORS[0].hex), nativeCrypto) as SignedManifest
        expect(await ed25519Verify(pub, toBeSigned(ok.auth, 0), ok.auth.signatures[0].signature)).toBe(true)
        let edited: SignedManifest = undefined
        for (let i = 0; i < SUIT_VECTORS.length; i++)
            if (SUIT_VECTORS[i].name.indexOf("edited after signing") >= 0) edited = decodeManifest(hexb(SUIT_VECTORS[i].hex), nativeCrypto) as SignedManifest
        expect(await ed25519Verify(pub, toBeSigned(edited.auth, 0), edited.auth.signatures[0].signature)).toBe(false)
    })
})

/** The manifest bytes of the subset with these fields, `extra` an additional member. */
function manifestBytes(seq: number, classId: Buffer, extraKey: number): Buffer {
    const params = new CborMap([1, 2, 3, 14], [hexb(SUIT_VENDOR_ID), classId, encodeCbor([Suit.Sha256, nativeCrypto.sha256([Buffer.alloc(1000)])]), 1000])
    const shared = encodeCbor([Suit.OverrideParameters, params, Suit.ConditionVendor, Suit.ReportAll, Suit.ConditionClass, Suit.ReportAll])
    const common = encodeCbor(new CborMap([2, 4], [[[Buffer.from([0])]], shared]))
    const keys = [1, 2, 3]
    const values = [1, seq, common]
    if (extraKey > 0) {
        keys.push(extraKey)
        values.push(0)
    }
    return encodeCbor(new CborMap(keys, values))
}

describe("a FirmwareManifest command on the meter: each attack refused with its own reason (the ack's detail)", () => {
    const ring = testRing()
    const root = ring[0]
    const supplier = ring[1]
    const byRoot = (tbs: Buffer) => fakeSign(root.publicKey, tbs)
    const sim = suitClassId(nativeCrypto, "simulator")

    test("accepted from the root, staged, persisted; every attack refused", async () => {
        const m = await TestMeter.provisioned()
        let counter = 1
        const send = async (args: Buffer) => {
            const ack = await m.handler.handleCommand(testEnvelope({ signer: supplier, counter: counter++, opcode: 8, args: args }))
            const a = decodeCommandAck(ack)
            return [a.verdict, a.detail]
        }
        const wrap = (man: Buffer) => suitEnvelope(man, suitDigest(nativeCrypto, man), 1, byRoot)
        const seven = signedManifest({ sequence: 7, imageSize: 1000, digest: nativeCrypto.sha256([Buffer.alloc(1000)]), board: "simulator" }, 0, nativeCrypto, 1, byRoot)
        const expectRefused = async (name: string, args: Buffer, reason: number) => {
            const r = await send(args)
            if (r[0] !== Verdict.FirmwareRejected || r[1] !== reason) console.log(`${name}: verdict ${r[0]} detail ${r[1]}, expected ${reason}`)
            expect(r[0]).toBe(Verdict.FirmwareRejected)
            expect(r[1]).toBe(reason)
        }
        // wrong digest in the wrapper
        const man7 = manifestBytes(7, sim, 0)
        const wrong = suitDigest(nativeCrypto, man7)
        wrong[wrong.length - 1] ^= 1
        await expectRefused("wrong digest", suitEnvelope(man7, wrong, 1, byRoot), ManifestReason.BadDigest)
        // edited after signing: sequence 7 -> 8 with the digest recomputed, the signature of 7 kept
        let sig7: Buffer = undefined
        suitEnvelope(man7, suitDigest(nativeCrypto, man7), 1, (tbs: Buffer) => (sig7 = byRoot(tbs)))
        const man8 = manifestBytes(8, sim, 0)
        await expectRefused("edited after signing", suitEnvelope(man8, suitDigest(nativeCrypto, man8), 1, (tbs: Buffer) => sig7), ManifestReason.BadSignature)
        // signed by the supplier, who may send the command but not author firmware
        await expectRefused("signed by the supplier", suitEnvelope(man7, suitDigest(nativeCrypto, man7), 2, (tbs: Buffer) => fakeSign(supplier.publicKey, tbs)), ManifestReason.BadSignature)
        await expectRefused("wrong class id", wrap(manifestBytes(7, suitClassId(nativeCrypto, "trustmeter_pico_w"), 0)), ManifestReason.WrongClass)
        await expectRefused("unknown critical member", wrap(manifestBytes(7, sim, 99)), ManifestReason.Unsupported)
        await expectRefused("trailing bytes", concatBytes(seven, Buffer.from([0])), 2 /* CborReason.TrailingBytes */)
        await expectRefused("step beyond the bound", wrap(manifestBytes(1025, sim, 0)), ManifestReason.TooFarAhead)
        expect(m.staged.length).toBe(0)
        // the valid one
        const r = await send(seven)
        expect(r[0]).toBe(Verdict.Accepted)
        expect(r[1]).toBe(7)
        expect(m.staged.length).toBe(1)
        expect(m.staged[0].sequence).toBe(7)
        expect(m.staged[0].imageSize).toBe(1000)
        expect(m.staged[0].classId.toString("hex")).toBe(sim.toString("hex"))
        // rollback: the same manifest again, an older one, and after a reboot
        await expectRefused("replay", seven, ManifestReason.Rollback)
        await expectRefused("rollback to 6", wrap(manifestBytes(6, sim, 0)), ManifestReason.Rollback)
        const b = await TestMeter.provisioned(m.storage)
        const ack = await b.handler.handleCommand(testEnvelope({ signer: supplier, counter: counter++, opcode: 8, args: seven }))
        expect(decodeCommandAck(ack).verdict).toBe(Verdict.FirmwareRejected)
        expect(decodeCommandAck(ack).detail).toBe(ManifestReason.Rollback)
        expect(b.staged.length).toBe(0)
        // the furthest step from 7
        const ack2 = await b.handler.handleCommand(testEnvelope({ signer: supplier, counter: counter++, opcode: 8, args: wrap(manifestBytes(7 + 1024, sim, 0)) }))
        expect(decodeCommandAck(ack2).verdict).toBe(Verdict.Accepted)
        expect(b.handler.policy.firmwareSequence).toBe(1031)
    })
})
