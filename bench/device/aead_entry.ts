// Code-size entry (never run): the bytecode ChaCha20-Poly1305, seal and open, and nothing
// else; bench/node/aead_code.bench.ts builds it and reads the module's bytes.
import { chacha20Poly1305Open, chacha20Poly1305Seal } from "../../src/crypto/chacha20poly1305"

const k = Buffer.alloc(32)
const n = Buffer.alloc(12)
const s = await chacha20Poly1305Seal(k, n, Buffer.alloc(0), Buffer.alloc(1))
console.log(`${(await chacha20Poly1305Open(k, n, Buffer.alloc(0), s)) !== null}`)
