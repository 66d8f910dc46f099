import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { ROOT } from "../../tools/devs.ts"
import { HEADER_SIZE, MAX_ARGS, Opcode, Role, SIGNATURE_BLOCK_SIZE, SIGNING_PREFIX, Verdict } from "../../headend/src/commands.ts"

/** The members of `const enum name` in a firmware source file, as { member: value }. */
function constEnum(file: string, name: string): Record<string, number> {
    const src = readFileSync(join(ROOT, file), "utf8")
    const m = new RegExp(`const enum ${name} \\{([^}]*)\\}`).exec(src)
    assert.ok(m, `${name} in ${file}`)
    const out: Record<string, number> = {}
    for (const line of m[1].split("\n")) {
        const e = /^\s*(\w+)\s*=\s*(\d+)/.exec(line)
        if (e) out[e[1]] = Number(e[2])
    }
    return out
}

test("the head-end and the firmware agree on opcodes, verdicts and roles", () => {
    assert.deepEqual(constEnum("src/crypto/envelope.ts", "Opcode"), { ...Opcode })
    assert.deepEqual(constEnum("src/crypto/envelope.ts", "Verdict"), { ...Verdict })
    assert.deepEqual(constEnum("src/crypto/keyring.ts", "Role"), { ...Role })
})

test("the head-end and the firmware agree on the envelope's constants", () => {
    const src = readFileSync(join(ROOT, "src/crypto/envelope.ts"), "utf8")
    assert.match(src, new RegExp(`SIGNING_PREFIX = "${SIGNING_PREFIX}"`))
    assert.match(src, new RegExp(`MAX_ARGS = ${MAX_ARGS}\\b`))
    assert.match(src, new RegExp(`HEADER_SIZE = ${HEADER_SIZE}\\b`))
    assert.match(src, new RegExp(`SIGNATURE_BLOCK_SIZE = ${SIGNATURE_BLOCK_SIZE}\\b`))
})
