/**
 * Uplink and downlink frames, version 2 (docs/uplink.md §2–§3), written once for the meter
 * and the head-end: a clear header (version, meter id, key epoch as a varint, frame
 * counter) followed by AES-256-CCM(body) with a 16-byte tag. The cryptography comes in as
 * a `WireCrypto` (the runtime's builtins on the meter, node:crypto on the head-end).
 *
 * The runtime's CCM has no associated data, so every header field is bound through the key
 * or the nonce: the meter id selects the key (HKDF salt) and starts the nonce, the epoch
 * selects the key, the counter is in the nonce, and the version and the direction (known
 * to the receiver, not sent) make the nonce's last byte (docs/uplink.md §2.3).
 */
import { WireCrypto } from "./crypto"
import { ascii, concatBytes, getU32BE, isU32, setU32BE, toHex, u32Bytes } from "./bytes"

/** Wire constants, docs/uplink.md §2.1 and §2.4. */
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

/** What a received clear header says; `size` is its length in bytes. Nothing in it is trusted. */
export interface WireHeader {
    version: number
    meterId: Buffer
    epoch: number
    counter: number
    size: number
}

/**
 * The frame key for one meter, direction and epoch (docs/uplink.md §3):
 * HKDF-SHA256(ikm = METER_SECRET, salt = meter id, info = "trustmeter/uplink/v1" or
 * "trustmeter/downlink/v1" ‖ u32be(epoch)), 32 bytes.
 */
export function deriveFrameKey(c: WireCrypto, secret: Buffer, meterId: Buffer, direction: number, epoch: number): Buffer {
    const label = direction === Direction.Uplink ? "trustmeter/uplink/v1" : "trustmeter/downlink/v1"
    return c.hkdfSha256(secret, meterId, concatBytes(ascii(label), u32Bytes(epoch)))
}

/** The 13-byte CCM nonce: meter id ‖ u32be(counter) ‖ (version × 16 + direction) (docs/uplink.md §2.2). */
export function frameNonce(meterId: Buffer, counter: number, direction: number, version: number): Buffer {
    const n = Buffer.alloc(FrameConst.NonceSize)
    n.set(meterId, 0)
    setU32BE(n, 8, counter)
    n[12] = version * 16 + direction
    return n
}

/** Encodes the clear header: version, meter id, epoch (unsigned LEB128, canonical), u32 counter. */
export function encodeHeader(h: FrameHeader): Buffer {
    if (h.meterId.length !== FrameConst.MeterIdSize || !isU32(h.epoch) || !isU32(h.counter))
        throw new RangeError("frame: header field out of range")
    let n = 1
    for (let v = h.epoch; v >= 128; v = Math.floor(v / 128)) n++
    const b = Buffer.alloc(13 + n)
    b[0] = h.version
    b.set(h.meterId, 1)
    let v = h.epoch
    for (let i = 0; i < n; i++) {
        const hi = Math.floor(v / 128)
        // 7 bits per byte, low group first; the high bit says another byte follows
        b[9 + i] = v - hi * 128 + (i < n - 1 ? 128 : 0)
        v = hi
    }
    setU32BE(b, 9 + n, h.counter)
    return b
}

/** Parses the clear header; throws RangeError on a short buffer or a bad epoch varint. */
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
            // canonical only: one header, one encoding (a trailing zero group is refused)
            if (b === 0 && i > 9) throw new RangeError("frame: bad epoch")
            break
        }
        i++
    }
    if (!isU32(epoch)) throw new RangeError("frame: bad epoch")
    return { version: frame[0], meterId: frame.slice(1, 9), epoch: epoch, counter: getU32BE(frame, i + 1), size: i + 5 }
}

/**
 * Checks a received frame's size and version and parses its header (docs/uplink.md §2.4);
 * throws RangeError "frame: oversized", "frame: truncated", "frame: version" or a header
 * error. Nothing is decrypted: the size limits hold before any work.
 */
export function readHeader(frame: Buffer): WireHeader {
    if (frame.length > FrameConst.MaxFrameSize) throw new RangeError("frame: oversized")
    if (frame.length < FrameConst.MinFrameSize) throw new RangeError("frame: truncated")
    if (frame[0] !== FrameConst.Version) throw new RangeError("frame: version")
    const h = decodeHeader(frame)
    if (frame.length < h.size + 1 + FrameConst.TagSize) throw new RangeError("frame: truncated")
    return h
}

/** The meter id a frame claims, as hex ("" when too short): for routing only, nothing is trusted. */
export function claimedMeterId(frame: Buffer): string {
    return frame.length >= 9 ? toHex(frame.slice(1, 9)) : ""
}

/** Seals `body` into a frame with `key` (the key of the header's meter, direction and epoch). */
export function sealFrame(c: WireCrypto, key: Buffer, h: FrameHeader, body: Buffer): Buffer {
    const head = encodeHeader(h)
    return concatBytes(head, c.ccmSeal(key, frameNonce(h.meterId, h.counter, h.direction, h.version), body))
}

/**
 * Opens a frame that should travel in `direction`: `readHeader`'s checks, then decrypts
 * with `key` (chosen by the caller from the header's meter id and epoch) and returns the
 * body; throws on anything wrong. The caller checks the counter for replay only after
 * this succeeds.
 */
export function openFrame(c: WireCrypto, key: Buffer, frame: Buffer, direction: number): Buffer {
    return openParsed(c, key, frame, readHeader(frame), direction)
}

/** `openFrame` for a header `readHeader` already returned (the head-end's hot path). */
export function openParsed(c: WireCrypto, key: Buffer, frame: Buffer, h: WireHeader, direction: number): Buffer {
    return c.ccmOpen(key, frameNonce(h.meterId, h.counter, direction, h.version), frame.slice(h.size, frame.length))
}
