import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { ROOT } from "../../tools/devs.ts"
import {
    allOpcodes,
    ARGS_VARIABLE,
    defaultOpcodes,
    isKnownOpcode,
    isRootOnlyOpcode,
    isSupplierIssued,
    MAX_OPCODE,
    maskHas,
    maskOf,
    Opcode,
    opcodeArgsSize,
    opcodeName,
    Role,
    roleName,
    Verdict,
    verdictName,
} from "../../src/wire/opcodes"
import { mayKeySign } from "../../src/wire/keys"
import { ROLE_CODE } from "../../headend/src/provision.ts"

// The firmware and the head-end compile the same opcode table (src/wire/opcodes.ts), so
// they cannot disagree; what can still drift is the documentation. These tests hold the
// table to docs/commands.md and pin the rules the meter's security depends on.

const DOC = readFileSync(join(ROOT, "docs/commands.md"), "utf8")
const section = (n: number) => DOC.slice(DOC.indexOf(`\n## ${n}.`), DOC.indexOf(`\n## ${n + 1}.`))

test("docs/commands.md §3 and §2 name every opcode of the table, with its number", () => {
    const documented = new Map<number, string>()
    for (const m of (section(3) + section(2)).matchAll(/^\| (\d+) \|? ?`(\w+)` \|/gm)) documented.set(Number(m[1]), m[2])
    assert.deepEqual([...documented.keys()].sort((a, b) => a - b), allOpcodes())
    for (const [op, name] of documented) assert.equal(opcodeName(op), name, `opcode ${op}`)
})

test("docs/commands.md §4 lists every verdict with its code, and verdicts are contiguous from 0", () => {
    const documented = new Map<number, string>()
    for (const m of section(4).matchAll(/`(\w+)` (\d+)/g)) documented.set(Number(m[2]), m[1])
    assert.equal(documented.size, Verdict.CounterOutOfReach + 1)
    for (let v = 0; v <= Verdict.CounterOutOfReach; v++) assert.equal(verdictName(v), documented.get(v), `verdict ${v}`)
    assert.equal(verdictName(Verdict.CounterOutOfReach + 1), "verdict 20")
    assert.equal(verdictName(-1), "verdict -1")
})

test("roles: codes as in docs/commands.md §2 and the head-end keystore's names", () => {
    for (const m of section(2).matchAll(/^\| (root|supplier|network operator)[^|]*\| (\d) \|/gm)) {
        const code = Number(m[2])
        assert.equal(roleName(code).replace("networkOperator", "network operator"), m[1])
    }
    assert.deepEqual(ROLE_CODE, { root: Role.Root, supplier: Role.Supplier, networkOperator: Role.NetworkOperator })
    assert.equal(roleName(9), "role 9")
})

test("root-only opcodes: key changes, disconnect policy, random limit — and no default mask of another role has one", () => {
    const rootOnly = allOpcodes().filter(isRootOnlyOpcode)
    assert.deepEqual(rootOnly, [Opcode.SetRandomLimit, Opcode.SetDisconnectPolicy, Opcode.KeyAdd, Opcode.KeyRemove, Opcode.KeyReplace, Opcode.RootRotate])
    for (const role of [Role.Supplier, Role.NetworkOperator]) for (const op of defaultOpcodes(role)) assert.ok(!isRootOnlyOpcode(op), `${roleName(role)} ${opcodeName(op)}`)
    assert.deepEqual(defaultOpcodes(Role.Root), allOpcodes())
    assert.deepEqual(defaultOpcodes(Role.Supplier), [Opcode.Disconnect, Opcode.ReconnectArm, Opcode.SetTariff, Opcode.SetPrivacy])
    assert.deepEqual(defaultOpcodes(Role.NetworkOperator), [Opcode.Disconnect, Opcode.TimeSync, Opcode.UplinkEpoch, Opcode.FirmwareManifest])
    assert.ok(!isRootOnlyOpcode(0) && !isRootOnlyOpcode(31))
})

test("a disconnect is issued by a supplier or the root; a network operator's bit lets it co-sign only (GBCS)", () => {
    assert.deepEqual(allOpcodes().filter(isSupplierIssued), [Opcode.Disconnect])
    const key = (role: number) => ({ id: role, role, mask: maskOf(allOpcodes().filter(op => !isRootOnlyOpcode(op))), publicKey: Buffer.alloc(32) })
    assert.equal(mayKeySign(key(Role.NetworkOperator), Opcode.Disconnect), false)
    assert.equal(mayKeySign(key(Role.NetworkOperator), Opcode.Disconnect, true), true)
    assert.equal(mayKeySign(key(Role.Supplier), Opcode.Disconnect), true)
    assert.equal(mayKeySign({ ...key(Role.Root), mask: maskOf(allOpcodes()) }, Opcode.Disconnect), true)
    assert.equal(mayKeySign(key(Role.NetworkOperator), Opcode.TimeSync), true)
    // the mask still decides: without the bit, not even as a co-signer
    assert.equal(mayKeySign({ ...key(Role.NetworkOperator), mask: maskOf([Opcode.TimeSync]) }, Opcode.Disconnect, true), false)
    // the docs say so where the roles are listed
    assert.match(section(2), /network operator \| 3 \| [^|]*disconnect \(co-signature only\)/)
})

test("opcodes fit a positive 31-bit mask; unknown opcodes are unknown", () => {
    for (const op of allOpcodes()) {
        assert.ok(op >= 1 && op <= MAX_OPCODE)
        assert.ok(maskHas(maskOf([op]), op))
    }
    const all = maskOf(allOpcodes())
    assert.ok(all > 0 && all < 2 ** 31 && (all & 1) === 0)
    for (const op of [0, 10, 15, 20, 30, 31, 255]) {
        assert.equal(isKnownOpcode(op), false, `opcode ${op}`)
        assert.equal(opcodeName(op), `opcode ${op}`)
    }
    assert.equal(maskHas(all, 0), false)
    assert.equal(maskHas(all, 31), false)
})

test("argument sizes in the table match docs/commands.md §3", () => {
    const size = opcodeArgsSize
    assert.equal(size(Opcode.Disconnect), 0)
    assert.equal(size(Opcode.ReconnectArm), 0)
    assert.equal(size(Opcode.SetRandomLimit), 2) // u16
    assert.equal(size(Opcode.SetPrivacy), 1) // u8
    assert.equal(size(Opcode.TimeSync), 4) // u32
    assert.equal(size(Opcode.UplinkEpoch), 4) // u32
    assert.equal(size(Opcode.SetDisconnectPolicy), 2) // u8 ‖ u8
    // decoded by their actions, which answer with their own verdicts (FirmwareRejected, KeyChangeRefused)
    for (const op of [Opcode.SetTariff, Opcode.FirmwareManifest, Opcode.KeyAdd, Opcode.KeyRemove, Opcode.KeyReplace, Opcode.RootRotate])
        assert.equal(size(op), ARGS_VARIABLE)
})
