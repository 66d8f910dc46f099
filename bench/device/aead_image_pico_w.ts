// Code-size entry (never run): the Pico W firmware plus the bytecode ChaCha20-Poly1305, so
// that bench/node/aead_code.bench.ts can read what the AEAD adds to a real board image
// (library functions the firmware already has are not counted twice).
import "../../src/main_pico_w"
import { chacha20Poly1305Open, chacha20Poly1305Seal } from "../../src/crypto/chacha20poly1305"

const k = Buffer.alloc(32)
const n = Buffer.alloc(12)
const s = await chacha20Poly1305Seal(k, n, Buffer.alloc(0), Buffer.alloc(1))
console.log(`${(await chacha20Poly1305Open(k, n, Buffer.alloc(0), s)) !== null}`)
