import { test } from "node:test"
import assert from "node:assert/strict"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { addMeter, createKeystore, nextRoleKey } from "../../headend/src/keystore.ts"
import { identityDigest, meterSettings } from "../../headend/src/provision.ts"
import { flashWipeReason, settingsToWrite, writeProvisionStamp } from "../../sim/src/provision.ts"

const broker = { host: "127.0.0.1", port: 1883 }

function meterDir(withFlash = true) {
    const dir = mkdtempSync(join(tmpdir(), "tm-prov-"))
    if (withFlash) {
        mkdirSync(join(dir, ".devicescript/flash"), { recursive: true })
        writeFileSync(join(dir, ".devicescript/flash/sim.bin"), Buffer.alloc(64, 7))
    }
    return dir
}

test("rotating a role key never wipes a meter's flash: the key change reached it as a signed command", () => {
    const ks = createKeystore()
    const m = addMeter(ks, "meter-1")
    const dir = meterDir()
    writeProvisionStamp(dir, meterSettings(ks, m, { broker }))
    // the demo's `k` and `c`: KeyReplace of the network operator and the supplier, then the keystore is saved
    ks.roles.networkOperator = nextRoleKey(ks, "networkOperator")
    ks.roles.supplier = nextRoleKey(ks, "supplier")
    assert.equal(flashWipeReason(dir, meterSettings(ks, m, { broker: { host: "10.1.1.1", port: 1884 } })), undefined)
    // a root rotation (new id) neither
    const root = nextRoleKey(ks, "root")
    ks.roles.root = root
    assert.equal(flashWipeReason(dir, meterSettings(ks, m, { broker })), undefined)
})

test("a meter provisioned with another secret (keystore recreated) is wiped, and the reason names it", () => {
    const ks = createKeystore()
    const m = addMeter(ks, "meter-1")
    const dir = meterDir()
    writeProvisionStamp(dir, meterSettings(ks, m, { broker }))
    const ks2 = createKeystore()
    const m2 = addMeter(ks2, "meter-1")
    assert.equal(m2.meterId, m.meterId)
    const why = flashWipeReason(dir, meterSettings(ks2, m2, { broker }))
    assert.match(why ?? "", /provisioned with another secret/)
    // flash without any stamp: unknown provenance, wiped with its own reason; no flash: nothing to wipe
    assert.match(flashWipeReason(meterDir(), meterSettings(ks, m, { broker })) ?? "", /no provisioning stamp/)
    assert.equal(flashWipeReason(meterDir(false), meterSettings(ks, m, { broker })), undefined)
})

test("a stamp written before the random chain key K_0 wipes the flash: that chain's key derived from METER_SECRET", () => {
    const ks = createKeystore()
    const m = addMeter(ks, "meter-1")
    const dir = meterDir()
    const s = meterSettings(ks, m, { broker })
    writeFileSync(join(dir, "provisioned"), identityDigest(s) + "\n")
    assert.match(flashWipeReason(dir, s) ?? "", /before the random chain key/)
    writeFileSync(join(dir, "provisioned"), "v2:0123456789abcdef0123456789abcdef\n")
    assert.match(flashWipeReason(dir, s) ?? "", /before the random chain key/)
})

test("K_0 goes onto a blank flash only: a kept flash holds a chain with its own key", () => {
    const ks = createKeystore()
    const m = addMeter(ks, "meter-1")
    const s = meterSettings(ks, m, { broker })
    assert.equal(s["st.k0"].toString(), `"${m.chainKey}"`)
    assert.notEqual(m.chainKey, m.secret)
    assert.equal(settingsToWrite(meterDir(false), s)["st.k0"].toString(), `"${m.chainKey}"`)
    const kept = settingsToWrite(meterDir(), s)
    assert.equal(kept["st.k0"], undefined)
    assert.equal(kept.METER_SECRET.toString(), `"${m.secret}"`)
    // the stamp still names the K_0 the keystore holds: another K_0 is another identity
    const dir = meterDir()
    writeProvisionStamp(dir, s)
    assert.equal(flashWipeReason(dir, s), undefined)
    const other = { ...s, "st.k0": Buffer.from(`"${"ab".repeat(32)}"`) }
    assert.match(flashWipeReason(dir, other) ?? "", /another secret or chain key/)
})
