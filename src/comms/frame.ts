import { encrypt, decrypt, sha256Hkdf } from "@devicescript/crypto"

/**
 * Uplink/downlink frames, version 2 (docs/uplink.md §2): a clear header (version, meter id,
 * key epoch as a varint, frame counter) followed by AES-256-CCM(body) with a 16-byte tag.
 *
 * The runtime's CCM has no associated data, so every header field is bound through the key
 * or the nonce: the meter id selects the key (HKDF salt) and starts the nonce, the epoch
 * selects the key, the counter is in the nonce, and the version and the direction (known
 * to the receiver, not sent) make the nonce's last byte (docs/uplink.md §2.3).
 */

/** Wire constants, docs/uplink.md §2.1. */
export const enum FrameConst {
    Version = 2,
    /** header size with an epoch below 128 */
    HeaderSize = 14,
    TagSize = 16,
    NonceSize = 13,
    MeterIdSize = 8,
    /** smallest frame: header, one body byte, tag (docs/uplink.md §2.4) */
    MinFrameSize = 31,
    /** largest frame either side accepts (docs/uplink.md §2.4) */
    MaxFrameSize = 2048,
}

/** Direction (docs/uplink.md §2.2): not on the wire; it selects the key and ends the nonce. */
export const enum Direction {
    Uplink = 1,
    Downlink = 2,
}

/** A frame header. `direction` is known to the receiver and bound in key and nonce. */
export interface FrameHeader {
    version: number
    direction: number
    /** 8 bytes */
    meterId: Buffer
    epoch: number
    counter: number
}

/** What a received clear header says; `size` is its length in bytes. */
export interface WireHeader {
    version: number
    meterId: Buffer
    epoch: number
    counter: number
    size: number
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

/** The 13-byte CCM nonce: meter id ‖ u32be(counter) ‖ (version × 16 + direction) (docs/uplink.md §2.2). */
export function frameNonce(meterId: Buffer, counter: number, direction: number, version: number): Buffer {
    const n = Buffer.alloc(FrameConst.NonceSize)
    n.blitAt(0, meterId, 0, 8)
    putU32BE(n, 8, counter)
    n[12] = version * 16 + direction
    return n
}

/** Encodes the clear header: version, meter id, epoch (unsigned LEB128), u32 counter. */
export function encodeHeader(h: FrameHeader): Buffer {
    let ep: number[] = []
    let v = h.epoch
    for (;;) {
        const hi = Math.floor(v / 128)
        const low = v - hi * 128
        v = hi
        if (v) ep.push(low + 128)
        else {
            ep.push(low)
            break
        }
    }
    const b = Buffer.alloc(13 + ep.length)
    b[0] = h.version
    b.blitAt(1, h.meterId, 0, 8)
    for (let i = 0; i < ep.length; i++) b[9 + i] = ep[i]
    putU32BE(b, 9 + ep.length, h.counter)
    return b
}

/** Parses the clear header; throws on a short buffer or a bad epoch. Nothing in it is trusted yet. */
export function decodeHeader(frame: Buffer): WireHeader {
    if (frame.length < FrameConst.HeaderSize) throw new RangeError("frame: short header")
    let epoch = 0
    let mul = 1
    let i = 9
    for (;;) {
        if (i >= 14 || i + 4 >= frame.length) throw new RangeError("frame: bad epoch")
        const b = frame[i]
        const low = b & 0x7f
        epoch += low * mul
        mul *= 128
        if (low === b) {
            // canonical only: one header, one encoding
            if (b === 0 && i > 9) throw new RangeError("frame: bad epoch")
            break
        }
        i++
    }
    if (epoch > 4294967295) throw new RangeError("frame: bad epoch")
    return {
        version: frame[0],
        meterId: frame.slice(1, 9),
        epoch: epoch,
        counter: getU32BE(frame, i + 1),
        size: i + 5,
    }
}

/** Seals `body` into a frame with `key` (the key of header's meter, direction and epoch). */
export function sealFrame(key: Buffer, h: FrameHeader, body: Buffer): Buffer {
    const head = encodeHeader(h)
    const ct = encrypt({
        data: body,
        algo: "aes-256-ccm",
        key: key,
        iv: frameNonce(h.meterId, h.counter, h.direction, h.version),
        tagLength: 16,
    })
    return head.concat(ct)
}

/**
 * Opens a frame that should travel in `direction`: checks sizes and version, decrypts with
 * `key` (chosen by the caller from the header's meter id and epoch) and returns the body;
 * throws on anything wrong (the caller counts and drops). The caller checks the counter for
 * replay only after this succeeds.
 */
export function openFrame(key: Buffer, frame: Buffer, direction: number): Buffer {
    if (frame.length > FrameConst.MaxFrameSize) throw new RangeError("frame: oversized")
    if (frame.length < FrameConst.MinFrameSize) throw new RangeError("frame: truncated")
    if (frame[0] !== FrameConst.Version) throw new RangeError("frame: version")
    const h = decodeHeader(frame)
    if (frame.length < h.size + 1 + FrameConst.TagSize) throw new RangeError("frame: truncated")
    return decrypt({
        data: frame.slice(h.size),
        algo: "aes-256-ccm",
        key: key,
        iv: frameNonce(h.meterId, h.counter, direction, h.version),
        tagLength: 16,
    })
}
