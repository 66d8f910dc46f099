import { encrypt, decrypt, sha256Hkdf } from "@devicescript/crypto"

/**
 * Uplink/downlink frames (docs/uplink.md §2): an 18-byte clear header followed by
 * AES-256-CCM(plaintext = header copy ‖ body) with a 16-byte tag.
 *
 * The runtime's CCM has no associated data, so every header field is bound another way:
 * meter id and direction select the key (HKDF salt/info) and the nonce, the epoch selects
 * the key, the counter is in the nonce, and the whole header is repeated inside the
 * plaintext and compared after decryption (docs/uplink.md §2.3).
 */

/** Wire constants, docs/uplink.md §2.1. */
export const enum FrameConst {
    Version = 1,
    HeaderSize = 18,
    TagSize = 16,
    NonceSize = 13,
    MeterIdSize = 8,
    /** largest frame either side accepts (docs/uplink.md §2.4) */
    MaxFrameSize = 2048,
}

/** Direction byte, docs/uplink.md §2.1: it selects the key and ends the nonce. */
export const enum Direction {
    Uplink = 1,
    Downlink = 2,
}

/** The clear header of a frame. */
export interface FrameHeader {
    version: number
    direction: number
    /** 8 bytes */
    meterId: Buffer
    epoch: number
    counter: number
}

/** Reads a big-endian u32 (getAt has no big-endian format; `<<` would go negative). */
export function getU32BE(b: Buffer, off: number): number {
    return b[off] * 16777216 + b[off + 1] * 65536 + b[off + 2] * 256 + b[off + 3]
}

/**
 * Writes a big-endian u32 without shifts or `%`: the VM computes both in int32, so
 * `4294967295 % 256` gives -1 (measured).
 */
export function putU32BE(b: Buffer, off: number, v: number) {
    let x = v
    for (let i = 3; i >= 0; i--) {
        const hi = Math.floor(x / 256)
        b[off + i] = x - hi * 256
        x = hi
    }
}

/** Big-endian u16. */
export function getU16BE(b: Buffer, off: number): number {
    return b[off] * 256 + b[off + 1]
}

export function putU16BE(b: Buffer, off: number, v: number) {
    b[off] = (v >> 8) & 0xff
    b[off + 1] = v & 0xff
}

/**
 * The frame key for one meter, direction and epoch (docs/uplink.md §3):
 * HKDF-SHA256(ikm = METER_SECRET, salt = meter id, info = "trustmeter/uplink/v1" or
 * "trustmeter/downlink/v1" ‖ u32be(epoch)), 32 bytes.
 */
export function deriveFrameKey(secret: Buffer, meterId: Buffer, direction: number, epoch: number): Buffer {
    const label = direction === Direction.Uplink ? "trustmeter/uplink/v1" : "trustmeter/downlink/v1"
    const e = Buffer.alloc(4)
    putU32BE(e, 0, epoch)
    return sha256Hkdf(secret, Buffer.from(label).concat(e), meterId)
}

/** The 13-byte CCM nonce: meter id ‖ u32be(counter) ‖ direction (docs/uplink.md §2.2). */
export function frameNonce(meterId: Buffer, counter: number, direction: number): Buffer {
    const n = Buffer.alloc(FrameConst.NonceSize)
    n.blitAt(0, meterId, 0, 8)
    putU32BE(n, 8, counter)
    n[12] = direction
    return n
}

/** Encodes the 18-byte header. */
export function encodeHeader(h: FrameHeader): Buffer {
    const b = Buffer.alloc(FrameConst.HeaderSize)
    b[0] = h.version
    b[1] = h.direction
    b.blitAt(2, h.meterId, 0, 8)
    putU32BE(b, 10, h.epoch)
    putU32BE(b, 14, h.counter)
    return b
}

/** Decodes the clear header; throws on a short buffer. Nothing in it is trusted yet. */
export function decodeHeader(frame: Buffer): FrameHeader {
    if (frame.length < FrameConst.HeaderSize) throw new RangeError("frame: short header")
    return {
        version: frame[0],
        direction: frame[1],
        meterId: frame.slice(2, 10),
        epoch: getU32BE(frame, 10),
        counter: getU32BE(frame, 14),
    }
}

/** Seals `body` into a frame with `key` (the key of header's meter, direction and epoch). */
export function sealFrame(key: Buffer, h: FrameHeader, body: Buffer): Buffer {
    const head = encodeHeader(h)
    const ct = encrypt({
        data: head.concat(body),
        algo: "aes-256-ccm",
        key: key,
        iv: frameNonce(h.meterId, h.counter, h.direction),
        tagLength: 16,
    })
    return head.concat(ct)
}

/**
 * Opens a frame: checks sizes and version, decrypts with `key`, and compares the header
 * copy inside the plaintext with the clear header. Returns the body; throws on anything
 * wrong (the caller counts and drops). The caller has chosen `key` from the header's meter
 * id, direction and epoch and checks the counter for replay only after this succeeds.
 */
export function openFrame(key: Buffer, frame: Buffer): Buffer {
    if (frame.length > FrameConst.MaxFrameSize) throw new RangeError("frame: oversized")
    if (frame.length < FrameConst.HeaderSize * 2 + FrameConst.TagSize) throw new RangeError("frame: truncated")
    const h = decodeHeader(frame)
    if (h.version !== FrameConst.Version) throw new RangeError("frame: version")
    const pt: Buffer = decrypt({
        data: frame.slice(FrameConst.HeaderSize),
        algo: "aes-256-ccm",
        key: key,
        iv: frameNonce(h.meterId, h.counter, h.direction),
        tagLength: 16,
    })
    for (let i = 0; i < FrameConst.HeaderSize; i++)
        if (pt[i] !== frame[i]) throw new RangeError("frame: header mismatch")
    return pt.slice(FrameConst.HeaderSize)
}
