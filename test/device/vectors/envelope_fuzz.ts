import { CommandEnvelope, compareCounter, parseEnvelope } from "../../../src/wire/envelope"
import { Opcode, Verdict } from "../../../src/wire/opcodes"
import { CounterStore } from "../../../src/crypto/counters"
import { precheck, Verification } from "../../../src/crypto/verifier"
import { ed25519Verify } from "../../../src/crypto/ed25519"
import { METER, TestMeter } from "./envelope_kit"
import { ENVELOPE_STEPS, VECTOR_ANCHOR } from "./envelope"
import * as ds from "@devicescript/core"
import { digest } from "@devicescript/crypto"

/**
 * The envelope fuzzer behind test/device/fuzz*.test.ts: mutates the head-end's golden
 * envelopes (bit flips, truncations, extensions, swapped fields, other meters' commands,
 * random and length-consistent junk) and sends them to a meter on which every base
 * envelope has already been spent. Nothing may be accepted and nothing may throw. Most
 * candidates fail before the signature check; the few that would reach it are let
 * through up to a budget (real Ed25519 under GC stress costs seconds) and the rest redrawn.
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
    reachedSignature: number
    redrawn: number
    byVerdict: number[]
    /** ms spent making candidates, predicting, and in the meter */
    msMutate: number
    msPredict: number
    msSend: number
    /** rejection events the meter recorded, and those it only counted (flood limit) */
    eventsRecorded: number
    suppressed: number
}

/** A meter on which the base envelopes are spent, with a counting signature check. */
export async function fuzzMeter(): Promise<{ meter: TestMeter; bases: Buffer[]; other: Buffer; verifications: number[] }> {
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
    return { meter: meter, bases: bases, other: step("a valid envelope for another meter"), verifications: verifications }
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
    return compareCounter(env.counterHi, env.counterLo, last[0], last[1]) > 0
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
 * Sends `count` candidates from `seed` to a fresh fuzz meter; at most `sigBudget` of them
 * may reach the signature check (the others that would are redrawn).
 */
export async function fuzz(seed: number, count: number, sigBudget: number): Promise<FuzzReport> {
    const f = await fuzzMeter()
    const m = f.meter
    const rng = new Rng(seed)
    const counters = new CounterStore(m.storage)
    const r: FuzzReport = { sent: 0, accepted: 0, reachedSignature: 0, redrawn: 0, byVerdict: [], msMutate: 0, msPredict: 0, msSend: 0, eventsRecorded: 0, suppressed: 0 }
    for (let i = 0; i <= 20; i++) r.byVerdict.push(0)
    const before = f.verifications[0]
    while (r.sent < count) {
        let t = ds.millis()
        const cand = mutate(rng, f.bases, f.other, r.sent % 8)
        r.msMutate += ds.millis() - t
        t = ds.millis()
        const reaches = await reachesSignature(m, counters, cand)
        r.msPredict += ds.millis() - t
        if (reaches) {
            if (r.reachedSignature >= sigBudget) {
                r.redrawn++
                continue
            }
            r.reachedSignature++
        }
        t = ds.millis()
        const v = await m.send(cand)
        r.msSend += ds.millis() - t
        r.sent++
        if (v === Verdict.Accepted) {
            r.accepted++
            console.log(`fuzz seed ${seed}: ACCEPTED ${cand.toString("hex")}`)
        }
        if (v >= 0 && v <= 20) r.byVerdict[v]++
        if ((r.sent & 7) === 0) await ds.sleep(0)
    }
    r.eventsRecorded = m.events.length
    r.suppressed = m.handler.rejections.suppressed
    // every prediction of "reaches the signature" was right: exactly those ran Ed25519
    if (f.verifications[0] - before !== r.reachedSignature) throw new Error("fuzz: signature checks do not match the prediction")
    return r
}
