// Heap probe WITHOUT the verifier (not a bench by itself: bench/node/ed25519.bench.ts
// builds and runs it). Allocates 256-byte Buffers until the VM runs out of memory,
// printing the running total; the last HEAP line before the OutOfMemory panic is the free
// heap.
import * as ds from "@devicescript/core"

await ds.sleep(10)
const keep: Buffer[] = []
let total = 0
for (;;) {
    keep.push(Buffer.alloc(256))
    total += 256
    console.log(`HEAP ${total}`)
}
