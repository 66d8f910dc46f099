import { equalBytes } from "../wire/bytes"
import { FirmwareManifest } from "../wire/envelope"
import { Verdict } from "../wire/opcodes"
import { nativeCrypto } from "../crypto/native"

/**
 * The deciding half of a firmware update, SUIT-like (RFC 9019/9124; docs/commands.md §7):
 * the manifest arrives inside a signed envelope (its codec is the wire core's
 * `decodeManifest`); it is accepted only if its sequence number is above the meter's
 * (anti-rollback is a monotonic counter, never a version string), it names this board,
 * and its size is plausible. The image is later accepted only if its SHA-256 equals the
 * manifest's digest. Pure except for hashing.
 */

/** Largest image a manifest may announce (the boards' program flash is far smaller). */
export const MAX_IMAGE_SIZE = 4194304

/** Accepted, or FirmwareRejected (malformed, rollback, wrong board, bad size), for this board at `currentSequence`. */
export function decideManifest(m: FirmwareManifest, currentSequence: number, boardId: string): number {
    if (!m) return Verdict.FirmwareRejected
    if (m.sequence <= currentSequence) return Verdict.FirmwareRejected
    if (m.board !== boardId) return Verdict.FirmwareRejected
    if (m.imageSize < 1 || m.imageSize > MAX_IMAGE_SIZE) return Verdict.FirmwareRejected
    return Verdict.Accepted
}

/** true when `image` is exactly the image the manifest describes (size and SHA-256). */
export function imageMatches(m: FirmwareManifest, image: Buffer): boolean {
    if (!image || image.length !== m.imageSize) return false
    return equalBytes(nativeCrypto.sha256([image]), m.digest)
}
