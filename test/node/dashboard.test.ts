/**
 * The operator's dashboard in a real headless browser (Debian's Chromium, driven by
 * playwright-core) over a live fleet: 2 simulated meters running the real firmware, the
 * embedded broker and the head-end station, as `npm start` runs them, with the dashboard
 * `npm start` serves. Asserts what an operator relies on:
 * - the page loads and shows every meter;
 * - the load-profile chart holds exactly the intervals the head-end stored (read back from
 *   the page's uPlot instance, compared with the stored records decoded by the wire core);
 * - a disconnect, clicked and confirmed on the page, is signed, sent, accepted by the meter
 *   and shown within seconds, without a reload;
 * - an attack (a forged command) raises an alert that the page shows;
 * - no meter secret or signing key reaches the browser (every endpoint, the stream, the DOM);
 * - no script error or Content-Security-Policy violation on the page.
 * A screenshot is left in /tmp/trustmeter-dashboard.png.
 *
 * Starts `devs devtools`: run it alone (`flock /tmp/trustmeter-devtools.lock …`), as
 * `npm test` does. Skipped, saying so, when /usr/bin/chromium is missing (CI installs it).
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chromium, type BrowserContext, type Page } from "playwright-core"
import { Demo } from "../../sim/src/demo.ts"
import { ATTACKS } from "../../sim/src/attacks.ts"
import { DemoReadModel, demoActions } from "../../sim/src/ui/dashboard.ts"
import { startDashboard, type Dashboard } from "../../headend/src/web/server.ts"
import { decodeInterval, IntervalStatus } from "../../src/wire/interval"
import { ROLES } from "../../headend/src/keystore.ts"
import { Opcode } from "../../headend/src/commands.ts"
import { readRecords } from "../../headend/src/db/index.ts"
import { decodeRecord } from "../../headend/src/chain.ts"

const CHROMIUM = "/usr/bin/chromium"
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
const SCREENSHOT = "/tmp/trustmeter-dashboard.png"
const INTERVAL_RECORD = 0x10

/** Polls `f` every 200 ms until it returns something truthy; fails with `what` (and what `seen` says was there) after `ms`. */
async function until<T>(what: string, ms: number, f: () => T | Promise<T>, seen?: () => Promise<string>): Promise<NonNullable<T>> {
    const end = Date.now() + ms
    for (;;) {
        const v = await f()
        if (v) return v as NonNullable<T>
        if (Date.now() > end) throw new Error(`waited ${ms / 1000} s for ${what}${seen ? `; the page showed: ${await seen()}` : ""}`)
        await new Promise(r => setTimeout(r, 200))
    }
}

/** The intervals of `meterId` in the head-end's database, on the time axis: its stored records decoded here by the wire core. */
async function storedIntervals(demo: Demo, meterId: string): Promise<{ start: number; importWh: number; exportWh: number }[]> {
    return (await readRecords(demo.station.service.db, meterId))
        .map(r => decodeRecord(r.data)!)
        .filter(r => r.kind === INTERVAL_RECORD)
        .map(r => decodeInterval(Buffer.from(r.payload)))
        .filter(iv => (iv.status & IntervalStatus.TimeUnknown) === 0)
        .sort((a, b) => a.start - b.start)
        .map(iv => ({ start: iv.start, importWh: iv.importMWh / 1000, exportWh: iv.exportMWh / 1000 }))
}

/** The load-profile chart's data as uPlot holds it on the page: [x, import Wh, −export Wh]. */
async function chartData(page: Page): Promise<number[][] | undefined> {
    return page.evaluate(() => (window as unknown as { trustmeter?: { charts: { profile?: { data: number[][] } } } }).trustmeter?.charts.profile?.data)
}

/** The text of meter `name`'s row, cell by cell. */
async function row(page: Page, name: string): Promise<string[]> {
    return page.$$eval("#meters tbody tr", (rows, n) => ((rows as HTMLTableRowElement[]).find(r => r.cells[0].textContent === n)?.cells ? [...(rows as HTMLTableRowElement[]).find(r => r.cells[0].textContent === n)!.cells].map(c => c.textContent ?? "") : []), name)
}

/** Everything the server hands out, as text: the page, its files, every JSON endpoint and the first stream events. */
async function everythingServed(web: Dashboard, meterIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    for (const p of ["", "dashboard.js", "dashboard.css", "uplot/uPlot.iife.min.js", "uplot/uPlot.min.css", "api/fleet", "api/actions", ...meterIds.map(id => `api/meters/${id}`)]) {
        const r = await fetch(web.url + p)
        assert.equal(r.status, 200, p)
        out.set("/" + p, await r.text())
    }
    out.set("/api/events", await new Promise<string>((resolve, reject) => {
        let text = ""
        const req = request(web.url + "api/events", res => {
            res.on("data", d => {
                text += d
                if (text.includes("event: fleet")) {
                    req.destroy()
                    resolve(text)
                }
            })
        })
        req.on("error", e => (text.includes("event: fleet") ? resolve(text) : reject(e)))
        req.end()
    }))
    return out
}

test("dashboard in headless Chromium over a live fleet: every meter, the stored intervals charted, a disconnect and an attack's alert shown live, no secret on the page", { timeout: 300_000 }, async t => {
    if (!existsSync(CHROMIUM)) {
        t.skip(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does) to run the dashboard in a real browser`)
        return
    }
    const t0 = Date.now()
    const dir = mkdtempSync(join(tmpdir(), "tm-dashboard-"))
    let demo: Demo | undefined
    let web: Dashboard | undefined
    let browser: BrowserContext | undefined
    let shown: Page | undefined
    try {
        demo = await Demo.start({ meters: 2, intervalS: 5, keystorePath: join(dir, "keystore.json"), dir: join(dir, "meters") })
        const d = demo
        web = await startDashboard({ port: 0 })
        web.attach(new DemoReadModel(d, () => "trustmeter · 2 meter(s) · dashboard test"), demoActions(d))
        const [m1, m2] = d.ks.meters
        const booted = Date.now()

        browser = await chromium.launchPersistentContext(mkdtempSync(join(dir, "chromium-")), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1400, height: 1000 } })
        const page = (shown = browser.pages()[0] ?? (await browser.newPage()))
        const problems: string[] = []
        page.on("pageerror", e => problems.push(`page error: ${e.message}`))
        page.on("console", m => {
            if (m.type() === "error" || /Content Security Policy/i.test(m.text())) problems.push(`console ${m.type()}: ${m.text()}`)
        })
        await page.goto(web.url)

        // every meter, by name and id
        await page.waitForFunction(n => document.querySelectorAll("#meters tbody tr").length === n, d.ks.meters.length)
        for (const m of d.ks.meters) {
            const cells = await row(page, m.name)
            assert.equal(cells[1], m.meterId, `${m.name}'s row shows its id`)
        }

        // the chart holds exactly what the head-end stored: wait for a few intervals on the time axis, then read the page's uPlot data
        await until("3 intervals of meter-1 after its time sync", 90_000, async () => (await storedIntervals(d, m1.meterId)).length >= 3)
        const drawn = await until("the chart to draw meter-1's stored intervals", 15_000, async () => {
            const data = await chartData(page)
            const stored = await storedIntervals(d, m1.meterId)
            return data && data[0].length >= 3 && data[0].length <= stored.length ? { data, stored } : undefined
        })
        const n = drawn.data[0].length
        const expect = drawn.stored.slice(0, n)
        assert.deepEqual(drawn.data[0], expect.map(iv => iv.start), "interval starts on the x axis")
        assert.deepEqual(drawn.data[1], expect.map(iv => iv.importWh), "import Wh per interval")
        assert.deepEqual(drawn.data[2], expect.map(iv => (iv.exportWh ? -iv.exportWh : 0)), "export Wh per interval, below zero")
        const bars = await page.$eval("#chart-profile canvas", c => {
            const cv = c as HTMLCanvasElement
            const px = cv.getContext("2d")!.getImageData(0, 0, cv.width, cv.height).data
            let blue = 0
            for (let i = 0; i < px.length; i += 4) if (px[i + 2] > 150 && px[i] < 150 && px[i + 3] > 0) blue++
            return blue
        })
        assert.ok(bars > 200, `the import bars are painted on the canvas (${bars} bar pixels)`)
        // labels name the load profile, its channels and the registers by OBIS code (docs/obis.md)
        assert.match((await page.textContent("figure:has(#chart-profile) figcaption")) ?? "", /^Load profile 1\.0\.99\.1\.0:/)
        const series = await page.evaluate(() => (window as unknown as { trustmeter: { charts: { profile: { series: { label: string }[] } } } }).trustmeter.charts.profile.series.map(x => x.label))
        assert.deepEqual(series.slice(1), ["1.0.1.29.0 import Wh", "1.0.2.29.0 export Wh"])
        assert.match((await page.textContent("figure:has(#chart-registers) figcaption")) ?? "", /^Registers 1\.0\.1\.8\.0, 1\.0\.2\.8\.0 over time/)

        // a disconnect from the page: click, confirm, and the relay column says so within seconds
        await page.click(`#meters tbody tr:has(td:text-is("${m1.name}"))`)
        await page.click('#meter-actions button[data-action="disconnect"]')
        await page.waitForSelector("#confirm[open]")
        assert.match(await page.textContent("#confirm-title") ?? "", new RegExp(`Disconnect: ${m1.name} \\(${m1.meterId}\\)`))
        assert.match(await page.textContent("#confirm-text") ?? "", /supplier key/)
        const clicked = Date.now()
        await page.click("#confirm-ok")
        const relay = await until("the page to show meter-1 disconnecting", 20_000, async () => {
            const r = (await row(page, m1.name))[2]
            return /^disconnecting in \d+s$|^disconnected$/.test(r) ? r : undefined
        })
        const disconnectS = (Date.now() - clicked) / 1000
        assert.ok(d.accepted.some(a => a.meter.meterId === m1.meterId && a.opcode === Opcode.Disconnect), "the meter accepted the disconnect the page sent")
        await until("the command log to show the disconnect and its answer", 5_000, async () => /→ Disconnect signed by key \d+, counter \d+[\s\S]*← accepted Disconnect, relay opens in \d+ s/.test((await page.textContent("#commands")) ?? ""), async () => (await page.textContent("#commands")) ?? "")

        // an attack: a forged disconnect for meter-2; its refusal is an alert on the page
        const forged = await ATTACKS.find(a => a.key === "F")!.run(d, m2)
        assert.equal(forged.refused, true, forged.detail)
        // the refusal, or the meter's own alert for it when both ride in one report
        const alertCell = await until(
            "meter-2's alert in the fleet table",
            20_000,
            async () => {
                const c = (await row(page, m2.name))[8]
                return /BadSignature|command rejected/.test(c) ? c : undefined
            },
            async () => (await row(page, m2.name)).join(" | ")
        )
        await page.click(`#meters tbody tr:has(td:text-is("${m2.name}"))`)
        await until("meter-2's command log to show the refusal", 10_000, async () => /← REFUSED Disconnect: BadSignature/.test((await page.textContent("#commands")) ?? ""), async () => (await page.textContent("#commands")) ?? "")
        await until("meter-2's alerts to show the meter's own alert", 20_000, async () => /the meter reports: command rejected ×\d+/.test((await page.textContent("#alerts")) ?? ""), async () => (await page.textContent("#alerts")) ?? "")
        await page.click(`#meters tbody tr:has(td:text-is("${m1.name}"))`)
        await until("meter-1 selected again", 5_000, async () => ((await page.textContent("#detail-name")) ?? "").startsWith(m1.name))
        await until("meter-1's registers by OBIS code", 20_000, async () => /^1\.0\.1\.8\.0 import [\d.]+ kWh \(rates [\d.]+ \/ [\d.]+ \/ [\d.]+ \/ [\d.]+\), 1\.0\.2\.8\.0 export [\d.]+ kWh/.test((await page.textContent("#detail-registers")) ?? ""), async () => (await page.textContent("#detail-registers")) ?? "")
        await page.waitForTimeout(300)
        await page.screenshot({ path: SCREENSHOT, fullPage: true })

        // no secret reaches the browser: the keystore's meter secrets and signing key seeds, in any spelling
        const secrets = [...d.ks.meters.map(m => [m.name + " secret", m.secret] as const), ...ROLES.map(r => [r + " signing key", d.ks.roles[r].secretKey] as const)]
        const served = await everythingServed(web, d.ks.meters.map(m => m.meterId))
        served.set("the page's DOM", await page.content())
        for (const [where, text] of served)
            for (const [what, hex] of secrets)
                for (const form of [hex, hex.toUpperCase(), Buffer.from(hex, "hex").toString("base64"), Buffer.from(hex, "hex").toString("base64url")])
                    assert.ok(!text.includes(form), `${what} appears in ${where}`)
        assert.deepEqual(problems, [], "no script error or CSP violation on the page")
        t.diagnostic(`fleet up in ${((booted - t0) / 1000).toFixed(1)} s; ${n} intervals charted; disconnect shown ("${relay}") ${disconnectS.toFixed(1)} s after the click; alert "${alertCell}"; whole test ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshot ${SCREENSHOT}`)
    } catch (e) {
        // what the page looked like when it failed
        await shown?.screenshot({ path: SCREENSHOT, fullPage: true }).catch(() => {})
        throw e
    } finally {
        await browser?.close().catch(() => {})
        await web?.close().catch(() => {})
        await demo?.stop().catch(() => {})
        rmSync(dir, { recursive: true, force: true })
    }
})
