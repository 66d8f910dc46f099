// The Ed25519 vector data (test/vectors/ed25519.json) against @noble/curves, and the
// generated device modules against the data.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { ed25519 } from "@noble/curves/ed25519.js"
import { COMMON_MODULE_FILE, JSON_FILE, PARTS, generate, moduleFile, nobleVerify, renderCommonModule, renderModule, type Ed25519Vector } from "../vectors/ed25519-gen.ts"

const doc = JSON.parse(readFileSync(JSON_FILE, "utf8")) as { count: number; vectors: Ed25519Vector[] }
const vectors = doc.vectors

test("every vector's expected answer is noble's strict (zip215: false) answer", () => {
    assert.equal(vectors.length, doc.count)
    for (const v of vectors) assert.equal(nobleVerify(v.pk, v.msg, v.sig), v.valid, `vector ${v.id}: ${v.comment}`)
})

test("the set is big and mixed: RFC 8032, >= 200 generated, valid and invalid, many lengths", () => {
    assert.equal(vectors.filter(v => v.group === "rfc8032").length, 5)
    assert.ok(vectors.filter(v => v.group !== "rfc8032").length >= 200)
    assert.ok(vectors.filter(v => v.valid).length >= 100)
    assert.ok(vectors.filter(v => !v.valid).length >= 100)
    const lengths = new Set(vectors.map(v => v.msg.length / 2))
    for (const len of [0, 47, 48, 64, 175, 176, 192, 300, 1023]) assert.ok(lengths.has(len), `message length ${len}`)
})

test("the cofactored equation matters: noble accepts mixed-order keys that a cofactorless check refuses", () => {
    const mixed = vectors.filter(v => v.comment.startsWith("mixed-order public key") && !v.comment.endsWith("= 0)"))
    assert.ok(mixed.length > 0)
    for (const v of mixed) assert.equal(v.valid, true)
    // and the zip215 mode really is more permissive on the non-canonical ones we mark invalid
    const nonCanonicalR = vectors.find(v => v.comment === "R = identity encoded as y = p + 1, S = k a")!
    assert.equal(ed25519.verify(Buffer.from(nonCanonicalR.sig, "hex"), Buffer.from(nonCanonicalR.msg, "hex"), Buffer.from(nonCanonicalR.pk, "hex"), { zip215: true }), true)
    assert.equal(nonCanonicalR.valid, false)
})

test("the generator is deterministic and the committed JSON is what it produces", () => {
    assert.deepEqual(generate(), vectors)
})

test("the device modules are generated from the JSON (not stale)", () => {
    assert.equal(readFileSync(COMMON_MODULE_FILE, "utf8"), renderCommonModule(), "regenerate: npx tsx test/vectors/ed25519-gen.ts --module")
    for (let part = 0; part < PARTS; part++)
        assert.equal(readFileSync(moduleFile(part), "utf8"), renderModule(vectors, part), `regenerate: npx tsx test/vectors/ed25519-gen.ts (part ${part + 1})`)
})
