import { describe, test, expect } from "@devicescript/test"
import { RamStorage } from "../../src/storage/twins"
import { readUplinkConfig } from "../../src/comms/config"

// The uplink's settings (docs/uplink.md §6, §9): a keep-alive the MQTT CONNECT cannot carry
// (two bytes, MQTT 3.1.1 §3.1.2.10) is refused with one line naming the setting, instead of
// a negative period (a reconnect loop) or a value that wraps modulo 65536.

async function settings(keepAlive?: string) {
    const s = new RamStorage()
    await s.set("METER_ID", Buffer.from('"7e57000000000001"'))
    await s.set("METER_SECRET", Buffer.from('"abababababababababababababababababababababababababababababababab"'))
    await s.set("UP_HOST", Buffer.from('"127.0.0.1"'))
    if (keepAlive !== undefined) await s.set("UP_KEEPALIVE", Buffer.from('"' + keepAlive + '"'))
    return s
}

async function refusal(keepAlive: string): Promise<string> {
    try {
        await readUplinkConfig(await settings(keepAlive))
    } catch (e) {
        return (e as Error).message
    }
    return "accepted"
}

describe("uplink settings: UP_KEEPALIVE", () => {
    test("absent: 255 s; 1 and 65535 are taken as they are", async () => {
        expect((await readUplinkConfig(await settings())).broker.keepAliveS).toBe(255)
        expect((await readUplinkConfig(await settings("900"))).broker.keepAliveS).toBe(900)
        expect((await readUplinkConfig(await settings("1"))).broker.keepAliveS).toBe(1)
        expect((await readUplinkConfig(await settings("65535"))).broker.keepAliveS).toBe(65535)
    })
    test("negative, zero, beyond two bytes or not a number: one line naming the setting", async () => {
        const bad = ["-5", "0", "65536", "100000", "abc"]
        for (const v of bad) expect(await refusal(v)).toBe("uplink: UP_KEEPALIVE must be 1..65535 seconds")
    })
})
