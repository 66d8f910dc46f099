/**
 * Just enough of the Jacdac protocol to write a simulated meter's settings from Node.
 *
 * Why: `devs run <file.devs>` deploys bytecode but not settings (only the devtools "deploy"
 * path of VS Code sends `.env*` settings, and it sends the same ones to every device). A
 * simulated DeviceScript device stores its settings in its own flash file and serves them
 * on the Jacdac bus that `devs devtools` relays; so the head-end connects to the devtools
 * TCP proxy (127.0.0.1:8082, length-prefixed frames), finds the device's settings service
 * in its announce packet and sends `set` commands addressed to that device id only, then
 * reads every value back with `get` to confirm it.
 *
 * Frame layout (Jacdac spec, "Frames"): u16 CRC-16-CCITT over bytes 2.., u8 size of the
 * packets, u8 flags, u64 device id, then packets: u8 payload size, u8 service index,
 * u16 command, payload, padded to 4 bytes.
 */
import { connect, Socket } from "node:net"

/** Jacdac constants (jacdac-spec: frames, control and settings services). */
export const enum Jd {
    FrameFlagCommand = 0x01,
    ControlServiceIndex = 0,
    /** control service: "services" command / announce report */
    CmdServices = 0x00,
    SettingsClass = 0x1107dc4a,
    /** settings service: get (key) -> report (key\0 value) */
    SettingsGet = 0x80,
    /** settings service: set (key\0 value) */
    SettingsSet = 0x81,
}

/** The devtools' TCP proxy port (hard-coded in `devs devtools`). */
export const DEVTOOLS_TCP_PORT = 8082

export interface JdPacket {
    deviceId: string
    flags: number
    serviceIndex: number
    command: number
    payload: Buffer
}

/** CRC-16-CCITT as Jacdac uses it (init 0xffff). */
export function jdCrc(p: Uint8Array): number {
    let crc = 0xffff
    for (const d of p) {
        let x = (crc >> 8) ^ d
        x ^= x >> 4
        crc = ((crc << 8) ^ (x << 12) ^ (x << 5) ^ x) & 0xffff
    }
    return crc
}

/** Encodes one packet as a frame addressed to (command) or sent by (report) `deviceId`. */
export function encodeFrame(p: JdPacket): Buffer {
    if (p.payload.length > 236) throw new RangeError("jacdac payload too large")
    const size = (4 + p.payload.length + 3) & ~3
    const f = Buffer.alloc(12 + size)
    f[2] = size
    f[3] = p.flags
    Buffer.from(p.deviceId, "hex").copy(f, 4)
    f[12] = p.payload.length
    f[13] = p.serviceIndex
    f.writeUInt16LE(p.command, 14)
    p.payload.copy(f, 16)
    f.writeUInt16LE(jdCrc(f.subarray(2)), 0)
    return f
}

/** Decodes a frame into its packets; returns [] for a frame with a bad size or CRC. */
export function decodeFrame(f: Buffer): JdPacket[] {
    if (f.length < 12 || f.length < 12 + f[2]) return []
    if (jdCrc(f.subarray(2, 12 + f[2])) !== f.readUInt16LE(0)) return []
    const deviceId = f.subarray(4, 12).toString("hex")
    const out: JdPacket[] = []
    for (let p = 12; p + 4 <= 12 + f[2]; ) {
        const sz = f[p]
        if (p + 4 + sz > f.length) break
        out.push({ deviceId, flags: f[3], serviceIndex: f[p + 1], command: f.readUInt16LE(p + 2), payload: f.subarray(p + 4, p + 4 + sz) })
        p += (4 + sz + 3) & ~3
    }
    return out
}

/** A client of the devtools' Jacdac bus (TCP proxy). */
export class JacdacBus {
    private sock: Socket
    private acc = Buffer.alloc(0)
    private listeners: ((p: JdPacket) => void)[] = []

    private constructor(sock: Socket) {
        this.sock = sock
        sock.on("data", d => this.onData(d))
        sock.on("error", () => {})
    }

    /** Connects to `devs devtools` (its TCP proxy on 127.0.0.1:8082). */
    static connect(port = DEVTOOLS_TCP_PORT): Promise<JacdacBus> {
        return new Promise((res, rej) => {
            const s = connect(port, "127.0.0.1")
            s.once("connect", () => res(new JacdacBus(s)))
            s.once("error", e => rej(new Error(`cannot reach devs devtools on 127.0.0.1:${port}: ${e.message}`)))
        })
    }

    send(p: JdPacket) {
        const f = encodeFrame(p)
        this.sock.write(Buffer.concat([Buffer.from([f.length]), f]))
    }

    /** Resolves with the first packet for which `pred` holds; re-sends `poke` every 300 ms meanwhile. */
    waitFor(pred: (p: JdPacket) => boolean, timeoutMs: number, poke?: () => void): Promise<JdPacket> {
        return new Promise((res, rej) => {
            const l = (p: JdPacket) => {
                if (pred(p)) done(() => res(p))
            }
            const iv = poke ? setInterval(poke, 300) : undefined
            const t = setTimeout(() => done(() => rej(new Error(`no answer on the jacdac bus after ${timeoutMs} ms`))), timeoutMs)
            const done = (f: () => void) => {
                clearTimeout(t)
                if (iv) clearInterval(iv)
                this.listeners.splice(this.listeners.indexOf(l), 1)
                f()
            }
            this.listeners.push(l)
            poke?.()
        })
    }

    /** The service index of the settings service on `deviceId` (from its announce). */
    async settingsServiceIndex(deviceId: string, timeoutMs = 15_000): Promise<number> {
        const ann = await this.waitFor(
            p => p.deviceId === deviceId && p.serviceIndex === Jd.ControlServiceIndex && p.command === Jd.CmdServices && !(p.flags & Jd.FrameFlagCommand),
            timeoutMs,
            () => this.send({ deviceId, flags: Jd.FrameFlagCommand, serviceIndex: Jd.ControlServiceIndex, command: Jd.CmdServices, payload: Buffer.alloc(0) })
        )
        // announce payload: u32 flags, then one u32 service class per service index 1..
        for (let i = 4; i + 4 <= ann.payload.length; i += 4)
            if (ann.payload.readUInt32LE(i) === Jd.SettingsClass) return i / 4
        throw new Error(`device ${deviceId} has no settings service`)
    }

    /**
     * Writes each setting (value bytes as stored, e.g. JSON text) on `deviceId` and reads
     * it back; throws if the device does not confirm every value.
     */
    async writeSettings(deviceId: string, settings: Record<string, Buffer>, timeoutMs = 15_000) {
        const si = await this.settingsServiceIndex(deviceId, timeoutMs)
        for (const [key, value] of Object.entries(settings)) {
            const k = Buffer.from(key)
            const reply = (p: JdPacket) =>
                p.deviceId === deviceId && p.serviceIndex === si && p.command === Jd.SettingsGet && !(p.flags & Jd.FrameFlagCommand) &&
                p.payload.length > k.length && p.payload.subarray(0, k.length).equals(k) && p.payload[k.length] === 0
            const got = await this.waitFor(
                p => reply(p) && p.payload.subarray(k.length + 1).equals(value),
                timeoutMs,
                () => {
                    this.send({ deviceId, flags: Jd.FrameFlagCommand, serviceIndex: si, command: Jd.SettingsSet, payload: Buffer.concat([k, Buffer.from([0]), value]) })
                    this.send({ deviceId, flags: Jd.FrameFlagCommand, serviceIndex: si, command: Jd.SettingsGet, payload: k })
                }
            ).catch(() => undefined)
            if (!got) throw new Error(`device ${deviceId} did not confirm setting ${key}`)
        }
    }

    close() {
        this.sock.destroy()
    }

    private onData(d: Buffer) {
        this.acc = Buffer.concat([this.acc, d])
        for (;;) {
            if (this.acc.length < 1) return
            let len = this.acc[0]
            let off = 1
            if (len === 255) {
                if (this.acc.length < 3) return
                len = this.acc[1] | (this.acc[2] << 8)
                off = 3
            }
            if (this.acc.length < off + len) return
            const frame = this.acc.subarray(off, off + len)
            this.acc = this.acc.subarray(off + len)
            for (const p of decodeFrame(Buffer.from(frame))) for (const l of [...this.listeners]) l(p)
        }
    }
}
