import { test } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decode as cbor2Decode, Tag } from "cbor2"
import { main } from "../../headend/src/cli.ts"

async function run(...argv: string[]) {
    const out: string[] = []
    const err: string[] = []
    const code = await main(argv, s => out.push(s), s => err.push(s))
    return { code, out: out.join("\n"), err: err.join("\n"), errLines: err.length }
}

async function fleet() {
    const d = mkdtempSync(join(tmpdir(), "tm-clisign-"))
    const ks = join(d, "ks.json")
    await run("keys", "init", "--keystore", ks)
    await run("provision", "m1", "--keystore", ks, "--out", join(d, "m1.env"))
    return ks
}

/** The payload map of the command `trustmeter sign` printed (first line, hex), read with cbor2: key → value. */
const payload = (out: string) => {
    const t = cbor2Decode(Buffer.from(out.split("\n")[0].trim(), "hex")) as Tag
    return cbor2Decode((t.contents as Uint8Array[])[2]) as Map<number, number | bigint | Uint8Array>
}
const field = (out: string, key: number) => Number(payload(out).get(key))
const nowS = () => Math.floor(Date.now() / 1000)

test("sign refuses counters the meter would refuse or that would lock the signer out, one line each", async () => {
    const ks = await fleet()
    const cases: [string, RegExp][] = [
        // at most 2^53 - 1 on the wire (docs/commands.md §1), and far beyond any clock counter:
        // a meter accepting it would refuse every later command of that signer as Replay
        ["9007199254740991", /--counter 9007199254740991 .*ahead of the clock counter.*Replay/],
        ["9007199254740992", /--counter 9007199254740992 .*2\^53/],
        ["123456789012345678901234567890", /--counter .*2\^53/],
        // the meter starts from 0 and wants strictly more: 0 is always a replay
        ["0", /--counter 0 .*Replay/],
        ["-5", /bad --counter "-5"/],
        ["1e6", /bad --counter "1e6"/],
    ]
    for (const [c, re] of cases) {
        const r = await run("sign", "disconnect", "--meter", "m1", "--counter", c, "--keystore", ks)
        assert.equal(r.code, 2, `${c}: ${r.err}`)
        assert.equal(r.errLines, 1, c)
        assert.match(r.err, re)
        assert.equal(r.out, "")
    }
    // small counters and the clock counter's neighbourhood are fine
    for (const c of ["1", "42", String(BigInt(Date.now()) * 1000n + 3_600_000_000n)]) {
        const r = await run("sign", "disconnect", "--meter", "m1", "--counter", c, "--keystore", ks)
        assert.equal(r.code, 0, `${c}: ${r.err}`)
        assert.equal(BigInt(payload(r.out).get(3) as number), BigInt(c))
    }
})

test("sign refuses validity windows the meter would refuse, one line each", async () => {
    const ks = await fleet()
    const iso = (s: number) => new Date(s * 1000).toISOString()
    const now = nowS()
    const cases: [string[], RegExp][] = [
        [["disconnect", "--valid", "0"], /--valid "0" .*expired/],
        [["disconnect", "--valid", "-1h"], /bad --valid "-1h"/],
        [["disconnect", "--valid", `${iso(now - 7200)}..${iso(now - 3600)}`], /--valid .* already expired at/],
        [["disconnect", "--valid", `${now + 7200}..${now + 3600}`], /--valid .* inverted: it starts .* after it ends/],
        [["disconnect", "--valid", "200000d"], /--valid .* beyond 2106/],
        [["disconnect", "--valid", "2026-11-25T10:00..2026-11-26T10:00"], /bad --valid .*time zone/],
        [["disconnect", "--valid", "soon..later"], /bad --valid "soon\.\.later"/],
        // a time sync: the meter refuses one expiring more than an hour after the time it sets (docs/commands.md §5)
        [["time-sync", "--valid", "2h"], /time-sync .* expire at most 3600 s after the time it sets/],
        [["time-sync", String(now - 86400), "--valid", "30m"], /time-sync .* expire at most 3600 s after the time it sets/],
        [["time-sync", String(now + 86400), "--valid", "30m"], /time-sync .* (outside|not inside) .*window/],
    ]
    for (const [argv, re] of cases) {
        const r = await run("sign", ...argv, "--meter", "m1", "--keystore", ks)
        assert.equal(r.code, 2, `${argv.join(" ")}: ${r.err}`)
        assert.equal(r.errLines, 1, argv.join(" "))
        assert.match(r.err, re, argv.join(" "))
    }
    // a window FROM..TO sets not-before and expiry; ..TO means from now on
    const from = now + 60
    const to = now + 7200
    const r = await run("sign", "disconnect", "--meter", "m1", "--valid", `${iso(from)}..${iso(to)}`, "--keystore", ks)
    assert.equal(r.code, 0, r.err)
    assert.equal(field(r.out, 4), from)
    assert.equal(field(r.out, 5), to)
    const open = await run("sign", "disconnect", "--meter", "m1", "--valid", `..${to}`, "--keystore", ks)
    assert.equal(open.code, 0, open.err)
    assert.equal(field(open.out, 4), 0)
    assert.equal(field(open.out, 5), to)
    const ts = await run("sign", "time-sync", "--meter", "m1", "--valid", "1h", "--keystore", ks)
    assert.equal(ts.code, 0, ts.err)
    const d = await run("sign", "disconnect", "--meter", "m1", "--valid", "2h", "--keystore", ks)
    assert.ok(Math.abs(field(d.out, 5) - (now + 7200)) <= 2)
})
