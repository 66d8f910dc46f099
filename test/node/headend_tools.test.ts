import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { ed25519 } from "@noble/curves/ed25519.js"
import { findNewestRecord } from "../../sim/src/attacks.ts"
import { parseBrokerUrl, startBroker } from "../../headend/src/broker.ts"
import { evolveKey, recordHash, sealRecord } from "../../headend/src/chain.ts"
import { Jd, decodeFrame, encodeFrame, jdCrc } from "../../tools/jacdac.ts"
import { addMeter, chainKeyOf, createKeystore, nextRoleKey } from "../../headend/src/keystore.ts"
import { keyChangeCommand } from "../../headend/src/operations.ts"
import { anchorRing, identityDigest, meterSettings } from "../../headend/src/provision.ts"
import { describeRecord } from "../../headend/src/records.ts"
import { Station } from "../../headend/src/station.ts"
import { CommandEnvelope, parseEnvelope } from "../../src/wire/envelope"
import { toBeSigned } from "../../src/wire/cose"

test("jacdac frames: CRC-16-CCITT, round trip, and a corrupted frame decodes to nothing", () => {
    assert.equal(jdCrc(Buffer.from("123456789")), 0x29b1) // CRC-16/CCITT-FALSE check value
    const f = encodeFrame({ deviceId: "7e57000000000001", flags: Jd.FrameFlagCommand, serviceIndex: 4, command: Jd.SettingsSet, payload: Buffer.from("METER_ID\0\"x\"") })
    assert.equal(f.length % 4, 0)
    const [p] = decodeFrame(f)
    assert.deepEqual([p.deviceId, p.flags, p.serviceIndex, p.command, p.payload.toString()], ["7e57000000000001", 1, 4, 0x81, 'METER_ID\0"x"'])
    const bad = Buffer.from(f)
    bad[20] ^= 1
    assert.deepEqual(decodeFrame(bad), [])
    assert.deepEqual(decodeFrame(f.subarray(0, 10)), [])
})

test("a meter's settings: JSON text values, the binary anchor ring with the three roles, broker and clock", () => {
    const ks = createKeystore()
    const m = addMeter(ks, "m1")
    const s = meterSettings(ks, m, { broker: { host: "127.0.0.1", port: 1883 }, clockScale: 180, seed: 2 })
    assert.equal(s.METER_ID.toString(), `"${m.meterId}"`)
    assert.equal(s.METER_SECRET.toString(), `"${m.secret}"`)
    assert.equal(s["mt.scale"].toString(), "180")
    assert.equal(s.UP_PORT.toString(), "1883")
    for (const k of Object.keys(s)) assert.ok(k.length <= 13, `${k} is too long for a DeviceScript setting`)
    const ring = anchorRing(ks)
    assert.equal(ring[0], 3)
    assert.equal(ring.length, 1 + 3 * 38)
    // entry: id, role, mask (u32 BE), public key
    assert.deepEqual([ring[1], ring[2]], [ks.roles.root.keyId, 1])
    assert.equal(ring.subarray(7, 39).toString("hex"), ks.roles.root.publicKey)
    assert.equal(ring.readUInt32BE(1 + 38 + 2) & (1 << 18), 0, "the supplier may not sign key changes")
    assert.notEqual(ring.readUInt32BE(3) & (1 << 18), 0, "the root signs key changes")
    // re-keying a fleet changes the identity digest (the meter's flash is then wiped)
    const again = meterSettings(ks, m, { broker: { host: "10.0.0.1", port: 1 } })
    assert.equal(identityDigest(again), identityDigest(s))
    m.secret = randomBytes(32).toString("hex")
    assert.notEqual(identityDigest(meterSettings(ks, m, { broker: { host: "x", port: 1 } })), identityDigest(s))
})

test("key changes: suppliers keep their id (KeyReplace), a new root gets a new id (RootRotate), both signed by the root", () => {
    const ks = createKeystore()
    const m = addMeter(ks, "m1")
    const sup = nextRoleKey(ks, "supplier")
    assert.equal(sup.keyId, ks.roles.supplier.keyId)
    assert.notEqual(sup.publicKey, ks.roles.supplier.publicKey)
    const env = keyChangeCommand(ks, m, "supplier", sup)
    const e = parseEnvelope(env) as CommandEnvelope
    assert.equal(e.opcode, 18) // KeyReplace
    assert.equal(e.signerKeyId, ks.roles.root.keyId)
    assert.equal(e.args.subarray(6, 38).toString("hex"), sup.publicKey)
    assert.ok(ed25519.verify(e.cose.signatures[0].signature, toBeSigned(e.cose, 0), Buffer.from(ks.roles.root.publicKey, "hex"), { zip215: false }))
    const root = nextRoleKey(ks, "root")
    assert.ok(root.keyId > 3)
    assert.equal((parseEnvelope(keyChangeCommand(ks, m, "root", root)) as CommandEnvelope).opcode, 19) // RootRotate
})

test("the stored-record attack finds exactly the newest authentic record in a flash image", () => {
    const ks = createKeystore()
    const m = addMeter(ks, "m1")
    let key = chainKeyOf(m)
    let prev: Uint8Array = new Uint8Array(32)
    const parts: Buffer[] = [randomBytes(100)]
    const offs: number[] = []
    for (let i = 0; i < 5; i++) {
        const r = Buffer.from(sealRecord(key, 0x10, i, 1000 + i, Buffer.alloc(16, i), prev))
        prev = recordHash(r)
        key = evolveKey(key)
        offs.push(parts.reduce((n, p) => n + p.length, 0))
        parts.push(r, Buffer.from([1, 0x10, 0, 0, 0, 9, 0, 0, 0, 0, 3]), randomBytes(37)) // lookalike header with no valid tag
    }
    const img = Buffer.concat(parts)
    assert.deepEqual(findNewestRecord(img, m), { off: offs[4], seq: 4 })
    const other = addMeter(ks, "m2")
    assert.equal(findNewestRecord(img, other), undefined, "another meter's key finds nothing")
})

test("records read for people: interval and tamper", () => {
    const iv = Buffer.alloc(16)
    iv.writeUInt32LE(1_764_000_000, 0)
    iv[4] = 30
    iv.writeUInt16LE(1800, 6)
    iv.writeUInt32LE(152_400, 8)
    assert.match(describeRecord({ seq: 12, kind: 0x10, time: 0, payload: iv }), /^#12 interval \d\d-\d\d \d\d:\d\d 30 min \+152\.4 Wh -0\.0 Wh$/)
    const t = Buffer.from([2, 0, 0, 0, 5])
    assert.equal(describeRecord({ seq: 13, kind: 0x32, time: 0, payload: t }), "#13 tamper: bad tag at record 5")
})

test("broker: --broker addresses are checked; the embedded broker routes; an unreachable broker is one clear error", async () => {
    assert.deepEqual(parseBrokerUrl("mqtt://127.0.0.1:1883"), { host: "127.0.0.1", port: 1883, url: "mqtt://127.0.0.1:1883" })
    for (const bad of ["127.0.0.1:1883", "mqtt://host", "mqtt://host:0", "mqtt://host:70000", "http://h:1"]) assert.throws(() => parseBrokerUrl(bad), /mqtt:\/\/host:port/)
    const b = await startBroker({ port: 0 })
    try {
        const ks = createKeystore()
        const s = await Station.connect(b.url, ks, {})
        await s.publishRaw("tm/0000000000000000/up", Buffer.from("x"))
        await s.close()
    } finally {
        await b.close()
    }
    await assert.rejects(Station.connect(`mqtt://127.0.0.1:${b.port}`, createKeystore(), {}, 1000), /cannot reach the MQTT broker at mqtt:\/\/127.0.0.1:\d+ .*omit --broker/)
})
