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
import { CborMap, encodeCbor } from "../../src/wire/cbor"
import { CoseMessage, decodeCose, encodeCose, toBeSigned } from "../../src/wire/cose"
import { MAX_COUNTER } from "../../src/wire/envelope"
import { encode as cbor2Encode } from "cbor2"
import { Ed25519Key } from "@ldclabs/cose-ts/ed25519"
import { Sign1Message } from "@ldclabs/cose-ts/sign1"
import { Header } from "@ldclabs/cose-ts/header"
import {
    ALL_OPCODES,
    buildEnvelope,
    defaultMask,
    disconnectPolicyArgs,
    buildManifest,
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

/** A step of a stolen-key scenario (docs/commands.md §2, "A stolen key"), run in order on one meter. */
export interface ScenarioStep {
    name: string
    /** the meter's UTC time before the step; -1: as its clock is (set by the time syncs before) */
    now: number
    /** 1: the meter reboots before the step (same flash, time unknown, uptime from 0) */
    reboot: number
    /** uptime added before the step, ms */
    uptimeMs: number
    hex: string
    verdict: number
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
    /** one stolen non-root key does all it can sign, then the root removes it (command.stolen_key.test.ts) */
    stolenNetop: ScenarioStep[]
    stolenSupplier: ScenarioStep[]
    /**
     * commands made by an independent COSE implementation (@ldclabs/cose-ts signs, cbor2
     * encodes the payload), run in order on a fresh meter provisioned with `anchor`
     * (test/device/command.vectors.test.ts): what the head-end's wire core does not write
     */
    coseTs: EnvelopeStep[]
    /** fresh valid envelopes for the fuzz meter (its bases spent): their signatures and payloads are mutated (fuzz_rig.ts) */
    fuzzTargets: { name: string; hex: string }[]
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
    // the counter's last byte: a small counter is the byte after key 3 in the payload map
    // {1: h'<8>', 2: signer, 3: counter, …}, whose bytes follow its bstr head in the message
    const flipCounter = (b: Buffer) => {
        const c = Buffer.from(b)
        c[b.indexOf(Buffer.from("a70148", "hex")) + 14] ^= 0x01
        return c
    }
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
    step("one bit flipped in the counter", NOW, flipCounter(buildEnvelope(base(supplier, 2n, Opcode.ReconnectArm))), Verdict.BadSignature, 1)
    // the network operator's key signs, but the envelope claims the supplier's key id
    const claimed = { ...netop, id: supplier.id, role: supplier.role, mask: supplier.mask }
    step("signed by another key under the supplier's id", NOW,
        buildEnvelope(base(claimed, 2n, Opcode.ReconnectArm)), Verdict.BadSignature, 1)
    // a signature over the payload alone, not over its Sig_structure (RFC 9052 §4.4)
    const bare = envelopeBody(base(supplier, 2n, Opcode.ReconnectArm))
    bare.signatures[0].signature = Buffer.from(ed25519.sign(bare.payload, supplier.secretKey))
    step("signature over the payload, not the Sig_structure", NOW, encodeCose(bare), Verdict.BadSignature, 1)
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
    // a COSE message this meter does not speak: alg ES256 (-7) in the protected header
    const es256 = envelopeBody(base(root2, 2n, Opcode.ReconnectArm))
    es256.bodyProtected = es256.signatures[0].protectedBytes = encodeCbor(new CborMap([1, 4], [-7, Buffer.from([root2.id])]))
    es256.signatures[0].signature = Buffer.from(ed25519.sign(toBeSigned(es256, 0), root2.secretKey))
    step("another algorithm (ES256)", NOW, encodeCose(es256), Verdict.BadVersion, 0)
    // dual control: each signature signs the same bytes whatever the count, so the COSE_Sign
    // must carry two; and the counter belongs to the first signer, named in the payload
    const dual = decodeCose(buildEnvelope(base(supplier2, 4n, Opcode.Disconnect, { cosigner: netop }))) as CoseMessage
    step("a dual-control disconnect stripped to one signature", NOW, encodeCose({ ...dual, signatures: [dual.signatures[0]] }), Verdict.Malformed, 0)
    step("a dual-control disconnect with its signatures swapped", NOW,
        encodeCose({ ...dual, signatures: [dual.signatures[1], dual.signatures[0]] }), Verdict.Malformed, 0)

    const fuzzTargets = [
        { name: "supplier arm, counter 1000", hex: buildEnvelope(base(supplier, 1000n, Opcode.ReconnectArm)).toString("hex") },
        { name: "supplier privacy daily, counter 1001", hex: buildEnvelope(base(supplier, 1001n, Opcode.SetPrivacy, { args: privacyArgs(PrivacyLevel.Daily) })).toString("hex") },
        {
            name: "network operator time sync, counter 1000",
            hex: buildEnvelope(base(netop, 1000n, Opcode.TimeSync, { notBefore: NOW - 60, args: timeSyncArgs(NOW + 60) })).toString("hex"),
        },
        { name: "supplier disconnect co-signed by the network operator, counter 1002", hex: buildEnvelope(base(supplier, 1002n, Opcode.Disconnect, { cosigner: netop })).toString("hex") },
    ]
    const netop2 = headEndKey(6, Role.NetworkOperator, NETOP_MASK, seed("netop2"))
    const supplier3 = headEndKey(2, Role.Supplier, SUPPLIER_MASK, seed("supplier3"))

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
            keyInfo("netop2", netop2),
            keyInfo("supplier3", supplier3),
        ],
        steps,
        args: [
            { name: "privacy monthly", opcode: Opcode.SetPrivacy, hex: privacyArgs(PrivacyLevel.Monthly).toString("hex") },
            { name: "random limit 120 s", opcode: Opcode.SetRandomLimit, hex: randomLimitArgs(120).toString("hex") },
            { name: "dual control on, 3 a day", opcode: Opcode.SetDisconnectPolicy, hex: disconnectPolicyArgs(true, 3).toString("hex") },
            { name: "uplink epoch 9", opcode: Opcode.UplinkEpoch, hex: uplinkEpochArgs(9, 0).toString("hex") },
            { name: "time sync", opcode: Opcode.TimeSync, hex: timeSyncArgs(NOW + 60).toString("hex") },
            {
                name: "firmware manifest 7 for the simulator",
                opcode: Opcode.FirmwareManifest,
                // a SUIT envelope signed by the vector root (key 1)
                hex: buildManifest({
                    sequence: 7,
                    board: "simulator",
                    imageSize: 1000,
                    digest: Buffer.from(sha256(new Uint8Array(1000))),
                }, 0, root).toString("hex"),
            },
            { name: "remove key 3", opcode: Opcode.KeyRemove, hex: keyRemoveArgs(3).toString("hex") },
            { name: "add supplier2 as key 4", opcode: Opcode.KeyAdd, hex: encodeKeyEntry({ ...supplier2, id: 4 }).toString("hex") },
        ],
        stolenNetop: stolenNetop(meterId, root, supplier, netop, netop2),
        stolenSupplier: stolenSupplier(meterId, root, supplier, netop, supplier3),
        fuzzTargets,
        coseTs: coseTsSteps(meterId, supplier, netop, NOW),
    }
}

/**
 * COSE_Sign1 commands signed by @ldclabs/cose-ts over payloads cbor2 encodes, for a fresh
 * meter: the kid protected (as trustmeter writes it) or unprotected (cose-ts's own
 * default), and one with a payload bit flipped after signing. cose-ts has no COSE_Sign, so
 * dual control is not among them (test/node/commands_vectors.test.ts checks our COSE_Sign
 * against cbor2 and @noble instead).
 */
function coseTsSteps(meterId: Buffer, supplier: HeadEndKey, netop: HeadEndKey, now: number): EnvelopeStep[] {
    const sign = (k: HeadEndKey, kidProtected: boolean, counter: number, notBefore: number, expiry: number, opcode: number, args: Buffer) => {
        const payload = cbor2Encode(new Map<number, unknown>([[1, new Uint8Array(meterId)], [2, k.id], [3, counter], [4, notBefore], [5, expiry], [6, opcode], [7, new Uint8Array(args)]]))
        const key = Ed25519Key.fromSecret(k.secretKey)
        // kid unprotected: cose-ts's own headers (alg protected, the key's kid unprotected)
        key.kid = new Uint8Array([k.id])
        const msg = kidProtected
            ? new Sign1Message(payload, new Header().setParam(1, -8).setParam(4, new Uint8Array([k.id])), new Header())
            : new Sign1Message(payload)
        return Buffer.from(Sign1Message.withTag(msg.toBytes(key)))
    }
    const flipped = sign(supplier, true, 12, 0, now + 3600, Opcode.SetPrivacy, privacyArgs(PrivacyLevel.Daily))
    flipped[flipped.indexOf(Buffer.from("0741", "hex")) + 2] ^= 0x02 // the privacy level inside the payload: 1 -> 3
    const step = (name: string, at: number, hex: Buffer, verdict: number, verifies: number) => ({ name, now: at, hex: hex.toString("hex"), verdict, verifies })
    return [
        step("cose-ts: time sync while the time is unknown (network operator, kid unprotected)", 0, sign(netop, false, 10, now - 60, now + 600, Opcode.TimeSync, timeSyncArgs(now)), Verdict.Accepted, 1),
        step("cose-ts: arm (supplier, kid protected)", now, sign(supplier, true, 10, 0, now + 3600, Opcode.ReconnectArm, Buffer.alloc(0)), Verdict.Accepted, 1),
        step("cose-ts: privacy daily (supplier)", now, sign(supplier, true, 11, now - 60, now + 3600, Opcode.SetPrivacy, privacyArgs(PrivacyLevel.Daily)), Verdict.Accepted, 1),
        step("cose-ts: the same command again", now, sign(supplier, true, 11, now - 60, now + 3600, Opcode.SetPrivacy, privacyArgs(PrivacyLevel.Daily)), Verdict.Replay, 0),
        step("cose-ts: a payload bit flipped after signing", now, flipped, Verdict.BadSignature, 1),
        step("cose-ts: disconnect (supplier, kid unprotected)", now, sign(supplier, false, 13, 0, now + 3600, Opcode.Disconnect, Buffer.alloc(0)), Verdict.Accepted, 1),
    ]
}

/** Time of the stolen-key scenarios: past 2^31 (2039), so every u32 time is one the VM's truthiness gets wrong. */
export const T0 = 2200000000
const U32 = 0xffffffff
/** The furthest counter one command reaches from nothing: the largest expiry in µs + 2^20 (docs/commands.md §4). */
const CMAX = BigInt(U32) * 1_000_000n + (1n << 20n)
const u32be = (n: number) => {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n)
    return b
}

/** Builds a scenario: each step an envelope and the verdict a meter gives it. */
function scenario(meterId: Buffer) {
    const steps: ScenarioStep[] = []
    const at = (signer: HeadEndKey, counter: bigint, opcode: number, notBefore: number, expiry: number, args?: Buffer): Buffer => {
        const f: EnvelopeFields = { meterId, signer, counter, notBefore, expiry, opcode, args }
        // the head-end's encoder refuses a counter beyond reach: an attacker writes one anyway
        const m = envelopeBody({ ...f, counter: 1n })
        m.payload = encodeCbor(new CborMap([1, 2, 3, 4, 5, 6, 7], [meterId, signer.id, Number(counter), notBefore, expiry, opcode, args ?? Buffer.alloc(0)]))
        m.signatures[0].signature = Buffer.from(ed25519.sign(toBeSigned(m, 0), signer.secretKey))
        return encodeCose(m)
    }
    const step = (name: string, now: number, env: Buffer, verdict: number, verifies: number, more: { reboot?: boolean; uptimeMs?: number } = {}) =>
        steps.push({ name, now, reboot: more.reboot ? 1 : 0, uptimeMs: more.uptimeMs ?? 0, hex: env.toString("hex"), verdict, verifies })
    return { steps, at, step }
}

/**
 * A stolen network-operator key signs all it can (time syncs, epochs, manifests, counters,
 * a disconnect), also after a reboot; the root removes it, restores the time, adds a new
 * key, and the meter works as before: time, epoch, sequence and counters usable.
 */
function stolenNetop(meterId: Buffer, root: HeadEndKey, supplier: HeadEndKey, netop: HeadEndKey, netop2: HeadEndKey): ScenarioStep[] {
    const { steps, at, step } = scenario(meterId)
    const sync = (k: HeadEndKey, c: bigint, t: number, nb: number, exp: number) => at(k, c, Opcode.TimeSync, nb, exp, timeSyncArgs(t))
    // SUIT manifests are the root's (it signs each release once): the stolen key can only deliver them
    const manifest = (sequence: number) =>
        buildManifest({ sequence, board: "simulator", imageSize: 1000, digest: Buffer.from(sha256(new Uint8Array(1000))) }, sequence - 1, root)
    step("the network operator sets the clock", 0, sync(netop, 1n, T0, 0, T0 + 3600), Verdict.Accepted, 1)
    step("the supplier arms", -1, at(supplier, 1n, Opcode.ReconnectArm, 0, T0 + 3600), Verdict.Accepted, 1)
    step("stolen network operator: a disconnect alone", -1, at(netop, 2n, Opcode.Disconnect, 0, T0 + 3600), Verdict.OpcodeNotAllowed, 0)
    step("stolen network operator: time +900 s", -1, sync(netop, 3n, T0 + 900, T0 - 60, T0 + 960), Verdict.Accepted, 1)
    step("stolen network operator: time +900 s again", -1, sync(netop, 4n, T0 + 1800, T0 + 840, T0 + 1860), Verdict.Accepted, 1)
    step("stolen network operator: time 2^32 - 101", -1, sync(netop, 5n, U32 - 100, T0, U32), Verdict.TimeOutOfBounds, 1)
    step("stolen network operator: uplink epoch 2^32 - 1", -1, at(netop, 6n, Opcode.UplinkEpoch, 0, U32, u32be(U32)), Verdict.BadArguments, 1)
    step("stolen network operator: uplink epoch +16", -1, at(netop, 7n, Opcode.UplinkEpoch, 0, U32, uplinkEpochArgs(16, 0)), Verdict.Accepted, 1)
    step("stolen network operator: the furthest counter, the expiry 2^32 - 1 in µs + 2^20", -1,
        at(netop, CMAX, Opcode.UplinkEpoch, 0, U32, uplinkEpochArgs(32, 16)), Verdict.Accepted, 1)
    step("stolen network operator: 2^20 + 1 beyond it", -1,
        at(netop, CMAX + (1n << 20n) + 1n, Opcode.UplinkEpoch, 0, U32, uplinkEpochArgs(48, 32)), Verdict.CounterOutOfReach, 0)
    step("stolen network operator: 2^20 beyond it", -1,
        at(netop, CMAX + (1n << 20n), Opcode.UplinkEpoch, 0, U32, uplinkEpochArgs(48, 32)), Verdict.Accepted, 1)
    step("stolen network operator: counter 2^53 - 1", -1, at(netop, BigInt(MAX_COUNTER), Opcode.UplinkEpoch, 0, U32, uplinkEpochArgs(49, 48)), Verdict.CounterOutOfReach, 0)
    const c = CMAX + (1n << 20n)
    step("stolen network operator: firmware sequence 2^32 - 1", -1, at(netop, c + 1n, Opcode.FirmwareManifest, 0, U32, manifest(U32)), Verdict.FirmwareRejected, 2)
    step("stolen network operator: firmware sequence +1024", -1, at(netop, c + 2n, Opcode.FirmwareManifest, 0, U32, manifest(1024)), Verdict.Accepted, 2)
    step("stolen network operator, after a reboot: time 2^32 - 101", 0, sync(netop, c + 3n, U32 - 100, 0, U32), Verdict.TimeOutOfBounds, 1, { reboot: true })
    const week = T0 + 1800 + 604800
    step("stolen network operator, after a reboot: time 7 days past the floor", -1, sync(netop, c + 4n, week, 0, week), Verdict.Accepted, 1)
    step("stolen network operator: time +900 s", -1, sync(netop, c + 5n, week + 900, week - 60, week + 960), Verdict.Accepted, 1)
    const m = week + 900
    step("the root removes the stolen key, in a window that reaches the meter's time", -1,
        at(root, 1n, Opcode.KeyRemove, 0, m + 3600, keyRemoveArgs(netop.id)), Verdict.Accepted, 1)
    step("the stolen key is unknown", -1, sync(netop, c + 6n, m + 60, m, m + 120), Verdict.UnknownKey, 0)
    step("the root sets the real time again, back 7 days", -1, sync(root, 2n, T0 + 3600, T0 + 3540, m + 600), Verdict.Accepted, 1)
    step("the root adds a new network-operator key", -1, at(root, 3n, Opcode.KeyAdd, 0, T0 + 7200, encodeKeyEntry(netop2)), Verdict.Accepted, 1)
    step("new network operator: time +300 s", -1, sync(netop2, 1n, T0 + 3900, T0 + 3540, T0 + 3960), Verdict.Accepted, 1)
    step("new network operator: the next uplink epoch", -1, at(netop2, 2n, Opcode.UplinkEpoch, 0, T0 + 7200, uplinkEpochArgs(49, 48)), Verdict.Accepted, 1)
    step("new network operator: the next firmware", -1, at(netop2, 3n, Opcode.FirmwareManifest, 0, T0 + 7200, manifest(1025)), Verdict.Accepted, 2)
    step("the supplier disconnects", -1, at(supplier, 2n, Opcode.Disconnect, 0, T0 + 7200), Verdict.Accepted, 1)
    step("the supplier arms", -1, at(supplier, 3n, Opcode.ReconnectArm, 0, T0 + 7200), Verdict.Accepted, 1)
    step("after a reboot the new network operator sets the clock from the restored floor", 0,
        sync(netop2, 4n, T0 + 7200, 0, T0 + 7200 + 3600), Verdict.Accepted, 1, { reboot: true })
    step("the supplier arms", -1, at(supplier, 4n, Opcode.ReconnectArm, 0, T0 + 10800), Verdict.Accepted, 1)
    return steps
}

/**
 * A stolen supplier key signs all it can (disconnects, privacy, tariff, counters) and tries
 * what it may not; the root replaces it (same id), and the new supplier starts from counter
 * 1; the daily limit holds until a new UTC day after 24 h of uptime.
 */
function stolenSupplier(meterId: Buffer, root: HeadEndKey, supplier: HeadEndKey, netop: HeadEndKey, supplier3: HeadEndKey): ScenarioStep[] {
    const { steps, at, step } = scenario(meterId)
    const e = T0 + 3600
    step("the network operator sets the clock", 0, at(netop, 1n, Opcode.TimeSync, 0, e, timeSyncArgs(T0)), Verdict.Accepted, 1)
    step("stolen supplier: a disconnect", -1, at(supplier, 1n, Opcode.Disconnect, 0, e), Verdict.Accepted, 1)
    step("stolen supplier: a second disconnect", -1, at(supplier, 2n, Opcode.Disconnect, 0, e), Verdict.Accepted, 1)
    step("stolen supplier: a third disconnect the same day", -1, at(supplier, 3n, Opcode.Disconnect, 0, e), Verdict.DailyLimit, 1)
    step("stolen supplier: privacy monthly", -1, at(supplier, 4n, Opcode.SetPrivacy, 0, e, privacyArgs(PrivacyLevel.Monthly)), Verdict.Accepted, 1)
    step("stolen supplier: a tariff", -1, at(supplier, 5n, Opcode.SetTariff, 0, e, Buffer.from([0xca, 1])), Verdict.Accepted, 1)
    step("stolen supplier: a time sync", -1, at(supplier, 6n, Opcode.TimeSync, 0, e, timeSyncArgs(T0 + 900)), Verdict.OpcodeNotAllowed, 0)
    step("stolen supplier: lift the daily limit", -1, at(supplier, 6n, Opcode.SetDisconnectPolicy, 0, e, disconnectPolicyArgs(false, 48)), Verdict.OpcodeNotAllowed, 0)
    step("stolen supplier: add a key of its own", -1, at(supplier, 6n, Opcode.KeyAdd, 0, e, encodeKeyEntry({ ...supplier3, id: 9 })), Verdict.OpcodeNotAllowed, 0)
    step("stolen supplier: an uplink epoch", -1, at(supplier, 6n, Opcode.UplinkEpoch, 0, e, uplinkEpochArgs(1, 0)), Verdict.OpcodeNotAllowed, 0)
    step("stolen supplier: the furthest counter", -1, at(supplier, CMAX, Opcode.ReconnectArm, 0, U32), Verdict.Accepted, 1)
    step("stolen supplier: counter 2^53 - 1", -1, at(supplier, BigInt(MAX_COUNTER), Opcode.ReconnectArm, 0, U32), Verdict.CounterOutOfReach, 0)
    step("the root replaces the stolen supplier key (same id)", -1, at(root, 1n, Opcode.KeyReplace, 0, e, encodeKeyEntry(supplier3)), Verdict.Accepted, 1)
    step("the stolen key's signatures no longer verify", -1, at(supplier, CMAX, Opcode.ReconnectArm, 0, U32), Verdict.BadSignature, 1)
    step("new supplier: arm, its counter from 1", -1, at(supplier3, 1n, Opcode.ReconnectArm, 0, e), Verdict.Accepted, 1)
    step("new supplier: privacy half-hourly again", -1, at(supplier3, 2n, Opcode.SetPrivacy, 0, e, privacyArgs(PrivacyLevel.HalfHourly)), Verdict.Accepted, 1)
    step("new supplier: a disconnect the same day is still over the limit", -1, at(supplier3, 3n, Opcode.Disconnect, 0, e), Verdict.DailyLimit, 1)
    step("new supplier: a disconnect on a new UTC day after 24 h of uptime", T0 + 86400,
        at(supplier3, 4n, Opcode.Disconnect, 0, T0 + 86400 + 3600), Verdict.Accepted, 1, { uptimeMs: 86400000 })
    step("new supplier: arm", -1, at(supplier3, 5n, Opcode.ReconnectArm, 0, T0 + 86400 + 3600), Verdict.Accepted, 1)
    return steps
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
        "export interface ScenarioStep { name: string; now: number; reboot: number; uptimeMs: number; hex: string; verdict: number; verifies: number }",
        "",
        "export const STOLEN_NETOP: ScenarioStep[] = " + JSON.stringify(v.stolenNetop, null, 4),
        "",
        "export const STOLEN_SUPPLIER: ScenarioStep[] = " + JSON.stringify(v.stolenSupplier, null, 4),
        "",
        "export const FUZZ_TARGETS: { name: string; hex: string }[] = " + JSON.stringify(v.fuzzTargets, null, 4),
        "",
        "// signed by @ldclabs/cose-ts, payloads encoded by cbor2: an independent COSE implementation",
        "export const COSE_TS_STEPS: { name: string; now: number; hex: string; verdict: number; verifies: number }[] = " + JSON.stringify(v.coseTs, null, 4),
        "",
    ].join("\n")
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    const v = generate()
    writeFileSync(JSON_PATH, jsonText(v))
    writeFileSync(TS_PATH, tsText(v))
    console.log(`wrote ${v.steps.length} steps to ${JSON_PATH} and ${TS_PATH}`)
}
