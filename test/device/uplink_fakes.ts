import { nativeCrypto } from "../../src/crypto/native"
import { RamStorage } from "../../src/storage/twins"
import { Direction, FrameConst, deriveFrameKey, openFrame, sealFrame } from "../../src/wire/frame"
import { encodeAck, UplinkRecord } from "../../src/wire/report"
import { ChainHead, Uplink, UplinkTransport } from "../../src/comms/uplink"

// Fakes shared by the uplink engine suites (test/device/uplink_engine*.test.ts).
export function filled(n: number, v: number) {
    const b = Buffer.alloc(n)
    b.fillAt(0, n, v)
    return b
}
export const secret = filled(32, 9)
export const meterId = Buffer.from("7e57000000000077", "hex")
export const upKey = deriveFrameKey(nativeCrypto, secret, meterId, Direction.Uplink, 0)
export const downKey = deriveFrameKey(nativeCrypto, secret, meterId, Direction.Downlink, 0)

/** A v1 store record (docs/index-store.md) with a 3-byte payload; prev and tag are filler. */
export function record(seq: number) {
    const b = Buffer.alloc(62)
    b[0] = 1
    b[1] = 0x10
    b[5] = seq
    b[10] = 3
    b[11] = seq
    b.fillAt(14, 32, seq)
    return b
}

export class FakeSource {
    recs: UplinkRecord[] = []
    acked = -1
    add(n: number) {
        for (let i = 0; i < n; i++) this.recs.push({ seq: this.recs.length, data: record(this.recs.length) })
    }
    head(): ChainHead {
        return { seq: this.recs.length - 1, hash: filled(32, 1) }
    }
    recordsAfter(seq: number, max: number) {
        return this.recs.slice(seq + 1, seq + 1 + max)
    }
    acknowledge(seq: number) {
        this.acked = seq
    }
    acknowledged() {
        return this.acked
    }
}

export class FakeTransport implements UplinkTransport {
    sent: Buffer[] = []
    handler: (f: Buffer) => Promise<void>
    async publish(f: Buffer) {
        this.sent.push(f)
        return true
    }
    onDownlink(h: (f: Buffer) => Promise<void>) {
        this.handler = h
    }
    isConnected() {
        return true
    }
    async reconnect() {}
}

export function ack(counter: number, ackSeq: number, upCounter: number, key: Buffer, epoch?: number) {
    const h = { version: FrameConst.Version, direction: Direction.Downlink, meterId: meterId, epoch: epoch || 0, counter: counter }
    return sealFrame(nativeCrypto, key, h, encodeAck(ackSeq, upCounter))
}

/** Opens an uplink frame of the fake meter (epoch 0 unless `key` says otherwise). */
export function open(frame: Buffer, key?: Buffer) {
    return openFrame(nativeCrypto, key || upKey, frame, Direction.Uplink)
}

export async function boot(storage: RamStorage, src: FakeSource, tr: FakeTransport, epoch?: number) {
    const ep = epoch || 0
    const u = new Uplink({
        meterId: meterId,
        secret: secret,
        storage: storage,
        epoch: () => ep,
        source: src,
        transport: tr,
        ackTimeoutMs: 1,
        maxRecordsPerFrame: 4,
    })
    await u.start(false)
    return u
}

