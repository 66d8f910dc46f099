// Issue 12, the AEAD's host-side figures: its bytecode (a real build of a small entry, and
// what it adds to the Pico W image, both by tools/codesize.ts's private build) and Node's
// OpenSSL ChaCha20-Poly1305 on the same half-hourly frame as bench/device/aead.bench.ts,
// the reference its aead_frame_ms is compared to in the same run.
import { createCipheriv } from "node:crypto"
import { buildPrivate, bytesByFile } from "../../tools/codesize.ts"

const MODULE = "src/crypto/chacha20poly1305.ts"

function median(xs: number[]) {
    const s = [...xs].sort((a, b) => a - b)
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

export default async function (results: Record<string, number>) {
    const out: Record<string, number> = {}
    // the bench's frame: 63-byte body, 30-byte Enc_structure as associated data
    const key = Buffer.alloc(32, 7), nonce = Buffer.alloc(12, 1), aad = Buffer.alloc(30, 2), body = Buffer.alloc(63, 3)
    const seal = () => {
        const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 })
        c.setAAD(aad, { plaintextLength: body.length })
        return Buffer.concat([c.update(body), c.final(), c.getAuthTag()])
    }
    for (let i = 0; i < 1000; i++) seal()
    const times: number[] = []
    for (let r = 0; r < 11; r++) {
        const t0 = performance.now()
        for (let i = 0; i < 1000; i++) seal()
        times.push((performance.now() - t0) / 1000)
    }
    out.node_aead_frame_ms = median(times)
    if (results.aead_frame_ms !== undefined) out.aead_vs_node_ratio = results.aead_frame_ms / out.node_aead_frame_ms

    // the module's functions (code + 16-byte descriptors), seal and open reachable
    const small = await buildPrivate("bench/device/aead_entry.ts")
    const row = bytesByFile(small.dbg).find(r => r.file.endsWith(MODULE))
    if (!row) throw new Error(`aead_code: no ${MODULE} in the build`)
    out.aead_code_bytes = row.bytes
    // what it adds to a board image: its functions, its module constants in `main`, and any
    // library function the firmware did not have yet
    const board = await buildPrivate("src/main_pico_w.ts")
    const withAead = await buildPrivate("bench/device/aead_image_pico_w.ts")
    out.aead_image_delta_bytes = withAead.codeEnd - board.codeEnd
    out.aead_board_code_bytes = withAead.codeEnd
    out.pico_w_code_bytes = board.codeEnd
    return out
}
