import { IndexStore } from "../store/indexstore"
import { recordSeq } from "../wire/record"
import { ChainHead, RecordSource } from "./uplink"
import { UplinkRecord } from "../wire/report"

/** The index store (src/store) as the uplink's RecordSource: encoded records, as stored. */
export class StoreRecordSource implements RecordSource {
    private store: IndexStore
    constructor(store: IndexStore) {
        this.store = store
    }
    head(): ChainHead {
        return this.store.head()
    }
    recordsAfter(seq: number, max: number): UplinkRecord[] {
        const out: UplinkRecord[] = []
        for (const b of this.store.recordsAfter(seq, max)) out.push({ seq: recordSeq(b), data: b })
        return out
    }
    async acknowledge(seq: number, hash: Buffer) {
        return await this.store.acknowledge(seq, hash)
    }
    acknowledged(): number {
        return this.store.acknowledged()
    }
}
