/**
 * Test kit for the head-end service: fresh embedded databases (copied from one migrated
 * template: initdb takes seconds, a copy milliseconds) and protocol-level meters in Node
 * (the wire core's frames and records, the firmware's uplink rules: records after the
 * acknowledged seq, the anchor unless the last ack named seq−1, counters that only grow,
 * downlink frames accepted only above the last counter and for records this boot sent).
 */
import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createHash, randomBytes } from "node:crypto"
import { evolveKey, recordHash, sealRecord } from "../../headend/src/chain.ts"
import { chainKey0 } from "../fixtures/chain_k0.ts"
import { nodeCrypto } from "../../headend/src/crypto.ts"
import { Database, loadMigrations, openDatabase } from "../../headend/src/db/index.ts"
import { Direction, FrameConst, deriveFrameKey, openFrame, readHeader, sealFrame } from "../../src/wire/frame"
import { BodyType, Report, decodeDownlink, encodeReport } from "../../src/wire/report"

/** A migrated PGlite directory, made once per machine and schema, copied for each test. */
function templateDir(): string {
    const digest = createHash("sha256")
        .update(loadMigrations().map(m => m.checksum).join(","))
        .digest("hex")
        .slice(0, 12)
    return join(tmpdir(), `tm-pglite-template-${digest}`)
}

let template: Promise<string> | undefined
async function ensureTemplate(): Promise<string> {
    template ??= (async () => {
        const dir = templateDir()
        if (existsSync(join(dir, "PG_VERSION"))) return dir
        const tmp = mkdtempSync(join(tmpdir(), "tm-pglite-make-"))
        const db = await openDatabase({ backend: "pglite", dir: join(tmp, "db") })
        await db.close()
        try {
            renameSync(join(tmp, "db"), dir)
        } catch {
            // another process made it meanwhile
        }
        rmSync(tmp, { recursive: true, force: true })
        return dir
    })()
    return template
}

/** A directory holding a fresh, migrated embedded database at `<dir>/db`. */
export async function freshDatabaseDir(): Promise<string> {
    const t = await ensureTemplate()
    const dir = mkdtempSync(join(tmpdir(), "tm-headend-"))
    cpSync(t, join(dir, "db"), { recursive: true })
    return dir
}

/** A fresh embedded database, opened; `close` also removes it. */
export async function freshDatabase(): Promise<Database & { dir: string }> {
    const dir = await freshDatabaseDir()
    const db = await openDatabase({ backend: "pglite", dir: join(dir, "db") })
    return {
        ...db,
        dir: join(dir, "db"),
        query: db.query.bind(db),
        transaction: db.transaction.bind(db),
        async close() {
            await db.close()
            rmSync(dir, { recursive: true, force: true })
        },
    }
}

export interface ProtoMeterOptions {
    /** 16 hex digits */
    id: string
    /** 32 bytes */
    secret: Buffer
    /** the chain key K_0 (a keystore entry's `chainKey`); default: the test fixture's for `secret` */
    chainKey?: Uint8Array
    /** uplink counter reservation block (the firmware's 64) */
    counterBlock?: number
}

/**
 * A meter at the protocol level: its index chain, store-and-forward and counters as the
 * firmware keeps them (src/comms/uplink.ts), without the simulator. A clone is a second
 * ProtoMeter with the same id and secret.
 */
export class ProtoMeter {
    readonly id: string
    readonly idBytes: Buffer
    readonly secret: Buffer
    /** K_0, what the head-end's `chainKeyOf` must give for this meter */
    readonly k0: Buffer
    /** every record of the chain, by seq */
    readonly chain: Buffer[] = []
    /** highest seq the head-end acknowledged authentically (−1: none) */
    acked = -1
    epoch = 0
    /** the next uplink counter is above this */
    counter = 0
    /** highest downlink counter accepted */
    downCounter = 0
    /** the last authentic ack since boot named seq−1 of the next record to send: no anchor */
    private ackedSinceBoot = false
    private highestSent = -1
    private key: Uint8Array
    private prev: Uint8Array = new Uint8Array(32)
    private limit = 0
    private block: number
    /** downlink frames refused (bad tag, replayed counter, wrong ack): the firmware's "bad downlink" alert */
    badDownlink = 0

    constructor(o: ProtoMeterOptions) {
        this.id = o.id
        this.idBytes = Buffer.from(o.id, "hex")
        this.secret = o.secret
        this.k0 = o.chainKey ? Buffer.from(o.chainKey) : chainKey0(o.secret, this.idBytes)
        this.key = this.k0
        this.block = o.counterBlock ?? 64
    }

    /** A second device with this meter's identity and a copy of its state now (chain, counters, acks): a clone. */
    cloneDevice(): ProtoMeter {
        const c = new ProtoMeter({ id: this.id, secret: this.secret, chainKey: this.k0, counterBlock: this.block })
        c.chain.push(...this.chain.map(r => Buffer.from(r)))
        Object.assign(c, { acked: this.acked, epoch: this.epoch, counter: this.counter, downCounter: this.downCounter, ackedSinceBoot: this.ackedSinceBoot, highestSent: this.highestSent, key: this.key, prev: this.prev, limit: this.limit })
        return c
    }

    /** Appends `n` interval records (payload: seq and a filler byte, or `payload(seq)`, e.g. the firmware's interval and register block). */
    append(n = 1, filler = 0, payload?: (seq: number) => Buffer): Buffer[] {
        const out: Buffer[] = []
        for (let i = 0; i < n; i++) {
            const seq = this.chain.length
            const p = payload ? payload(seq) : Buffer.from([seq & 255, (seq >> 8) & 255, filler, 1])
            const r = Buffer.from(sealRecord(this.key, 0x10, seq, 1_700_000_000 + seq * 1800, p, this.prev))
            this.key = evolveKey(this.key)
            this.prev = recordHash(r)
            this.chain.push(r)
            out.push(r)
        }
        return out
    }

    /** The next uplink counter, skipping the rest of a block after a reboot as the firmware's FrameCounter does. */
    private nextCounter(): number {
        if (this.counter + 1 > this.limit) this.limit = this.counter + this.block
        return ++this.counter
    }

    /** A reboot: counters resume above the reserved block, the anchor goes with the next frame. */
    reboot() {
        this.counter = this.limit
        this.ackedSinceBoot = false
        this.highestSent = -1
    }

    /** An ack timeout: the next frame carries the anchor. */
    ackTimeout() {
        this.ackedSinceBoot = false
    }

    /** The next report frame: up to `max` records after the acknowledged seq, the checkpoint (store head), the anchor when needed. */
    frame(o: { max?: number; extra?: Partial<Report>; counter?: number } = {}): Buffer {
        const from = this.acked + 1
        const recs = this.chain.slice(from, from + (o.max ?? 12)).map((data, i) => ({ seq: from + i, data }))
        const head = this.chain.length - 1
        const r: Report = {
            privacyLevel: 0,
            records: recs.length ? recs : undefined,
            anchor: recs.length > 0 && from > 0 && !this.ackedSinceBoot,
            checkpointSeq: head >= 0 ? head : undefined,
            checkpointHash: head >= 0 ? Buffer.from(recordHash(this.chain[head])) : undefined,
            ...o.extra,
        }
        if (recs.length) this.highestSent = Math.max(this.highestSent, recs[recs.length - 1].seq)
        const counter = o.counter ?? this.nextCounter()
        const h = { version: FrameConst.Version, direction: Direction.Uplink, meterId: this.idBytes, epoch: this.epoch, counter }
        return sealFrame(nodeCrypto, deriveFrameKey(nodeCrypto, this.secret, this.idBytes, Direction.Uplink, this.epoch), h, encodeReport(nodeCrypto, r))
    }

    /**
     * A downlink frame from the head-end, checked as the firmware does: authentic under the
     * downlink key, counter above the last one; an ack must name a seq above the acknowledged
     * one and at most the highest this boot sent. Returns what it was, or why it was refused.
     */
    receive(frame: Buffer): { ok: true; ackSeq?: number; upCounter?: number; command?: Buffer } | { ok: false; why: string } {
        let body: Buffer
        let counter: number
        try {
            const h = readHeader(frame)
            if (h.meterId.toString("hex") !== this.id || h.epoch !== this.epoch) throw new Error("not mine")
            counter = h.counter
            body = openFrame(nodeCrypto, deriveFrameKey(nodeCrypto, this.secret, this.idBytes, Direction.Downlink, this.epoch), frame, Direction.Downlink)
        } catch (e) {
            this.badDownlink++
            return { ok: false, why: `bad frame: ${(e as Error).message}` }
        }
        if (counter <= this.downCounter) {
            this.badDownlink++
            return { ok: false, why: `downlink counter ${counter} not above ${this.downCounter}` }
        }
        this.downCounter = counter
        const d = decodeDownlink(body)
        if (d.type === BodyType.Ack) {
            const seq = d.ackSeq!
            if (seq > this.acked && seq <= this.highestSent) {
                this.acked = seq
                this.ackedSinceBoot = true
            }
            return { ok: true, ackSeq: seq, upCounter: d.upCounter }
        }
        return { ok: true, command: d.command }
    }
}

/** A random meter identity. */
export function randomMeter(n: number, counterBlock?: number): ProtoMeter {
    return new ProtoMeter({ id: `7e57${n.toString(16).padStart(12, "0")}`, secret: randomBytes(32), counterBlock })
}
