import * as ds from "@devicescript/core"
import { nativeCrypto } from "../../src/crypto/native"
import { Storage } from "../../src/storage/storage"
import { equalBytes } from "../../src/wire/bytes"
import { recordHash } from "../../src/wire/chain"
import { RamStorage } from "../../src/storage/twins"
import { Direction, FrameConst, decodeHeader, deriveFrameKey, openFrame, sealFrame } from "../../src/wire/frame"
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
    /** frees only the record the ack names, as the index store does */
    acknowledge(seq: number, hash: Buffer) {
        const r = this.recs[seq]
        if (!r || !equalBytes(hash, recordHash(nativeCrypto, r.data).slice(0, hash.length))) return false
        this.acked = seq
        return true
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

/** An ack frame; it names the fake store's record `ackSeq` unless `hash` says otherwise. */
export function ack(counter: number, ackSeq: number, upCounter: number, key: Buffer, epoch?: number, hash?: Buffer) {
    const h = { version: FrameConst.Version, direction: Direction.Downlink, meterId: meterId, epoch: epoch || 0, counter: counter }
    return sealFrame(nativeCrypto, key, h, encodeAck(ackSeq, upCounter, hash || recordHash(nativeCrypto, record(ackSeq))))
}

/** Opens an uplink frame of the fake meter (epoch 0 unless `key` says otherwise). */
export function open(frame: Buffer, key?: Buffer) {
    return openFrame(nativeCrypto, key || upKey, frame, Direction.Uplink)
}

export async function boot(storage: Storage, src: FakeSource, tr: FakeTransport, epoch?: number, counterBlock?: number) {
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
        counterBlock: counterBlock,
    })
    await u.start(false)
    return u
}


/**
 * A flash whose writes wait at a gate the test opens: a write in progress for as long as
 * the test likes, so that another fiber (an epoch roll) can run in the middle of it.
 */
export class GatedStorage {
    inner: Storage
    closed = false
    /** writes waiting at the gate now */
    waiting = 0
    constructor(inner: Storage) {
        this.inner = inner
    }
    async get(key: string) {
        return await this.inner.get(key)
    }
    async set(key: string, value: Buffer) {
        this.waiting++
        while (this.closed) await ds.sleep(1)
        this.waiting--
        await this.inner.set(key, value)
    }
    async delete(key: string) {
        await this.inner.delete(key)
    }
}

/** The (epoch, counter) of every frame in `a` then `b`, as "e:c" strings. */
export function nonces(a: Buffer[], b: Buffer[]): string[] {
    const out: string[] = []
    for (const f of a) out.push(nonceOf(f))
    for (const f of b) out.push(nonceOf(f))
    return out
}
function nonceOf(f: Buffer): string {
    const h = decodeHeader(f)
    return h.epoch + ":" + h.counter
}

/** The first value that occurs twice in `xs`, or undefined. */
export function firstRepeat(xs: string[]): string {
    for (let i = 0; i < xs.length; i++) for (let j = i + 1; j < xs.length; j++) if (xs[i] === xs[j]) return xs[i]
    return undefined
}
