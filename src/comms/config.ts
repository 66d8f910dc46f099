import { Storage } from "../storage/storage"
import { isIntIn } from "../wire/bytes"
import { BrokerConfig } from "./mqtt_link"

/**
 * The uplink's settings (docs/uplink.md §6): METER_ID (16 hex), METER_SECRET (64 hex),
 * UP_HOST, UP_PORT, UP_PROTO ("tcp"/"tls"), optional UP_USER, UP_PASS, UP_KEEPALIVE,
 * read as raw bytes through the storage port. Provisioning writes them JSON-encoded
 * (a string in quotes); a JSON parse would read the meter id "7e57000000000001" as the
 * number 7e57… (Infinity), so the quotes are stripped instead.
 */
export interface UplinkConfig {
    meterId: Buffer
    meterIdHex: string
    secret: Buffer
    broker: BrokerConfig
}

/** One setting as text, without the quotes of a JSON string; undefined when absent. */
export async function readText(s: Storage, key: string): Promise<string | undefined> {
    const b = await s.get(key)
    if (!b) return undefined
    let t = b.toString()
    if (t.length >= 2 && t[0] === '"' && t[t.length - 1] === '"') t = t.slice(1, t.length - 1)
    return t
}

function hexBytes(t: string | undefined, n: number, what: string): Buffer {
    // (Buffer.from stops at the first character that is not hex)
    if (!t || t.length !== n * 2 || Buffer.from(t, "hex").length !== n) throw new RangeError(`uplink: ${what} must be ${n * 2} hex characters`)
    return Buffer.from(t, "hex")
}

/** Reads and checks the uplink settings; throws naming the missing or malformed one. */
export async function readUplinkConfig(s: Storage): Promise<UplinkConfig> {
    const meterId = hexBytes(await readText(s, "METER_ID"), 8, "METER_ID")
    const secret = hexBytes(await readText(s, "METER_SECRET"), 32, "METER_SECRET")
    const host = await readText(s, "UP_HOST")
    if (!host) throw new RangeError("uplink: UP_HOST missing")
    const proto = (await readText(s, "UP_PROTO")) || "tcp"
    const portS = await readText(s, "UP_PORT")
    const ka = await readText(s, "UP_KEEPALIVE")
    const keepAliveS = ka ? parseInt(ka) : 255
    // MQTT 3.1.1 §3.1.2.10: two bytes; 0 (no keep-alive) would leave a dead NAT mapping unnoticed
    if (!isIntIn(keepAliveS, 1, 65535)) throw new RangeError("uplink: UP_KEEPALIVE must be 1..65535 seconds")
    return {
        meterId: meterId,
        meterIdHex: meterId.toString("hex"),
        secret: secret,
        broker: {
            host: host,
            port: portS ? parseInt(portS) : proto === "tls" ? 8883 : 1883,
            proto: proto,
            username: await readText(s, "UP_USER"),
            password: await readText(s, "UP_PASS"),
            keepAliveS: keepAliveS,
        },
    }
}
