/**
 * The headless run (`npm start -- --headless --duration 60s`): the demo's script of checks
 * and attacks, unattended, for CI. Every check ends as pass or fail in DemoState; an attack
 * with no evidence of refusal fails (silence is not a defence).
 */
import { ATTACKS } from "./attacks.ts"
import { Demo } from "./demo.ts"

/** Order of the attacks; the stored-record attack goes last, on the last meter, since it breaks that chain on purpose. */
const ORDER = ["F", "O", "U", "R", "M", "S"]

export async function runScript(demo: Demo, durationMs: number) {
    const end = Date.now() + durationMs
    const st = demo.state
    st.setCheck("fleet provisioned", "pass", `${st.meters.length} meter(s): id, secret, key ring and broker written to flash over the Jacdac bus and read back`)

    // 1. every meter boots the firmware: the VM started the program and the program printed something of its own
    const bootedOk = (out: string) => /^WASM> start: /m.test(out) && out.split(/^WASM> start: .*$/m)[1]?.split("\n").some(l => l.startsWith("WASM> ")) === true
    const bootBy = Math.min(end, Date.now() + 30_000)
    while (Date.now() < bootBy && !demo.fleet.meters.every(m => bootedOk(m.device.output()))) await sleep(250)
    const booted = demo.fleet.meters.filter(m => bootedOk(m.device.output()))
    st.setCheck("firmware booted", booted.length === demo.fleet.meters.length ? "pass" : "fail", `${booted.length}/${demo.fleet.meters.length} meters started the firmware and printed from it`)

    // 2. readings arrive (at most a third of the run)
    const readBy = Date.now() + Math.max(0, (end - Date.now()) / 3)
    while (Date.now() < readBy && !st.meters.every(m => m.records > 0)) await sleep(250)

    // 3. attacks
    const first = demo.ks.meters.find(m => m.name === st.meters[0].name)!
    const last = demo.ks.meters.find(m => m.name === st.meters[st.meters.length - 1].name)!
    let tampered: string | undefined
    const runAttack = async (key: string) => {
        const a = ATTACKS.find(x => x.key === key)!
        if (Date.now() > end - (key === "S" ? 12_000 : demo.ackWaitMs())) {
            st.setCheck(`attack: ${a.name}`, "fail", "not run: the duration ran out first (give a longer --duration)")
            return
        }
        const target = key === "S" && st.meters.length > 1 ? last : first
        st.addLog("attack", `ATTACK ${a.name} on ${key === "M" ? "every meter" : target.name}: ${a.describe}`)
        const r = await a.run(demo, target).catch(e => ({ attack: a.name, refused: undefined, detail: `could not run: ${(e as Error).message}` }))
        if (key === "S" && r.refused) tampered = target.meterId
        st.addLog(r.refused ? "accepted" : "alert", `${a.name}: ${r.refused === true ? "DEFENDED" : r.refused === false ? "GOT THROUGH" : "no evidence"} — ${r.detail}`)
        st.setCheck(`attack: ${a.name}`, r.refused === true ? "pass" : "fail", r.refused === undefined ? `no evidence of refusal: ${r.detail}` : r.detail)
    }
    // the replay needs a command the meter accepted: its time sync, sent on first contact
    const syncBy = Math.min(end - 20_000, Date.now() + demo.ackWaitMs())
    while (Date.now() < syncBy && !demo.accepted.some(a => a.meter.meterId === first.meterId)) await sleep(250)
    // the single-meter attacks go out together (the meter answers them in one report), then
    // the replay, the fleet-wide disconnect, and last the one that reboots a meter
    await Promise.all(ORDER.slice(0, 3).map(runAttack))
    for (const key of ORDER.slice(3)) await runAttack(key)

    // 4. run to the end, then the final checks
    while (Date.now() < end) await sleep(250)
    const noReadings = st.meters.filter(m => m.records === 0)
    st.setCheck("readings arrived", noReadings.length ? "fail" : "pass", noReadings.length ? `no interval record stored from ${noReadings.map(m => m.name).join(", ")}` : st.meters.map(m => `${m.name}: ${m.records}`).join(", "))
    const clean = st.meters.filter(m => m.meterId !== tampered)
    const bad = clean.filter(m => m.chain.state !== "verified")
    st.setCheck("chains verified", bad.length ? "fail" : "pass", bad.length ? bad.map(m => `${m.name}: ${m.chain.state === "broken" ? `broken at ${m.chain.at} (${m.chain.reason})` : "never verified"}`).join(", ") : clean.map(m => `${m.name} to #${m.chain.state === "verified" ? m.chain.head : "?"}`).join(", "))
    const crashed = st.meters.filter(m => m.process === "crashed")
    st.setCheck("no meter crashed", crashed.length ? "fail" : "pass", crashed.length ? crashed.map(m => m.name).join(", ") : "every simulated meter ran to the end")
}

function sleep(ms: number) {
    return new Promise(r => setTimeout(r, ms))
}
