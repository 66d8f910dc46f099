/**
 * Golden vectors of the command envelope (docs/commands.md): one scenario of signed
 * envelopes, built by the wire core and signed by the head-end (headend/src/commands.ts), each with the
 * verdict a meter provisioned with `anchor` must give at `now`, in order. Writes
 * test/vectors/envelope.json and the firmware's copy test/device/vectors/envelope.ts;
 * test/node/commands_vectors.test.ts fails when either is stale.
 *
 *   npx tsx test/vectors/envelope_gen.ts
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { sha256 } from "@noble/hashes/sha2.js"
import { ed25519 } from "@noble/curves/ed25519.js"
import {
    ALL_OPCODES,
    buildEnvelope,
    defaultMask,
    disconnectPolicyArgs,
    firmwareManifestArgs,
    keyRemoveArgs,
    privacyArgs,
    PrivacyLevel,
    randomLimitArgs,
    uplinkEpochArgs,
    encodeKeyEntry,
    encodeRing,
    envelopeBody,
    EnvelopeFields,
    headEndKey,
    HeadEndKey,
    Opcode,
    Role,
    timeSyncArgs,
    Verdict,
} from "../../headend/src/commands.ts"

const ROOT = join(fileURLToPath(import.meta.url), "../../..")
export const JSON_PATH = join(ROOT, "test/vectors/envelope.json")
export const TS_PATH = join(ROOT, "test/device/vectors/envelope.ts")

export interface EnvelopeStep {
    name: string
    /** the meter's UTC time when the envelope arrives (0 = unknown) */
    now: number
    hex: string
    verdict: number
    /** how many Ed25519 verifications the meter runs for this step */
    verifies: number
}

export interface EnvelopeVectors {
    meterId: string
    /** the provisioned anchor ring body (cv.anchor) */
    anchor: string
    keys: { name: string; id: number; role: number; mask: number; publicKey: string }[]
    steps: EnvelopeStep[]
    /** argument encodings made by the head-end's encoders, decoded by the firmware's tests */
    args: { name: string; opcode: number; hex: string }[]
}

const seed = (label: string) => sha256(new TextEncoder().encode(`trustmeter vector key ${label}`))
/** The default masks of the opcode table (src/wire/opcodes.ts): supplier 1, 2, 3, 5; network operator 1, 6, 7, 8. */
const SUPPLIER_MASK = defaultMask(Role.Supplier)
const NETOP_MASK = defaultMask(Role.NetworkOperator)

/** The vectors (deterministic: Ed25519 signatures are). */
export function generate(): EnvelopeVectors {
    const root = headEndKey(1, Role.Root, ALL_OPCODES, seed("root"))
    const supplier = headEndKey(2, Role.Supplier, SUPPLIER_MASK, seed("supplier"))
    const netop = headEndKey(3, Role.NetworkOperator, NETOP_MASK, seed("netop"))
    const supplier2 = headEndKey(2, Role.Supplier, SUPPLIER_MASK, seed("supplier2"))
    const root2 = headEndKey(5, Role.Root, ALL_OPCODES, seed("root2"))
    const meterId = Buffer.from("7e57000000000001", "hex")
    const otherMeter = Buffer.from("7e57000000000002", "hex")
    const NOW = 1800000000
    const steps: EnvelopeStep[] = []
    const base = (signer: HeadEndKey, counter: bigint, opcode: number, extra: Partial<EnvelopeFields> = {}): EnvelopeFields => ({
        meterId,
        signer,
        counter,
        notBefore: 0,
        expiry: NOW + 3600,
        opcode,
        ...extra,
    })
    const step = (name: string, now: number, env: Buffer, verdict: number, verifies: number) =>
        steps.push({ name, now, hex: env.toString("hex"), verdict, verifies })
    const flip = (b: Buffer, i: number) => {
        const c = Buffer.from(b)
        c[i < 0 ? c.length + i : i] ^= 0x01
        return c
    }

    step("time sync while the time is unknown (network operator)", 0,
        buildEnvelope(base(netop, 1n, Opcode.TimeSync, { args: timeSyncArgs(NOW) })), Verdict.Accepted, 1)
    const arm1 = buildEnvelope(base(supplier, 1n, Opcode.ReconnectArm))
    step("arm (supplier)", NOW, arm1, Verdict.Accepted, 1)
    step("the same envelope again", NOW, arm1, Verdict.Replay, 0)
    step("a valid envelope for another meter", NOW,
        buildEnvelope(base(supplier, 2n, Opcode.ReconnectArm, { meterId: otherMeter })), Verdict.WrongMeter, 0)
    step("one bit flipped in the signature", NOW, flip(buildEnvelope(base(supplier, 2n, Opcode.ReconnectArm)), -1), Verdict.BadSignature, 1)
    step("one bit flipped in the counter", NOW, flip(buildEnvelope(base(supplier, 2n, Opcode.ReconnectArm)), 17), Verdict.BadSignature, 1)
    // the network operator's key signs, but the envelope claims the supplier's key id
    const claimed = { ...netop, id: supplier.id, role: supplier.role, mask: supplier.mask }
    step("signed by another key under the supplier's id", NOW,
        buildEnvelope(base(claimed, 2n, Opcode.ReconnectArm)), Verdict.BadSignature, 1)
    // a signature over the same bytes without the domain-separation prefix
    const body = envelopeBody(base(supplier, 2n, Opcode.ReconnectArm))
    const noPrefix = Buffer.concat([body, Buffer.from([supplier.id]), Buffer.from(ed25519.sign(body, supplier.secretKey))])
    step("signature without the domain-separation prefix", NOW, noPrefix, Verdict.BadSignature, 1)
    step("disconnect (supplier)", NOW, buildEnvelope(base(supplier, 3n, Opcode.Disconnect)), Verdict.Accepted, 1)
    step("key change signed by the supplier", NOW,
        buildEnvelope(base(supplier, 4n, Opcode.KeyRemove, { args: Buffer.from([3]) })), Verdict.OpcodeNotAllowed, 0)
    step("expired", NOW, buildEnvelope(base(supplier, 4n, Opcode.ReconnectArm, { expiry: NOW - 1 })), Verdict.Expired, 0)
    step("not yet valid", NOW,
        buildEnvelope(base(supplier, 4n, Opcode.ReconnectArm, { notBefore: NOW + 60 })), Verdict.NotYetValid, 0)
    step("change of supplier: the root replaces key 2", NOW,
        buildEnvelope(base(root, 1n, Opcode.KeyReplace, { args: encodeKeyEntry(supplier2) })), Verdict.Accepted, 1)
    step("the old supplier's key is no longer key 2", NOW,
        buildEnvelope(base(supplier, 10n, Opcode.ReconnectArm)), Verdict.BadSignature, 1)
    step("the new supplier starts again from counter 1", NOW,
        buildEnvelope(base(supplier2, 1n, Opcode.ReconnectArm)), Verdict.Accepted, 1)
    step("dual control switched on by the root", NOW,
        buildEnvelope(base(root, 2n, Opcode.SetDisconnectPolicy, { args: disconnectPolicyArgs(true, 2) })), Verdict.Accepted, 1)
    step("a disconnect with one signature under dual control", NOW,
        buildEnvelope(base(supplier2, 2n, Opcode.Disconnect)), Verdict.DualControlRequired, 0)
    step("a disconnect signed by supplier and network operator", NOW,
        buildEnvelope(base(supplier2, 3n, Opcode.Disconnect, { cosigner: netop })), Verdict.Accepted, 2)
    step("root rotation signed by the old root", NOW,
        buildEnvelope(base(root, 3n, Opcode.RootRotate, { args: encodeKeyEntry(root2) })), Verdict.Accepted, 1)
    step("the old root is gone", NOW, buildEnvelope(base(root, 4n, Opcode.ReconnectArm)), Verdict.UnknownKey, 0)
    step("the new root signs", NOW, buildEnvelope(base(root2, 1n, Opcode.ReconnectArm)), Verdict.Accepted, 1)
    const good = buildEnvelope(base(root2, 2n, Opcode.ReconnectArm))
    step("truncated by one byte", NOW, good.subarray(0, good.length - 1), Verdict.Malformed, 0)
    const v2 = Buffer.from(good)
    v2[0] = 2
    step("unknown version", NOW, v2, Verdict.BadVersion, 0)

    const keyInfo = (name: string, k: HeadEndKey) => ({
        name,
        id: k.id,
        role: k.role,
        mask: k.mask,
        publicKey: Buffer.from(k.publicKey).toString("hex"),
    })
    return {
        meterId: meterId.toString("hex"),
        anchor: encodeRing([root, supplier, netop]).toString("hex"),
        keys: [
            keyInfo("root", root),
            keyInfo("supplier", supplier),
            keyInfo("netop", netop),
            keyInfo("supplier2", supplier2),
            keyInfo("root2", root2),
        ],
        steps,
        args: [
            { name: "privacy monthly", opcode: Opcode.SetPrivacy, hex: privacyArgs(PrivacyLevel.Monthly).toString("hex") },
            { name: "random limit 120 s", opcode: Opcode.SetRandomLimit, hex: randomLimitArgs(120).toString("hex") },
            { name: "dual control on, 3 a day", opcode: Opcode.SetDisconnectPolicy, hex: disconnectPolicyArgs(true, 3).toString("hex") },
            { name: "uplink epoch 9", opcode: Opcode.UplinkEpoch, hex: uplinkEpochArgs(9).toString("hex") },
            { name: "time sync", opcode: Opcode.TimeSync, hex: timeSyncArgs(NOW + 60).toString("hex") },
            {
                name: "firmware manifest 7 for the simulator",
                opcode: Opcode.FirmwareManifest,
                hex: firmwareManifestArgs({
                    sequence: 7,
                    board: "simulator",
                    imageSize: 1000,
                    digest: Buffer.from(sha256(new Uint8Array(1000))),
                }).toString("hex"),
            },
            { name: "remove key 3", opcode: Opcode.KeyRemove, hex: keyRemoveArgs(3).toString("hex") },
            { name: "add supplier2 as key 4", opcode: Opcode.KeyAdd, hex: encodeKeyEntry({ ...supplier2, id: 4 }).toString("hex") },
        ],
    }
}

export function jsonText(v: EnvelopeVectors): string {
    return JSON.stringify(v, null, 2) + "\n"
}

export function tsText(v: EnvelopeVectors): string {
    return [
        "// GENERATED by test/vectors/envelope_gen.ts from the head-end's signer: do not edit.",
        "// docs/commands.md; checked by test/device/command.vectors*.test.ts and test/node/commands_vectors.test.ts.",
        "",
        `export const VECTOR_METER_ID = "${v.meterId}"`,
        `export const VECTOR_ANCHOR = "${v.anchor}"`,
        "",
        "export const ARG_VECTORS: { name: string; opcode: number; hex: string }[] = " + JSON.stringify(v.args, null, 4),
        "",
        "export const ENVELOPE_STEPS: { name: string; now: number; hex: string; verdict: number; verifies: number }[] = " +
            JSON.stringify(v.steps, null, 4),
        "",
    ].join("\n")
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    const v = generate()
    writeFileSync(JSON_PATH, jsonText(v))
    writeFileSync(TS_PATH, tsText(v))
    console.log(`wrote ${v.steps.length} steps to ${JSON_PATH} and ${TS_PATH}`)
}
