import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ed25519 } from "@noble/curves/ed25519.js"
import { main } from "../../sim/src/cli.ts"
import { ROOT } from "../../sim/src/devs.ts"
import { loadKeystore } from "../../sim/src/keystore.ts"

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
