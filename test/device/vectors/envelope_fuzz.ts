import { CommandEnvelope, compareCounter, counterInReach, HEADER_SIZE, parseEnvelope, SIGNATURE_BLOCK_SIZE } from "../../../src/wire/envelope"
import { Verdict } from "../../../src/wire/opcodes"
import { CounterStore } from "../../../src/crypto/counters"
import { precheck, Verification } from "../../../src/crypto/verifier"
import { ed25519Verify } from "../../../src/crypto/ed25519"
import { METER, TestMeter } from "./envelope_kit"
import { ENVELOPE_STEPS, FUZZ_TARGETS, VECTOR_ANCHOR } from "./envelope"
import * as ds from "@devicescript/core"
import { setU32BE } from "../../../src/wire/bytes"
import { digest } from "@devicescript/crypto"

/**
 * The envelope fuzzer behind test/device/fuzz*.test.ts: mutates the head-end's golden
 * envelopes (bit flips, truncations, extensions, swapped fields, other meters' commands,
 * random and length-consistent junk) and sends them to a meter on which every base
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

/**
 * A mutation of a fresh, valid `target` that still passes every check before Ed25519:
 * bits of a signature (R or S, either block), S or a whole signature replaced, a signature
 * of another target, bits of the arguments, the counter's low byte (it stays fresh and in
 * reach), not-before or expiry moved (the window still holds the meter's time). Never the
 * target itself.
 */
export function mutateTarget(rng: Rng, targets: Buffer[], now: number): Buffer {
    const t = targets[rng.below(targets.length)]
    const b = t.slice(0)
    const n = b[EnvelopeArgsLength] * 256 + b[EnvelopeArgsLength + 1]
    const sigs = b[27]
    const block = HEADER_SIZE + n + rng.below(sigs) * SIGNATURE_BLOCK_SIZE + 1
    const v = rng.below(8)
    if (v === 0 || v === 1) {
        // 1..4 flipped bits in one signature, R (v = 0) or S (v = 1)
        const flips = 1 + rng.below(4)
        for (let i = 0; i < flips; i++) b[block + v * 32 + rng.below(32)] ^= 1 << rng.below(8)
    } else if (v === 2) b.blitAt(block + 32, rng.bytes(32), 0, 32)
    else if (v === 3) b.blitAt(block, rng.bytes(64), 0, 64)
    else if (v === 4) {
        // another target's first signature, over another message
        const o = targets[rng.below(targets.length)]
        b.blitAt(block, o, o.length - SIGNATURE_BLOCK_SIZE * o[27] + 1, 64)
    } else if (v === 5 && n > 0) b[HEADER_SIZE + rng.below(n)] ^= 1 + rng.below(255)
    else if (v === 6) b[17] ^= 1 + rng.below(255)
    else {
        // not-before in [0, now] or expiry in [now, now + 2^16]: the window still holds `now`
        const at = rng.below(2) === 0 ? 18 : 22
        setU32BE(b, at, at === 18 ? rng.below(now) : now + rng.below(65536))
    }
    let same = true
    for (let i = 0; i < b.length && same; i++) same = b[i] === t[i]
    if (same) b[block + 63] ^= 1
    return b
}

const EnvelopeArgsLength = 28

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
        // a field of another base pasted in: meter id, signer, counter, times, opcode, sig count, args length, signature block
        const b = base.slice(0)
        const src = bases[rng.below(bases.length)]
        const fields = [1, 8, 9, 1, 10, 8, 18, 4, 22, 4, 26, 1, 27, 1, 28, 2]
        const f = rng.below(9)
        if (f === 8) {
            const off = b.length - 65
            b.blitAt(off, src, src.length - 65, 65)
        } else b.blitAt(fields[2 * f], src, fields[2 * f], fields[2 * f + 1])
        return b
    }
    if (k === 4) return rng.bytes(rng.below(700))
    if (k === 5) {
        // another meter's valid command, as is or re-targeted at this meter
        const b = other.slice(0)
        if (rng.below(2) === 1) b.blitAt(1, METER, 0, 8)
        return b
    }
    if (k === 6) {
        // length-consistent junk: passes the length checks, random content
        const n = rng.below(64)
        const sigs = 1 + rng.below(2)
        const b = rng.bytes(30 + n + 65 * sigs)
        b[0] = 1
        b[27] = sigs
        b[28] = 0
        b[29] = n
        if (rng.below(2) === 1) b.blitAt(1, METER, 0, 8)
        // key ids 1..3 are in the ring, 4 and 5 are not
        b[9] = 1 + rng.below(5)
        b[30 + n] = b[9]
        if (sigs === 2) b[30 + n + 65] = 1 + ((b[9] + rng.below(2)) % 5)
        b[26] = 1 + rng.below(19)
        return b
    }
    // k === 7: a signature block duplicated, dropped or moved between envelopes
    const b = base.slice(0)
    const v = rng.below(3)
    if (v === 0) {
        b[27] = 2
        return b.concat(b.slice(b.length - 65))
    }
    if (v === 1) return b.slice(0, b.length - 65)
    const src = bases[rng.below(bases.length)]
    return b.slice(0, b.length - 65).concat(src.slice(src.length - 65))
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
        if ((r.sent & 7) === 0) await ds.sleep(0)
    }
    r.verifications = f.verifications[0] - before
    r.eventsRecorded = m.events.length
    r.suppressed = m.handler.rejections.suppressed
    return r
}
