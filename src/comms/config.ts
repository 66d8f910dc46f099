import * as ds from "@devicescript/core"
import { settings } from "@devicescript/settings"
import { BrokerConfig } from "./mqtt_link"

/**
 * The uplink's settings (docs/uplink.md §6): METER_ID (16 hex), METER_SECRET (64 hex),
 * UP_HOST, UP_PORT, UP_PROTO ("tcp"/"tls"), optional UP_USER, UP_PASS, UP_KEEPALIVE.
 * Values are read raw: `readSetting` JSON-parses, and a meter id such as
 * "7e57000000000001" parses as the number 7e57… (Infinity).
 */
export interface UplinkConfig {
    meterId: Buffer
    meterIdHex: string
    secret: Buffer
    broker: BrokerConfig
}

/** Reads one setting as a string (JSON strings written by writeSetting are unquoted). */
export async function readRawSetting(key: string): Promise<string> {
    const pkt = await ds.actionReport(
        settings,
        "get",
        async () => await settings.get(key),
        p => p.decode()[0] === key
    )
    const b: Buffer = pkt.decode()[1]
    if (!b || !b.length) return undefined
    let s = b.toString()
    if (s.length >= 2 && s[0] === '"' && s[s.length - 1] === '"') s = s.slice(1, s.length - 1)
    return s
}

function hexBytes(s: string, n: number, what: string): Buffer {
    if (!s || s.length !== n * 2) throw new RangeError(`uplink: ${what} must be ${n * 2} hex characters`)
    const b = Buffer.from(s, "hex")
    if (b.length !== n) throw new RangeError(`uplink: ${what} is not hex`)
    return b
}

/** Reads and checks the uplink settings; throws naming the missing or malformed one. */
export async function readUplinkConfig(): Promise<UplinkConfig> {
    const idHex = (await readRawSetting("METER_ID")) || ""
    const meterId = hexBytes(idHex, 8, "METER_ID")
    const secret = hexBytes(await readRawSetting("METER_SECRET"), 32, "METER_SECRET")
    const host = await readRawSetting("UP_HOST")
    if (!host) throw new RangeError("uplink: UP_HOST missing")
    const proto = (await readRawSetting("UP_PROTO")) || "tcp"
    const portS = await readRawSetting("UP_PORT")
    const port = portS ? parseInt(portS) : proto === "tls" ? 8883 : 1883
    const ka = await readRawSetting("UP_KEEPALIVE")
    return {
        meterId: meterId,
        meterIdHex: meterId.toString("hex"),
        secret: secret,
        broker: {
            host: host,
            port: port,
            proto: proto,
            username: await readRawSetting("UP_USER"),
            password: await readRawSetting("UP_PASS"),
            keepAliveS: ka ? parseInt(ka) : 255,
        },
    }
}
