/**
 * The meter's walk over its stored chain: the wire core's step (src/wire/chain.ts
 * `checkNext`, then `checkTail`) in a loop that yields to the scheduler, so a boot walk
 * over every slot stays inside the VM's step budget. Links only: the keys that tagged
 * stored records are gone (Schneier–Kelsey). The head-end's loop is headend/src/chain.ts.
 */
import * as ds from "@devicescript/core"
import { nativeCrypto } from "../crypto/native"
import { ChainHead, checkNext, checkTail, next } from "../wire/chain"
import { TamperReason } from "../wire/record"

/** Outcome of a walk: `reason` None, or why and the seq `at` where the chain broke; `head` is the last record that linked. */
export interface LinkVerdict {
    reason: TamperReason
    at: number
    head: ChainHead
}

/**
 * Walks `records` (consecutive, oldest first; a missing one is undefined) from a trusted
 * `anchor` with `checkNext`; with `checkpoint` (the head the meter stored or sent), the
 * walk must end on it (`checkTail`).
 */
export async function verifySegment(records: Buffer[], anchor: ChainHead, checkpoint?: ChainHead): Promise<LinkVerdict> {
    let head = anchor
    let why = TamperReason.None
    for (let i = 0; i < records.length && !why; i++) {
        if ((i & 15) === 0) await ds.sleep(0)
        why = checkNext(nativeCrypto, head, records[i])
        if (!why) head = next(nativeCrypto, head, records[i])
    }
    let at = head.seq + 1
    if (!why && checkpoint) {
        why = checkTail(head, checkpoint)
        if (why === TamperReason.BadLink) at = checkpoint.seq
    }
    return { reason: why, at: at, head: head }
}
