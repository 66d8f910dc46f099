import { test } from "node:test"
import assert from "node:assert/strict"
import { createServer, Server } from "node:net"
import { Aedes } from "aedes"
import { parseBrokerUrl, redactBrokerUrl, brokerSettings } from "../../headend/src/broker.ts"
import { Station } from "../../headend/src/station.ts"
import { createKeystore } from "../../headend/src/keystore.ts"

test("--broker takes user:password@ and mqtts://, keeps the password out of the printable url", () => {
    assert.deepEqual(parseBrokerUrl("mqtt://meter:s3cr%40t@broker.example:1884"), {
        host: "broker.example",
        port: 1884,
        url: "mqtt://broker.example:1884",
        username: "meter",
        password: "s3cr@t",
    })
    assert.deepEqual(parseBrokerUrl("mqtts://10.0.0.2:8883"), { host: "10.0.0.2", port: 8883, url: "mqtts://10.0.0.2:8883", tls: true })
    assert.deepEqual(parseBrokerUrl("mqtt://onlyuser@h:1"), { host: "h", port: 1, url: "mqtt://h:1", username: "onlyuser" })
    for (const bad of ["mqtt://:pw@h:1", "mqtt://u:%zz@h:1", "mqtts://u:pw@h", "ws://u:pw@h:1"]) {
        assert.throws(() => parseBrokerUrl(bad), /bad broker address/, bad)
        try {
            parseBrokerUrl(bad)
        } catch (e) {
            assert.ok(!/pw|%zz/.test((e as Error).message), `the password stays out of the message: ${(e as Error).message}`)
        }
    }
    assert.equal(redactBrokerUrl("mqtt://u:secret@h:1"), "mqtt://u:***@h:1")
    // what a meter is provisioned with (src/comms/config.ts: UP_PROTO, UP_USER, UP_PASS)
    const s = brokerSettings(parseBrokerUrl("mqtts://meter:pw@h:8883"))
    assert.deepEqual(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.toString()])), { UP_PROTO: '"tls"', UP_USER: '"meter"', UP_PASS: '"pw"' })
    assert.deepEqual(brokerSettings(parseBrokerUrl("mqtt://h:1")), {})
    assert.throws(() => brokerSettings(parseBrokerUrl('mqtt://u:p%22w@h:1')), /quote/)
})

/** aedes on `port` (0 = any) that wants user "headend" / password "pw" (and accepts "meter" / "mpw"). */
async function authBroker(port = 0): Promise<{ port: number; close(): Promise<void> }> {
    const aedes = await Aedes.createBroker({
        authenticate: (_c, user, pass, done) => {
            const ok = (user === "headend" && pass?.toString() === "pw") || (user === "meter" && pass?.toString() === "mpw")
            if (ok) return done(null, true)
            const e = Object.assign(new Error("bad user name or password"), { returnCode: 4 })
            done(e as any, false)
        },
    })
    const server: Server = createServer(aedes.handle as any)
    const sockets = new Set<import("node:net").Socket>()
    server.on("connection", s => {
        sockets.add(s)
        s.on("close", () => sockets.delete(s))
    })
    await new Promise<void>((res, rej) => {
        server.once("error", rej)
        server.listen(port, "127.0.0.1", () => res())
    })
    return {
        port: (server.address() as { port: number }).port,
        close: () =>
            new Promise<void>(res => {
                for (const s of sockets) s.destroy()
                server.close(() => aedes.close(() => res()))
            }),
    }
}

test("the station logs in with the user name and password from --broker; a refusal is one line without the password", async () => {
    const b = await authBroker()
    try {
        const s = await Station.connect(`mqtt://headend:pw@127.0.0.1:${b.port}`, createKeystore(), {}, 3000)
        await s.close()
        for (const url of [`mqtt://headend:wrong@127.0.0.1:${b.port}`, `mqtt://127.0.0.1:${b.port}`]) {
            const e = await Station.connect(url, createKeystore(), {}, 3000).then(
                () => undefined,
                e => e as Error
            )
            assert.ok(e, `${url} must be refused`)
            assert.equal(e.message.split("\n").length, 1)
            assert.match(e.message, /the MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+ refused the head-end's login .*user name and password/)
            assert.ok(!e.message.includes("wrong"), e.message)
        }
    } finally {
        await b.close()
    }
})

test("broker loss and return: one event each, the return with the outage's duration", async () => {
    let b = await authBroker()
    const port = b.port
    const events: string[] = []
    let outage = -1
    const s = await Station.connect(`mqtt://headend:pw@127.0.0.1:${port}`, createKeystore(), {
        brokerLost: url => events.push(`lost ${url}`),
        brokerBack: (url, ms) => {
            events.push(`back ${url}`)
            outage = ms
        },
    })
    try {
        await b.close()
        const t0 = Date.now()
        while (!events.length && Date.now() - t0 < 5000) await new Promise(r => setTimeout(r, 50))
        assert.deepEqual(events, [`lost mqtt://127.0.0.1:${port}`])
        await new Promise(r => setTimeout(r, 2500))
        assert.equal(events.length, 1, "reconnect attempts are not each a loss")
        b = await authBroker(port)
        const t1 = Date.now()
        while (events.length < 2 && Date.now() - t1 < 8000) await new Promise(r => setTimeout(r, 50))
        assert.deepEqual(events, [`lost mqtt://127.0.0.1:${port}`, `back mqtt://127.0.0.1:${port}`])
        assert.ok(outage >= 2500 && outage < 15000, `outage ${outage} ms`)
    } finally {
        await s.close()
        await b.close()
    }
    assert.equal(events.length, 2, "closing the station is not a broker loss")
})
