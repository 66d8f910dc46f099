import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ed25519 } from "@noble/curves/ed25519.js"
import { main } from "../../headend/src/cli.ts"
import { ROOT } from "../../tools/devs.ts"
import { chainKeyOf, loadKeystore } from "../../headend/src/keystore.ts"
import { CborMap, decodeCbor } from "../../src/wire/cbor"
import { CoseMessage, decodeCose, toBeSigned } from "../../src/wire/cose"
import { Ed25519Key } from "@ldclabs/cose-ts/ed25519"
import { Sign1Message } from "@ldclabs/cose-ts/sign1"

/** Runs the CLI in-process; returns exit code and what it printed. */
async function run(...argv: string[]) {
    const out: string[] = []
    const err: string[] = []
    const code = await main(argv, s => out.push(s), s => err.push(s))
    return { code, out: out.join("\n"), err: err.join("\n"), errLines: err.length }
}

function tmp() {
    return mkdtempSync(join(tmpdir(), "tm-cli-"))
}

test("keys init creates a 0600 keystore with three distinct Ed25519 keys", async () => {
    const d = tmp()
    const ks = join(d, "ks.json")
    const r = await run("keys", "init", "--keystore", ks)
    assert.equal(r.code, 0, r.err)
    assert.equal(statSync(ks).mode & 0o777, 0o600)
    const k = loadKeystore(ks)
    const pubs = new Set(Object.values(k.roles).map(x => x.publicKey))
    assert.equal(pubs.size, 3)
    // the stored keys really sign and verify
    const msg = new TextEncoder().encode("x")
    const sig = ed25519.sign(msg, Buffer.from(k.roles.root.secretKey, "hex"))
    assert.ok(ed25519.verify(sig, msg, Buffer.from(k.roles.root.publicKey, "hex"), { zip215: false }))
    // no temp files left beside it
    assert.deepEqual(readdirSync(d), ["ks.json"])
})

test("keys init refuses to replace a keystore without --force, and --force replaces every key", async () => {
    const ks = join(tmp(), "ks.json")
    assert.equal((await run("keys", "init", "--keystore", ks)).code, 0)
    const before = readFileSync(ks, "utf8")
    const r = await run("keys", "init", "--keystore", ks)
    assert.equal(r.code, 1)
    assert.equal(r.errLines, 1)
    assert.match(r.err, /already exists.*--force/)
    assert.equal(readFileSync(ks, "utf8"), before)
    assert.equal((await run("keys", "init", "--force", "--keystore", ks)).code, 0)
    assert.notEqual(loadKeystore(ks).roles.root.publicKey, JSON.parse(before).roles.root.publicKey)
})

test("provision adds a meter with a fresh secret and writes its settings file 0600", async () => {
    const d = tmp()
    const ks = join(d, "ks.json")
    await run("keys", "init", "--keystore", ks)
    const out = join(d, "m1.env")
    const r = await run("provision", "kitchen", "--keystore", ks, "--out", out, "--broker", "mqtt://10.0.0.5:1884")
    assert.equal(r.code, 0, r.err)
    const k = loadKeystore(ks)
    assert.equal(k.meters.length, 1)
    const m = k.meters[0]
    assert.match(m.secret, /^[0-9a-f]{64}$/)
    const env = readFileSync(out, "utf8")
    assert.equal(statSync(out).mode & 0o777, 0o600)
    assert.match(env, new RegExp(`^METER_ID="${m.meterId}"$`, "m"))
    assert.match(env, new RegExp(`^METER_SECRET="${m.secret}"$`, "m"))
    assert.match(env, /^UP_HOST="10.0.0.5"$/m)
    assert.match(env, /^UP_PORT=1884$/m)
    // the anchor ring as a JSON hex string (docs/commands.md "Provisioning"): count 3, root first
    assert.match(env, /^cv\.anchor="03[0-9a-f]{228}"$/m)
    // a second meter gets another id and another secret
    await run("provision", "garage", "--keystore", ks, "--out", join(d, "m2.env"))
    const k2 = loadKeystore(ks)
    assert.equal(k2.meters.length, 2)
    assert.notEqual(k2.meters[0].meterId, k2.meters[1].meterId)
    assert.notEqual(k2.meters[0].secret, k2.meters[1].secret)
})

test("a failed provision writes nothing: the keystore keeps no meter without its settings file", async () => {
    const d = tmp()
    const ks = join(d, "ks.json")
    await run("keys", "init", "--keystore", ks)
    const before = readFileSync(ks, "utf8")
    const r = await run("provision", "m1", "--keystore", ks, "--out", join(d, "no/such/dir/m1.env"))
    assert.equal(r.code, 1)
    assert.equal(r.errLines, 1)
    assert.match(r.err, /cannot write .*--out/)
    assert.equal(readFileSync(ks, "utf8"), before)
})

test("bad usage: one line, what is wrong and what to do, exit 2", async () => {
    const ks = join(tmp(), "ks.json")
    await run("keys", "init", "--keystore", ks)
    const cases: [string[], RegExp][] = [
        [["frobnicate"], /unknown command "frobnicate".*usage/],
        [["keys", "destroy", "--keystore", ks], /unknown keys subcommand/],
        [["provision", "--keystore", ks], /usage: trustmeter provision/],
        [["provision", "bad name!", "--keystore", ks], /bad meter name/],
        [["provision", "m", "--id", "xyz", "--keystore", ks], /bad meter id/],
        [["provision", "m", "--broker", "http://x", "--keystore", ks], /bad broker address.*mqtt:\/\/host:port/],
        [["sign", "disconnect", "--keystore", ks], /needs --meter/],
        [["sign", "disconnect", "--meter", "nobody", "--keystore", ks], /no meter "nobody".*provision/],
        [["sign", "disconnect", "--meter", "m", "--role", "king", "--keystore", ks], /unknown role "king"/],
        [["verify-chain", "--keystore", ks], /usage: trustmeter verify-chain/],
        [["keys", "init", "--keystore"], /--keystore needs a value/],
        [["keys", "init", "--colour", "red"], /unknown option --colour/],
    ]
    for (const [argv, re] of cases) {
        const r = await run(...argv)
        assert.equal(r.code, 2, `${argv.join(" ")}: ${r.err}`)
        assert.equal(r.errLines, 1, argv.join(" "))
        assert.equal(r.err.split("\n").length, 1, argv.join(" "))
        assert.match(r.err, re)
        assert.equal(r.out, "")
    }
})

test("an unreadable, missing or damaged keystore is reported in one line with the remedy", async () => {
    const d = tmp()
    const missing = await run("keys", "show", "--keystore", join(d, "none.json"))
    assert.equal(missing.code, 1)
    assert.match(missing.err, /no keystore at .*trustmeter keys init/)
    mkdirSync(join(d, "dir.json"))
    const unreadable = await run("keys", "show", "--keystore", join(d, "dir.json"))
    assert.equal(unreadable.code, 1)
    assert.match(unreadable.err, /cannot read keystore .*EISDIR/)
    writeFileSync(join(d, "junk.json"), "{not json")
    assert.match((await run("keys", "show", "--keystore", join(d, "junk.json"))).err, /not valid JSON/)
    // a swapped public key (someone editing the file) is caught, not used
    const ks = join(d, "ks.json")
    await run("keys", "init", "--keystore", ks)
    const k = JSON.parse(readFileSync(ks, "utf8"))
    k.roles.supplier.publicKey = k.roles.root.publicKey
    writeFileSync(ks, JSON.stringify(k))
    const r = await run("keys", "show", "--keystore", ks)
    assert.equal(r.code, 1)
    assert.match(r.err, /damaged \(supplier public key does not match its secret key\)/)
    for (const x of [missing, unreadable, r]) assert.equal(x.errLines, 1)
})

test("verify-chain on an unreadable file says so", async () => {
    const ks = join(tmp(), "ks.json")
    await run("keys", "init", "--keystore", ks)
    await run("provision", "m1", "--keystore", ks, "--out", join(tmp(), "m1.env"))
    const r = await run("verify-chain", "/no/such/chain.bin", "--meter", "m1", "--keystore", ks)
    assert.equal(r.code, 1)
    assert.match(r.err, /cannot read \/no\/such\/chain.bin \(ENOENT\)/)
})

test("the package bin runs the CLI through tsx (npx trustmeter)", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"))
    const bin = join(ROOT, pkg.bin.trustmeter)
    assert.ok(existsSync(bin))
    assert.ok(statSync(bin).mode & 0o100, "bin is executable")
    const ks = join(tmp(), "ks.json")
    const ok = spawnSync(bin, ["keys", "init", "--keystore", ks], { encoding: "utf8" })
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(ok.stdout, /created .*mode 0600/)
    const bad = spawnSync(bin, ["nonsense"], { encoding: "utf8" })
    assert.equal(bad.status, 2)
    assert.equal(bad.stderr.trim().split("\n").length, 1)
})

test("sign prints a COSE command the meter's signer key verifies, for that meter only; --diag adds diagnostic notation", async () => {
    const d = tmp()
    const ks = join(d, "ks.json")
    await run("keys", "init", "--keystore", ks)
    await run("provision", "m1", "--keystore", ks, "--out", join(d, "m1.env"))
    const k = loadKeystore(ks)
    const r = await run("sign", "disconnect", "--meter", "m1", "--counter", "42", "--keystore", ks)
    assert.equal(r.code, 0, r.err)
    assert.equal(r.out.trim().split("\n").length, 1)
    const env = Buffer.from(r.out.trim(), "hex")
    // docs/commands.md §1: 18([<<{1: -8, 4: kid}>>, {}, <<{1: meter, 2: signer, 3: counter, …, 6: opcode, 7: args}>>, sig])
    const m = decodeCose(env) as CoseMessage
    assert.equal(m.tag, 18)
    assert.deepEqual(m.signatures[0].kid, Buffer.from([k.roles.supplier.keyId]))
    const p = decodeCbor(m.payload, []).value as CborMap
    assert.deepEqual(p.keys, [1, 2, 3, 4, 5, 6, 7])
    assert.equal((p.get(1) as Buffer).toString("hex"), k.meters[0].meterId)
    assert.equal(p.get(2), k.roles.supplier.keyId)
    assert.equal(p.get(3), 42)
    assert.equal(p.get(6), 1) // Disconnect
    assert.equal((p.get(7) as Buffer).length, 0)
    const msg = toBeSigned(m, 0)
    assert.ok(ed25519.verify(m.signatures[0].signature, msg, Buffer.from(k.roles.supplier.publicKey, "hex"), { zip215: false }))
    assert.ok(!ed25519.verify(m.signatures[0].signature, msg, Buffer.from(k.roles.root.publicKey, "hex"), { zip215: false }))
    // an independent COSE implementation verifies it too: @ldclabs/cose-ts, with the supplier's public key only
    const theirs = Sign1Message.fromBytes(Ed25519Key.fromPublic(new Uint8Array(Buffer.from(k.roles.supplier.publicKey, "hex"))), new Uint8Array(env))
    assert.deepEqual(Buffer.from(theirs.payload), m.payload)
    assert.equal(theirs.protected?.getInt(1), -8)
    assert.throws(() => Sign1Message.fromBytes(Ed25519Key.fromPublic(new Uint8Array(Buffer.from(k.roles.root.publicKey, "hex"))), new Uint8Array(env)), /signature mismatch/)
    // --role and --cosign choose the signers (dual control: a COSE_Sign of two); arguments are checked
    const two = await run("sign", "disconnect", "--meter", "m1", "--cosign", "networkOperator", "--keystore", ks)
    const m2 = decodeCose(Buffer.from(two.out.trim(), "hex")) as CoseMessage
    assert.equal(m2.tag, 98)
    assert.deepEqual(m2.signatures.map(s => s.kid[0]), [k.roles.supplier.keyId, k.roles.networkOperator.keyId])
    const priv = await run("sign", "set-privacy", "daily", "--meter", "m1", "--keystore", ks)
    const pp = decodeCbor((decodeCose(Buffer.from(priv.out.trim(), "hex")) as CoseMessage).payload, []).value as CborMap
    assert.equal((pp.get(7) as Buffer).toString("hex"), "01")
    for (const bad of [["set-privacy", "weekly"], ["set-random-limit", "99999"], ["disconnect", "now"], ["launch"]]) {
        const x = await run("sign", ...bad, "--meter", "m1", "--keystore", ks)
        assert.equal(x.code, 2, bad.join(" "))
        assert.equal(x.errLines, 1)
    }
    // --diag: the hex line, then the same message in diagnostic notation, payload and headers decoded
    const dg = await run("sign", "disconnect", "--meter", "m1", "--counter", "43", "--diag", "--keystore", ks)
    assert.equal(dg.code, 0, dg.err)
    const [hexLine, diag] = dg.out.split("\n")
    assert.ok(/^[0-9a-f]+$/.test(hexLine))
    const sid = k.roles.supplier.keyId.toString(16).padStart(2, "0")
    assert.match(diag, new RegExp(`^18\\(\\[<<\\{1: -8, 4: h'${sid}'\\}>>, \\{\\}, <<\\{1: h'${k.meters[0].meterId}', 2: ${k.roles.supplier.keyId}, 3: 43, 4: 0, 5: \\d+, 6: 1, 7: h''\\}>>, h'[0-9a-f]{128}'\\]\\)$`))
    const dg2 = await run("sign", "disconnect", "--meter", "m1", "--cosign", "networkOperator", "--diag", "--keystore", ks)
    assert.match(dg2.out.split("\n")[1], /^98\(\[h'', \{\}, <<\{1: h'[0-9a-f]{16}', .*\}>>, \[\[<<\{1: -8, 4: h'[0-9a-f]{2}'\}>>, \{\}, h'[0-9a-f]{128}'\], \[<<\{1: -8, 4: h'[0-9a-f]{2}'\}>>, \{\}, h'[0-9a-f]{128}'\]\]\]\)$/)
})

test("sign refuses to move a counter or the uplink epoch beyond one command's reach, one line each", async () => {
    const d = tmp()
    const ks = join(d, "ks.json")
    await run("keys", "init", "--keystore", ks)
    await run("provision", "m1", "--keystore", ks, "--out", join(d, "m1.env"))
    const clock = BigInt(Date.now()) * 1000n
    // docs/commands.md §4: a counter at most 2^20 beyond the command's expiry in µs (default: 1 h from now)
    const cases: [string[], RegExp][] = [
        [["disconnect", "--counter", String(clock + 7_200_000_000n)], /counter beyond what a meter accepts/],
        // §3: an uplink epoch moves at most 16 a command, from the meter's current epoch
        [["rotate-uplink", "0", "17"], /uplink epoch: from epoch 0 a meter takes 1\.\.16/],
        [["rotate-uplink", "4294967278", "4294967295"], /uplink epoch: from epoch 4294967278 a meter takes 4294967279\.\.4294967294/],
        [["rotate-uplink", "9"], /rotate-uplink takes two arguments/],
    ]
    for (const [argv, re] of cases) {
        const r = await run("sign", ...argv, "--meter", "m1", "--keystore", ks)
        assert.equal(r.code, 2, `${argv.join(" ")}: ${r.err}`)
        assert.equal(r.errLines, 1, argv.join(" "))
        assert.match(r.err, re, argv.join(" "))
        assert.equal(r.out, "")
    }
    // within reach: a counter 2 h ahead with a 3 h window, epochs +1 and +16
    const far = await run("sign", "disconnect", "--counter", String(clock + 7_200_000_000n), "--valid", "3h", "--meter", "m1", "--keystore", ks)
    assert.equal(far.code, 0, far.err)
    for (const [from, to] of [["0", "16"], ["4294967294", "4294967295"]]) {
        const r = await run("sign", "rotate-uplink", from, to, "--meter", "m1", "--keystore", ks)
        assert.equal(r.code, 0, r.err)
        const p = decodeCbor((decodeCose(Buffer.from(r.out.trim(), "hex")) as CoseMessage).payload, []).value as CborMap
        assert.equal(p.get(6), 7) // UplinkEpoch
        assert.equal((p.get(7) as Buffer).readUInt32BE(0), Number(to))
    }
})

test("verify-chain accepts an exported chain and names the first altered record", async () => {
    const { evolveKey, recordHash, sealRecord } = await import("../../headend/src/chain.ts")
    const d = tmp()
    const ks = join(d, "ks.json")
    await run("keys", "init", "--keystore", ks)
    await run("provision", "m1", "--keystore", ks, "--out", join(d, "m1.env"))
    const m = loadKeystore(ks).meters[0]
    let key = chainKeyOf(m)
    let prev: Uint8Array = new Uint8Array(32)
    const recs: Uint8Array[] = []
    for (let i = 0; i < 6; i++) {
        const r = sealRecord(key, 1, i, 1_700_000_000 + i * 1800, Uint8Array.of(i, i, i), prev)
        recs.push(r)
        prev = recordHash(r)
        key = evolveKey(key)
    }
    const bin = join(d, "chain.bin")
    writeFileSync(bin, Buffer.concat(recs))
    const ok = await run("verify-chain", bin, "--meter", "m1", "--keystore", ks)
    assert.equal(ok.code, 0, ok.err)
    assert.match(ok.out, /^OK: 6 records verified, head seq 5/)
    const hex = join(d, "chain.txt")
    writeFileSync(hex, "# exported\n" + recs.map(r => Buffer.from(r).toString("hex")).join("\n") + "\n")
    assert.equal((await run("verify-chain", hex, "--meter", "m1", "--keystore", ks)).code, 0)
    // one altered byte in the payload of record 3
    const bad = Buffer.concat(recs)
    const off = recs.slice(0, 3).reduce((n, r) => n + r.length, 0) + 11
    bad[off] ^= 1
    writeFileSync(bin, bad)
    const r = await run("verify-chain", bin, "--meter", "m1", "--keystore", ks)
    assert.equal(r.code, 1)
    assert.match(r.out, /^BROKEN: bad-tag at record 3/)
    // the wrong meter's key: the first record's tag fails
    await run("provision", "m2", "--keystore", ks, "--out", join(d, "m2.env"))
    writeFileSync(bin, Buffer.concat(recs))
    assert.match((await run("verify-chain", bin, "--meter", "m2", "--keystore", ks)).out, /^BROKEN: bad-tag at record 0/)
})
