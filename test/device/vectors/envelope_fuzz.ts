import { CommandEnvelope, compareCounter, counterInReach, parseEnvelope } from "../../../src/wire/envelope"
import { CborMap, CborTag, CborValue, decodeCbor, encodeCbor } from "../../../src/wire/cbor"
import { COSE_SIGN1_TAG, COSE_SIGN_TAG, CoseMessage, CoseSignature, decodeCose, encodeCose } from "../../../src/wire/cose"
import { Verdict } from "../../../src/wire/opcodes"
import { CounterStore } from "../../../src/crypto/counters"
import { precheck, Verification } from "../../../src/crypto/verifier"
import { ed25519Verify } from "../../../src/crypto/ed25519"
import { METER, TestMeter } from "./envelope_kit"
import { ENVELOPE_STEPS, FUZZ_TARGETS, VECTOR_ANCHOR } from "./envelope"
import * as ds from "@devicescript/core"
import { digest } from "@devicescript/crypto"

/**
 * The command fuzzer behind test/device/fuzz*.test.ts: mutates the head-end's golden
 * commands (COSE_Sign1 and COSE_Sign: bit flips, truncations, extensions, payload fields
 * swapped, other meters' commands, random bytes, random commands of the right shape,
 * signatures duplicated, dropped or moved) and sends them to a meter on which every base
 * envelope has already been spent; those fail before the signature check, bar a few. Every
 * tenth candidate is instead a mutation of a fresh, valid envelope (FUZZ_TARGETS, signed by
 * the head-end for this meter): its signatures, arguments, counter or window change in ways
 * that keep parsing, meter id, key, role, window and counter checks passing, so it reaches
 * the real Ed25519 check. Nothing may be accepted and nothing may throw.
 */

/** Deterministic PRNG (LCG), so a failing case can be replayed from its seed. */
export class Rng {
    private s: number
    /** 2 KB of seeded random bytes that `bytes()` takes slices of (a byte loop per call is too slow) */
    private pool: Buffer
    constructor(seed: number) {
        this.s = seed | 0
        this.pool = Buffer.alloc(2048)
        let h = digest("sha256", "fuzz " + seed)
        for (let i = 0; i < 64; i++) {
            this.pool.blitAt(i * 32, h, 0, 32)
            h = digest("sha256", h)
        }
    }
    /** uniform integer in [0, n) for n ≤ 2^24 */
    below(n: number): number {
        this.s = (Math.imul(this.s, 1664525) + 1013904223) | 0
        const x = (this.s >>> 8) & 0xffffff
        return Math.floor((x / 16777216) * n)
    }
    /** `n` ≤ 1024 random bytes */
    bytes(n: number): Buffer {
        const off = this.below(1024)
        return this.pool.slice(off, off + n)
    }
}

const step = (name: string) => Buffer.from(ENVELOPE_STEPS.find(s => s.name === name).hex, "hex")
const NOW = 1800000000

export interface FuzzReport {
    sent: number
    accepted: number
    /** candidates that ran at least one Ed25519 verification (as predicted, each) */
    reachedSignature: number
    /** Ed25519 verifications in all (a co-signed target whose second signature is bad runs two) */
    verifications: number
    byVerdict: number[]
    /** ms spent making candidates, predicting, and in the meter */
    msMutate: number
    msPredict: number
    msSend: number
    /** rejection events the meter recorded, and those it only counted (flood limit) */
    eventsRecorded: number
    suppressed: number
}

/** A meter on which the base envelopes are spent, with a counting signature check; the fresh targets are not sent. */
export async function fuzzMeter(): Promise<{ meter: TestMeter; bases: Buffer[]; other: Buffer; targets: Buffer[]; verifications: number[] }> {
    const verifications = [0]
    const check = async (p: Buffer, m: Buffer, s: Buffer) => {
        verifications[0]++
        return await ed25519Verify(p, m, s)
    }
    const meter = await TestMeter.provisioned(undefined, check, Buffer.from(VECTOR_ANCHOR, "hex"))
    meter.utc = NOW
    const bases = [
        step("time sync while the time is unknown (network operator)"),
        step("arm (supplier)"),
        step("disconnect (supplier)"),
    ]
    for (const b of bases) if ((await meter.send(b)) !== Verdict.Accepted) throw new Error("fuzz: a base envelope was not accepted")
    const targets = FUZZ_TARGETS.map(t => Buffer.from(t.hex, "hex"))
    return { meter: meter, bases: bases, other: step("a valid envelope for another meter"), targets: targets, verifications: verifications }
}

/** true when `raw` would get past parse, meter id, keys, time and counter, i.e. cost a signature check. */
async function reachesSignature(m: TestMeter, counters: CounterStore, raw: Buffer): Promise<boolean> {
    const p = parseEnvelope(raw)
    if (typeof p === "number") return false
    const env = p as CommandEnvelope
    const out: Verification = { verdict: 0, env: env, signers: undefined }
    const ctx = { meterId: METER, clock: { utcNow: () => m.utc }, policy: m.handler.policy }
    if (precheck(env, m.handler.ring.keys, ctx, out) !== Verdict.Accepted) return false
    const last = await counters.last(out.signers[0])
    return compareCounter(env.counterHi, env.counterLo, last[0], last[1]) > 0 && counterInReach(env, last[0], last[1])
}

/** The message and its payload map's values, decoded (a valid command: both decode). */
function open(b: Buffer): { m: CoseMessage; v: CborValue[] } {
    const m = decodeCose(b) as CoseMessage
    return { m: m, v: (decodeCbor(m.payload, []).value as CborMap).values }
}

/** `m` with the payload map's values `v` (keys 1, 2, …), encoded. */
function close(m: CoseMessage, v: CborValue[]): Buffer {
    const keys: number[] = []
    for (let i = 0; i < v.length; i++) keys.push(i + 1)
    m.payload = encodeCbor(new CborMap(keys, v))
    return encodeCose(m)
}

/**
 * A mutation of a fresh, valid `target` that still passes every check before Ed25519:
 * bits of a signature (R or S, either signature of a COSE_Sign), S or a whole signature
 * replaced, a signature of another target, bits of the arguments, the counter's low byte
 * (it stays fresh and in reach), not-before or expiry moved (the window still holds the
 * meter's time). Never the target itself.
 */
export function mutateTarget(rng: Rng, targets: Buffer[], now: number): Buffer {
    const t = targets[rng.below(targets.length)]
    const o = open(t)
    const m = o.m
    const v = o.v
    const sig = m.signatures[rng.below(m.signatures.length)]
    const s = sig.signature.slice(0)
    const k = rng.below(8)
    const args = v[6] as Buffer
    if (k === 0 || k === 1) {
        // 1..4 flipped bits in one signature, R (k = 0) or S (k = 1)
        const flips = 1 + rng.below(4)
        for (let i = 0; i < flips; i++) s[k * 32 + rng.below(32)] ^= 1 << rng.below(8)
    } else if (k === 2) s.blitAt(32, rng.bytes(32), 0, 32)
    else if (k === 3) s.blitAt(0, rng.bytes(64), 0, 64)
    else if (k === 4) s.blitAt(0, open(targets[rng.below(targets.length)]).m.signatures[0].signature, 0, 64)
    else if (k === 5 && args.length > 0) {
        const a = args.slice(0)
        a[rng.below(a.length)] ^= 1 + rng.below(255)
        v[6] = a
    } else if (k === 6 || k === 5) v[2] = (v[2] as number) ^ (1 + rng.below(255))
    else if (rng.below(2) === 0) v[3] = rng.below(now)
    else v[4] = now + rng.below(65536)
    sig.signature = s
    let b = close(m, v)
    if (b.toString("hex") === t.toString("hex")) {
        s[63] ^= 1
        b = close(m, v)
    }
    return b
}

/** A random command of the right shape: kid 1..5 (4 and 5 are not in the ring), mostly EdDSA, fields near the meter's. */
function junk(rng: Rng): Buffer {
    const sigs: CoseSignature[] = []
    const n = 1 + rng.below(2)
    const first = 1 + rng.below(5)
    for (let i = 0; i < n; i++) {
        const kid = Buffer.from([i === 0 ? first : 1 + rng.below(5)])
        // a quarter of them name another algorithm
        const alg = rng.below(4) === 0 ? -7 - rng.below(30) : -8
        const prot = encodeCbor(new CborMap([1, 4], [alg, kid]))
        sigs.push({ protectedBytes: prot, kid: kid, signature: rng.bytes(64) })
    }
    const m: CoseMessage = { tag: n === 1 ? COSE_SIGN1_TAG : COSE_SIGN_TAG, bodyProtected: n === 1 ? sigs[0].protectedBytes : Buffer.alloc(0), payload: Buffer.alloc(0), signatures: sigs }
    const meter = rng.below(2) === 1 ? METER : rng.bytes(8)
    const now = NOW
    return close(m, [meter, first, rng.below(16777216), now - rng.below(7200), now + rng.below(7200) - 60, 1 + rng.below(19), rng.bytes(rng.below(64))])
}

/** One mutated candidate of kind `k` (0..7). */
export function mutate(rng: Rng, bases: Buffer[], other: Buffer, k: number): Buffer {
    const base = bases[rng.below(bases.length)]
    if (k === 0) {
        const b = base.slice(0)
        const flips = 1 + rng.below(4)
        for (let i = 0; i < flips; i++) b[rng.below(b.length)] ^= 1 << rng.below(8)
        return b
    }
    if (k === 1) return base.slice(0, rng.below(base.length))
    if (k === 2) return base.concat(rng.bytes(1 + rng.below(40)))
    if (k === 3) {
        // a payload field of another base pasted in: meter id, signer, counter, times, opcode, arguments
        const o = open(base)
        const f = rng.below(7)
        o.v[f] = open(bases[rng.below(bases.length)]).v[f]
        return close(o.m, o.v)
    }
    if (k === 4) return rng.bytes(rng.below(700))
    if (k === 5) {
        // another meter's valid command, as is or re-targeted at this meter
        if (rng.below(2) === 0) return other
        const o = open(other)
        o.v[0] = METER
        return close(o.m, o.v)
    }
    if (k === 6) return junk(rng)
    // k === 7: a signature duplicated (a COSE_Sign of one signer twice), dropped, or taken from another base
    const o = open(base)
    const m = o.m
    const w = rng.below(3)
    if (w === 0) {
        m.tag = COSE_SIGN_TAG
        m.signatures = [m.signatures[0], m.signatures[0]]
        m.bodyProtected = Buffer.alloc(0)
        return encodeCose(m)
    }
    if (w === 1) return encodeCbor(new CborTag(m.tag, [m.bodyProtected, new CborMap([], []), m.payload]))
    m.signatures[0].signature = open(bases[rng.below(bases.length)]).m.signatures[0].signature
    return encodeCose(m)
}

/**
 * Sends `count` candidates from `seed` to a fresh fuzz meter: every `targetEvery`-th a
 * mutation of a fresh target (it reaches the signature check), the others of the spent
 * bases (kinds 0..7 in turn). Every candidate predicted to reach the signature check must
 * run Ed25519, and no other.
 */
export async function fuzz(seed: number, count: number, targetEvery: number): Promise<FuzzReport> {
    const f = await fuzzMeter()
    const m = f.meter
    const rng = new Rng(seed)
    const counters = new CounterStore(m.storage)
    const r: FuzzReport = { sent: 0, accepted: 0, reachedSignature: 0, verifications: 0, byVerdict: [], msMutate: 0, msPredict: 0, msSend: 0, eventsRecorded: 0, suppressed: 0 }
    for (let i = 0; i <= 20; i++) r.byVerdict.push(0)
    const before = f.verifications[0]
    while (r.sent < count) {
        let t = ds.millis()
        const toTarget = r.sent % targetEvery === targetEvery - 1
        const cand = toTarget ? mutateTarget(rng, f.targets, m.utc) : mutate(rng, f.bases, f.other, r.sent % 8)
        r.msMutate += ds.millis() - t
        t = ds.millis()
        const reaches = await reachesSignature(m, counters, cand)
        r.msPredict += ds.millis() - t
        if (toTarget && !reaches) throw new Error(`fuzz seed ${seed}: a target mutation would not reach the signature check: ${cand.toString("hex")}`)
        t = ds.millis()
        const ran = f.verifications[0]
        const v = await m.send(cand)
        r.msSend += ds.millis() - t
        r.sent++
        if (f.verifications[0] > ran) r.reachedSignature++
        if ((f.verifications[0] > ran) !== reaches) throw new Error(`fuzz seed ${seed}: the signature check ran ${f.verifications[0] - ran} times, predicted ${reaches}: ${cand.toString("hex")}`)
        if (v === Verdict.Accepted) {
            r.accepted++
            console.log(`fuzz seed ${seed}: ACCEPTED ${cand.toString("hex")}`)
        }
        if (v >= 0 && v <= 20) r.byVerdict[v]++
        // every candidate: mutating, predicting and parsing a COSE message each take thousands of VM steps
        await ds.sleep(0)
    }
    r.verifications = f.verifications[0] - before
    r.eventsRecorded = m.events.length
    r.suppressed = m.handler.rejections.suppressed
    return r
}
