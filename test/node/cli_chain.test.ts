import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { main } from "../../headend/src/cli.ts"
import { evolveKey, recordHash, sealRecord } from "../../headend/src/chain.ts"
import { chainKeyOf, loadKeystore } from "../../headend/src/keystore.ts"
import { ROOT } from "../../tools/devs.ts"

async function run(...argv: string[]) {
    const out: string[] = []
    const err: string[] = []
    const code = await main(argv, s => out.push(s), s => err.push(s))
    return { code, out: out.join("\n"), err: err.join("\n"), errLines: err.length }
}

/** A keystore with meter m1 and its chain of `n` records as the meter seals them (seq 0 = genesis). */
async function setup(n = 8) {
    const d = mkdtempSync(join(tmpdir(), "tm-clichain-"))
    const ks = join(d, "ks.json")
    await run("keys", "init", "--keystore", ks)
    await run("provision", "m1", "--keystore", ks, "--out", join(d, "m1.env"))
    const m = loadKeystore(ks).meters[0]
    let key = chainKeyOf(m)
    let prev: Uint8Array = new Uint8Array(32)
    const recs: Buffer[] = []
    for (let i = 0; i < n; i++) {
        const payload = i === 0 ? Buffer.from(m.meterId, "hex") : Uint8Array.of(i, i, i, i)
        const r = Buffer.from(sealRecord(key, i === 0 ? 1 : 0x10, i, 1_700_000_000 + i * 1800, payload, prev))
        recs.push(r)
        prev = recordHash(r)
        key = evolveKey(key)
    }
    return { d, ks, m, recs }
}

const hexLines = (recs: Buffer[]) => recs.map(r => r.toString("hex")).join("\n") + "\n"
const anchorOf = (r: Buffer, seq: number) => `${seq}:${Buffer.from(recordHash(r)).toString("hex")}`

test("verify-chain reads its input line by line in linear time: one bad line is named at once, never backtracked over", async () => {
    const { d, ks, recs } = await setup(3)
    const file = join(d, "bad.txt")
    // a record's worth of hex with one stray character at the end: the old whole-file regex backtracked exponentially here
    writeFileSync(file, `${recs[0].toString("hex")}\n${recs[1].toString("hex")}zz\n${recs[2].toString("hex")}\n`)
    const t = Date.now()
    const r = spawnSync(join(ROOT, "headend/bin/trustmeter.mjs"), ["verify-chain", file, "--meter", "m1", "--keystore", ks], { encoding: "utf8", timeout: 20_000 })
    assert.notEqual(r.status, null, "verify-chain did not finish within 20 s")
    assert.ok(Date.now() - t < 20_000)
    assert.equal(r.status, 1, r.stderr)
    assert.equal(r.stderr.trim().split("\n").length, 1)
    assert.match(r.stderr, /line 2 of .*bad\.txt is not a record in hex/)
    // a big well-formed file stays fast too
    const big = join(d, "big.txt")
    writeFileSync(big, ("# comment line\n" + "ab".repeat(5000) + "\n").repeat(200))
    const t2 = Date.now()
    await run("verify-chain", big, "--meter", "m1", "--keystore", ks)
    assert.ok(Date.now() - t2 < 5000)
})

test("verify-chain: a chain whose first records are cut off is NOT VERIFIED unless it starts right after a trusted --anchor", async () => {
    const { d, ks, recs } = await setup(8)
    const full = join(d, "full.txt")
    writeFileSync(full, "# exported\n" + hexLines(recs))
    const ok = await run("verify-chain", full, "--meter", "m1", "--keystore", ks)
    assert.equal(ok.code, 0, ok.err)
    assert.match(ok.out, /^OK: 8 records verified, head seq 7 hash [0-9a-f]{64}, from genesis$/)
    const cut = join(d, "cut.txt")
    writeFileSync(cut, hexLines(recs.slice(3)))
    const r = await run("verify-chain", cut, "--meter", "m1", "--keystore", ks)
    assert.equal(r.code, 1)
    assert.match(r.out, /^NOT VERIFIED: the chain starts at seq 3, not at genesis \(seq 0\).*--anchor 2:<hash/)
    // the checkpoint just before it, or one inside it, makes it verifiable
    for (const a of [anchorOf(recs[2], 2), anchorOf(recs[5], 5), anchorOf(recs[7], 7)]) {
        const x = await run("verify-chain", cut, "--meter", "m1", "--anchor", a, "--keystore", ks)
        assert.equal(x.code, 0, `${a}: ${x.out} ${x.err}`)
        assert.match(x.out, new RegExp(`^OK: 5 records verified, head seq 7 hash [0-9a-f]{64}, from the anchor ${a.split(":")[0]}$`))
    }
    // an anchor that does not match, or lies outside the file
    const wrong = await run("verify-chain", cut, "--meter", "m1", "--anchor", anchorOf(recs[3], 2), "--keystore", ks)
    assert.equal(wrong.code, 1)
    assert.match(wrong.out, /^BROKEN: .*does not match the --anchor/)
    const far = await run("verify-chain", cut, "--meter", "m1", "--anchor", anchorOf(recs[0], 0), "--keystore", ks)
    assert.equal(far.code, 1)
    assert.match(far.out, /^NOT VERIFIED: .*anchor .*seq 0/)
    // a full chain that disagrees with a trusted anchor is broken
    const fork = await run("verify-chain", full, "--meter", "m1", "--anchor", anchorOf(recs[4], 3), "--keystore", ks)
    assert.equal(fork.code, 1)
    assert.match(fork.out, /^BROKEN: record 3 does not match the --anchor/)
    for (const bad of ["3", "x:00", "3:abcd"]) {
        const u = await run("verify-chain", cut, "--meter", "m1", "--anchor", bad, "--keystore", ks)
        assert.equal(u.code, 2, bad)
        assert.match(u.err, /bad --anchor .*SEQ:HASH/)
    }
    // an empty file verifies nothing
    writeFileSync(join(d, "empty.txt"), "# nothing\n")
    assert.match((await run("verify-chain", join(d, "empty.txt"), "--meter", "m1", "--keystore", ks)).out, /^NOT VERIFIED: the file holds no records/)
})

test("verify-chain does bounded work whatever seq the file claims: a record at seq 4,000,000,000 is NOT VERIFIED at once, anchored or not", async () => {
    const { d, ks, m, recs } = await setup(3)
    // a well-formed record claiming a seq near 2^32 (its tag under any key: the old code derived K_seq first, 4·10^9 SHA-256, an hour)
    const far = Buffer.from(sealRecord(Buffer.alloc(32, 7), 0x10, 4_000_000_000, 1_700_000_000, Uint8Array.of(1, 2, 3, 4), recordHash(recs[2])))
    const file = join(d, "far.txt")
    writeFileSync(file, hexLines([far]))
    const bin = join(ROOT, "headend/bin/trustmeter.mjs")
    const cases: [string[], RegExp][] = [
        [[], /^NOT VERIFIED: the file claims records up to seq 4000000000, beyond any meter's chain/],
        // an anchor the file does not start right after: refused before any hashing
        [["--anchor", anchorOf(recs[2], 2)], /^NOT VERIFIED: the --anchor at seq 2 is neither in the file \(seq 4000000000\.\.4000000000\) nor right before it/],
        // the operator's anchor that far out: still no derivation beyond the bound
        [["--anchor", anchorOf(recs[2], 3_999_999_999)], /^NOT VERIFIED: the file claims records up to seq 4000000000, beyond any meter's chain/],
    ]
    for (const [extra, expect] of cases) {
        const r = spawnSync(bin, ["verify-chain", file, "--meter", m.name, "--keystore", ks, ...extra], { encoding: "utf8", timeout: 20_000 })
        assert.notEqual(r.status, null, `verify-chain ${extra.join(" ")} did not finish within 20 s`)
        assert.equal(r.status, 1, r.stderr)
        assert.match(r.stdout, expect)
    }
    // a real chain right after its anchor still verifies (the bound is far above any meter's seq)
    const cut = join(d, "cut.txt")
    writeFileSync(cut, hexLines(recs.slice(1)))
    const ok = await run("verify-chain", cut, "--meter", "m1", "--anchor", anchorOf(recs[0], 0), "--keystore", ks)
    assert.equal(ok.code, 0, ok.out)
})

/** A simulated meter's flash image: settings noise around the records, in ring order. */
function flashImage(recs: Buffer[]): Buffer {
    const parts: Buffer[] = [Buffer.from("cv.c2a\0garbage\x01\x02\x03"), Buffer.alloc(40, 0xff)]
    for (const r of recs) parts.push(Buffer.from("is.r"), Buffer.from([r.length, 0]), r, Buffer.alloc(13, 0xff))
    // a stale copy of an old slot and random bytes that start like a record
    parts.push(Buffer.from([1, 7, 0, 0, 0, 2, 0, 0, 0, 0, 4, 1, 2, 3]))
    return Buffer.concat(parts)
}

function meterFlash(d: string, name: string, img: Buffer) {
    const dir = join(d, "meters", name, ".devicescript/flash")
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "sim.bin"), img)
}

test("export-chain writes what verify-chain reads: from the simulated meter's flash, oldest first", async () => {
    const { d, ks, recs } = await setup(10)
    // ring order in flash is not seq order
    meterFlash(d, "m1", flashImage([...recs.slice(6), ...recs.slice(0, 6)]))
    const out = join(d, "m1.chain")
    const e = await run("export-chain", "m1", "--dir", join(d, "meters"), "--out", out, "--keystore", ks)
    assert.equal(e.code, 0, e.err)
    assert.match(e.out, /10 records \(seq 0\.\.9\) of m1 written to .*m1\.chain/)
    const text = readFileSync(out, "utf8")
    assert.match(text, /^# trustmeter chain export: meter m1 \([0-9a-f]{16}\)/)
    assert.deepEqual(text.split("\n").filter(l => l && !l.startsWith("#")), recs.map(r => r.toString("hex")))
    const v = await run("verify-chain", out, "--meter", "m1", "--keystore", ks)
    assert.equal(v.code, 0, v.out)
    assert.match(v.out, /^OK: 10 records verified, head seq 9 .*from genesis/)
    // to standard output without --out
    const so = await run("export-chain", "m1", "--dir", join(d, "meters"), "--keystore", ks)
    assert.equal(so.code, 0)
    const noTime = (t: string) => t.trim().replace(/, \d{4}-\d\d-\d\dT[\d:.]+Z/, "")
    assert.equal(noTime(so.out), noTime(text))
})

test("export-chain after eviction: the export starts later and verify-chain says so; a tampered record in flash is BROKEN", async () => {
    const { d, ks, recs } = await setup(10)
    meterFlash(d, "m1", flashImage(recs.slice(4)))
    const out = join(d, "m1.chain")
    assert.equal((await run("export-chain", "m1", "--dir", join(d, "meters"), "--out", out, "--keystore", ks)).code, 0)
    const v = await run("verify-chain", out, "--meter", "m1", "--keystore", ks)
    assert.equal(v.code, 1)
    assert.match(v.out, /^NOT VERIFIED: the chain starts at seq 4/)
    assert.equal((await run("verify-chain", out, "--meter", "m1", "--anchor", anchorOf(recs[3], 3), "--keystore", ks)).code, 0)
    // one payload byte of record 6 changed in flash (the attack S): exported as found, refused by verify-chain
    const t = recs.map(r => Buffer.from(r))
    t[6][12] ^= 0x40
    meterFlash(d, "m1", flashImage(t))
    assert.equal((await run("export-chain", "m1", "--dir", join(d, "meters"), "--out", out, "--keystore", ks)).code, 0)
    const b = await run("verify-chain", out, "--meter", "m1", "--keystore", ks)
    assert.equal(b.code, 1)
    assert.match(b.out, /^BROKEN: (bad-tag|bad-link) at record (6|7)/)
})

test("export-chain: a meter without flash, or unknown, is one line", async () => {
    const { d, ks } = await setup(1)
    const r = await run("export-chain", "m1", "--dir", join(d, "meters"), "--keystore", ks)
    assert.equal(r.code, 1)
    assert.equal(r.errLines, 1)
    assert.match(r.err, /no flash for meter m1 at .*sim\.bin.*npm start/)
    const u = await run("export-chain", "nobody", "--keystore", ks)
    assert.equal(u.code, 2)
    assert.match(u.err, /no meter "nobody"/)
    assert.equal((await run("export-chain", "--keystore", ks)).code, 2)
})

test("export-chain --database: what the head-end stored, from genesis", { timeout: 120_000 }, async () => {
    const { databaseTarget, openDatabase, storeRecords } = await import("../../headend/src/db/index.ts")
    const { d, ks, m, recs } = await setup(6)
    const dbDir = join(d, "db")
    const db = await openDatabase(databaseTarget({ database: dbDir, runDir: d }))
    try {
        await storeRecords(db, m.meterId, recs.map((data, seq) => ({ seq, data })))
    } finally {
        await db.close()
    }
    const out = join(d, "m1-db.chain")
    const e = await run("export-chain", "m1", "--database", dbDir, "--out", out, "--keystore", ks)
    assert.equal(e.code, 0, e.err)
    assert.match(readFileSync(out, "utf8"), /# source: the head-end's database, embedded PostgreSQL \(PGlite\) in .*db/)
    const v = await run("verify-chain", out, "--meter", "m1", "--keystore", ks)
    assert.equal(v.code, 0, v.out)
    assert.match(v.out, /^OK: 6 records verified, head seq 5 .*from genesis/)
    // no database there: one line, nothing created
    const none = await run("export-chain", "m1", "--database", join(d, "nodb"), "--keystore", ks)
    assert.equal(none.code, 1)
    assert.equal(none.errLines, 1)
    assert.match(none.err, /no head-end database at .*nodb/)
})

test("export-chain without --database: what npm start stored under --dir (<dir>/.headend/db), --flash for the meter's own; never while npm start holds it", { timeout: 120_000 }, async () => {
    const { databaseTarget, openDatabase, storeRecords } = await import("../../headend/src/db/index.ts")
    const { d, ks, m, recs } = await setup(12)
    const dir = join(d, "meters")
    // the head-end stored every record; the meter's flash holds only the newest ones
    meterFlash(d, "m1", flashImage(recs.slice(7)))
    const db = await openDatabase(databaseTarget({ runDir: dir, env: {} }))
    try {
        await storeRecords(db, m.meterId, recs.map((data, seq) => ({ seq, data })))
    } finally {
        await db.close()
    }
    const stored = join(d, "stored.chain")
    const e = await run("export-chain", "m1", "--dir", dir, "--out", stored, "--keystore", ks)
    assert.equal(e.code, 0, e.err)
    assert.match(readFileSync(stored, "utf8"), /# source: the head-end's database, embedded PostgreSQL \(PGlite\) in .*meters\/\.headend\/db/)
    assert.match((await run("verify-chain", stored, "--meter", "m1", "--keystore", ks)).out, /^OK: 12 records verified, head seq 11 .*from genesis/)
    const held = join(d, "flash.chain")
    assert.equal((await run("export-chain", "m1", "--dir", dir, "--flash", "--out", held, "--keystore", ks)).code, 0)
    assert.match(readFileSync(held, "utf8"), /# source: the simulated meter's flash/)
    assert.match((await run("verify-chain", held, "--meter", "m1", "--keystore", ks)).out, /^NOT VERIFIED: the chain starts at seq 7/)
    // a running npm start holds the embedded database (one process at a time): refused, one line
    writeFileSync(join(dir, ".lock"), `${process.ppid}\n`)
    const busy = await run("export-chain", "m1", "--dir", dir, "--keystore", ks)
    assert.equal(busy.code, 1)
    assert.equal(busy.errLines, 1)
    assert.match(busy.err, new RegExp(`npm start \\(pid ${process.ppid}\\) is running with .*: stop it first, or export what the meter holds with --flash`))
    assert.equal((await run("export-chain", "m1", "--dir", dir, "--flash", "--keystore", ks)).code, 0, "the flash is only read")
})
