/**
 * The hardware-in-the-loop runner (`npm run test:hil`, tools/hil.ts) against a simulated
 * device connected through `devs devtools`, so the board path is exercised without a board:
 * fixture suites in test/hil-fixtures pass, fail, hang and carry tags.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { ROOT } from "../../tools/devs.ts"
import { HilDevice, consoleText, runBenchesOnDevice, suiteSkipReason, transportOption } from "../../tools/hil.ts"

/** Runs `tsx test/hil.ts args` and collects its exit code and output. */
function hil(args: string[], timeoutMs = 240_000): Promise<{ code: number; output: string }> {
    return new Promise(res => {
        const child = spawn(process.execPath, ["--import", "tsx", "test/hil.ts", ...args], {
            cwd: ROOT,
            stdio: ["ignore", "pipe", "pipe"],
        })
        let output = ""
        child.stdout.on("data", d => (output += d))
        child.stderr.on("data", d => (output += d))
        // SIGINT: the runner stops its devtools and simulator before it exits
        const t = setTimeout(() => child.kill("SIGINT"), timeoutMs)
        child.on("close", code => {
            clearTimeout(t)
            res({ code: code ?? 1, output })
        })
    })
}

test("tags decide where a suite may run, and say why not", () => {
    const sim = { board: false, network: true }
    const board = { board: true, network: false }
    const hw = { timeoutMs: 60_000, needs: ["hardware"] }
    const net = { timeoutMs: 60_000, needs: ["network"] }
    assert.match(suiteSkipReason(hw, sim) ?? "", /^needs hardware: runs only on a real board/)
    assert.equal(suiteSkipReason(hw, board), undefined)
    assert.match(suiteSkipReason(net, board) ?? "", /^needs network: .*--network/)
    assert.equal(suiteSkipReason(net, sim), undefined)
    assert.match(suiteSkipReason(net, { board: false, network: false }) ?? "", /^needs network/)
    assert.equal(suiteSkipReason({ timeoutMs: 1, needs: [] }, { board: false, network: false }), undefined)
    // a suite that needs both is refused for either reason
    assert.ok(suiteSkipReason({ timeoutMs: 1, needs: ["hardware", "network"] }, board))
})

test("console lines from a board (devtools), the simulator and the tools are told apart", () => {
    assert.equal(consoleText("DEV> tests: 3, pass: 3, error: 0\r"), "tests: 3, pass: 3, error: 0")
    assert.equal(consoleText("WASM> hil: run 0123456789ab"), "hil: run 0123456789ab")
    assert.equal(consoleText("VM> BENCH_DONE"), "BENCH_DONE")
    assert.equal(consoleText("DEV> "), "")
    for (const tool of ["webclient: connected (ws1, 1 clients)", "   websocket  : ws://127.0.0.1:8081", "ZX81> tests: 1, pass: 1, error: 0"])
        assert.equal(consoleText(tool), undefined)
})

test("device options", () => {
    assert.equal(transportOption(["--serial"]), "serial")
    assert.equal(transportOption(["x", "--usb"]), "usb")
    assert.equal(transportOption(["--sim"]), "sim")
    assert.equal(transportOption(["--device=usb"]), "usb")
    assert.equal(transportOption(["--device=ble"]), undefined)
    assert.equal(transportOption(["serial", "--no-network"]), undefined)
})

test("test:hil on a simulated device: pass, fail, timeout, tags, summary and exit status", async () => {
    let r = await hil(["--sim", "--no-network", "--dir", "test/hil-fixtures"])
    // Known flake of the devtools transport (docs/hil.md): a deploy can stall for good after
    // the hanging suite is stopped, and the passing suite then aborts. One fresh run, said
    // aloud; every assertion below applies to the run that counts.
    if (/^FAIL test\/hil-fixtures\/c_pass\.test\.ts: 0 passed, 1 failed \(aborted\)/m.test(r.output)) {
        console.log("# hil: the deploy after the hang stalled; running the fixtures once more")
        r = await hil(["--sim", "--no-network", "--dir", "test/hil-fixtures"])
    }
    const o = r.output
    assert.equal(r.code, 1, o)
    assert.match(o, /devtools, simulated by this runner/)
    // the failing suite: its own counts, read from the device's summary line
    assert.match(o, /^FAIL test\/hil-fixtures\/a_fail\.test\.ts: 1 passed, 1 failed \[/m)
    assert.match(o, /toBe: Expected 2, got 1/)
    // the hanging suite: stopped after its own @timeout and counted as one failure...
    assert.match(o, /^FAIL test\/hil-fixtures\/b_hang\.test\.ts: 0 passed, 1 failed \(aborted\)/m)
    assert.match(o, /\[timed out after 4000 ms\]/)
    // ...without taking the failing suite's summary (still printing while it was replaced)
    assert.doesNotMatch(o.split("b_hang.test.ts: ")[1].split("c_pass")[0], /tests: \d+, pass/)
    // the device still answers after a hang
    assert.match(o, /^ok {3}test\/hil-fixtures\/c_pass\.test\.ts: 2 passed \[/m)
    assert.match(o, /^skip test\/hil-fixtures\/d_hardware\.test\.ts \(needs hardware: runs only on a real board/m)
    assert.match(o, /^skip test\/hil-fixtures\/e_network\.test\.ts \(needs network:/m)
    assert.match(o, /^failed: test\/hil-fixtures\/a_fail\.test\.ts, test\/hil-fixtures\/b_hang\.test\.ts$/m)
    assert.match(o, /^3 passed, 2 failed, 2 skipped$/m)
})

test("a benchmark runs on a device session and its output comes back", async () => {
    const dev = await HilDevice.open("sim")
    try {
        assert.deepEqual(dev.traits(), { board: false, network: true })
        const [b] = await runBenchesOnDevice(dev, ["test/hil-fixtures/tiny.bench.ts"], 30_000)
        assert.equal(b.error, undefined)
        assert.match(b.output, /^hil: run [0-9a-f]{12}$/m)
        assert.match(b.output, /^BENCH hil_fixture_sum 499500$/m)
        assert.match(b.output, /BENCH_DONE$/)
    } finally {
        await dev.close()
    }
})

test("test:hil with no board on the serial port fails clearly instead of passing", async () => {
    const r = await hil(["--serial", "--connect-timeout", "5000", "--dir", "test/hil-fixtures", "c_pass"], 90_000)
    assert.equal(r.code, 1, r.output)
    // either devtools cannot list serial ports here, or nothing takes the program
    assert.match(r.output, /FAIL .*(devs devtools exited|no DeviceScript device took the program within 5 s over serial)/)
    assert.match(r.output, /^0 passed, 1 failed$/m)
})
