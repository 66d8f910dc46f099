/**
 * SHA-512 (FIPS 180-4 section 6.4) in DeviceScript, for Ed25519 (RFC 8032 section 5.1).
 *
 * The runtime has SHA-256 natively but not SHA-512, and no 64-bit integers: every 64-bit
 * word is a pair of 32-bit halves (hi, lo) held as numbers; the bitwise operators work on
 * 32 bits and sums carry from lo into hi by division. The message is hashed one 128-byte
 * block at a time with a yield before each block, so no input length can trigger the VM's
 * InfiniteLoop abort.
 */
import * as ds from "@devicescript/core"
import { setU32BE } from "../wire/bytes"

/**
 * SHA-512 of `data` (FIPS 180-4), 64 bytes.
 * @example const d = await sha512(Buffer.from("abc"))
 */
export async function sha512(data: Buffer): Promise<Buffer> {
    // H(0) (FIPS 180-4 section 5.3.5) is stored after the 80 round constants
    const st: number[] = []
    for (let i = 0; i < 16; i++) st.push(K.getAt(640 + 4 * i, "u32"))
    const n = data.length
    let off = 0
    while (n - off >= 128) {
        await ds.sleep(0)
        compress(st, data, off)
        off += 128
    }
    // padding (FIPS 180-4 section 5.1.2): 0x80, zeros, 128-bit big-endian bit length
    const rest = n - off
    const tail = Buffer.alloc(rest + 17 <= 128 ? 128 : 256)
    tail.blitAt(0, data, off, rest)
    tail[rest] = 0x80
    const end = tail.length
    const bitsHi = Math.floor(n / 536870912) // n * 8 / 2^32
    const bitsLo = n * 8 - bitsHi * 4294967296
    setU32BE(tail, end - 8, bitsHi)
    setU32BE(tail, end - 4, bitsLo)
    for (let o = 0; o < end; o += 128) {
        await ds.sleep(0)
        compress(st, tail, o)
    }
    const out = Buffer.alloc(64)
    for (let i = 0; i < 16; i++) setU32BE(out, 4 * i, st[i])
    return out
}

// the 80 round constants K (FIPS 180-4 section 4.2.3), then H(0) (section 5.3.5), each
// word as hi then lo, u32 little-endian: string data, which costs nothing against the
// image's 64 KB code budget (number literals in an array cost ~6 bytes of code each)
const K = hex`
    982f8a4222ae28d791443771cd65ef23cffbc0b52f3b4deca5dbb5e9bcdb89815bc2563938b548f3f111f15919d005b6
    a4823f929b4f19afd55e1cab18816dda98aa07d8420203a3015b8312be6f7045be8531248cb2e44ec37d0c55e2b4ffd5
    745dbe726f897bf2feb1de80b196163ba706dc9b3512c72574f19bc1942669cfc1699be4d24af19e8647beefe3254f38
    c69dc10fb5d58c8bcca10c24659cac776f2ce92d75022b59aa84744a83e4a66edca9b05cd4fb41bdda88f976b5531183
    52513e98abdf66ee6dc631a81032b42dc82703b03f21fb98c77f59bfe40eefbef30be0c6c28fa83d4791a7d525a70a93
    5163ca066f8203e067292914706e0e0a850ab727fc2fd24638211b2e26c9265cfc6d2c4ded2ac45a130d3853dfb3959d
    54730a65de63af8bbb0a6a76a8b2773c2ec9c281e6aeed47852c72923b358214a1e8bfa26403f14c4b661aa8013042bc
    708b4bc29197f8d0a3516cc730be540619e892d11852efd6240699d610a9655585350ef42a20715770a06a10b8d1bb32
    16c1a419c8d0d2b8086c371e53ab41514c77482799eb8edfb5bcb034a8489be1b30c1c39635ac9c54aaad84ecb8a41e3
    4fca9c5b73e36377f36f2e68a3b8b2d6ee828f74fcb2ef5d6f63a578602f17431478c88472abf0a10802c78cec39641a
    faffbe90281e6323eb6c50a4e9bd82def7a3f9be1579c6b2f27871c62b5372e3ce3e27ca9c6126eac7b886d107c2c021
    d67ddaea1eebe0cd7f4f7df578d16eeeaa67f006ba6f1772c57d630aa698c8a204983f11ae0df9be350b711b1b471c13
    f577db28847d04237babca329324c7400abe9e3cbcbec915c4671d434c0d109cbed4c54cb6423ecb9c297f592a7e65fc
    ab6fcb5fecfad63a8c19446c1758474a
    67e6096a08c9bcf3 85ae67bb3ba7ca84 72f36e3c2bf894fe 3af54fa5f1361d5f
    7f520e51d182e6ad 8c68059b1f6c3e2b abd9831f6bbd41fb 19cde05b79217e13`

// the message schedule, 16 words in a ring (W[t] lives at t & 15)
// (empty until the first block's rounds 0..15 append W[0..15] in order)
const wh: number[] = []
const wl: number[] = []

/** One block of the compression function (FIPS 180-4 section 6.4.2) at `b[off..off+128)`. */
function compress(st: number[], b: Buffer, off: number) {
    let ah = st[0],
        al = st[1],
        bh = st[2],
        bl = st[3],
        ch = st[4],
        cl = st[5],
        dh = st[6],
        dl = st[7],
        eh = st[8],
        el = st[9],
        fh = st[10],
        fl = st[11],
        gh = st[12],
        gl = st[13],
        hh = st[14],
        hl = st[15]
    for (let t = 0; t < 80; t++) {
        const j = t & 15
        let xh = 0
        let xl = 0
        if (t < 16) {
            const o = off + 8 * t
            xh = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0
            xl = ((b[o + 4] << 24) | (b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]) >>> 0
        } else {
            // W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16]
            const p2h = wh[(t - 2) & 15]
            const p2l = wl[(t - 2) & 15]
            const p15h = wh[(t - 15) & 15]
            const p15l = wl[(t - 15) & 15]
            const s1h = ((p2h >>> 19) | (p2l << 13)) ^ ((p2l >>> 29) | (p2h << 3)) ^ (p2h >>> 6)
            const s1l = ((p2l >>> 19) | (p2h << 13)) ^ ((p2h >>> 29) | (p2l << 3)) ^ ((p2l >>> 6) | (p2h << 26))
            const s0h = ((p15h >>> 1) | (p15l << 31)) ^ ((p15h >>> 8) | (p15l << 24)) ^ (p15h >>> 7)
            const s0l = ((p15l >>> 1) | (p15h << 31)) ^ ((p15l >>> 8) | (p15h << 24)) ^ ((p15l >>> 7) | (p15h << 25))
            const lo = (s1l >>> 0) + wl[(t - 7) & 15] + (s0l >>> 0) + wl[j]
            const c = (lo / 4294967296) | 0
            xl = lo >>> 0
            xh = ((s1h >>> 0) + wh[(t - 7) & 15] + (s0h >>> 0) + wh[j] + c) >>> 0
        }
        wh[j] = xh
        wl[j] = xl
        // T1 = h + S1(e) + Ch(e, f, g) + K[t] + W[t]
        const S1h = ((eh >>> 14) | (el << 18)) ^ ((eh >>> 18) | (el << 14)) ^ ((el >>> 9) | (eh << 23))
        const S1l = ((el >>> 14) | (eh << 18)) ^ ((el >>> 18) | (eh << 14)) ^ ((eh >>> 9) | (el << 23))
        const chh = (eh & fh) ^ (~eh & gh)
        const chl = (el & fl) ^ (~el & gl)
        const t1l = hl + (S1l >>> 0) + (chl >>> 0) + K.getAt(8 * t + 4, "u32") + xl
        const t1h = hh + (S1h >>> 0) + (chh >>> 0) + K.getAt(8 * t, "u32") + xh + ((t1l / 4294967296) | 0)
        // T2 = S0(a) + Maj(a, b, c)
        const S0h = ((ah >>> 28) | (al << 4)) ^ ((al >>> 2) | (ah << 30)) ^ ((al >>> 7) | (ah << 25))
        const S0l = ((al >>> 28) | (ah << 4)) ^ ((ah >>> 2) | (al << 30)) ^ ((ah >>> 7) | (al << 25))
        const mjh = (ah & bh) ^ (ah & ch) ^ (bh & ch)
        const mjl = (al & bl) ^ (al & cl) ^ (bl & cl)
        const t2l = (S0l >>> 0) + (mjl >>> 0)
        const t2h = (S0h >>> 0) + (mjh >>> 0) + ((t2l / 4294967296) | 0)
        hh = gh
        hl = gl
        gh = fh
        gl = fl
        fh = eh
        fl = el
        const el2 = dl + (t1l >>> 0)
        eh = (dh + t1h + ((el2 / 4294967296) | 0)) >>> 0
        el = el2 >>> 0
        dh = ch
        dl = cl
        ch = bh
        cl = bl
        bh = ah
        bl = al
        const al2 = (t1l >>> 0) + (t2l >>> 0)
        ah = (t1h + t2h + ((al2 / 4294967296) | 0)) >>> 0
        al = al2 >>> 0
    }
    addWord(st, 0, ah, al)
    addWord(st, 2, bh, bl)
    addWord(st, 4, ch, cl)
    addWord(st, 6, dh, dl)
    addWord(st, 8, eh, el)
    addWord(st, 10, fh, fl)
    addWord(st, 12, gh, gl)
    addWord(st, 14, hh, hl)
}

function addWord(st: number[], i: number, h: number, l: number) {
    const lo = st[i + 1] + l
    st[i] = (st[i] + h + ((lo / 4294967296) | 0)) >>> 0
    st[i + 1] = lo >>> 0
}
