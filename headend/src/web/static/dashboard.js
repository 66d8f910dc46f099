// The operator's dashboard in the browser: plain script, no build step. Reads the
// head-end's JSON (/api/fleet, /api/meters/<id>), follows its live stream (/api/events)
// and posts operator actions after a confirmation. Every value from the server is put
// on the page as text (textContent), never as markup.
"use strict"
;(() => {
    const $ = id => document.getElementById(id)
    const state = { fleet: undefined, selected: location.hash.slice(1) || undefined, detail: undefined, actions: [], busy: false, again: false, obis: undefined }
    const charts = { profile: undefined, registers: undefined }
    /** the longest interval charted, seconds: the profile's x axis reaches that far past the last start */
    let profileSpan = 1800
    // the test reads the charts' data back from here
    window.trustmeter = { state, charts }

    const utc = ts => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC")
    const fmtHM = uPlot.fmtDate("{HH}:{mm}")
    const fmtDay = uPlot.fmtDate("{YYYY}-{MM}-{DD}")
    /** time axis labels in 24-hour UTC, with the date under the first label of each day */
    const timeAxis = { values: (u, splits) => splits.map((s, i) => (i === 0 || utc(splits[i - 1]).getDate() !== utc(s).getDate() ? `${fmtHM(utc(s))}\n${fmtDay(utc(s))}` : fmtHM(utc(s)))) }
    const timeLegend = (u, v) => (v == null ? "--" : `${fmtDay(utc(v))} ${fmtHM(utc(v))}`)
    const hms = ms => new Date(ms).toISOString().slice(11, 19)
    const meterTime = s => new Date(s * 1000).toISOString().slice(5, 16).replace("T", " ")
    const wh = mwh => (mwh / 1000).toFixed(1)
    const kwh = mwh => (mwh / 1e6).toFixed(3)

    /**
     * A value's OBIS code (GET /api/obis, headend/src/obis.ts) before its label, e.g.
     * "1.0.1.8.0 import"; the label alone until the codes arrived.
     */
    const ob = (key, label) => {
        const c = state.obis?.codes?.[key]
        return c ? `${Array.isArray(c) ? c.join(", ") : c} ${label}` : label
    }

    function el(tag, text, cls) {
        const e = document.createElement(tag)
        if (text !== undefined) e.textContent = text
        if (cls) e.className = cls
        return e
    }

    function chainText(c) {
        if (c.state === "verified") return `verified to #${c.head}`
        if (c.state === "broken") return `BROKEN at #${c.at} (${c.reason})`
        return "not yet seen"
    }

    function relayClass(r) {
        if (r === "connected") return "ok"
        if (r === "disconnected") return "bad"
        if (/^disconnecting/.test(r)) return "warn"
        if (r === "armed") return "info"
        return "muted"
    }

    function readingText(iv) {
        if (!iv) return "–"
        const when = iv.timeKnown ? meterTime(iv.start) : `t+${iv.start}s`
        return `#${iv.seq} ${when} (${iv.lengthMin} min) +${wh(iv.importMWh)} Wh${iv.exportMWh ? ` −${wh(iv.exportMWh)} Wh` : ""}`
    }

    async function getJSON(path) {
        const r = await fetch(path, { cache: "no-store" })
        if (!r.ok) throw new Error(`${path}: ${r.status} ${(await r.json().catch(() => ({}))).error ?? ""}`)
        return r.json()
    }

    function setStatus(text, cls) {
        const s = $("status")
        s.textContent = text
        s.className = cls ?? "muted"
    }

    // ---- the fleet table -------------------------------------------------------------

    function renderFleet(f) {
        state.fleet = f
        $("title").textContent = f.title
        $("clock").textContent = f.meterTime ? `meter time ${meterTime(f.meterTime)} UTC` : ""
        if (!state.selected || !f.meters.some(m => m.meterId === state.selected)) state.selected = f.meters[0]?.meterId
        const body = $("meters").tBodies[0]
        body.replaceChildren(
            ...f.meters.map(m => {
                const tr = el("tr")
                tr.dataset.meter = m.meterId
                if (m.meterId === state.selected) tr.className = "selected"
                const relay = m.process && m.process !== "running" ? m.process : m.relay
                tr.append(
                    el("td", m.name, "name"),
                    el("td", m.meterId, "mono"),
                    el("td", relay, `relay ${relayClass(relay)}`),
                    el("td", chainText(m.chain), `chain ${m.chain.state === "verified" ? "ok" : m.chain.state === "broken" ? "bad" : "muted"}`),
                    el("td", String(m.frames), "num"),
                    el("td", String(m.records), "num"),
                    el("td", String(m.refused), m.refused ? "num warn" : "num"),
                    el("td", readingText(m.lastReading), "reading"),
                    el("td", m.lastAlert ?? "–", m.lastAlert ? "alert bad" : "alert muted")
                )
                tr.addEventListener("click", () => select(m.meterId))
                return tr
            })
        )
        const log = $("log")
        log.replaceChildren(...f.log.slice(-40).map(logItem))
        log.scrollTop = log.scrollHeight
    }

    function logItem(l) {
        const li = el("li", undefined, `kind-${l.kind}`)
        li.append(el("time", hms(l.at)), document.createTextNode(" " + l.text))
        return li
    }

    function select(meterId) {
        state.selected = meterId
        history.replaceState(null, "", `#${meterId}`)
        for (const tr of $("meters").tBodies[0].rows) tr.className = tr.dataset.meter === meterId ? "selected" : ""
        refreshDetail()
    }

    // ---- the selected meter ----------------------------------------------------------

    /** At most one request in flight; a change meanwhile asks again once it is back. */
    async function refreshDetail() {
        if (!state.selected) return
        if (state.busy) return void (state.again = true)
        state.busy = true
        try {
            const d = await getJSON(`/api/meters/${state.selected}`)
            if (d.meterId === state.selected) renderDetail(d)
        } catch (e) {
            setStatus(String(e.message), "bad")
        } finally {
            state.busy = false
            if (state.again) {
                state.again = false
                refreshDetail()
            }
        }
    }

    function renderDetail(d) {
        state.detail = d
        $("detail").hidden = false
        $("detail-name").textContent = `${d.name} · ${d.meterId}`
        const chain = $("detail-chain")
        chain.textContent = `${chainText(d.chain)} · ${d.records} records stored · ${d.frames} frames · ${d.refused} refused`
        chain.className = d.chain.state === "verified" ? "ok" : d.chain.state === "broken" ? "bad" : "muted"
        const relay = $("detail-relay")
        relay.textContent = d.relay
        relay.className = relayClass(d.relay)
        const r = d.lastRegisters
        $("detail-registers").textContent = r
            ? `${ob("importTotal", "import")} ${kwh(r.importMWh)} kWh (rates ${r.touImportMWh.map(kwh).join(" / ")}), ${ob("exportTotal", "export")} ${kwh(r.exportMWh)} kWh (block of ${meterTime(r.at)})`
            : "no register block yet"
        $("detail-privacy").textContent = d.privacy ?? "half-hourly (as provisioned)"
        drawProfile(d)
        drawRegisters(d)
        const cmds = $("commands")
        cmds.replaceChildren(...d.commands.slice(-60).map(logItem))
        cmds.scrollTop = cmds.scrollHeight
        const alerts = $("alerts")
        alerts.replaceChildren(...(d.alertLog.length ? d.alertLog.slice(-60).map(logItem) : [el("li", "no alerts", "muted")]))
        alerts.scrollTop = alerts.scrollHeight
        renderActions()
    }

    /** The load profile: one bar per interval at its start, import up, export down. */
    function profileData(d) {
        const ivs = d.intervals.filter(i => i.timeKnown).sort((a, b) => a.start - b.start || a.seq - b.seq)
        return [ivs.map(i => i.start), ivs.map(i => i.importMWh / 1000), ivs.map(i => (i.exportMWh ? -i.exportMWh / 1000 : 0))]
    }

    function drawProfile(d) {
        const data = profileData(d)
        const early = d.intervals.length - data[0].length
        $("profile-note").textContent = `${data[0].length} interval(s) charted${early ? `; ${early} measured before the meter's first time sync (no UTC yet) not charted` : ""}`
        // each bar spans its interval from its start: the axis ends where the last interval ends
        const ivs = d.intervals.filter(i => i.timeKnown)
        profileSpan = Math.max(60, ...ivs.map(i => i.lengthMin * 60))
        charts.profile = draw(charts.profile, "chart-profile", data, () => ({
            series: [
                { label: "interval start", value: timeLegend },
                { label: ob("intervalImport", "import Wh"), stroke: "#1f6feb", fill: "rgba(31,111,235,0.55)", paths: uPlot.paths.bars({ size: [0.92, Infinity], align: 1 }), points: { show: false } },
                { label: ob("intervalExport", "export Wh"), stroke: "#2da44e", fill: "rgba(45,164,78,0.55)", paths: uPlot.paths.bars({ size: [0.92, Infinity], align: 1 }), points: { show: false } },
            ],
            scales: { x: { time: true, range: (u, min, max) => (min == null ? [0, 1] : [min, max + profileSpan]) } },
            axes: [timeAxis, { label: "Wh", size: 60 }],
        }))
    }

    /**
     * Registers: the blocks as reported (points), and the import register carried forward
     * from the newest block by every interval closed after it (a line). A block that does
     * not land on the line means energy the profile did not account for.
     */
    function registersData(d) {
        const blocks = [...d.registers].sort((a, b) => a.at - b.at)
        const points = new Map()
        const at = x => {
            if (!points.has(x)) points.set(x, [null, null, null])
            return points.get(x)
        }
        for (const b of blocks) {
            const p = at(b.at)
            p[0] = b.importMWh / 1e6
            p[1] = b.exportMWh / 1e6
        }
        const ivs = d.intervals.filter(i => i.timeKnown).sort((a, b) => a.start - b.start)
        let k = -1
        let carried = 0
        for (const iv of ivs) {
            const end = iv.start + iv.lengthMin * 60
            while (k + 1 < blocks.length && blocks[k + 1].at < end) {
                k++
                carried = blocks[k].importMWh
                at(blocks[k].at)[2] = carried / 1e6
            }
            if (k < 0 || end <= blocks[k].at) continue
            carried += iv.importMWh
            at(end)[2] = carried / 1e6
        }
        for (k++; k < blocks.length; k++) at(blocks[k].at)[2] = blocks[k].importMWh / 1e6
        const xs = [...points.keys()].sort((a, b) => a - b)
        return [xs, xs.map(x => points.get(x)[0]), xs.map(x => points.get(x)[1]), xs.map(x => points.get(x)[2])]
    }

    function drawRegisters(d) {
        const data = registersData(d)
        $("registers-note").textContent = d.registers.length ? `${d.registers.length} register block(s): the meter sends one after boot, then daily` : "no register block yet: the meter sends one after boot, then daily"
        charts.registers = draw(charts.registers, "chart-registers", data, () => ({
            series: [
                { label: "time", value: timeLegend },
                { label: ob("importTotal", "import (reported)"), stroke: "#1f6feb", width: 0, paths: () => null, points: { show: true, size: 9, fill: "#1f6feb" } },
                { label: ob("exportTotal", "export (reported)"), stroke: "#2da44e", width: 0, paths: () => null, points: { show: true, size: 9, fill: "#2da44e" } },
                { label: ob("importTotal", "import, carried forward"), stroke: "#8250df", width: 2, spanGaps: true, points: { show: false } },
            ],
            axes: [timeAxis, { label: "kWh", size: 70 }],
        }))
    }

    function draw(chart, id, data, opts) {
        const box = $(id)
        if (chart) {
            chart.setData(data)
            return chart
        }
        const o = opts()
        return new uPlot({ width: Math.max(300, box.clientWidth), height: 240, tzDate: utc, scales: { x: { time: true } }, legend: { live: true }, cursor: { drag: { x: true, y: false } }, ...o }, data, box)
    }

    new ResizeObserver(() => {
        for (const [id, c] of [["chart-profile", charts.profile], ["chart-registers", charts.registers]]) if (c) c.setSize({ width: Math.max(300, $(id).clientWidth), height: 240 })
    }).observe(document.body)

    // ---- operator actions ------------------------------------------------------------

    function renderActions() {
        const mk = a => {
            const b = el("button", a.label, a.scope === "fleet" ? "fleet-action" : "")
            b.type = "button"
            b.dataset.action = a.name
            b.title = `${a.describe} (signed by the ${a.signedBy} key)`
            b.addEventListener("click", () => confirmAction(a))
            return b
        }
        $("meter-actions").replaceChildren(...state.actions.filter(a => a.scope === "meter").map(mk))
        $("fleet-actions").replaceChildren(...state.actions.filter(a => a.scope === "fleet").map(mk))
    }

    function confirmAction(a) {
        const m = state.fleet?.meters.find(x => x.meterId === state.selected)
        if (a.scope === "meter" && !m) return
        const dlg = $("confirm")
        $("confirm-title").textContent = a.scope === "fleet" ? `${a.label}: every meter` : `${a.label}: ${m.name} (${m.meterId})`
        $("confirm-text").textContent = `${a.describe}. The head-end signs it with the ${a.signedBy} key.`
        const choice = $("confirm-choice")
        $("confirm-choice-label").hidden = !a.choices
        choice.replaceChildren(...(a.choices ?? []).map(c => el("option", c)))
        const ok = $("confirm-ok")
        const cancel = $("confirm-cancel")
        const done = () => {
            ok.onclick = cancel.onclick = null
            dlg.close()
        }
        cancel.onclick = done
        ok.onclick = () => {
            done()
            send(a, a.choices ? [choice.value] : [])
        }
        dlg.showModal()
    }

    async function send(a, args) {
        setStatus(`${a.label}: signing and sending…`)
        try {
            const r = await fetch("/api/actions", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ meterId: state.selected, action: a.name, args }) })
            const body = await r.json().catch(() => ({}))
            setStatus(`${a.label}: ${body.message ?? body.error ?? r.status}`, r.ok ? "ok" : "bad")
        } catch (e) {
            setStatus(`${a.label}: ${e.message}`, "bad")
        }
    }

    // ---- live updates ----------------------------------------------------------------

    function connect() {
        const live = $("live")
        const es = new EventSource("/api/events")
        es.onopen = () => {
            live.textContent = "live"
            live.className = "badge on"
        }
        es.onerror = () => {
            // EventSource reconnects by itself (the server asks for 1 s)
            live.textContent = "reconnecting"
            live.className = "badge off"
        }
        es.addEventListener("fleet", ev => {
            renderFleet(JSON.parse(ev.data))
            refreshDetail()
        })
    }

    async function start() {
        try {
            state.actions = await getJSON("/api/actions")
            state.obis = await getJSON("/api/obis").catch(() => undefined)
            if (state.obis) {
                $("profile-obis").textContent = ` ${state.obis.codes.loadProfile}`
                $("registers-obis").textContent = ` ${state.obis.codes.importTotal}, ${state.obis.codes.exportTotal}`
            }
            renderFleet(await getJSON("/api/fleet"))
            refreshDetail()
        } catch (e) {
            setStatus(String(e.message), "muted")
        }
        connect()
    }
    start()
})()
