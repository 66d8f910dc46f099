/**
 * The attack menu: the threats of docs/threat-model.md run against the live fleet, each
 * reporting what the attacker tried and what the system did. An attack "is refused" only
 * when the defending side said so (a meter's refusal acknowledgement, the head-end's
 * refusal, a chain break detected); no answer at all is reported as "no evidence", never
 * as a success of the defence.
 */
import { ed25519 } from "@noble/curves/ed25519.js"
import { decodeRecord, evolveKey, tagValid } from "../../headend/src/chain.ts"
import { buildEnvelope, headEndKey, Opcode, Verdict, verdictName } from "../../headend/src/commands.ts"
import { Demo } from "./demo.ts"
import { MeterEntry, chainKeyOf } from "../../headend/src/keystore.ts"
import { uplinkTopic } from "../../src/wire/report"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { TAMPER_MARK } from "./provision.ts"

export interface AttackOutcome {
    attack: string
    /** true: the system refused or detected it; false: it got through; undefined: no evidence either way */
    refused: boolean | undefined
    detail: string
}

export interface Attack {
    key: string
    name: string
    describe: string
    run(d: Demo, target: MeterEntry): Promise<AttackOutcome>
}

export const ATTACKS: Attack[] = [
    {
        key: "F",
        name: "forged command",
        describe: "a disconnect signed with a key the meter does not know, claiming the supplier's key id",
        async run(d, target) {
            const rogue = headEndKey(d.ks.roles.supplier.keyId, 2, 0, ed25519.utils.randomSecretKey())
            const env = buildEnvelope({ meterId: Buffer.from(target.meterId, "hex"), signer: rogue, counter: BigInt(Date.now()) * 1000n + 999n, notBefore: 0, expiry: d.simNow() + 6 * 3600, opcode: Opcode.Disconnect })
            return verdictOutcome(this.name, await d.sendEnvelope(target, env, "ATTACK forged disconnect"), [Verdict.BadSignature, Verdict.UnknownKey])
        },
    },
    {
        key: "R",
        name: "replayed command",
        describe: "an envelope the meter already accepted, sent again in a fresh downlink frame",
        async run(d, target) {
            const old = [...d.accepted].reverse().find(s => s.meter.meterId === target.meterId)
            if (!old) return { attack: this.name, refused: undefined, detail: "this meter has accepted no command yet (the time sync comes first): nothing to replay" }
            return verdictOutcome(this.name, await d.sendEnvelope(target, old.envelope, `ATTACK replay of an earlier opcode ${old.opcode}`), [Verdict.Replay])
        },
    },
    {
        key: "O",
        name: "command for another meter",
        describe: "a valid supplier-signed disconnect for one meter delivered to another",
        async run(d, target) {
            const other = d.ks.meters.find(m => m.meterId !== target.meterId && d.state.meter(m.meterId))
            if (!other) return { attack: this.name, refused: undefined, detail: "needs at least two meters" }
            const env = buildEnvelopeFor(d, other)
            return verdictOutcome(this.name, await d.sendEnvelope(target, env, `ATTACK disconnect signed for ${other.name}`), [Verdict.WrongMeter])
        },
    },
    {
        key: "M",
        name: "mass disconnect",
        describe: "valid disconnects to every meter at once: each executes after its own random offset",
        async run(d) {
            const meters = d.ks.meters.filter(m => d.state.meter(m.meterId))
            const acks = await Promise.all(meters.map(m => d.command(m, "disconnect", [])))
            const delays = acks.map(a => (a && a.verdict === Verdict.Accepted ? a.detail : undefined))
            if (delays.some(x => x === undefined))
                return { attack: this.name, refused: undefined, detail: `not every meter acknowledged: ${acks.map(a => (a ? verdictName(a.verdict) : "no answer")).join(", ")}` }
            const ds = delays as number[]
            const spread = Math.max(...ds) - Math.min(...ds)
            // re-arm them so the demo goes on
            await Promise.all(meters.map(m => d.command(m, "arm", [])))
            return {
                attack: this.name,
                refused: ds.length < 2 ? undefined : spread > 0,
                detail: `relays open after ${ds.map(x => `${x} s`).join(", ")}: spread ${spread} s${ds.length < 2 ? " (one meter: no spread to show)" : ""}`,
            }
        },
    },
    {
        key: "U",
        name: "tampered uplink",
        describe: "the latest uplink frame with one ciphertext bit flipped, and the same frame replayed",
        async run(d, target) {
            const topic = uplinkTopic(target.meterId)
            const last = [...d.station.captured].reverse().find(c => c.topic === topic)
            if (!last) return { attack: this.name, refused: undefined, detail: "no uplink frame from this meter yet" }
            const before = d.state.meter(target.meterId)!.refused
            const flipped = Buffer.from(last.payload)
            flipped[Math.floor(flipped.length / 2)] ^= 0x10
            await d.station.publishRaw(topic, flipped)
            await d.station.publishRaw(topic, last.payload)
            await sleep(1500)
            const refused = d.state.meter(target.meterId)!.refused - before
            return { attack: this.name, refused: refused >= 2, detail: `head-end refused ${refused} of 2 altered/replayed frames` }
        },
    },
    {
        key: "S",
        name: "tampered stored record",
        describe: "with the meter off, one byte of its newest index record is changed in flash; then power on",
        async run(d, target) {
            const fm = d.fleetMeter(target)
            let where: { off: number; seq: number } | undefined
            await d.fleet.tamperFlash(fm, img => {
                where = findNewestRecord(img, target)
                if (where) {
                    // marked before the flash is written: the next start wipes this meter's flash
                    // (announced) instead of leaving it refused for good (sim/src/provision.ts)
                    writeFileSync(join(fm.dir, TAMPER_MARK), `record ${where.seq} altered at ${new Date().toISOString()}\n`)
                    img[where.off + 11] ^= 0x01 // first payload byte
                }
                return img
            })
            if (!where) return { attack: this.name, refused: undefined, detail: "no index record found in the meter's flash yet" }
            const s = d.state.meter(target.meterId)!
            const before = { chain: s.chain.state === "broken", alert: s.lastAlert, console: s.consoleAlert }
            const upstream = () => s.lastAlert !== before.alert && /tamper/i.test(s.lastAlert ?? "")
            const headEnd = () => !before.chain && s.chain.state === "broken"
            const meterConsole = () => s.consoleAlert !== before.console
            for (let i = 0; i < 40 && !upstream() && !headEnd() && !(meterConsole() && i > 30); i++) await sleep(500)
            const how = [
                upstream() ? `meter reported it upstream (${s.lastAlert})` : "",
                headEnd() && s.chain.state === "broken" ? `head-end: chain broken at #${s.chain.at}` : "",
                meterConsole() ? `meter detected it at boot ("${s.consoleAlert}"${upstream() ? "" : ", not reported upstream by this firmware"})` : "",
            ].filter(Boolean)
            return {
                attack: this.name,
                refused: how.length ? true : undefined,
                detail: `record ${where.seq} altered in flash: ${how.length ? how.join("; ") : "no detection within 20 s"}`,
            }
        },
    },
]

/**
 * Finds the newest chain record in a meter's flash image: the one with the highest seq
 * whose HMAC tag verifies under K_seq, so nothing else in flash can be mistaken for a record.
 * The demo plays the operator here and takes K_0 from the keystore's escrow; an attacker
 * who holds only the flash (and METER_SECRET) has no key for a stored record (K_0 is
 * random, the meter deleted it after genesis and overwrote every later key), so `S` can
 * only alter the record, never re-seal it (test/device/store_forward.test.ts).
 */
export function findNewestRecord(img: Buffer, meter: MeterEntry): { off: number; seq: number } | undefined {
    const keys: Uint8Array[] = [chainKeyOf(meter)]
    const keyAt = (seq: number) => {
        while (keys.length <= seq) keys.push(evolveKey(keys[keys.length - 1]))
        return keys[seq]
    }
    let best: { off: number; seq: number } | undefined
    for (let off = 0; off + 59 <= img.length; off++) {
        if (img[off] !== 1) continue
        const n = img[off + 10]
        const len = 59 + n
        if (off + len > img.length) continue
        const rec = img.subarray(off, off + len)
        const r = decodeRecord(rec)
        if (!r || r.seq > 100000) continue
        if (!tagValid(keyAt(r.seq), rec)) continue
        if (!best || r.seq > best.seq) best = { off, seq: r.seq }
    }
    return best
}

function buildEnvelopeFor(d: Demo, meter: MeterEntry): Buffer {
    const s = d.ks.roles.supplier
    return buildEnvelope({
        meterId: Buffer.from(meter.meterId, "hex"),
        signer: headEndKey(s.keyId, 2, 0, Buffer.from(s.secretKey, "hex")),
        counter: BigInt(Date.now()) * 1000n + 777n,
        notBefore: 0,
        expiry: d.simNow() + 6 * 3600,
        opcode: Opcode.Disconnect,
    })
}

function verdictOutcome(attack: string, ack: import("../../headend/src/commands.ts").CommandAck | undefined, expected: number[]): AttackOutcome {
    if (!ack) return { attack, refused: undefined, detail: "the meter sent no acknowledgement (is the command path wired in the firmware?)" }
    if (ack.verdict === 0) return { attack, refused: false, detail: "the meter ACCEPTED it" }
    const name = verdictName(ack.verdict)
    return { attack, refused: true, detail: `meter refused: ${name}${expected.includes(ack.verdict) ? "" : ` (expected ${expected.map(v => verdictName(v)).join(" or ")})`}` }
}

function sleep(ms: number) {
    return new Promise(r => setTimeout(r, ms))
}

