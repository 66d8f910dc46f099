import { IndexStore } from "../store/indexstore"
import { recordSeq } from "../wire/record"
import { RecordSource } from "./uplink"
import { UplinkRecord } from "../wire/report"

/**
 * The index store (src/store) as the uplink's RecordSource: encoded records, as stored.
 * The store's own methods (the VM binds a method read from an object to that object) and
 * the one conversion the uplink needs: no wrapper class, whose every method would be one
 * more function in the firmware image (its 64 KB code limit).
 */
export function storeRecordSource(store: IndexStore): RecordSource {
    return {
        head: store.head,
        acknowledge: store.acknowledge,
        acknowledged: store.acknowledged,
        recordsAfter: (seq: number, max: number): UplinkRecord[] => store.recordsAfter(seq, max).map(b => ({ seq: recordSeq(b), data: b })),
    }
}
