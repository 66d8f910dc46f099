/**
 * The demo's stored-record attack (`S`, sim/src/attacks.ts) alters a record in a meter's
 * flash on purpose. That record can never verify again: on every later `npm start` the
 * meter's chain was refused (bad-chain or a clone alert) and the run's checks failed on
 * it. The attack now marks the meter's directory before it writes the flash, and the next
 * start wipes that flash (announced, sim/src/provision.ts flashWipeReason; the embedded
 * database follows it, sim/src/headend_db.ts). Without the mark the flash was kept: this
 * test failed on the old code at the second flashWipeReason.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { evolveKey, recordHash, sealRecord } from "../../headend/src/chain.ts"
import { addMeter, chainKeyOf, createKeystore } from "../../headend/src/keystore.ts"
import { ATTACKS } from "../../sim/src/attacks.ts"
import { TAMPER_MARK, flashWipeReason, writeProvisionStamp } from "../../sim/src/provision.ts"

test("the stored-record attack (S) leaves its meter's flash to be wiped by the next start, not refused for good", async () => {
    const ks = createKeystore()
    const meter = addMeter(ks, "m1")
    const dir = mkdtempSync(join(tmpdir(), "tm-s-attack-"))
    try {
        // a provisioned meter whose flash holds its chain (records among other settings)
        const settings = { METER_ID: Buffer.from(meter.meterId, "hex"), METER_SECRET: Buffer.from(meter.secret, "hex") }
        writeProvisionStamp(dir, settings)
        let key = chainKeyOf(meter)
        let prev: Uint8Array = new Uint8Array(32)
        const parts: Buffer[] = [Buffer.from("cv.c2a\0noise")]
        for (let seq = 0; seq < 4; seq++) {
            const r = Buffer.from(sealRecord(key, seq === 0 ? 1 : 0x10, seq, 1_700_000_000 + seq * 1800, Uint8Array.of(seq, 1, 2, 3), prev))
            parts.push(Buffer.from("is.r"), r)
            prev = recordHash(r)
            key = evolveKey(key)
        }
        const flash = join(dir, ".devicescript/flash/sim.bin")
        mkdirSync(join(dir, ".devicescript/flash"), { recursive: true })
        const before = Buffer.concat(parts)
        writeFileSync(flash, before)
        assert.equal(flashWipeReason(dir, settings), undefined, "an intact, provisioned flash is kept")

        // the attack against a stand-in for the demo: the flash file mutated as Fleet.tamperFlash does, the head-end reporting the break at once
        let reads = 0
        const status = { lastAlert: undefined, consoleAlert: undefined, chain: {} as { state: string; at?: number } }
        Object.defineProperty(status.chain, "state", { get: () => (reads++ === 0 ? "verified" : "broken") })
        status.chain.at = 3
        const fm = { dir, entry: meter }
        const demo = {
            fleetMeter: () => fm,
            fleet: { tamperFlash: async (_m: unknown, mutate: (b: Buffer) => Buffer) => writeFileSync(flash, mutate(readFileSync(flash))) },
            state: { meter: () => status },
        }
        const s = ATTACKS.find(a => a.key === "S")!
        const out = await s.run(demo as never, meter)
        assert.equal(out.refused, true, out.detail)
        assert.match(out.detail, /record 3 altered in flash/)
        assert.notDeepEqual(readFileSync(flash), before, "the attack altered the flash")

        // the next start: this flash is wiped (announced with the reason), not kept to be refused for good
        const why = flashWipeReason(dir, settings)
        assert.match(why ?? "", /stored-record attack \(S\) altered it in an earlier run \(record 3 altered at .*\): that record can never verify again/)
        assert.match(readFileSync(join(dir, TAMPER_MARK), "utf8"), /^record 3 altered at \d{4}-/)
    } finally {
        rmSync(dir, { recursive: true, force: true })
    }
})
