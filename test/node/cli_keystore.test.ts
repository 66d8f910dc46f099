import { test } from "node:test"
import assert from "node:assert/strict"
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { main } from "../../headend/src/cli.ts"
import { loadKeystore } from "../../headend/src/keystore.ts"

async function run(...argv: string[]) {
    const out: string[] = []
    const err: string[] = []
    const code = await main(argv, s => out.push(s), s => err.push(s))
    return { code, out: out.join("\n"), err: err.join("\n"), errLines: err.length }
}

const tmp = () => mkdtempSync(join(tmpdir(), "tm-cliks-"))

test("keys init never replaces an existing file without --force, even a damaged one (its meter secrets may be recoverable)", async () => {
    const d = tmp()
    for (const content of ["{not json", JSON.stringify({ format: "something else" }), ""]) {
        const ks = join(d, "ks.json")
        writeFileSync(ks, content, { mode: 0o600 })
        const r = await run("keys", "init", "--keystore", ks)
        assert.equal(r.code, 1, JSON.stringify(content))
        assert.equal(r.errLines, 1)
        assert.match(r.err, /already exists at .*ks\.json.*--force/)
        assert.equal(readFileSync(ks, "utf8"), content, "the damaged file is untouched")
    }
    // a directory in the way is not replaced either
    const r = await run("keys", "init", "--keystore", d)
    assert.equal(r.code, 1)
    assert.equal(r.errLines, 1)
    assert.equal(statSync(d).isDirectory(), true)
    // --force does replace a damaged one
    const ks = join(d, "ks.json")
    assert.equal((await run("keys", "init", "--force", "--keystore", ks)).code, 0)
    assert.ok(loadKeystore(ks))
})

test("a keystore readable by group or others is refused with one line naming the chmod that fixes it", async () => {
    const d = tmp()
    const ks = join(d, "ks.json")
    assert.equal((await run("keys", "init", "--keystore", ks)).code, 0)
    for (const mode of [0o640, 0o604, 0o644, 0o660]) {
        chmodSync(ks, mode)
        const r = await run("keys", "show", "--keystore", ks)
        assert.equal(r.code, 1, mode.toString(8))
        assert.equal(r.errLines, 1)
        assert.match(r.err, new RegExp(`keystore ${ks.replace(/[.]/g, "\\.")} is readable by (group|others|group and others) \\(mode 0${mode.toString(8)}\\): run \`chmod 600 ${ks.replace(/[.]/g, "\\.")}\``))
        assert.throws(() => loadKeystore(ks), /chmod 600/)
    }
    chmodSync(ks, 0o600)
    assert.equal((await run("keys", "show", "--keystore", ks)).code, 0)
    chmodSync(ks, 0o400)
    assert.equal((await run("keys", "show", "--keystore", ks)).code, 0, "read-only for the owner is fine")
})
