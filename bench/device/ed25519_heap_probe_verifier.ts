// Heap probe WITH the verifier loaded and one verification done (so its scratch state and
// base-point table exist), otherwise identical to ed25519_heap_probe_base.ts; the
// difference of the two free-heap figures is what the verifier keeps.
import * as ds from "@devicescript/core"
import { ed25519Verify } from "../../src/crypto/ed25519"

const ok = await ed25519Verify(
    hex`3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c`,
    hex`72`,
    hex`92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00`
)
console.log(`VERIFIED ${ok}`)
await ds.sleep(10)
const keep: Buffer[] = []
let total = 0
for (;;) {
    keep.push(Buffer.alloc(256))
    total += 256
    console.log(`HEAP ${total}`)
}
