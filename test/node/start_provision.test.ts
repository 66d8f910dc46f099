import { test } from "node:test"
import assert from "node:assert/strict"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { addMeter, createKeystore, nextRoleKey } from "../../headend/src/keystore.ts"
import { identityDigest, meterSettings } from "../../headend/src/provision.ts"
import { flashWipeReason, writeProvisionStamp } from "../../sim/src/provision.ts"

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

test("a stamp written before this change (digest over id, secret and anchors) still counts when it matches", () => {
    const ks = createKeystore()
    const m = addMeter(ks, "meter-1")
    const dir = meterDir()
    const s = meterSettings(ks, m, { broker })
    writeFileSync(join(dir, "provisioned"), identityDigest(s) + "\n")
    assert.equal(flashWipeReason(dir, s), undefined)
})
