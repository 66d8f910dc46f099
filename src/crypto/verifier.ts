import * as ds from "@devicescript/core"
import { equalBytes, U32_MAX } from "../wire/bytes"
import { toBeSigned } from "../wire/cose"
import { CommandEnvelope, counterAdvance, counterInReach, parseEnvelope } from "../wire/envelope"
import { findKey, KeyEntry, mayKeySign } from "../wire/keys"
import { Opcode, Role, Verdict } from "../wire/opcodes"
import { CounterStore } from "./counters"

/**
 * The command verifier: decides whether a command (a COSE message, src/wire/envelope.ts) from the WAN is authentic, fresh and
 * allowed, in the order of docs/commands.md "Verification order". The cheap checks come
 * first (`precheck` is pure: parse, meter id, keys and roles, time window), then the
 * counter (one flash read), then the Ed25519 signatures (≈100 ms each), and only then is
 * the new counter persisted — before the caller acts, so a replay after a reboot is refused.
 */

/** Verifies an Ed25519 signature; `ed25519Verify` from `src/crypto/ed25519.ts` in the firmware. */
export type SignatureCheck = (publicKey: Buffer, message: Buffer, signature: Buffer) => Promise<boolean>

/** What the verifier needs to know about the meter, besides its keys (plain fields: no closures in the image). */
export interface VerifierContext {
    /** the meter's 8-byte id (settings `METER_ID`) */
    meterId: Buffer
    /** `utcNow()`: UTC seconds now, 0 while the time is unknown (no authenticated time sync yet) */
    clock: { utcNow(): number }
    /** `dualControl`: a disconnect needs signatures from two different roles (the command policy) */
    policy: { dualControl: boolean }
}

/** The outcome of `verify`: the verdict and, once parsed, the envelope and its signing keys. */
export interface Verification {
    verdict: number
    env: CommandEnvelope
    /** keys of the signature blocks, in order (block 0 = the counter's owner) */
    signers: KeyEntry[]
    /** one of the signers is the root: it lifts the daily disconnect limit and the time-sync bounds */
    byRoot?: boolean
}

/**
 * The pure part of verification: every check that needs no flash and no signature.
 * Returns the verdict (Accepted when the envelope may proceed to counter and signatures)
 * and fills `out.signers` (and `out.byRoot`). While the time is unknown (or the clock has run past the u32
 * range) only a time sync may proceed: the meter cannot judge any other command's window,
 * and a time sync is bounded on its own (src/commands/timesync.ts).
 */
export function precheck(env: CommandEnvelope, keys: KeyEntry[], ctx: VerifierContext, out: Verification): number {
    if (!keys || keys.length === 0) return Verdict.NotProvisioned
    if (!equalBytes(env.meterId, ctx.meterId)) return Verdict.WrongMeter
    const signers: KeyEntry[] = []
    for (let i = 0; i < env.signatureCount; i++) {
        const k = findKey(keys, env.sigKeyIds[i])
        if (!k) return Verdict.UnknownKey
        if (!mayKeySign(k, env.opcode, i > 0)) return Verdict.OpcodeNotAllowed
        if (k.role === Role.Root) out.byRoot = true
        signers.push(k)
    }
    out.signers = signers
    if (signers.length === 2 && signers[0].role === signers[1].role) return Verdict.DualControlRequired
    if (signers.length < 2 && ctx.policy.dualControl && env.opcode === Opcode.Disconnect) return Verdict.DualControlRequired
    const now = ctx.clock.utcNow()
    // a clock run past the u32 range cannot be judged by any window either (docs/commands.md §5)
    if (now === 0 || now > U32_MAX) {
        if (env.opcode !== Opcode.TimeSync) return Verdict.TimeUnknown
    } else {
        if (now < env.notBefore) return Verdict.NotYetValid
        if (now > env.expiry) return Verdict.Expired
    }
    return Verdict.Accepted
}

export class CommandVerifier {
    private counters: CounterStore
    private check: SignatureCheck
    private ctx: VerifierContext
    /** the key ring in force (a KeyRingStore); its `keys` are read at every call, so key changes apply at once */
    private ring: { keys: KeyEntry[] }

    constructor(ring: { keys: KeyEntry[] }, counters: CounterStore, check: SignatureCheck, ctx: VerifierContext) {
        this.ring = ring
        this.counters = counters
        this.check = check
        this.ctx = ctx
    }

    /**
     * Verifies `raw` and, when it is accepted, persists its counter as the signer's last
     * accepted one before returning. Never throws for any input bytes (flash errors
     * propagate: the caller must then not act).
     */
    async verify(raw: Buffer): Promise<Verification> {
        const out: Verification = { verdict: Verdict.Malformed, env: undefined, signers: undefined }
        // a fresh slice for the decode (bounded: docs/formats.md §1); ed25519Verify yields on its own
        await ds.sleep(0)
        const parsed = parseEnvelope(raw)
        if (typeof parsed === "number") {
            out.verdict = parsed
            return out
        }
        const env = parsed as CommandEnvelope
        out.env = env
        out.verdict = precheck(env, this.ring.keys, this.ctx, out)
        if (out.verdict !== Verdict.Accepted) return out
        const signer = out.signers[0]
        const last = await this.counters.last(signer)
        if (counterAdvance(env, last[0], last[1]) <= 0) out.verdict = Verdict.Replay
        else if (!counterInReach(env, last[0], last[1])) out.verdict = Verdict.CounterOutOfReach
        if (out.verdict !== Verdict.Accepted) return out
        for (let i = 0; i < env.signatureCount; i++) {
            let ok = false
            try {
                ok = await this.check(out.signers[i].publicKey, toBeSigned(env.cose, i), env.cose.signatures[i].signature)
            } catch (e) {
                // a check that throws has not verified anything
            }
            if (!ok) {
                out.verdict = Verdict.BadSignature
                return out
            }
        }
        // persist first: if the meter loses power while acting, the command is spent
        await this.counters.accept(signer, env.counterHi, env.counterLo)
        return out
    }
}
