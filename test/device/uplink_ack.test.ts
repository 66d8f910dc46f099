import { describe, test, expect } from "@devicescript/test"
import { RamStorage } from "../../src/storage/twins"
import { decodeHeader } from "../../src/wire/frame"
import { nativeCrypto } from "../../src/crypto/native"
import { recordHash } from "../../src/wire/chain"
import { FakeSource, FakeTransport, ack, boot, downKey, record } from "./uplink_fakes"

// An ack names the record it frees (docs/uplink.md §4.2): a clone with the same secret,
// subscribed to the same downlink topic, gets authentic acks for its own records; the
// genuine meter must not evict records it never delivered because of them.

describe("uplink acks name the record", () => {
    test("a clone's authentic ack for its own record 3 frees nothing on the genuine meter", async () => {
        const src = new FakeSource()
        src.add(6)
        const tr = new FakeTransport()
        const u = await boot(new RamStorage(), src, tr)
        expect(await u.step()).toBe(true) // records 0..3, maxSentSeq 3
        // the head-end acks the clone's frame (counter 77 of the clone) for the clone's record 3
        const cloneRecord3 = record(3)
        cloneRecord3[12] = 99 // another measurement under the same seq
        await tr.handler(ack(1, 3, 77, downKey, 0, recordHash(nativeCrypto, cloneRecord3)))
        expect(src.acked).toBe(-1)
        // even when it answers the genuine meter's frame counter
        await tr.handler(ack(2, 3, decodeHeader(tr.sent[0]).counter, downKey, 0, recordHash(nativeCrypto, cloneRecord3)))
        expect(src.acked).toBe(-1)
        // the genuine ack, naming the genuine record 3, frees it
        await tr.handler(ack(3, 3, decodeHeader(tr.sent[0]).counter, downKey))
        expect(src.acked).toBe(3)
    })
})
